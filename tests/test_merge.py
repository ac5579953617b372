"""`mdl merge`: shards join into one gradebook only when they make exactly one whole; otherwise one line says why.

The shards are graded for real (`mdl grade --shard i/n`) on submissions the grader refuses unread
(invalid notebooks, a folder without one), so no kernel starts and the point stays the gradebook.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grading_config import assignment
from autograder.batch import Shard, grade_batch, merge
from autograder.cli import main

A1 = assignment("a1")
STUDENTS = ["ann", "bob", "cat", "dan", "eve"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    """Shard outputs 1/2 and 2/2 of five students, and a whole run for comparison."""
    work = tmp_path_factory.mktemp("merge")
    subs = work / "subs"
    for k, name in enumerate(STUDENTS):
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        if k == 2:
            (subs / name / "a1").mkdir(parents=True)  # a student folder with nothing in it: missing
        else:
            (subs / f"{name}.ipynb").write_text(json.dumps({"not": "a notebook", "k": k}))
    outs = {"subs": subs}
    for i in (1, 2):
        outs[f"{i}/2"] = work / f"shard{i}"
        grade_batch(A1, subs, outs[f"{i}/2"], jobs=1, shard=Shard(i, 2), echo=lambda s: None, progress=False)
    outs["whole"] = work / "whole"
    grade_batch(A1, subs, outs["whole"], jobs=1, echo=lambda s: None, progress=False)
    return outs


def mdl_merge(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["merge", *args])
    return code, capsys.readouterr().err.strip().splitlines()


def test_all_shards_merge_into_the_gradebook_of_a_whole_run(shards, tmp_path, capsys):
    code, err = mdl_merge(capsys, "a1", str(shards["1/2"]), str(shards["2/2"]), "--out", str(tmp_path / "merged"))
    assert code == 0 and err == []
    merged = (tmp_path / "merged" / "grades.csv").read_text()
    assert merged == (shards["whole"] / "grades.csv").read_text()
    with (tmp_path / "merged" / "grades.csv").open() as handle:
        assert sorted(r["student"] for r in csv.DictReader(handle)) == STUDENTS
    for name in STUDENTS:
        assert (tmp_path / "merged" / name / "results.json").is_file()


@pytest.mark.parametrize("case, expected", [
    ("missing folder", "does not exist"),
    ("not a shard", "is not the output of `mdl grade --shard i/n`"),
    ("shard missing", "shard(s) 2/2 missing"),
    ("shard repeated", "shard 1/2 is given twice"),
    ("other assignment", "holds shard 2/2 of assignment 'a2', not 'a1'"),
    ("other split", "shards of different splits"),
    ("interrupted shard", "is incomplete: its grading was interrupted"),
    ("record of another assignment", "holds a record of assignment 'a2'"),
])
def test_merge_refuses_with_one_line_and_writes_nothing(shards, tmp_path, capsys, case, expected):
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(shards["1/2"], one)
    shutil.copytree(shards["2/2"], two)
    given = [one, two]
    if case == "missing folder":
        given = [one, tmp_path / "nowhere"]
    elif case == "not a shard":
        given = [one, shards["whole"]]
    elif case == "shard missing":
        given = [one]
    elif case == "shard repeated":
        given = [one, one]
    elif case == "other assignment":
        (two / "shard.json").write_text(json.dumps({"assignment": "a2", "shard": [2, 2]}))
    elif case == "other split":
        (two / "shard.json").write_text(json.dumps({"assignment": "a1", "shard": [2, 3]}))
    elif case == "interrupted shard":
        (two / "INCOMPLETE").write_text("grading has not finished")
    elif case == "record of another assignment":
        record_path = two / "bob" / "record.json"
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps({**record, "assignment": "a2"}))
    code, err = mdl_merge(capsys, "a1", *map(str, given), "--out", str(tmp_path / "merged"))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("mdl merge: error: ") and expected in err[0], err
    assert not (tmp_path / "merged").exists()


def test_a_shard_of_students_that_all_went_to_other_shards_still_counts(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "solo.ipynb").write_text("{}")
    for i in (1, 2):
        grade_batch(A1, subs, tmp_path / f"s{i}", jobs=1, shard=Shard(i, 2), echo=lambda s: None, progress=False)
    assert not list((tmp_path / "s2").glob("*/record.json"))  # shard 2 of one student is empty
    code, err = mdl_merge(capsys, "a1", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged"))
    assert code == 0 and err == []
    assert "solo," in (tmp_path / "merged" / "grades.csv").read_text()


def test_merge_function_refuses_the_same_way(shards, tmp_path):
    from autograder.batch import MergeError

    with pytest.raises(MergeError, match="missing"):
        merge([shards["1/2"]], A1, tmp_path / "merged", echo=lambda s: None)

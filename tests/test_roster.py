"""The course roster: one id per student across layouts and assignments, a missing row per non-submitter,
unknown names in the instructor's files named (issue 26, item 1)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from grading_config import LatePolicy, assignment
from autograder.batch import grade_batch
from autograder.grade import Submission
from autograder.roster import apply_roster, load_roster, unknown_names

A1 = assignment("a1")
ROSTER = ("login,name,email,canvas_id,sis_id,moodle_participant\n"
          "jdoe,John Doe,jdoe@uni.example,12345,S001,\n"
          "jane,Jane Roe,jane@uni.example,,S002,\n"
          "ngcarol,Carol Ng,carol@uni.example,1003,S003,\n"
          "ali,Ali Khan,ali@uni.example,,S004,\n")


def _roster(tmp_path: Path, text: str = ROSTER):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return load_roster(path)


def test_every_layout_maps_to_the_roster_login(tmp_path):
    roster = _roster(tmp_path)
    assert roster.match("doejohn_12345").login == "jdoe"  # Canvas, by its user id
    assert roster.match("ngcarol_1003").login == "ngcarol"
    # Moodle's participant number differs in every assignment: the full name decides
    assert roster.match("Jane_Roe_871").login == "jane" and roster.match("Jane_Roe_1204").login == "jane"
    assert roster.match("jdoe").login == "jdoe" and roster.match("JDoe").login == "jdoe"  # Classroom, nbgrader, flat
    assert roster.match("ali@uni.example").login == "ali"
    assert roster.match("mallory") is None and roster.match("Someone_Else_77") is None


def test_non_submitters_get_one_missing_row_and_strangers_a_warning(tmp_path):
    roster = _roster(tmp_path)
    handed_in = [Submission("doejohn_12345", tmp_path / "a.ipynb"), Submission("Jane_Roe_871", tmp_path / "b.ipynb"),
                 Submission("mallory", tmp_path / "c.ipynb")]
    warnings: list[str] = []
    rows, aliases = apply_roster(roster, handed_in, warnings.append)
    by_id = {r.student: r for r in rows}
    assert set(by_id) == {"jdoe", "jane", "ngcarol", "ali", "mallory"}
    assert by_id["jdoe"].path == tmp_path / "a.ipynb" and "doejohn_12345" in by_id["jdoe"].note
    assert [by_id[s].status for s in ("ngcarol", "ali")] == ["missing", "missing"]
    assert by_id["ngcarol"].path is None and "roster.csv" in by_id["ngcarol"].note
    assert aliases == {"doejohn_12345": "jdoe", "Jane_Roe_871": "jane"}
    assert len(warnings) == 1 and "'mallory'" in warnings[0]


def test_unknown_names_in_instructor_files_are_named(tmp_path):
    roster = _roster(tmp_path)
    lines = unknown_names(roster, ["jdoe"], {"extensions.csv": ["ali", "alli"], "manual_grades.csv": ["jdoe", "bob"]})
    assert len(lines) == 2 and "'alli'" in lines[0] and "extensions.csv" in lines[0] and "'bob'" in lines[1]


@pytest.mark.parametrize("text, message", [
    ("name,email\nJohn,j@x\n", "needs a login column"),
    ("login,name\njdoe,John\n,Nobody\n", "line 3: a row without a login"),
    ("login,name\njdoe,John\nJDOE,Again\n", "line 3: login 'JDOE' is already on line 2"),
])
def test_a_bad_roster_names_its_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        _roster(tmp_path, text)


def test_mdl_grade_with_a_roster_canvas_and_moodle_downloads_rows_for_everyone(tmp_path, monkeypatch):
    """End to end: a Canvas file, a Moodle folder and a late-marked Canvas file graded under roster logins,
    the non-submitter listed missing, a misspelled extension named. Invalid notebooks cost no kernel."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "Jane Roe_871_assignsubmission_file_").mkdir(parents=True)
    (subs / "Jane Roe_871_assignsubmission_file_" / "a1.ipynb").write_bytes(b'{"k": 1}')
    (subs / "doejohn_12345_67890_a1.ipynb").write_bytes(b'{"k": 2}')
    (subs / "ngcarol_LATE_1003_70002_a1.ipynb").write_bytes(b'{"k": 3}')
    extensions = tmp_path / "extensions.csv"
    extensions.write_text(f"student,assignment,new_due\nalli,a1,{(A1.due + dt.timedelta(days=2)).isoformat()}\n")
    monkeypatch.setattr("autograder.batch.LATE", LatePolicy(extensions_file=extensions))
    monkeypatch.setattr("autograder.totals.LATE", LatePolicy(extensions_file=extensions))
    monkeypatch.setattr("autograder.late.LATE", LatePolicy(extensions_file=extensions))
    lines: list[str] = []
    grade_batch(A1, subs, out, jobs=1, echo=lines.append, progress=False, roster=_roster(tmp_path).source)
    with (out / "grades.csv").open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"jdoe", "jane", "ngcarol", "ali"}
    assert rows["ali"]["status"] == "missing"
    assert rows["jdoe"]["status"] == rows["jane"]["status"] == "invalid-notebook"
    assert rows["ngcarol"]["days_late"] == "1"  # Canvas's LATE marker, the policy's first step
    assert any("'alli'" in line and "extensions.csv" in line for line in lines)


def test_without_a_roster_a_manual_grade_for_nobody_is_named(tmp_path):
    """Issue 26, item 1: a misspelled student in manual_grades.csv was silently ignored."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    out.mkdir()
    (subs / "ana.ipynb").write_bytes(b'{"k": 1}')
    (out / "manual_grades.csv").write_text("student,grade_id,score,comment\nanna,q9_projection_proof,1,\n")
    lines: list[str] = []
    grade_batch(A1, subs, out, jobs=1, echo=lines.append, progress=False, roster=None)
    assert any("manual_grades.csv names 'anna'" in line for line in lines), lines

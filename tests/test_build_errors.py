"""`mdl build` errors an instructor can meet come out as one line naming the notebook and cell, never a traceback."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

import grading_config
from autograder import build
from autograder.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
TOY = json.loads((FIXTURES / "toy_source.ipynb").read_text())  # setup, double_answer (cell 3), q1_double (cell 4)


def broken(kind: str) -> dict:
    nb = copy.deepcopy(TOY)
    answer, test = nb["cells"][2], nb["cells"][3]
    if kind == "solution without END":
        answer["source"] = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x)\n"
    elif kind == "END without BEGIN":
        answer["source"] = "def double(x):\n    return 2 * np.asarray(x)\n    ### END SOLUTION\n"
    elif kind == "hidden tests without END":
        test["source"] = "assert np.allclose(double(1.0), 2.0)\n### BEGIN HIDDEN TESTS\nassert double(2) == 4\n"
    elif kind == "grade_id used twice":
        answer["metadata"]["nbgrader"]["grade_id"] = "q1_double"
    elif kind == "no points":
        del test["metadata"]["nbgrader"]["points"]
    elif kind == "no grade_id":
        del answer["metadata"]["nbgrader"]["grade_id"]
    elif kind == "no hidden tests":
        test["source"] = "assert np.allclose(double(1.0), 2.0)\n"
    return nb


EXPECTED = {
    "solution without END": "toy.ipynb cell 3 (double_answer): ### BEGIN SOLUTION has no ### END SOLUTION",
    "END without BEGIN": "toy.ipynb cell 3 (double_answer): ### END SOLUTION without ### BEGIN SOLUTION before it",
    "hidden tests without END": "toy.ipynb cell 4 (q1_double): ### BEGIN HIDDEN TESTS has no ### END HIDDEN TESTS",
    "grade_id used twice": "toy.ipynb cell 4 (q1_double): grade_id 'q1_double' is also the grade_id of cell 3",
    "no points": "toy.ipynb cell 4 (q1_double): a graded cell needs points",
    "no grade_id": "toy.ipynb cell 3: a cell with nbgrader metadata needs a grade_id",
    "no hidden tests": "toy.ipynb cell 4 (q1_double): the test cell has no hidden tests; every point is earned on "
                       "inputs the student has not seen",
}


@pytest.fixture
def toy_course(tmp_path, monkeypatch):
    """A course with one assignment, `toy`, whose source notebook the test writes."""
    paths = dataclasses.replace(grading_config.PATHS, root=tmp_path, source=tmp_path / "source",
                                release=tmp_path / "release", build=tmp_path / "build")
    toy = grading_config.Assignment("toy", "Toy", "toy.ipynb", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    monkeypatch.setattr(build, "PATHS", paths)
    monkeypatch.setattr(build, "ASSIGNMENTS", (toy,))
    (tmp_path / "source" / "toy").mkdir(parents=True)
    return tmp_path / "source" / "toy" / "toy.ipynb"


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_source_notebook_errors_are_one_line_naming_the_cell(toy_course, kind, capsys):
    toy_course.write_text(json.dumps(broken(kind)))
    assert main(["build", "toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mdl build: error: " + EXPECTED[kind]), err
    assert "Traceback" not in err[0]
    assert not (toy_course.parents[2] / "release" / "toy").exists()


def test_the_unbroken_toy_builds(toy_course):
    toy_course.write_text(json.dumps(TOY))
    [result] = build.build(["toy"])
    assert result.manifest.max_score == 2
    assert (toy_course.parents[2] / "release" / "toy" / "toy.ipynb").is_file()


def test_an_unknown_assignment_lists_the_known_ones_and_where_they_are_registered(capsys):
    assert main(["build", "a99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    known = ", ".join(a.id for a in grading_config.ASSIGNMENTS)
    assert err == [f"mdl build: error: unknown assignment(s): a99; known: {known} "
                   "(assignments are registered in grading_config.py, ASSIGNMENTS)"]


def test_what_nbgrader_says_is_cut_to_its_reason():
    log = """[ERROR] There was an error processing assignment: /tmp/x/source/./toy
[ERROR] Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/nbgrader/validator.py", line 80, in validate_nb
    raise ValidationError("nbgrader cell '{}' does not have points".format(
    jsonschema.exceptions.ValidationError: nbgrader cell 'q1_double' does not have points
[ERROR] Notebook failed to validate; the nbgrader metadata may be corrupted."""
    assert build._nbgrader_reason(log) == "jsonschema.exceptions.ValidationError: nbgrader cell 'q1_double' does not have points"
    assert build._nbgrader_reason("") == "no reason given"

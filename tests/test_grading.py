"""`mdl grade` end to end: the example class, the monkeypatching cheat, the gradebook files."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grading_config import LIMITS, PATHS, assignment
from autograder.batch import grade_batch
from autograder.grade import Bundle, Submission, grade_submission

EXAMPLES = PATHS.examples / "a1"
# The limits of grading_config.py, with a shorter cell time so the looping student costs seconds, not minutes.
FAST = type(LIMITS)(seconds_per_cell=5.0, seconds_per_notebook=60.0)


@pytest.fixture(scope="module")
def a1_bundle():
    return Bundle.load(assignment("a1"))


@pytest.fixture(scope="module")
def graded_examples(graded_class):
    graded = graded_class("a1")
    return graded.out, graded.records


def _expected():
    return json.loads((EXAMPLES / "expected.json").read_text())


def test_gradebook_csv_has_a_row_and_a_column_per_question(graded_examples, a1_bundle):
    out, records = graded_examples
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    questions = [q["grade_id"] for q in a1_bundle.manifest.questions]
    base = ["student", "assignment", "score", "max_score", "status"] + [f"q:{q}" for q in questions]
    assert list(rows[0].keys())[:len(base)] == base  # manual, late and final columns follow (autograder.totals)
    assert {r["student"] for r in rows} == set(records)
    for row in rows:
        assert float(row["score"]) == pytest.approx(sum(float(row[f"q:{q}"]) for q in questions))
        assert float(row["max_score"]) == a1_bundle.manifest.max_score


def test_results_json_follows_gradescope_schema_and_hides_hidden_tests(graded_examples):
    out, records = graded_examples
    hidden_lines = set()
    for path in (PATHS.build / "a1" / "tests").glob("*.py"):
        visible, _, hidden = path.read_text().partition("(hidden)")  # the hidden case comes after the visible one
        shown = {l.strip() for l in visible.splitlines()}  # what the release shows anyway
        hidden_lines |= {l.strip() for l in hidden.splitlines()
                         if l.startswith("        ") and len(l.strip()) > 20 and l.strip() not in shown}
    assert hidden_lines
    for student in records:
        data = json.loads((out / student / "results.json").read_text())
        assert data["score"] == pytest.approx(records[student]["score"])
        assert isinstance(data["tests"], list) and data["tests"]
        text = json.dumps(data)
        for line in hidden_lines:
            assert line not in text, f"hidden test text in {student}'s feedback: {line}"


def _release_with(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(PATHS.release / "a1" / "a1.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def test_monkeypatching_numpy_comparisons_does_not_earn_points(tmp_path, a1_bundle):
    """In nbgrader and otter this cheat gets full marks: the tests run in the student's kernel."""
    cheat = """
import numpy as np, numpy.testing
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
np.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
numpy.testing.assert_array_almost_equal = lambda *a, **k: None
import mdl_student.checks as checks
checks.assert_close = lambda *a, **k: None
checks.assert_equivalent = lambda *a, **k: None
"""
    release = nbformat.read(PATHS.release / "a1" / "a1.ipynb", 4)
    setup = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_imports")
    nb = _release_with({"setup_imports": setup.source + cheat})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = cell.source.replace("raise NotImplementedError()", "return 0") \
                if "def " in cell.source else "y_example = 0"
    path = tmp_path / "cheat.ipynb"
    nbformat.write(nb, path)
    cheat_outcome = grade_submission(Submission("cheat", path), a1_bundle, limits=FAST)
    blank_outcome = grade_submission(Submission("blank", PATHS.release / "a1" / "a1.ipynb"), a1_bundle, limits=FAST)
    assert cheat_outcome.status == "ok"
    assert cheat_outcome.score == blank_outcome.score == 0


def test_rerun_skips_unchanged_submissions_and_regrades_changed_ones(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(EXAMPLES / "blank.ipynb", subs / "ann.ipynb")
    shutil.copy(EXAMPLES / "blank.ipynb", subs / "bob.ipynb")
    out = tmp_path / "out"
    first = grade_batch(assignment("a1"), subs, out, jobs=1, limits=FAST, echo=lambda s: None, progress=False)
    lines = []
    shutil.copy(EXAMPLES / "full_marks_alt.ipynb", subs / "bob.ipynb")
    second = grade_batch(assignment("a1"), subs, out, jobs=1, limits=FAST, echo=lines.append, progress=False)
    assert any("1 submission(s) unchanged" in line for line in lines)
    assert first[0]["seconds"] == second[0]["seconds"]  # ann's record was kept, not regraded
    assert second[1]["score"] == second[1]["max_score"] > first[1]["score"]

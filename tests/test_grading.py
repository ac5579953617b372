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
        visible, _, hidden = path.read_text().partition("(hidden")  # the hidden cases ("(hidden 1)", ...) follow the visible one
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
    nb = _release_with({})
    setup = next(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_imports")
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(cheat))  # a cell of the student's own (a locked cell runs as released)
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


def _toy_assignment(tmp_path: Path) -> tuple[Bundle, nbformat.NotebookNode]:
    """A two-question assignment whose tests read a helper of a locked setup cell (as A5 q4 did), and its release."""
    import dataclasses

    from autograder.compile_tests import write_bundle

    def cell(source: str, **nbgrader) -> nbformat.NotebookNode:
        made = nbformat.v4.new_code_cell(source)
        made.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
        return made

    setup = "def evaluate(fn, x):\n    \"\"\"The tests' helper: fn at x.\"\"\"\n    return fn(x)"
    answer = "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"
    test = "assert evaluate(square, 3) == 9\n### BEGIN HIDDEN TESTS\nassert evaluate(square, 7) == 49\n### END HIDDEN TESTS"
    data = "offset = 10"
    answer2 = "### BEGIN SOLUTION\nshifted = offset + 1\n### END SOLUTION"
    test2 = "assert shifted > 0\n### BEGIN HIDDEN TESTS\nassert shifted == 11\n### END HIDDEN TESTS"
    source = nbformat.v4.new_notebook(cells=[
        cell(setup, grade=False, solution=False, locked=True, grade_id="setup_helper"),
        cell(answer, grade=False, solution=True, locked=False, grade_id="square_answer"),
        cell(test, grade=True, solution=False, locked=True, points=2, grade_id="q1_square"),
        cell(data, grade=False, solution=False, locked=True, grade_id="setup_offset"),
        cell(answer2, grade=False, solution=True, locked=False, grade_id="shifted_answer"),
        cell(test2, grade=True, solution=False, locked=True, points=1, grade_id="q2_shifted"),
    ])
    path = tmp_path / "toy.ipynb"
    nbformat.write(source, path)
    manifest = write_bundle(path, "toy", tmp_path / "build")
    toy = dataclasses.replace(assignment("a1"), id="toy", notebook="toy.ipynb")
    release = nbformat.reads(nbformat.writes(source), as_version=4)
    release.cells[1].source = "def square(x):\n    raise NotImplementedError()"
    release.cells[4].source = "raise NotImplementedError()"
    return Bundle(toy, manifest, tmp_path / "build" / "tests", {}), release


def _grade_notebook(nb: nbformat.NotebookNode, bundle: Bundle, path: Path):
    nbformat.write(nb, path)
    return grade_submission(Submission(path.stem, path), bundle, limits=FAST)


def test_a_locked_cell_the_student_edited_runs_as_the_release_holds_it(tmp_path):
    """Only the student's work is graded (issue 21): a helper the tests read, rewritten in its locked cell to
    answer by itself, earned the question without the answer being written (A5 q4: 7/30 without `Value`)."""
    bundle, release = _toy_assignment(tmp_path)
    assert [c["grade_id"] for c in bundle.manifest.locked_cells] == ["setup_helper", "setup_offset"]
    cheat = nbformat.reads(nbformat.writes(release), as_version=4)
    cheat.cells[0].source = "def evaluate(fn, x):\n    return x * x"  # square itself is still the stub
    cheat.cells[3].source = "offset = 10\nshifted = 11"  # the second answer written into a locked cell
    outcome = _grade_notebook(cheat, bundle, tmp_path / "cheat.ipynb")
    assert outcome.status == "ok" and outcome.scores == {"q1_square": 0.0, "q2_shifted": 0.0}
    honest = nbformat.reads(nbformat.writes(release), as_version=4)
    honest.cells[0].source = "# I tidied this cell\ndef evaluate(fn, x):\n    return fn(x) + 1"
    honest.cells[1].source = "def square(x):\n    return x ** 2"
    honest.cells[4].source = "shifted = offset + 1"
    assert _grade_notebook(honest, bundle, tmp_path / "honest.ipynb").scores == {"q1_square": 2.0, "q2_shifted": 1.0}


def test_a_locked_cell_missing_from_the_submission_runs_at_its_place(tmp_path):
    bundle, release = _toy_assignment(tmp_path)
    nb = nbformat.reads(nbformat.writes(release), as_version=4)
    nb.cells[1].source = "def square(x):\n    return x * x"
    nb.cells[4].source = "shifted = offset + 1"
    del nb.cells[3]  # setup_offset deleted
    nb.cells[0].metadata["nbgrader"]["grade_id"] = "mine"  # setup_helper renamed: the student's own cell now
    outcome = _grade_notebook(nb, bundle, tmp_path / "deleted.ipynb")
    assert outcome.scores == {"q1_square": 2.0, "q2_shifted": 1.0}  # `offset` came from the release's copy
    assert any("lacks the locked cell(s) setup_helper, setup_offset" in m for m in outcome.messages)


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

"""`mdl build`: releases without solutions or hidden tests, tests compiled with the right points and names."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grading_config import ASSIGNMENTS, PATHS
from autograder.build import BuildError, check_release_for_leaks, compare_releases
from autograder.compile_tests import CompileError, compile_notebook
from autograder.notebook_meta import edition, is_test_cell, languages_of, nbgrader_meta, release_dir

FIXTURES = Path(__file__).parent / "fixtures"
ALL = list(ASSIGNMENTS)  # every registered one: a missing source fails (tests/test_registered_assignments.py)


def _cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("assignment", ALL, ids=[a.id for a in ALL])
def test_release_has_stubs_no_solutions_and_no_hidden_tests(assignment):
    """Each edition's release against that edition's source cells (a translated test cell repeats its English
    twin's grade_id, and its visible comments are translated while its hidden part is not)."""
    source_nb = nbformat.read(PATHS.source / assignment.id / assignment.notebook, as_version=4)
    for lang in sorted(languages_of(source_nb)):
        source = edition(source_nb, lang).cells
        release = _cells(release_dir(PATHS.release, assignment.id, lang) / assignment.notebook)
        text = json.dumps([c.source for c in release])
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text
        by_id = {nbgrader_meta(c).get("grade_id"): c for c in release if nbgrader_meta(c).get("grade_id")}
        for cell in source:
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("solution"):
                assert "raise NotImplementedError()" in by_id[meta["grade_id"]].source
            if is_test_cell(cell):
                released = by_id[meta["grade_id"]]
                assert nbgrader_meta(released)["locked"] is True
                hidden_start = cell.source.find("### BEGIN HIDDEN TESTS")
                if hidden_start >= 0:
                    visible = {line.strip() for line in cell.source[:hidden_start].splitlines()}
                    hidden = cell.source[hidden_start:].split("### END HIDDEN TESTS")[0]
                    released_lines = {line.strip() for line in released.source.splitlines()}
                    for line in hidden.splitlines()[1:]:
                        if len(line.strip()) > 15 and line.strip() not in visible:  # shared setup is not a leak
                            assert line.strip() not in released_lines, (lang, meta["grade_id"], line)


@pytest.mark.parametrize("assignment", ALL, ids=[a.id for a in ALL])
def test_release_is_fresh(assignment, tmp_path):
    """What CI's `mdl build --check` checks, for each assignment."""
    from autograder.build import generate_releases

    generate_releases([assignment], tmp_path)
    assert compare_releases(tmp_path, PATHS.release, [assignment]) == []


def test_compiled_tests_carry_points_and_exactly_the_names_they_read():
    manifest, files = compile_notebook(FIXTURES / "toy_source.ipynb", "toy")
    assert manifest.questions == [{"grade_id": "q1_double", "points": 2.0, "params": ["double"]}]
    text = files["q1_double.py"]
    assert "points = 2.0" in text
    assert "def visible_tests(double):" in text and "def hidden_tests_1(double):" in text
    assert "import numpy as np" in text  # hoisted from the notebook's setup cell, not a parameter
    from otter.test_files.exception_test import ExceptionTestFile

    test_file = ExceptionTestFile.from_string(text, "q1_double.py")
    # the visible case teaches and carries nothing: every point is earned on inputs the student has not seen
    assert [tc.points for tc in test_file.test_cases] == [0.0, 2.0]
    assert [tc.hidden for tc in test_file.test_cases] == [False, True]


def test_hidden_cases_share_the_points_and_each_repeats_the_preamble(tmp_path):
    """``### HIDDEN CASE`` splits the hidden region: a slip that fails one case keeps the others' share."""
    nb = nbformat.read(FIXTURES / "toy_source.ipynb", as_version=4)
    test = next(c for c in nb.cells if is_test_cell(c))
    test.source = ("assert np.allclose(double(1.0), 2.0)\n### BEGIN HIDDEN TESTS\nrng = np.random.default_rng(1)\n"
                   "### HIDDEN CASE\nimport math\nassert double(3) == 6\n### HIDDEN CASE\n"
                   "x = rng.normal(size=4)\nassert np.allclose(double(x), 2 * x)\n"
                   "### HIDDEN CASE\nassert double(-1) == -2\n### END HIDDEN TESTS\n")
    path = tmp_path / "toy_source.ipynb"
    nbformat.write(nb, path)
    _, files = compile_notebook(path, "toy")
    from otter.test_files.exception_test import ExceptionTestFile

    test_file = ExceptionTestFile.from_string(files["q1_double.py"], "q1_double.py")
    assert [tc.name for tc in test_file.test_cases] == [
        "q1_double (visible)", "q1_double (hidden 1)", "q1_double (hidden 2)", "q1_double (hidden 3)"]
    assert [tc.points for tc in test_file.test_cases] == pytest.approx([0.0, 2 / 3, 2 / 3, 2 / 3])
    assert files["q1_double.py"].count("rng = np.random.default_rng(1)") == 3  # the preamble, in every case
    assert "import math" in files["q1_double.py"] and "HIDDEN CASE" not in files["q1_double.py"]


def test_a1_questions_are_compiled_with_their_points():
    a1 = next(a for a in ALL if a.id == "a1")
    manifest, files = compile_notebook(PATHS.source / "a1" / a1.notebook, "a1")
    source = _cells(PATHS.source / "a1" / a1.notebook)
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in source if is_test_cell(c)}
    assert {q["grade_id"]: q["points"] for q in manifest.questions} == points
    affine = next(q for q in manifest.questions if q["grade_id"].endswith("affine"))
    assert affine["params"] == ["affine"]


def _toy_with(test_source):
    nb = nbformat.read(FIXTURES / "toy_source.ipynb", as_version=4)
    nb.cells[3].source = test_source
    return nb


def test_a_test_reading_an_undefined_name_is_a_compile_error(tmp_path):
    path = tmp_path / "bad.ipynb"
    nbformat.write(_toy_with("assert tripple(1) == 3\n### BEGIN HIDDEN TESTS\nassert double(3) == 6\n### END HIDDEN TESTS"), path)
    with pytest.raises(CompileError, match="tripple"):
        compile_notebook(path, "bad")


def test_hidden_tests_cannot_lean_on_visible_variables(tmp_path):
    path = tmp_path / "bad.ipynb"
    nbformat.write(_toy_with("y = double(2.0)\n### BEGIN HIDDEN TESTS\nassert y == 4\n### END HIDDEN TESTS"), path)
    with pytest.raises(CompileError, match="hidden"):
        compile_notebook(path, "bad")


def test_leak_check_names_the_cell_that_leaks(tmp_path):
    source = FIXTURES / "toy_source.ipynb"
    leaky = nbformat.read(source, as_version=4)
    leaky.cells[2].source = "def double(x):\n    raise NotImplementedError()"
    leaky.cells[3].source = "assert np.allclose(double(1.0), 2.0)\n" \
        "assert np.allclose(double(np.arange(3)), np.arange(3) * 2.0)"
    path = tmp_path / "release.ipynb"
    nbformat.write(leaky, path)
    with pytest.raises(BuildError, match="q1_double"):
        check_release_for_leaks(source, path)
    marker = nbformat.read(source, as_version=4)
    marker.cells[2].source = "def double(x):\n    ### BEGIN SOLUTION\n    pass"
    nbformat.write(marker, path)
    with pytest.raises(BuildError, match="marker"):
        check_release_for_leaks(source, path)


def test_check_mode_names_a_stale_release(tmp_path):
    a1 = next(a for a in ALL if a.id == "a1")
    built, committed = tmp_path / "built", tmp_path / "committed"
    shutil.copytree(PATHS.release / "a1", built / "a1")
    shutil.copytree(PATHS.release / "a1", committed / "a1")
    assert compare_releases(built, committed, [a1]) == []
    nb = nbformat.read(committed / "a1" / a1.notebook, as_version=4)
    nb.cells[0].source += "\nedited by hand"
    nbformat.write(nb, committed / "a1" / a1.notebook)
    assert compare_releases(built, committed, [a1]) == [str(committed / "a1" / a1.notebook)]

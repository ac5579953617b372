"""`mdl gradescope A --out autograder.zip`: the zip, unpacked as Gradescope lays out /autograder, grades a submission."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

import grading_config
from autograder.cli import main
from autograder.grade import Bundle, Submission, grade_submission

A1 = grading_config.assignment("a1")
EXAMPLES = grading_config.PATHS.examples / "a1"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    assert main(["gradescope", "a1", "--out", str(out)]) == 0
    return out


def _unpack(zip_path, root):
    """Gradescope's layout: source/ (the zip), submission/, results/, run_autograder copied to the top."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # zipfile drops the mode bits; Gradescope keeps them
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777 or 0o644)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()


def _run(root, timeout=600):
    env = {**os.environ, "MDL_GRADESCOPE_ROOT": str(root), "MDL_GRADESCOPE_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text()), done


def test_zip_holds_setup_run_autograder_code_and_tests_but_no_source_notebook(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    package = grading_config.PATHS.root / "student" / "mdl_student" / "checks"
    checks = {f"student/mdl_student/checks/{module.name}" for module in package.glob("*.py")}
    assert "student/mdl_student/checks/__init__.py" in checks and len(checks) > 1  # the package, every module
    assert {"setup.sh", "run_autograder", "grading_config.py", "autograder/grade.py", "autograder/gradescope.py",
            "build/a1/manifest.json", "release/a1/a1.ipynb"} | checks <= names
    assert any(n.startswith("build/a1/tests/") for n in names)
    assert not any(n.startswith("source/") for n in names), "no solutions in the zip"
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert "bubblewrap" in setup and "python3.11" in setup


@pytest.mark.slow
def test_run_autograder_grades_an_example_submission_and_writes_results_json(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    _unpack(autograder_zip, root)
    shutil.copy(EXAMPLES / "partial.ipynb", root / "submission" / "a1.ipynb")
    results, done = _run(root)
    # the same verdicts as `mdl grade` gives the same notebook here
    outcome = grade_submission(Submission("partial", EXAMPLES / "partial.ipynb"), Bundle.load(A1))
    assert 0 < outcome.score < outcome.max_score
    assert results["score"] == pytest.approx(outcome.score)
    by_name = {t["name"]: t for t in results["tests"] if "max_score" in t}
    for question, score in outcome.scores.items():
        assert by_name[question]["score"] == pytest.approx(score), question
    assert results["extra_data"]["status"] == outcome.status
    # the hidden tests were closed to everyone but the grader before the student's code ran
    assert (root / "source" / "build").stat().st_mode & 0o077 == 0
    assert str(root / "results" / "results.json") in done.stdout


def test_a_submission_without_a_notebook_still_gets_results_json(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    _unpack(autograder_zip, root)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    results, _ = _run(root, timeout=300)
    assert results["score"] == 0
    assert "no notebook was uploaded" in results["output"]

"""`mdl gradescope A --out autograder.zip`: the zip, unpacked as Gradescope lays out /autograder, set up by its own
setup.sh (offline: third-party packages from this venv) and run by its run_autograder, grades a submission, with
and without bubblewrap, or refuses to grade where the kernel would not be isolated."""

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import uuid
import zipfile
from pathlib import Path

import pytest

import grading_config
from autograder.cli import main
from autograder.grade import Bundle, Submission, grade_submission
from autograder.gradescope import setup_sh

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


@pytest.fixture(scope="module")
def installed(autograder_zip):
    """The zip unpacked in a folder laid out like /autograder and set up by its own setup.sh.

    The folder is made under /tmp with mode 0755 (pytest's own folder is root's alone), as /autograder is.
    """
    root = Path(tempfile.mkdtemp(prefix="mdl-gradescope-", dir="/tmp"))
    root.chmod(0o755)
    _unpack(autograder_zip, root)
    env = _env(root, MDL_GRADESCOPE_BASE_PYTHON=str(Path(sys.base_prefix) / "bin" / "python3"),
               MDL_GRADESCOPE_TEST_SITE=sysconfig.get_path("purelib"))
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    try:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _env(root, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MDL_SANDBOX", "MDL_KERNEL_PYTHON", "MDL_GRADESCOPE_PYTHON")}
    return {**env, "MDL_GRADESCOPE_ROOT": str(root), **extra}


def _fresh(root):
    """An empty submission/ and results/, as Gradescope gives every submission."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    return root


def _grade(root, timeout=600, **extra):
    done = subprocess.run(["bash", str(root / "run_autograder")], env=_env(root, **extra), capture_output=True,
                          text=True, timeout=timeout)
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


def test_setup_installs_torch_transformers_and_trl_only_for_the_capstone():
    """Issue 26, item 7: A1's Gradescope venv was 2 GB of torch and TRL it never imports."""
    assert "[capstone]" not in setup_sh(A1) and "./student[capstone]" in setup_sh(grading_config.assignment("capstone"))
    pyproject = (grading_config.PATHS.root / "pyproject.toml").read_text()
    dependencies = pyproject.split("[project.optional-dependencies]")[0]
    assert "torch" not in dependencies and "trl" not in dependencies and "transformers" not in dependencies


@pytest.mark.slow
def test_setup_gives_the_kernel_a_venv_of_its_own_and_closes_the_graders_files(installed):
    """Issue 23, class 4: `pip install .` put autograder, grading_config and rlhf_capstone where the kernel imports."""
    kernel_python = installed / "kernel-venv" / "bin" / "python"
    for module in ("autograder", "grading_config", "rlhf_capstone"):
        done = subprocess.run([str(kernel_python), "-I", "-c", f"import {module}"], cwd="/", capture_output=True)
        assert done.returncode != 0, module
    assert subprocess.run([str(kernel_python), "-I", "-c", "import mdl_student.kernel_agent"], cwd="/").returncode == 0
    for closed in (installed / "source", installed / "venv"):
        assert closed.stat().st_mode & 0o077 == 0, closed


@pytest.mark.slow
def test_run_autograder_grades_an_example_submission_and_writes_results_json(installed):
    root = _fresh(installed)
    shutil.copy(EXAMPLES / "partial.ipynb", root / "submission" / "a1.ipynb")
    results, done = _grade(root)
    # the same verdicts as `mdl grade` gives the same notebook here
    outcome = grade_submission(Submission("partial", EXAMPLES / "partial.ipynb"), Bundle.load(A1))
    assert 0 < outcome.score < outcome.max_score
    assert results["score"] == pytest.approx(outcome.score), results["output"] + done.stderr[-1500:]
    by_name = {t["name"]: t for t in results["tests"] if "max_score" in t}
    for question, score in outcome.scores.items():
        assert by_name[question]["score"] == pytest.approx(score), question
    assert results["extra_data"]["status"] == outcome.status
    # the hidden tests were closed to everyone but the grader before the student's code ran
    assert (root / "source" / "build").stat().st_mode & 0o077 == 0
    assert str(root / "results" / "results.json") in done.stdout


def _probing_notebook(root, marker):
    """A full-marks notebook whose first cell ruins every answer if the kernel can reach the grader or is root,
    starts a daemon named ``marker`` and, where /tmp is shared (no bubblewrap), leaves a file named ``marker``."""
    import nbformat

    notebook = nbformat.read(EXAMPLES / "full_marks_alt.ipynb", as_version=4)
    probe = f"""import importlib.util, os, subprocess, sys
leaks = [m for m in ("autograder", "grading_config", "rlhf_capstone") if importlib.util.find_spec(m)]
for path in ({str(root / "source" / "grading_config.py")!r}, {str(root / "source" / "build" / "a1" / "manifest.json")!r}):
    try:
        open(path, "rb").close()
        leaks.append(path)
    except OSError:
        pass
if leaks or os.geteuid() == 0 or os.getuid() == 0:
    sys.modules["numpy"] = None  # every answer below fails
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    open("/tmp/" + {marker!r}, "w").close()
except OSError:
    pass
"""
    notebook.cells.insert(0, nbformat.v4.new_code_cell(probe))
    nbformat.write(notebook, root / "submission" / "a1.ipynb")


def _processes_named(marker):
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bubblewrap", "process"])
def test_the_kernel_sees_no_grader_code_never_runs_as_root_leaves_nothing_running_or_nothing_is_graded(
        installed, sandbox):
    """Issue 23, class 4: with bubblewrap; and without it (MDL_SANDBOX=process, as where a container refuses
    bubblewrap), where the kernel either runs as a user of its own who cannot read the grader's files, or the
    submission is refused in results.json (here: Python under a 0700 home, so no other user can run it)."""
    from autograder.sandbox.isolation_probe import isolation

    if sandbox == "bubblewrap" and isolation().mechanism != "bubblewrap":
        pytest.skip("bubblewrap does not work on this machine")
    root = _fresh(installed)
    full = grade_submission(Submission("full", EXAMPLES / "full_marks_alt.ipynb"), Bundle.load(A1)).score
    marker = f"mdl-probe-{uuid.uuid4().hex}"
    _probing_notebook(root, marker)
    try:
        results, done = _grade(root, **({"MDL_SANDBOX": "process"} if sandbox == "process" else {}))
        assert not _processes_named(marker), "a process the kernel started outlived it"
        if "Not graded" in results["output"]:
            assert sandbox == "process" and results["score"] == 0 and results["tests"] == []
            assert results["extra_data"]["status"] == "refused-sandbox" and "instructor" in results["output"]
            assert not Path("/tmp", marker).exists(), "student code ran although the sandbox was refused"
        else:
            assert results["score"] == pytest.approx(full) and full > 0, results["output"]
            assert sandbox == "bubblewrap" or Path("/tmp", marker).exists()
    finally:
        for pid in _processes_named(marker):
            os.kill(pid, 9)
        Path("/tmp", marker).unlink(missing_ok=True)


@pytest.mark.slow
def test_a_kernel_venv_that_can_import_the_grader_is_refused(installed):
    """The setup.sh of before (one venv, `pip install .`): refused, nothing graded, the reason in results.json."""
    site = subprocess.run([str(installed / "kernel-venv" / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    leak = Path(site) / "_leak.pth"
    leak.write_text(str(installed / "source") + "\n")
    try:
        root = _fresh(installed)
        shutil.copy(EXAMPLES / "partial.ipynb", root / "submission" / "a1.ipynb")
        results, _ = _grade(root, timeout=300)
    finally:
        leak.unlink()
    assert results["score"] == 0 and "can import the grader's code" in results["output"]


def test_a_submission_without_a_notebook_still_gets_results_json(installed):
    root = _fresh(installed)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    results, _ = _grade(root, timeout=300)
    assert results["score"] == 0
    assert "no notebook was uploaded" in results["output"]


@pytest.mark.slow
def test_a1_is_graded_reported_and_exported_by_a_grader_without_torch(tmp_path):
    """Issue 26, item 7: the image and CI's jobs of A1 have no torch, transformers or TRL: the grader must not need them."""
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(EXAMPLES / "partial.ipynb", subs / "ana.ipynb")
    code = f"""import sys
for name in ("torch", "transformers", "trl", "datasets", "accelerate"):
    sys.modules[name] = None  # any import of them fails
from autograder.cli import main
out = {str(tmp_path / "out")!r}
codes = [main(["grade", "a1", {str(subs)!r}, "--out", out, "--jobs", "1"]), main(["report", out])]
codes += [main(["export", out, "--format", f]) for f in ("canvas", "moodle", "csv")]
sys.exit(max(codes))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=grading_config.PATHS.root, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert (tmp_path / "out" / "export-canvas.csv").is_file() and (tmp_path / "out" / "ana" / "feedback.html").is_file()

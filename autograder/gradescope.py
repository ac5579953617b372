"""``mdl gradescope A --out autograder.zip``: our grader as a Gradescope autograder.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the
image, and for every submission copies the student's files into ``/autograder/submission`` and
runs ``/autograder/run_autograder``, which must leave ``/autograder/results/results.json``.
Ours runs the same pipeline as ``mdl grade``: the notebook in our sandbox, values across the bridge,
otter's tests in the grader, Gradescope's results.json from otter's own classes.

The zip holds the grader's code, the student package, the compiled tests of one assignment
(``build/<a>/``: hidden tests, so the zip is for instructors only) and its release files; it
holds no source notebook and no solution.  ``setup.sh`` builds two venvs: the grader's
(``/autograder/venv``) and the kernel's (``/autograder/kernel-venv``, holding only ``mdl_student``
and its dependencies); torch, transformers and TRL go into them only for an assignment that uses
them (the capstone).  ``/autograder/source`` and the grader's venv are root's alone (0700).

Before a student's code runs, ``run_autograder`` checks that the kernel (1) runs the kernel venv,
from which no grader code imports, (2) never runs as root, (3) cannot read the grader's code and
tests (bubblewrap's private file system, or a user of its own for whom they are closed) and
(4) leaves nothing running (a PID namespace, or the sweep of its own user's processes).  Where
any of these cannot be had, results.json says so and nothing is graded: a weaker sandbox would
hand the reference answers to a student's code.

``MDL_GRADESCOPE_ROOT`` (default ``/autograder``), ``MDL_GRADESCOPE_BASE_PYTHON`` (skips apt-get)
and, in the tests only, ``MDL_GRADESCOPE_TEST_SITE`` (third-party packages from a local folder
instead of the network) let the tests run both scripts in a temporary folder laid out the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path
from typing import Any

import grading_config
from grading_config import LIMITS, PATHS, Assignment

CONFIG_NAME = "mdl_gradescope.json"
COURSE_FILES = ("grading_config.py", "pyproject.toml")
COURSE_PACKAGES = ("autograder", "student", "rlhf_capstone")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# Two venvs: the grader's (root only) and the kernel's (mdl_student and its dependencies, nothing else).
set -euo pipefail
ROOT="${{MDL_GRADESCOPE_ROOT:-/autograder}}"
cd "$ROOT/source"
BASE_PYTHON="${{MDL_GRADESCOPE_BASE_PYTHON:-}}"
if [ -z "$BASE_PYTHON" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq bubblewrap git
  if ! apt-get install -y -qq python3.11 python3.11-venv; then
    apt-get install -y -qq software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -qq
    apt-get install -y -qq python3.11 python3.11-venv
  fi
  BASE_PYTHON=python3.11
fi
rm -rf "$ROOT/venv" "$ROOT/kernel-venv"
# torch's CPU build (the default index serves a multi-GB CUDA build for the same pin).
PIP=(install -q --disable-pip-version-check --extra-index-url "${{TORCH_INDEX:-https://download.pytorch.org/whl/cpu}}")
VENV=("$BASE_PYTHON" -m venv)
if [ -n "${{MDL_GRADESCOPE_TEST_SITE:-}}" ]; then  # the tests only: no network; pip and packages from that folder
  VENV=("$BASE_PYTHON" -m venv --without-pip)
  PIP=(install -q --disable-pip-version-check --no-deps --no-index --no-build-isolation)
fi
for venv in venv kernel-venv; do
  "${{VENV[@]}}" "$ROOT/$venv"
  if [ -n "${{MDL_GRADESCOPE_TEST_SITE:-}}" ]; then
    site="$("$ROOT/$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    echo "$MDL_GRADESCOPE_TEST_SITE" > "$site/_mdl_test_site.pth"
  fi
done
"$ROOT/venv/bin/python" -m pip "${{PIP[@]}}" "./student{extra}" ".{extra}"
"$ROOT/kernel-venv/bin/python" -m pip "${{PIP[@]}}" "./student{extra}"
# The grader's code, tests and venv: root's alone. The kernel's venv: readable by every user.
chmod 0700 "$ROOT/source" "$ROOT/venv"
chmod -R a+rX "$ROOT/kernel-venv"
"$ROOT/kernel-venv/bin/python" -I -c "import mdl_student.kernel_agent"
if "$ROOT/kernel-venv/bin/python" -I -c "import autograder" 2>/dev/null; then
  echo "setup.sh: the kernel's venv can import the grader's code" >&2; exit 1
fi
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. It always leaves results/results.json behind.
set -uo pipefail
ROOT="${MDL_GRADESCOPE_ROOT:-/autograder}"
PYTHON="${MDL_GRADESCOPE_PYTHON:-$ROOT/venv/bin/python}"
# The kernel's own venv (mdl_student and its dependencies only): the grader's is never the kernel's.
export MDL_KERNEL_PYTHON="$ROOT/kernel-venv/bin/python"
# The grader's code, its venv and the compiled tests (hidden tests): only the grader (root) may read them.
chmod -R go-rwx "$ROOT/source/build" 2>/dev/null || true
chmod 0700 "$ROOT/source" "$ROOT/venv" 2>/dev/null || true
export PYTHONPATH="$ROOT/source:$ROOT/source/student"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
# One submission per container: a kernel server (which pays off across a class) saves nothing here.
export MDL_FORK_SERVER=0
mkdir -p "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m autograder.gradescope "$ROOT"
"""


# --------------------------------------------------------------------------- writing the zip


def setup_sh(assignment: Assignment) -> str:
    """setup.sh for one assignment: torch, transformers and TRL (the ``capstone`` extra) only where it needs them."""
    return SETUP_SH.format(extra="[capstone]" if assignment.capstone else "")


def _package_files(root: Path, package: str) -> list[Path]:
    folder = root / package
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and ".egg-info" not in str(p) and p.suffix != ".pyc")


def zip_members(assignment: Assignment) -> dict[str, Path | str]:
    """``{name in the zip: file on disk or text}``: code, student package, compiled tests, release."""
    from autograder.build import ensure_bundle

    ensure_bundle(assignment)
    root = PATHS.root
    members: dict[str, Path | str] = {"setup.sh": setup_sh(assignment), "run_autograder": RUN_AUTOGRADER,
                                      CONFIG_NAME: json.dumps({"assignment": assignment.id}) + "\n"}
    for name in COURSE_FILES:
        members[name] = root / name
    for package in COURSE_PACKAGES:
        for path in _package_files(root, package):
            members[str(path.relative_to(root))] = path
    for folder in (PATHS.build / assignment.id, PATHS.release / assignment.id):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            members[str(path.relative_to(root))] = path
    leaked = [n for n in members if n.startswith("source/")]
    if leaked:
        raise RuntimeError(f"refusing to put source notebooks in the zip: {leaked}")
    return members


def write_zip(assignment: Assignment, out: Path) -> Path:
    """The Gradescope autograder zip of one assignment."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, item in zip_members(assignment).items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (0o755 if executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, item if isinstance(item, str) else item.read_bytes())
    return out


# --------------------------------------------------------------------------- running one submission


def shipped_bundle(assignment: Assignment) -> Any:
    """The Bundle from the zip's compiled tests (there is no source notebook to rebuild them from)."""
    from autograder.compile_tests import Manifest
    from autograder.grade import Bundle

    manifest = Manifest.from_json((PATHS.build / assignment.id / "manifest.json").read_text())
    release_dir = PATHS.release / assignment.id
    files = {p.name: p for p in sorted(release_dir.iterdir())
             if p.is_file() and p.suffix != ".ipynb" and not p.name.startswith(".")} if release_dir.is_dir() else {}
    return Bundle(assignment, manifest, PATHS.build / assignment.id / "tests", files)


def find_notebook(submission_dir: Path, assignment: Assignment) -> tuple[Path | None, str]:
    """The submitted notebook: the assignment's name, else the only notebook uploaded."""
    expected = submission_dir / assignment.notebook
    if expected.is_file() and not expected.is_symlink():
        return expected, ""
    notebooks = sorted(p for p in submission_dir.rglob("*.ipynb") if p.is_file() and not p.is_symlink()
                       and ".ipynb_checkpoints" not in p.parts)
    if len(notebooks) == 1:
        return notebooks[0], f"graded {notebooks[0].name} (the notebook should be named {assignment.notebook})"
    if notebooks:
        return None, f"several notebooks were uploaded and none is named {assignment.notebook}"
    return None, f"no notebook was uploaded (expected {assignment.notebook})"


def _student_name(root: Path) -> str:
    try:
        users = json.loads((root / "submission_metadata.json").read_text())["users"]
        return str(users[0].get("email") or users[0].get("name") or "submission")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "submission"


def isolation_refusal(assignment: Assignment) -> str | None:
    """Why the student's kernel would not be isolated here (None when it would be); see the module's docstring."""
    from autograder.sandbox import isolation, kernel_python

    kernel = kernel_python()
    if not kernel.separate:
        return "the kernel would run in the grader's own Python (no kernel venv: run setup.sh)"
    grader_modules = ("autograder", "grading_config", "rlhf_capstone")
    probe = f"import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in {grader_modules!r}))"
    done = subprocess.run([kernel.executable, "-I", "-c", probe], cwd="/", capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        return "the kernel's Python can import the grader's code (autograder, grading_config or rlhf_capstone)"
    iso = isolation()
    if os.geteuid() == 0 and not iso.separate_user:
        return "the kernel would run as root (no unprivileged user can run the kernel's Python here)"
    if iso.mechanism == "bubblewrap":
        return None  # a private file system holding only the kernel venv; a PID namespace that dies with it
    if not iso.separate_user:
        return "without bubblewrap, the kernel would run as the grader's own user and could read its tests"
    readable = _readable_by_sandbox_user(kernel.executable, [
        PATHS.root / "grading_config.py", PATHS.build / assignment.id / "manifest.json",
        Path(sys.prefix) / "pyvenv.cfg"])
    if readable:
        return f"without bubblewrap, the kernel's user could read the grader's files ({', '.join(readable)})"
    return None


def _readable_by_sandbox_user(python: str, paths: list[Path]) -> list[str]:
    """Which of ``paths`` a sandbox user (the kernels' last id, never claimed while a kernel runs) can open."""
    from autograder.sandbox import BASE_UID, UID_COUNT

    uid = BASE_UID + UID_COUNT - 1
    probe = ("import os, sys; os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n"
             "for p in sys.argv[1:]:\n"
             "    try: open(p, 'rb').close(); print(p)\n"
             "    except OSError: pass").format(uid=uid)
    done = subprocess.run([python, "-I", "-c", probe, *map(str, paths)], cwd="/", capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        return [f"the check itself failed: {done.stderr.strip()[-200:]}"]
    return done.stdout.split()


def refusal_results(reason: str) -> dict[str, Any]:
    """results.json when the sandbox is weaker than promised: nothing graded, the reason said."""
    return {"score": 0.0, "tests": [], "extra_data": {"status": "refused-sandbox"},
            "output": f"Not graded: {reason}. The autograder refuses to run student code in a weaker sandbox. "
                      "Please tell your instructor; your submission will be graded once this is fixed."}


def grade_one(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and return Gradescope's results dictionary."""
    from autograder.grade import Submission, grade_submission
    from autograder.records import gradescope_results

    config = json.loads((PATHS.root / CONFIG_NAME).read_text())
    assignment = grading_config.assignment(config["assignment"])
    refusal = isolation_refusal(assignment)
    if refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return refusal_results(refusal)
    notebook, note = find_notebook(root / "submission", assignment)
    submission = Submission(_student_name(root), notebook, note)
    outcome = grade_submission(submission, shipped_bundle(assignment), slot=0, limits=assignment.limits or LIMITS)
    return gradescope_results(outcome)


def main(argv: list[str] | None = None) -> int:
    """Entry point of run_autograder: results.json is written whatever happens."""
    from autograder.out_folder import atomic_write_text

    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "/autograder")
    try:
        results = grade_one(root)
    except Exception as err:  # noqa: BLE001  (Gradescope must get a results.json, not a traceback)
        traceback.print_exc()
        results = {"score": 0.0, "output": f"The autograder failed on this submission ({type(err).__name__}). "
                   "Please tell your instructor; it will be regraded.", "tests": []}
    atomic_write_text(root / "results" / "results.json", json.dumps(results, indent=2) + "\n")
    print(f"score {results['score']:g}: {root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``mdl gradescope A --out autograder.zip``: our grader as a Gradescope autograder.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the
image, and for every submission copies the student's files into ``/autograder/submission`` and
runs ``/autograder/run_autograder``, which must leave ``/autograder/results/results.json``.
Ours runs the same pipeline as ``mdl grade``: the notebook in our sandbox (bubblewrap where the
container allows it, else a process of its own user), values across the bridge, otter's tests in
the grader, Gradescope's results.json from otter's own classes.

The zip holds the grader's code, the student package, the compiled tests of one assignment
(``build/<a>/``: hidden tests, so the zip is for instructors only) and its release files; it
holds no source notebook and no solution. ``run_autograder`` makes the compiled tests readable by
root only before a student's code runs. ``MDL_GRADESCOPE_ROOT`` (default ``/autograder``) and
``MDL_GRADESCOPE_PYTHON`` let the tests run it in a temporary folder laid out the same way.
"""

from __future__ import annotations

import json
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
set -euo pipefail
cd /autograder/source
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap git
if ! apt-get install -y -qq python3.11 python3.11-venv; then
  apt-get install -y -qq software-properties-common
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update -qq
  apt-get install -y -qq python3.11 python3.11-venv
fi
python3.11 -m venv /autograder/venv
# torch's CPU build (the default index serves a multi-GB CUDA build for the same pin).
/autograder/venv/bin/pip install -q --extra-index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" ./student .
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. It always leaves results/results.json behind.
set -uo pipefail
ROOT="${MDL_GRADESCOPE_ROOT:-/autograder}"
PYTHON="${MDL_GRADESCOPE_PYTHON:-$ROOT/venv/bin/python}"
# The compiled tests hold the hidden tests: only the grader (root) may read them.
chmod -R go-rwx "$ROOT/source/build" 2>/dev/null || true
export PYTHONPATH="$ROOT/source:$ROOT/source/student"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
# One submission per container: a kernel server (which pays off across a class) saves nothing here.
export MDL_FORK_SERVER=0
mkdir -p "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m autograder.gradescope "$ROOT"
"""


# --------------------------------------------------------------------------- writing the zip


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
    members: dict[str, Path | str] = {"setup.sh": SETUP_SH, "run_autograder": RUN_AUTOGRADER,
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


def grade_one(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and return Gradescope's results dictionary."""
    from autograder.grade import Submission, grade_submission
    from autograder.records import gradescope_results

    config = json.loads((PATHS.root / CONFIG_NAME).read_text())
    assignment = grading_config.assignment(config["assignment"])
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

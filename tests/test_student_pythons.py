"""The student package installs and passes the releases' visible tests on Python 3.11, 3.12 and 3.13.

Students run the course where they are: Colab runs 3.13, many laptops 3.12. For each interpreter
found (``MDL_STUDENT_PYTHON``, a space-separated list, else ``python3.X`` on PATH or pyenv's
versions) a fresh venv gets ``pip install ./student`` (from PyPI, or pip's configured index) and
runs every non-capstone release's code cells, answers taken from the source, with nothing of the
course but the package importable. An interpreter that is not on this machine is reported as a
skip naming it, never a pass; CI runs each version (ci.yml, job student-package).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grading_config import ASSIGNMENTS, PATHS, ROOT

sys.path.insert(0, str(Path(__file__).parent))
from test_student_package import _answered_release  # noqa: E402

VERSIONS = ("3.11", "3.12", "3.13")
# Runs each cell as Jupyter would (IPython's transforms), in one namespace, from the release's folder.
DRIVER = """
import json, os, sys
from IPython.core.inputtransformer2 import TransformerManager
cells = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for number, code in enumerate(cells, 1):
    try:
        exec(compile(TransformerManager().transform_cell(code), f"<code cell {number}>", "exec"), namespace)
    except Exception as err:
        print(f"code cell {number}: {type(err).__name__}: {err}")
        sys.exit(1)
import mdl_student
print("ok", sys.version.split()[0], mdl_student.__file__)
"""


def _interpreter(version: str) -> str | None:
    listed = os.environ.get("MDL_STUDENT_PYTHON", "").split()
    candidates = listed or [shutil.which(f"python{version}") or "",
                            *sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"))]
    for path in candidates:
        if path and Path(path).exists():
            out = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True)
            if out.stdout.strip() == version:
                return path
    return None


def test_the_package_declares_the_versions_it_is_tested_on():
    import tomllib

    declared = tomllib.loads((ROOT / "student" / "pyproject.toml").read_text())["project"]["requires-python"]
    assert declared.replace(" ", "") == ">=3.11,<3.14"
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert all(f'"{v}"' in ci for v in VERSIONS) and "test_student_pythons.py" in ci


@pytest.mark.slow
@pytest.mark.pythons  # minutes per version: its own step of CI (`make test-pythons`), not part of `make test`
@pytest.mark.parametrize("version", VERSIONS)
def test_the_student_package_installs_and_passes_the_visible_tests(version, tmp_path):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (set MDL_STUDENT_PYTHON); CI runs it")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(ROOT / "student")], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, f"pip install ./student on Python {version}:\n{pip.stderr[-3000:]}"
    failures = []
    for assignment in [a for a in ASSIGNMENTS if not a.capstone]:
        cells = tmp_path / f"{assignment.id}.json"
        cells.write_text(json.dumps(_answered_release(assignment.id)))
        run = subprocess.run([str(venv / "bin" / "python"), "-c", DRIVER, str(cells)], cwd=PATHS.release / assignment.id,
                             capture_output=True, text=True, timeout=900,
                             env={"PATH": os.environ["PATH"], "MPLBACKEND": "Agg", "HOME": str(tmp_path)})
        if run.returncode != 0 or f"ok {version}" not in run.stdout:
            failures.append(f"{assignment.id}: {run.stdout[-800:]}{run.stderr[-800:]}")
        else:  # the package came from the venv, not from the course's checkout
            assert str(venv) in run.stdout, run.stdout
    assert not failures, "\n".join(failures)

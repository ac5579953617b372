"""Today's path, for the capstone benchmarks: a copy of the repository at an earlier commit.

``baseline_checkout(ref)`` extracts the commit with ``git archive`` (no worktree, nothing changed in
``.git``) into ``build/benchmarks/baseline-<sha>/``, once; ``checkout_env(root)`` is the environment
that runs that copy's ``autograder`` and student package with this checkout's virtual environment.
The copy lives under ``build/``, not ``/tmp``: the grader starts no kernel server for a course
under ``/tmp`` (see ``autograder.sandbox._kernel_server_wanted``), which would slow today's path
down for a reason that is not its own.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "c865b79"  # main where issue 20 merged it (its new capstone notebook): TRL's DPOTrainer in the student's kernel


def baseline_checkout(ref: str = BASELINE) -> Path:
    """The repository at ``ref``, extracted once under build/benchmarks/."""
    sha = subprocess.run(["git", "rev-parse", f"{ref}^{{commit}}"], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    target = ROOT / "build" / "benchmarks" / f"baseline-{sha[:10]}"
    if not (target / ".complete").exists():
        archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=ROOT, check=True, capture_output=True).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        (target / ".complete").write_text(sha + "\n")
    return target


def checkout_env(root: Path) -> dict[str, str]:
    """Run ``root``'s grader and student package (ahead of the editable installs of this checkout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "student")])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        env[name] = "1"
    return env

"""Probe once which isolation this machine allows (bubblewrap, a separate user) and say what it guarantees."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from grading_config import ROOT

from autograder.sandbox.users import BASE_UID, UID_COUNT

# The only course code the kernel may import: the student package (what students install themselves).
STUDENT_PACKAGE_ROOT = ROOT / "student"


@dataclass(frozen=True)
class Isolation:
    """What the sandbox guarantees on this machine."""

    mechanism: str  # "bubblewrap" or "process"
    filesystem: bool  # student code sees only the Python installation, public code and its folder
    network: bool  # student code has no network
    separate_user: bool  # student code runs as an unprivileged user of its own (needs a root grader)

    @property
    def contains_processes(self) -> bool:
        """Student code cannot signal the grader or other kernels (PID namespace or own user)."""
        return self.mechanism == "bubblewrap" or self.separate_user

    def describe(self) -> str:
        if self.mechanism == "bubblewrap":
            user = "a separate unprivileged user" if self.separate_user else "the grader's own user"
            return f"bubblewrap: private file system, no network, own PID namespace, runs as {user}"
        if self.separate_user:
            who = ("student code runs as a separate unprivileged user, so it cannot signal the grader, "
                   "but it can read any file that user can read (world-readable files) and reach the network")
        elif os.geteuid() == 0:
            who = ("student code runs AS ROOT: it can read and change any file, signal or kill any "
                   "process (the grader included), fork without limit (root ignores the process limit) "
                   "and reach the network")
        else:
            who = ("student code runs as the grader's own user: it can read any file this user can read, "
                   "signal or kill this user's processes (the grader included) and reach the network")
        return (
            f"WARNING: bubblewrap is not available (or MDL_SANDBOX=process), so {who}. "
            "Verdicts are still computed outside the student's process and limits still apply. "
            "Install bubblewrap (make sandbox) before grading for real."
        )


def _bwrap_works(bwrap: str) -> bool:
    try:
        done = subprocess.run(
            [bwrap, "--unshare-net", "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _separate_user_works() -> bool:
    """Without bubblewrap, can an unprivileged user run the kernel (read Python and the course code)?"""
    uid = BASE_UID + UID_COUNT - 1
    probe = (
        "import os, sys; os.setgroups([]); os.setgid({uid}); os.setuid({uid}); "
        "sys.path.insert(0, {root!r}); import IPython, numpy, mdl_student.codec"
    ).format(uid=uid, root=str(STUDENT_PACKAGE_ROOT))
    try:
        done = subprocess.run([sys.executable, "-I", "-c", probe], cwd="/", capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Probe once which isolation this machine allows (``MDL_SANDBOX=process`` forces the weakest)."""
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    if bwrap and os.environ.get("MDL_SANDBOX", "") != "process" and _bwrap_works(bwrap):
        return Isolation("bubblewrap", filesystem=True, network=True, separate_user=root)
    return Isolation("process", filesystem=False, network=False, separate_user=root and _separate_user_works())

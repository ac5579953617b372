"""Probe once which isolation this machine allows (bubblewrap, a separate user) and say what it guarantees."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from dataclasses import dataclass

from grading_config import ROOT

from autograder.i18n import _
from autograder.sandbox.users import BASE_UID, UID_COUNT

# The only course code the kernel may import: the student package (what students install themselves).
STUDENT_PACKAGE_ROOT = ROOT / "student"
# The interpreter the kernel runs, when it is not the grader's own: a venv holding only mdl_student and
# its dependencies (Gradescope's kernel venv), so that nothing the grader installed is importable there.
KERNEL_PYTHON_ENV = "MDL_KERNEL_PYTHON"


@dataclass(frozen=True)
class KernelPython:
    """The kernel's interpreter and the folders it needs to read."""

    executable: str
    prefix: Path
    base_prefix: Path
    separate: bool  # not the grader's interpreter: mdl_student is installed there, the checkout is not used
    extra_paths: tuple[Path, ...] = ()  # folders its sys.path holds outside both prefixes (a .pth's)

    def agent_import(self, module: str) -> str:
        """The ``-c`` code that starts ``mdl_student.<module>`` in this interpreter."""
        path = "" if self.separate else f"sys.path.insert(0, {str(STUDENT_PACKAGE_ROOT)!r}); "
        return f"import sys; {path}from mdl_student.{module} import main; main()"


@functools.lru_cache(maxsize=1)
def kernel_python() -> KernelPython:
    """``$MDL_KERNEL_PYTHON`` (its prefixes asked of it once), else the grader's own interpreter."""
    chosen = os.environ.get(KERNEL_PYTHON_ENV, "")
    if not chosen or chosen == sys.executable:
        return KernelPython(sys.executable, Path(sys.prefix), Path(sys.base_prefix), separate=False)
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.path]))"
    done = subprocess.run([chosen, "-I", "-c", code], cwd="/", capture_output=True, text=True, timeout=60, check=False)
    try:
        prefix, base_prefix, path = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"{KERNEL_PYTHON_ENV}={chosen} does not run ({done.stderr.strip()[-200:]})") from None
    prefixes = (Path(prefix), Path(base_prefix))
    extra = tuple(Path(p) for p in path if p and Path(p).is_dir() and not any(Path(p).is_relative_to(q) for q in prefixes))
    return KernelPython(chosen, Path(prefix), Path(base_prefix), separate=True, extra_paths=extra)


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
        """What the sandbox guarantees, in the run's language (``mdl grade``'s "sandbox:" line)."""
        if self.mechanism == "bubblewrap":
            if self.separate_user:
                return _("bubblewrap: private file system, no network, own PID namespace, runs as a separate "
                         "unprivileged user")
            return _("bubblewrap: private file system, no network, own PID namespace, runs as the grader's own user")
        if self.separate_user:
            who = _("student code runs as a separate unprivileged user, so it cannot signal the grader, "
                    "but it can read any file that user can read (world-readable files) and reach the network")
        elif os.geteuid() == 0:
            who = _("student code runs AS ROOT: it can read and change any file, signal or kill any "
                    "process (the grader included), fork without limit (root ignores the process limit) "
                    "and reach the network")
        else:
            who = _("student code runs as the grader's own user: it can read any file this user can read, "
                    "signal or kill this user's processes (the grader included) and reach the network")
        return _("WARNING: bubblewrap is not available (or MDL_SANDBOX=process), so {who}. Verdicts are still "
                 "computed outside the student's process and limits still apply. Install bubblewrap (make sandbox) "
                 "before grading for real.").format(who=who)


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
    kernel = kernel_python()
    probe = (
        "import os, sys; os.setgroups([]); os.setgid({uid}); os.setuid({uid}); "
        "{path}import IPython, numpy, mdl_student.codec"
    ).format(uid=uid, path="" if kernel.separate else f"sys.path.insert(0, {str(STUDENT_PACKAGE_ROOT)!r}); ")
    try:
        done = subprocess.run([kernel.executable, "-I", "-c", probe], cwd="/", capture_output=True, timeout=60)
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

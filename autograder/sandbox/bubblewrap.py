"""The bubblewrap command line that starts a kernel, the environment every kernel sees, and its font list.

The command binds the Python installation, the student package and the kernel's files read-only,
gives it a size-limited private working folder and /tmp, and unshares every namespace it can.
matplotlib's font list is built once, in a sandbox like the kernels', and bound into each one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from grading_config import LIMITS, PATHS, SandboxLimits
from mdl_student.i18n import current_language

from autograder.sandbox.isolation_probe import STUDENT_PACKAGE_ROOT, isolation, kernel_python

WORKDIR = "/home/student"  # the kernel's working folder: a private, size-limited tmpfs


def _ancestors(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


# --------------------------------------------------------------------------- matplotlib's font list

MPLCONFIGDIR = "/tmp/matplotlib"  # the kernel's matplotlib folder, in its private /tmp
FONT_CACHE_ROOT = PATHS.build / ".cache"  # instructor-side; only the font list file is bound into sandboxes


def _font_cache_key() -> str:
    """Changes with matplotlib's version and the Python installation the sandbox binds."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mpl_version = version("matplotlib")
    except PackageNotFoundError:
        return ""
    import hashlib

    kernel = kernel_python()
    return f"matplotlib-{mpl_version}-" + hashlib.sha256(f"{kernel.prefix}\n{kernel.base_prefix}".encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def font_cache() -> list[Path]:
    """matplotlib's font list as a sandbox sees the fonts, built once (in a sandbox) and kept in build/.cache.

    Every kernel's home and /tmp are fresh, so without it matplotlib would search every font on the
    machine again in every kernel (about half a second).  Each kernel gets the file bound read-only
    into its matplotlib folder.  Built with bubblewrap only (the process sandbox keeps matplotlib's
    own behaviour); fonts installed later are not seen until matplotlib's version changes or
    build/.cache is removed (one whose file has gone makes matplotlib search again, as before).
    Returns the font list files, none where it could not be built.
    """
    key = _font_cache_key()
    if not key or isolation().mechanism != "bubblewrap":
        return []
    folder = FONT_CACHE_ROOT / key
    if not sorted(folder.glob("fontlist-v*.json")):
        _build_font_cache(folder)
    return sorted(folder.glob("fontlist-v*.json"))


def _build_font_cache(folder: Path) -> None:
    """Let matplotlib write its font list in a sandbox like the kernels' (same files, same fonts), as root.

    No student code runs there.  Built in a temporary folder and renamed into place, so that two
    graders building at once never leave half a file.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    except OSError:
        return
    try:
        command = _bwrap_command({}, LIMITS, font_list=False) + [
            "--bind", str(scratch), MPLCONFIGDIR, kernel_python().executable, "-I", "-c", "import matplotlib.font_manager",
        ]  # fmt: skip
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        if done.returncode == 0 and list(scratch.glob("fontlist-v*.json")):
            for lock in scratch.glob("*.matplotlib-lock"):
                lock.unlink()
            scratch.chmod(0o755)
            with contextlib.suppress(OSError):  # another grader was quicker: keep its folder
                scratch.rename(folder)
    except (OSError, subprocess.SubprocessError):
        pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _font_list_args() -> list[str]:
    """Bind the font list read-only into the kernel's (writable) matplotlib folder: read, never rebuilt."""
    files = font_cache()
    if not files:
        return []
    args = ["--perms", "1777", "--dir", MPLCONFIGDIR]
    for path in files:
        args += ["--ro-bind", str(path), f"{MPLCONFIGDIR}/{path.name}"]
    return args


def _bwrap_command(files: dict[str, Path], limits: SandboxLimits, *, font_list: bool = True) -> list[str]:
    """The bubblewrap command line: what the kernel can see, and nothing more."""
    cmd = [
        "bwrap",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(256 * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp",
    ]  # fmt: skip
    if font_list:
        cmd += _font_list_args()
    for top in ("bin", "lib", "lib64", "sbin", "lib32"):
        path = Path("/") / top
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    kernel = kernel_python()  # a kernel venv of its own where one is set: the grader's is never bound then
    readable = [kernel.base_prefix, kernel.prefix, *kernel.extra_paths]
    readable += [] if kernel.separate else [STUDENT_PACKAGE_ROOT / "mdl_student"]
    made: set[Path] = set()
    for path in readable:
        for parent in _ancestors(path):
            if parent not in made and not str(parent).startswith("/usr"):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
    for path in readable:
        cmd += ["--ro-bind", str(path), str(path)]
    workdir_bytes = limits.max_file_mb * 4 * 1024 * 1024
    cmd += ["--size", str(workdir_bytes), "--perms", "1777", "--tmpfs", WORKDIR]
    for name, host_path in files.items():
        cmd += ["--ro-bind", str(host_path), f"{WORKDIR}/{name}"]
    environment = _kernel_env(WORKDIR)
    if limits.gpu:  # only where the profile asks for it: device nodes, driver libraries, /sys read-only
        from autograder.gpu import gpu_bwrap_args, gpu_environment

        cmd += gpu_bwrap_args()
        environment.update(gpu_environment())
    cmd += ["--chdir", WORKDIR, "--clearenv"]
    for key, value in environment.items():
        cmd += ["--setenv", key, value]
    return cmd


def _kernel_env(home: str) -> dict[str, str]:
    """The whole environment the kernel sees: no grading flags, no tokens, no paths of ours."""
    return {
        "HOME": home,
        "PATH": f"{Path(kernel_python().executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "module://mdl_student.plot_backend",  # Agg that draws nothing on show or tight_layout
        "MPLCONFIGDIR": MPLCONFIGDIR,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MDL_LANG": current_language(),  # the checks' messages in the grading run's language (mdl grade --lang)
    }

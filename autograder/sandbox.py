"""Start the student's kernel in a sandbox and talk to it over a pipe.

The sandbox is bubblewrap (``bwrap``) where it works: new mount, PID, network,
IPC and UTS namespaces; a file system that holds the Python installation
read-only, the course's public code read-only, and a size-limited private
working folder holding copies of the submission and the release's files --
nothing else (no ``source/``, no ``build/``, no other submissions, no
gradebook).  When the grader runs as root the kernel also drops to an
unprivileged user of its own (one per pool slot), so process limits apply and
sandboxes cannot signal each other.  Resource limits (memory, processes, file
size) and the per-cell time limit are applied by the agent itself before any
student code runs; the grader adds a hard deadline on every request.

Where bubblewrap is missing or refused, the kernel still runs in its own
process with limits and a scrubbed environment, and :func:`isolation` says
loudly what is *not* guaranteed.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grading_config import LIMITS, ROOT, SandboxLimits

from autograder.codec import CodecError, dumps, loads

_HEADER = struct.Struct(">Q")
WORKDIR = "/home/student"
BASE_UID = 61000  # slot k runs as uid BASE_UID + k when the grader is root
HARD_GRACE_S = 3.0  # the agent's own alarm fires first; this catches C-level hangs


class KernelError(Exception):
    """The kernel could not answer."""


class KernelTimeout(KernelError):
    """The kernel did not answer before the hard deadline and was stopped."""


class KernelDied(KernelError):
    """The kernel process ended (crash, ``os._exit``, killed for memory ...)."""


@dataclass(frozen=True)
class Isolation:
    """What the sandbox guarantees on this machine."""

    mechanism: str  # "bubblewrap" or "process"
    filesystem: bool
    network: bool
    separate_user: bool

    def describe(self) -> str:
        if self.mechanism == "bubblewrap":
            user = "a separate unprivileged user" if self.separate_user else "the grader's own user"
            return f"bubblewrap: private file system, no network, own PID namespace, runs as {user}"
        return (
            "WARNING: bubblewrap is not available, so student code can read any file this user can "
            "read and can reach the network. Verdicts are still computed outside the student's "
            "process and limits still apply. Install bubblewrap (make sandbox) before grading for real."
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


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Probe once which isolation this machine allows."""
    bwrap = shutil.which("bwrap")
    if bwrap and os.environ.get("MDL_SANDBOX", "") != "process" and _bwrap_works(bwrap):
        return Isolation("bubblewrap", filesystem=True, network=True, separate_user=os.geteuid() == 0)
    return Isolation("process", filesystem=False, network=False, separate_user=False)


def _ancestors(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


def _bwrap_command(files: dict[str, Path], limits: SandboxLimits) -> list[str]:
    """The bubblewrap command line: what the kernel can see, and nothing more."""
    cmd = [
        "bwrap",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(256 * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp",
    ]  # fmt: skip
    for top in ("bin", "lib", "lib64", "sbin", "lib32"):
        path = Path("/") / top
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    readable = [Path(sys.base_prefix), Path(sys.prefix), ROOT / "autograder", ROOT / "grading_config.py"]
    if (ROOT / "rlhf_capstone").is_dir():
        readable.append(ROOT / "rlhf_capstone")
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
    cmd += ["--chdir", WORKDIR, "--clearenv"]
    for key, value in _kernel_env(WORKDIR).items():
        cmd += ["--setenv", key, value]
    return cmd


def _kernel_env(home: str) -> dict[str, str]:
    """The whole environment the kernel sees: no grading flags, no tokens, no paths of ours."""
    return {
        "HOME": home,
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class Kernel:
    """One student kernel: start, run cells, look up names, call functions, stop."""

    def __init__(self, files: dict[str, Path], *, slot: int = 0, limits: SandboxLimits = LIMITS) -> None:
        self.files = files
        self.slot = slot
        self.limits = limits
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        iso = isolation()
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        config = {
            "uid": BASE_UID + self.slot if iso.separate_user else None,
            "memory_mb": self.limits.memory_mb,
            "max_file_mb": self.limits.max_file_mb,
            "max_processes": self.limits.max_processes,
            "max_output_chars": self.limits.max_output_kb * 1024,
        }
        agent = [
            sys.executable, "-I", "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from autograder.kernel_agent import main; main()",
            str(to_kernel_r), str(from_kernel_w), json.dumps(config),
        ]  # fmt: skip
        if iso.mechanism == "bubblewrap":
            command, cwd, env = _bwrap_command(self.files, self.limits) + agent, None, None
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="mdl-kernel-")
            for name, host_path in self.files.items():
                shutil.copy(host_path, Path(self._tmp.name) / name)
            command, cwd, env = agent, self._tmp.name, _kernel_env(self._tmp.name)
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_kernel_r, from_kernel_w),
            start_new_session=True,
        )
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        self._write_fd, self._read_fd = to_kernel_w, from_kernel_r
        self._receive(deadline=time.monotonic() + 60)  # the agent's "ready"

    def close(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for fd in (self._write_fd, self._read_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Kernel":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------
    def run_cell(self, code: str, seconds: float) -> dict[str, Any]:
        return self.request({"op": "run", "code": code, "seconds": seconds}, seconds)

    def lookup(self, names: list[str]) -> dict[str, Any]:
        return self.request({"op": "lookup", "names": names}, self.limits.seconds_per_bridge_call)["names"]

    def call(self, name: str, args: Any, kwargs: Any) -> dict[str, Any]:
        seconds = self.limits.seconds_per_bridge_call
        return self.request({"op": "call", "name": name, "args": args, "kwargs": kwargs, "seconds": seconds}, seconds)

    def request(self, message: dict[str, Any], seconds: float) -> dict[str, Any]:
        if self.process is None:
            raise KernelDied("the kernel is not running")
        payload = dumps(message)
        try:
            os.write(self._write_fd, _HEADER.pack(len(payload)) + payload)
        except OSError as err:
            self._died()
            raise KernelDied(f"the kernel stopped listening ({err.strerror})") from err
        reply = self._receive(deadline=time.monotonic() + seconds + HARD_GRACE_S)
        return reply

    def _receive(self, deadline: float) -> dict[str, Any]:
        header = self._read_exact(_HEADER.size, deadline)
        (size,) = _HEADER.unpack(header)
        if size > self.limits.max_bridge_message_mb * 1024 * 1024:
            self.close()
            raise KernelDied(f"the kernel sent a {size // 2**20} MB message, over the bridge's limit")
        try:
            return loads(self._read_exact(size, deadline))
        except CodecError as err:
            self.close()
            raise KernelDied(str(err)) from err

    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while n:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._read_fd], [], [], max(remaining, 0))
            if not ready:
                self.close()
                raise KernelTimeout("the kernel did not answer in time and was stopped")
            chunk = os.read(self._read_fd, min(n, 1 << 20))
            if not chunk:
                self._died()
                raise KernelDied(self._death_reason())
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _died(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._returncode = self.process.returncode
        self.close()

    def _death_reason(self) -> str:
        code = getattr(self, "_returncode", None)
        if code is None:
            return "the kernel stopped unexpectedly"
        if code < 0:
            return f"the kernel was killed by signal {signal.Signals(-code).name}"
        return f"the kernel exited with status {code}"

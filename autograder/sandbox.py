"""Start the student's kernel in a sandbox and talk to it over a pipe.

The sandbox is bubblewrap (``bwrap``) where it works: new mount, PID, network,
IPC and UTS namespaces; a file system that holds the Python installation
read-only, the course's public code read-only, and a size-limited private
working folder holding copies of the submission and the release's files --
nothing else (no ``source/``, no ``build/``, no other submissions, no
gradebook).  When the grader runs as root the kernel also drops to an
unprivileged user of its own (one per live kernel), so process limits apply and
sandboxes cannot signal each other.  Resource limits (memory, processes, file
size) and the per-cell time limit are applied by the agent itself before any
student code runs; the grader adds a hard deadline on every request.

Where bubblewrap is missing or refused, the kernel still runs in its own
process with limits and a scrubbed environment (and, as root, as a user of its
own when the Python installation allows it), and :func:`isolation` says
loudly what is *not* guaranteed.

Sandbox user ids are claimed with a lock file per id, not derived from the
pool slot alone, so that two graders on one machine (two batches, a test run
beside a real run) never share an id: process limits count per user, and
the sweep that ends a kernel's stray processes kills by user.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import json
import mmap
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grading_config import LIMITS, PATHS, ROOT, SandboxLimits

# The only course code the kernel may import: the student package (what students install themselves).
STUDENT_PACKAGE_ROOT = ROOT / "student"

from mdl_student.codec import MAX_ITEMS, CodecError, dumps, loads

_HEADER = struct.Struct(">Q")
WORKDIR = "/home/student"
BASE_UID = 61000  # sandbox users are BASE_UID, BASE_UID + 1, ... (slot k tries BASE_UID + k first)
UID_COUNT = 1000  # how many ids the grader may claim
UID_LOCK_DIR = Path("/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()) / "mdl-sandbox-uids"
HARD_GRACE_S = 3.0  # the agent's own alarm fires first; this catches C-level hangs
# A reply to "run a cell" or "ready" is a few short fields: what the grader's own process may parse of it.
SMALL_REPLY_ITEMS = 1000


class KernelError(Exception):
    """The kernel could not answer."""


class KernelTimeout(KernelError):
    """The kernel did not answer before the hard deadline and was stopped."""


class KernelDied(KernelError):
    """The kernel process ended (crash, ``os._exit``, killed for memory ...)."""


class KernelProtocolError(KernelDied):
    """The kernel answered something that is not a reply (a tampered agent); it was stopped."""


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


# --------------------------------------------------------------------------- sandbox users


def _claim_uid(slot: int) -> tuple[int, int]:
    """A sandbox uid no other kernel on this machine holds, and the locked file descriptor that holds it.

    The lock (flock) ends with the descriptor, so a grader killed with SIGKILL frees its ids.
    """
    UID_LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    for k in [slot % UID_COUNT] + list(range(UID_COUNT)):
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(UID_LOCK_DIR / f"{BASE_UID + k}.lock", flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return BASE_UID + k, fd
    raise KernelError(f"all {UID_COUNT} sandbox user ids are in use")


SWEEP_SECONDS = 5.0  # how long the sweep keeps looking for processes of a sandbox user (a fork bomb refills)


def _kill_all_processes_of(uid: int) -> None:
    """SIGKILL every process of a sandbox user: what a kernel left behind (daemons, a fork bomb).

    The grader (root) scans /proc itself: no process is started.  Each process found is pinned
    with a pidfd and its owner read again before the signal goes through that pidfd, so a pid
    reused by another user's process in the meantime is never signalled.  Scans repeat until
    one finds no live process of the user (a fork bomb forks while it is being killed), for at
    most SWEEP_SECONDS; zombies are skipped (they are dead, and their parent or init reaps them).
    """
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        found = _live_processes_of(uid)
        if not found or time.monotonic() > deadline:
            return
        for pid in found:
            _kill_if_owned(pid, uid)
        time.sleep(0.001)  # let the killed processes die before the next scan


def _owner_and_state(pid: int | str) -> tuple[tuple[int, ...], str]:
    """The real, effective and saved uids of a process and its state letter (``R``, ``S``, ``Z`` ...)."""
    with open(f"/proc/{pid}/status", "rb") as handle:
        status = handle.read()
    uids: tuple[int, ...] = ()
    state = ""
    for line in status.splitlines():
        if line.startswith(b"State:"):
            state = line.split()[1].decode()
        elif line.startswith(b"Uid:"):
            uids = tuple(int(field) for field in line.split()[1:4])
            break  # Uid comes after State
    return uids, state


def _live_processes_of(uid: int) -> list[int]:
    """Processes (not zombies) that run with ``uid`` as their real, effective or saved user id."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uids, state = _owner_and_state(entry)
            except (OSError, ValueError, IndexError):
                continue  # ended while we looked
            if uid in uids and state != "Z":
                found.append(int(entry))
    return found


def _kill_if_owned(pid: int, uid: int) -> None:
    """SIGKILL ``pid`` if it still belongs to ``uid``: pinned by a pidfd, so the pid cannot change hands."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # ended already, or a kernel without pidfds (< 5.3): check and kill by pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            if uid in _owner_and_state(pid)[0]:
                os.kill(pid, signal.SIGKILL)
        return
    try:
        # While the pidfd's process lives, /proc/<pid> is that process; once it has ended the signal fails.
        if uid in _owner_and_state(pid)[0]:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
    finally:
        os.close(pidfd)


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

    return f"matplotlib-{mpl_version}-" + hashlib.sha256(f"{sys.prefix}\n{sys.base_prefix}".encode()).hexdigest()[:12]


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
            "--bind", str(scratch), MPLCONFIGDIR, sys.executable, "-I", "-c", "import matplotlib.font_manager",
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
    readable = [Path(sys.base_prefix), Path(sys.prefix), STUDENT_PACKAGE_ROOT / "mdl_student"]
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


# --------------------------------------------------------------------------- system calls

# Kernel keyrings outlive the processes that fill them (a uid's user and persistent keyrings, the
# session keyring a kernel inherits): a channel from one submission to the next graded in the same
# slot.  No notebook needs them, so the key system calls fail with ENOSYS, as on a kernel built
# without keys.  Numbers by audit architecture: add_key, request_key, keyctl.
_KEY_SYSCALLS: dict[int, tuple[int, ...]] = {
    0xC000003E: (248, 249, 250, 0x40000000 | 248, 0x40000000 | 249, 0x40000000 | 250),  # x86_64 and x32
    0x40000003: (286, 287, 288),  # i386 (32-bit code on an x86_64 kernel)
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # arm
}
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _ENOSYS = 0x7FFF0000, 0x00050000, 38
_SECCOMP_DATA_NR, _SECCOMP_DATA_ARCH = 0, 4  # offsets in struct seccomp_data


def seccomp_filter() -> bytes:
    """A seccomp program (classic BPF, ``struct sock_filter[]``): the key system calls fail, all else runs.

    Built here rather than with libseccomp, which is not a dependency.  Per architecture: load the
    architecture, skip the block if it differs, load the call number, jump to "deny" on a match.
    """
    program: list[tuple[int, int | str, int | str, int]] = [(_BPF_LD_W_ABS, 0, 0, _SECCOMP_DATA_ARCH)]
    for arch, numbers in _KEY_SYSCALLS.items():
        program.append((_BPF_JEQ_K, 0, len(numbers) + 2, arch))  # another architecture: skip this block
        program.append((_BPF_LD_W_ABS, 0, 0, _SECCOMP_DATA_NR))
        program += [(_BPF_JEQ_K, "deny", 0, nr) for nr in numbers]
        program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))  # an architecture not listed
    deny = len(program)
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _ENOSYS))
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(program):
        jt_off = deny - index - 1 if jt == "deny" else jt
        out += struct.pack("=HBBI", code, jt_off, jf, k)  # type: ignore[arg-type]
    return bytes(out)


def _kernel_env(home: str) -> dict[str, str]:
    """The whole environment the kernel sees: no grading flags, no tokens, no paths of ours."""
    return {
        "HOME": home,
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
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
    }


# --------------------------------------------------------------------------- the kernel server

KERNEL_SERVER_STARTUP_S = 120.0  # importing numpy, sympy, matplotlib and IPython on a loaded machine


class KernelServerError(Exception):
    """The kernel server could not start a kernel (the kernel then starts in a sandbox of its own)."""


def _kernel_server_wanted(limits: SandboxLimits) -> bool:
    """Kernels fork from a server unless MDL_FORK_SERVER=0, or the GPU profile (CUDA state must not be shared)."""
    # Each forked kernel gets a fresh /tmp, which would hide a Python or a course checkout that lives
    # under /tmp (a clone made there, Gradescope's tests): those kernels start in a sandbox of their own.
    under_tmp = any(str(p) == "/tmp" or str(p).startswith("/tmp/")
                    for p in (Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), STUDENT_PACKAGE_ROOT.resolve()))
    return (os.environ.get("MDL_FORK_SERVER", "1") != "0" and not getattr(limits, "gpu", False) and os.geteuid() == 0
            and not under_tmp)


class ForkedKernel:
    """A kernel forked by the kernel server, as the grader sees it: the part of ``Popen`` that Kernel uses.

    Its exit code arrives on a pipe that only the kernel's first process (C1, see
    :mod:`mdl_student.kernel_server`) can write: bubblewrap's convention, 128 + N for signal N.
    """

    def __init__(self, server: "KernelServer", kernel_id: int, status_fd: int) -> None:
        self.server, self.kernel_id, self.status_fd = server, kernel_id, status_fd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None else self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is not None or self.status_fd < 0:
            return self.returncode
        ready, _, _ = select.select([self.status_fd], [], [], timeout)
        if not ready:
            if timeout is not None and timeout > 0:
                raise subprocess.TimeoutExpired("kernel", timeout)
            return None
        data = os.read(self.status_fd, 16)
        self.returncode = int(data) if data.strip().isdigit() else -signal.SIGKILL
        os.close(self.status_fd)
        self.status_fd = -1
        return self.returncode

    def stop(self) -> None:
        """Kill the kernel's first process (its namespace dies with it) and wait for its status."""
        self.server.kill(self.kernel_id)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(10)
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def stop_from_child(self, uid: int | None) -> None:
        """In a forked child of the grader, which must not speak on the server's socket: kill the kernel's user."""
        if uid is not None:
            _kill_all_processes_of(uid)


class KernelServer:
    """A sandbox whose process imported the release notebooks' libraries once and forks a fresh kernel per request."""

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self.owner = os.getpid()
        self.preload = preload  # modules imported besides the usual ones (an assignment's SandboxLimits.preload)
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        server = [
            sys.executable, "-I", "-c",
            f"import sys; sys.path.insert(0, {str(STUDENT_PACKAGE_ROOT)!r}); from mdl_student.kernel_server import main; main()",
            str(theirs.fileno()), *preload,
        ]  # fmt: skip
        seccomp_fd = os.memfd_create("mdl-seccomp")
        os.write(seccomp_fd, seccomp_filter())
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        command = _bwrap_command({}, LIMITS) + server
        command[1:1] = ["--seccomp", str(seccomp_fd)]  # for the server and every kernel it forks
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(), seccomp_fd),
                                            start_new_session=True)  # fmt: skip
        finally:
            theirs.close()
            os.close(seccomp_fd)
        self.socket.settimeout(KERNEL_SERVER_STARTUP_S)
        try:
            reply = self._reply()
        except KernelServerError:
            self.close()
            raise
        if reply.get("ready") is not True:
            self.close()
            raise KernelServerError("the kernel server did not start")

    def _reply(self) -> dict[str, Any]:
        try:
            header = self._read(_HEADER.size)
            (size,) = _HEADER.unpack(header)
            if size > 1 << 16:
                raise KernelServerError("the kernel server sent an oversized reply")
            return loads(self._read(size), max_items=SMALL_REPLY_ITEMS)
        except (OSError, CodecError) as err:  # socket.timeout is an OSError
            raise KernelServerError(f"the kernel server did not answer ({err})") from err

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.socket.recv(n - len(data))
            if not chunk:
                raise KernelServerError("the kernel server has stopped")
            data += chunk
        return data

    def fork(self, files: dict[str, Path], limits: SandboxLimits, config: dict[str, Any],
             pipes: tuple[int, int]) -> ForkedKernel:
        """A new kernel with these files in its working folder, talking over ``pipes`` (the kernel's ends)."""
        contents = {name: Path(path).read_bytes() for name, path in files.items()}
        request = {
            "op": "fork", "config": config, "workdir": WORKDIR,
            "workdir_bytes": limits.max_file_mb * 4 * 1024 * 1024,
            "files": [[name, len(data)] for name, data in contents.items()],
        }  # fmt: skip
        payload = dumps(request)
        status_r, status_w = os.pipe()
        try:
            self.socket.settimeout(60)
            message = _HEADER.pack(len(payload)) + payload
            sent = socket.send_fds(self.socket, [message], [*pipes, status_w])  # the descriptors ride on the first bytes
            self.socket.sendall(message[sent:])
            for data in contents.values():
                self.socket.sendall(data)
            reply = self._reply()
        except (OSError, KernelServerError) as err:
            os.close(status_r)
            raise KernelServerError(f"the kernel server could not start a kernel ({err})") from err
        finally:
            os.close(status_w)
        kernel_id = reply.get("id")
        if reply.get("ok") is not True or not isinstance(kernel_id, int) or isinstance(kernel_id, bool):
            os.close(status_r)
            raise KernelServerError(f"the kernel server refused: {_text(reply.get('error'), 200)}")
        return ForkedKernel(self, kernel_id, status_r)

    def kill(self, kernel_id: int) -> None:
        if os.getpid() != self.owner:
            return
        payload = dumps({"op": "kill", "id": kernel_id})
        with contextlib.suppress(OSError):
            self.socket.settimeout(10)
            self.socket.sendall(_HEADER.pack(len(payload)) + payload)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the server (in its owner); in a forked process only drop this process's copy of the socket."""
        self.socket.close()
        if os.getpid() == self.owner:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


_SERVER: KernelServer | None = None
_SERVER_FAILED_IN: int | None = None  # the process in which the server could not start: not tried again there


def kernel_server(preload: tuple[str, ...] = ()) -> KernelServer | None:
    """This process's kernel server, started on first use (a forked worker starts its own); one that
    preloaded other modules is replaced."""
    global _SERVER, _SERVER_FAILED_IN
    if _SERVER is not None and (_SERVER.owner != os.getpid() or not _SERVER.alive() or _SERVER.preload != preload):
        _SERVER.close()
        _SERVER = None
    if _SERVER is None and _SERVER_FAILED_IN != os.getpid():
        try:
            _SERVER = KernelServer(preload)
        except (OSError, KernelServerError, subprocess.SubprocessError):
            _SERVER_FAILED_IN = os.getpid()
    return _SERVER


def _forked_kernel(files: dict[str, Path], limits: SandboxLimits, config: dict[str, Any],
                   pipes: tuple[int, int]) -> ForkedKernel | None:
    """A kernel from this process's kernel server; None where there is none (start one the usual way)."""
    global _SERVER
    server = kernel_server(tuple(getattr(limits, "preload", ())))
    if server is None:
        return None
    try:
        return server.fork(files, limits, config, pipes)
    except KernelServerError:
        server.close()  # a server that failed once is not trusted again; the next kernel starts a new one
        _SERVER = None
        return None


class Kernel:
    """One student kernel: start, run cells, look up names, call functions, stop."""

    def __init__(self, files: dict[str, Path], *, slot: int = 0, limits: SandboxLimits = LIMITS) -> None:
        self.files = files
        self.slot = slot
        self.limits = limits
        self.process: subprocess.Popen[bytes] | ForkedKernel | None = None
        self.uid: int | None = None
        self._uid_lock: int | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._write_fd = self._read_fd = -1
        self._oom_kills_at_start = 0
        self._owner = os.getpid()  # forked children of the grader may talk to the kernel, but only this process owns it
        # Shared with those children: 1 while a request waits for its reply, so that the grader knows
        # whether a child stopped in mid-conversation (the pipe then holds half a message).
        self._mid_request = mmap.mmap(-1, 1)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        iso = isolation()
        if iso.separate_user:
            self.uid, self._uid_lock = _claim_uid(self.slot)
            _kill_all_processes_of(self.uid)  # whatever an earlier holder of this id left running
        self._oom_kills_at_start = _oom_kills()
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        config = {
            "uid": self.uid,
            "pid_namespace": iso.mechanism == "bubblewrap",
            "memory_mb": self.limits.memory_mb,
            "memory_limit": self.limits.memory_limit,
            "max_file_mb": self.limits.max_file_mb,
            "max_processes": self.limits.max_processes,
            "max_output_chars": self.limits.max_output_kb * 1024,
        }
        self.process = None
        if iso.mechanism == "bubblewrap" and _kernel_server_wanted(self.limits):
            self.process = _forked_kernel(self.files, self.limits, config, (to_kernel_r, from_kernel_w))
        if self.process is None:  # no kernel server here (or it failed): a sandbox of its own
            self.process = self._start_process(iso, config, (to_kernel_r, from_kernel_w))
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        self._write_fd, self._read_fd = to_kernel_w, from_kernel_r
        # The grader never blocks on the kernel: every read and write waits with a deadline.
        os.set_blocking(self._write_fd, False)
        self._receive(deadline=time.monotonic() + 60, max_items=SMALL_REPLY_ITEMS)  # the agent's "ready"

    def _start_process(self, iso: Isolation, config: dict[str, Any], pipes: tuple[int, int]) -> subprocess.Popen[bytes]:
        """Start the agent in a sandbox (or, without bubblewrap, a process) of its own."""
        to_kernel_r, from_kernel_w = pipes
        agent = [
            sys.executable, "-I", "-c",
            f"import sys; sys.path.insert(0, {str(STUDENT_PACKAGE_ROOT)!r}); from mdl_student.kernel_agent import main; main()",
            str(to_kernel_r), str(from_kernel_w), json.dumps(config),
        ]  # fmt: skip
        seccomp_fd = os.memfd_create("mdl-seccomp")
        os.write(seccomp_fd, seccomp_filter())
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        if iso.mechanism == "bubblewrap":
            command, cwd, env = _bwrap_command(self.files, self.limits) + agent, None, None
            command[1:1] = ["--seccomp", str(seccomp_fd)]  # bubblewrap installs the filter before the agent starts
        else:
            config["seccomp_fd"] = seccomp_fd  # the agent installs it itself, before any student code runs
            agent[-1] = json.dumps(config)
            self._tmp = tempfile.TemporaryDirectory(prefix="mdl-kernel-")
            for name, host_path in self.files.items():
                shutil.copy(host_path, Path(self._tmp.name) / name)
            if self.uid is not None:
                for path in [Path(self._tmp.name), *Path(self._tmp.name).iterdir()]:
                    os.chown(path, self.uid, self.uid)
            command, cwd, env = agent, self._tmp.name, _kernel_env(self._tmp.name)
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_kernel_r, from_kernel_w, seccomp_fd),
            start_new_session=True,
        )
        os.close(seccomp_fd)
        return process

    @property
    def mid_request(self) -> bool:
        """True when a request (made here or in a forked child) is still waiting for its reply."""
        return self._mid_request[0] == 1

    def close(self) -> None:
        if os.getpid() != self._owner:  # a forked child: stop the kernel, leave the owner's files and locks alone
            if isinstance(self.process, ForkedKernel):
                self.process.stop_from_child(self.uid)
            elif self.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None
            return
        if isinstance(self.process, ForkedKernel):
            self.process.stop()
            self.process = None
        elif self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None
        for fd in (self._write_fd, self._read_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._write_fd = self._read_fd = -1
        if self.uid is not None:
            # Processes that left the kernel's process group (setsid, daemons) end here too.
            _kill_all_processes_of(self.uid)
        if self._uid_lock is not None:
            os.close(self._uid_lock)
            self._uid_lock = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Kernel":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------
    # Replies are checked for shape here, so that a tampered agent cannot make the grader fail
    # on a missing key or a value of the wrong type: it can only give wrong answers.
    def run_cell(self, code: str, seconds: float) -> dict[str, Any]:
        # The grader's own process reads this reply: a few fields, of a bounded size (see SMALL_REPLY_ITEMS).
        max_bytes = 12 * self.limits.max_output_kb * 1024 + (1 << 20)
        reply = self.request({"op": "run", "code": code, "seconds": seconds}, seconds,
                             max_items=SMALL_REPLY_ITEMS, max_bytes=max_bytes)
        clean: dict[str, Any] = {
            "ok": reply.get("ok") is True,
            "output": _text(reply.get("output"), self.limits.max_output_kb * 1024),
            "output_dropped": _count(reply.get("output_dropped")),
        }
        if not clean["ok"]:
            clean["error_type"] = _text(reply.get("error_type"), 100)
            clean["error"] = _text(reply.get("error"), 500) or "error"
            clean["traceback"] = _text(reply.get("traceback"), 2000)
        return clean

    def lookup(self, names: list[str]) -> dict[str, Any]:
        seconds = self.limits.seconds_per_bridge_call
        reply = self.request({"op": "lookup", "names": names, "seconds": seconds}, seconds)
        found = reply.get("names")
        if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
            self.close()
            raise KernelProtocolError("the kernel sent a malformed answer to a lookup and was stopped")
        return found

    def call(self, name: str, args: Any, kwargs: Any) -> dict[str, Any]:
        seconds = self.limits.seconds_per_bridge_call
        reply = self.request({"op": "call", "name": name, "args": args, "kwargs": kwargs, "seconds": seconds}, seconds)
        if reply.get("ok") is not True:
            return {"ok": False, "error_type": _text(reply.get("error_type"), 100),
                    "error": _text(reply.get("error"), 500) or "an error"}  # fmt: skip
        return reply

    def job(self, target: str, args: Any, kwargs: Any, seconds: float) -> dict[str, Any]:
        """Run a trusted course function (``"package.module:function"``) inside the kernel."""
        message = {"op": "job", "target": target, "args": args, "kwargs": kwargs, "seconds": seconds}
        reply = self.request(message, seconds)
        if reply.get("ok") is not True:
            return {"ok": False, "error_type": _text(reply.get("error_type"), 100),
                    "error": _text(reply.get("error"), 500) or "an error"}  # fmt: skip
        return reply

    def request(self, message: dict[str, Any], seconds: float, *, max_items: int = MAX_ITEMS,
                max_bytes: int | None = None) -> dict[str, Any]:
        """Send one request and wait for its reply, at most ``seconds`` (plus a grace period).

        A reply of more than ``max_items`` values or ``max_bytes`` bytes stops the kernel.
        """
        if self.process is None:
            raise KernelDied("the kernel is not running")
        payload = dumps(message)
        deadline = time.monotonic() + seconds + HARD_GRACE_S
        self._mid_request[0] = 1
        self._write_all(_HEADER.pack(len(payload)) + payload, deadline)
        reply = self._receive(deadline, max_items=max_items, max_bytes=max_bytes)
        self._mid_request[0] = 0
        return reply

    def _write_all(self, data: bytes, deadline: float) -> None:
        """Write a request; a kernel that stops reading cannot block the grader past the deadline."""
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            _, ready, _ = select.select([], [self._write_fd], [], max(remaining, 0))
            if not ready:
                self.close()
                raise KernelTimeout("the kernel stopped reading requests and was stopped")
            try:
                written = os.write(self._write_fd, view[: 1 << 16])
            except BlockingIOError:
                continue
            except OSError as err:
                self._died()
                raise KernelDied(f"the kernel stopped listening ({err.strerror})") from err
            view = view[written:]

    def _receive(self, deadline: float, *, max_items: int, max_bytes: int | None = None) -> dict[str, Any]:
        header = self._read_exact(_HEADER.size, deadline)
        (size,) = _HEADER.unpack(header)
        limit = self.limits.max_bridge_message_mb * 1024 * 1024
        if size > min(limit, max_bytes or limit):
            self.close()
            raise KernelDied(f"the kernel sent a {size / 2**20:.0f} MB message, over the bridge's limit")
        try:
            return loads(self._read_exact(size, deadline), max_items=max_items)
        except CodecError as err:
            self.close()
            raise KernelProtocolError(str(err)) from err

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
        # bubblewrap reports a child killed by signal N as exit status 128 + N
        signum = -code if code < 0 else code - 128 if code > 128 and code - 128 in signal.valid_signals() else 0
        if signum == signal.SIGKILL and _oom_kills() > self._oom_kills_at_start:
            return "the kernel ran out of memory (killed by the system's out-of-memory killer)"
        if signum:
            return f"the kernel was killed by signal {signal.Signals(signum).name}"
        return f"the kernel exited with status {code}"


class ChildStopped(Exception):
    """Trusted work given to :func:`run_in_child` did not finish: out of time or memory, or it died."""


def run_in_child(work: Callable[[], Any], *, seconds: float, memory_mb: int, memory_limit: str = "address-space") -> Any:
    """Run trusted grader code (one question's tests) in a forked child with a deadline and a memory cap.

    Tests run on values the student chose: ``det_L = a**(10**12)`` is harmless until a test
    substitutes a number, and then one C call computes a 10**12-bit integer, which no alarm can
    interrupt and which would take the grader's memory.  In a child, that costs the question
    its points, not the grader its life.  ``work`` returns JSON data, which comes back.

    The child leads a process group of its own, and the whole group is killed when the child
    is done or stopped: helpers it started (the forked symbolic checks of
    ``mdl_student.checks``) never outlive it.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        status = 1
        try:
            os.setpgid(0, 0)
            os.close(read_fd)
            # The grader's objects are never collected here: a full collection would touch, and so
            # copy, every page of the grader's memory (0.15 s of CPU per question).
            gc.freeze()
            _cap_memory(memory_mb, memory_limit)
            try:
                payload = {"value": work()}
            except MemoryError:
                payload = {"error": f"checking it needed more than {memory_mb} MB"}
            except Exception as err:  # noqa: BLE001  (a fault of the grader itself: reported as such)
                payload = {"crash": f"{type(err).__name__}: {err}"}
            data = json.dumps(payload).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with contextlib.suppress(OSError):  # also here, so that the group exists whichever process runs first
        os.setpgid(pid, pid)
    chunks: list[bytes] = []
    stopped = ""
    deadline = time.monotonic() + seconds
    try:
        while True:
            ready, _, _ = select.select([read_fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                stopped = f"checking it took longer than {seconds:.0f} s"
                break
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        for kill in (os.killpg, os.kill):  # the child's group (every helper it started), and the child itself
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
        _, wait_status = os.waitpid(pid, 0)
    if stopped:
        raise ChildStopped(stopped)
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        signum = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else 0
        raise ChildStopped(f"checking it stopped the checker ({signal.Signals(signum).name if signum else 'no result'})") from None
    if "crash" in reply:
        raise RuntimeError(f"the grader's own code failed in its child process: {reply['crash']}")
    if "error" in reply:
        raise ChildStopped(str(reply["error"]))
    return reply["value"]


def _cap_memory(memory_mb: int, kind: str = "address-space") -> None:
    """Let this process grow by at most `memory_mb` beyond what it already maps.

    ``kind`` "address-space" caps RLIMIT_AS (all mappings); "data" caps RLIMIT_DATA (private
    writable memory), for CUDA, which reserves tens of GB of address space it never touches.
    """
    which, field = (resource.RLIMIT_DATA, "VmData:") if kind == "data" else (resource.RLIMIT_AS, "VmSize:")
    try:
        status = Path("/proc/self/status").read_text()
        mapped_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith(field))
        limit = mapped_kb * 1024 + memory_mb * 1024 * 1024
        resource.setrlimit(which, (limit, resource.getrlimit(which)[1]))
    except (OSError, ValueError, StopIteration):
        pass


def _oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has killed since boot (Linux >= 4.13)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _count(value: Any) -> int:
    """A count the agent reports (bytes of output cut ...), as an int the grader can compute with."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), 2**53)


def _text(value: Any, limit: int) -> str:
    """A reply field as bounded text, whatever the agent sent."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

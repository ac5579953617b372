"""The kernel server: forks fresh kernels from a process that has already imported the heavy libraries.

Started by :mod:`autograder.sandbox` inside a bubblewrap sandbox (one per grading worker), as
root, with the same read-only view of the machine as a kernel.  It imports numpy, sympy,
matplotlib and IPython once, **never runs student code**, and for each submission forks:

``C1`` (root, the server's child)
    new mount, PID, network, IPC and UTS namespaces; a fresh tmpfs on ``/tmp`` and on the
    working folder, which receives the submission's files (read-only, owned by root), and
    matplotlib's font list; then forks ``C2`` and, once it ends, exits with its status;
``C2`` (root, PID 1 of the new namespace, like bubblewrap's own init)
    a fresh ``/proc``; forks the agent, reaps orphans, and ends when the agent ends (which
    kills every process left in the namespace);
``C3``, the agent (:mod:`mdl_student.kernel_agent`)
    keeps only its two pipes, drops to the kernel's own user, applies the limits and serves
    the grader, as a kernel started from scratch would.

So each kernel starts with a fresh file system, fresh namespaces and a fresh user's processes,
and nothing a previous kernel did is left: it is a copy of a process that never ran student
code.  What the kernel inherits is what a fresh Python would have after the same imports
(numpy's global random state is reseeded from the operating system).

The protocol with the grader, over a Unix socket: an 8-byte length and a JSON request (the
kernel's pipes ride along as file descriptors), then the bytes of each file; the reply says
the kernel's id.  ``kill`` ends a kernel (its C1, and with it the namespace).  Each kernel's
exit status is written by C1 to a third pipe that only the grader reads.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import struct
import sys
from typing import Any

from mdl_student.codec import dumps, loads

_HEADER = struct.Struct(">Q")
MAX_REQUEST_BYTES = 1 << 20  # the JSON part of a request; the files follow it, each of a stated size

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
MPLCONFIGDIR = "/tmp/matplotlib"  # as autograder.sandbox sets it
# What bubblewrap makes read-only in a /proc it mounts (its cover_proc_dirs)
PROC_COVERS = ("sys", "sysrq-trigger", "irq", "bus")

_libc = ctypes.CDLL(None, use_errno=True)


class ServerError(Exception):
    """A request the server could not carry out."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def preload(extra: list[str] | tuple[str, ...] = ()) -> None:
    """What the release notebooks import, imported once here so that no kernel pays for it again;
    ``extra``: what one assignment adds (the grader's ``SandboxLimits.preload``, e.g. torch)."""
    import importlib

    import IPython.core.interactiveshell  # noqa: F401
    import numpy  # noqa: F401
    import sympy  # noqa: F401
    # what sympy imports inside functions on first use (simplify, Add, assumptions), up to 0.2 s each
    import sympy.assumptions.wrapper  # noqa: F401
    import sympy.physics.units  # noqa: F401
    import sympy.sets.setexpr  # noqa: F401
    import sympy.tensor.tensor  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import matplotlib.font_manager  # noqa: F401  (reads the font list the grader bound into /tmp)

    import mdl_student.checks  # noqa: F401
    import mdl_student.plot_backend  # noqa: F401

    for name in extra:
        importlib.import_module(name)


# --------------------------------------------------------------------------- the protocol


def _receive_exact(sock: socket.socket, n: int, fds: list[int]) -> bytes:
    chunks, got = [], 0
    while got < n:
        data, new_fds, _flags, _addr = socket.recv_fds(sock, min(n - got, 1 << 20), 8)
        fds += new_fds
        if not data:
            raise EOFError
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def receive(sock: socket.socket) -> tuple[dict[str, Any], dict[str, bytes], list[int]]:
    """One request: its JSON part, its files, and the descriptors that came with it."""
    fds: list[int] = []
    (size,) = _HEADER.unpack(_receive_exact(sock, _HEADER.size, fds))
    if size > MAX_REQUEST_BYTES:
        raise ServerError("request too large")
    request = loads(_receive_exact(sock, size, fds))
    files = {str(name): _receive_exact(sock, int(length), fds) for name, length in request.get("files", [])}
    return request, files, fds


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    payload = dumps(message)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


# --------------------------------------------------------------------------- one kernel


def _exit_code(status: int) -> int:
    """A wait status as an exit code, the way bubblewrap reports it (128 + N when killed by signal N)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _fresh_file_system(workdir: str, workdir_bytes: int, files: dict[str, bytes], font_lists: dict[str, bytes]) -> None:
    """In C1's own mount namespace: new empty /tmp and working folder, the files read-only in them."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={256 * 1024 * 1024},mode=1777")
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={workdir_bytes},mode=1777")
    _write_read_only(workdir, files)
    if font_lists:
        os.mkdir(MPLCONFIGDIR, 0o755)
        os.chmod(MPLCONFIGDIR, 0o1777)  # matplotlib may write its other caches here; the font list it only reads
        _write_read_only(MPLCONFIGDIR, font_lists)
    os.chdir(workdir)  # the old working folder is hidden under the new one


def _write_read_only(folder: str, contents: dict[str, bytes]) -> None:
    """Files owned by root, mode 0444, in a sticky folder: the kernel's user can read them, not change or remove them."""
    for name, data in contents.items():
        path = os.path.join(folder, os.path.basename(name))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)


def _loopback_up() -> None:
    """Bring up ``lo`` in the new network namespace, as bubblewrap does (no other interface exists)."""
    import fcntl

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def _fresh_proc() -> None:
    """In C2 (PID 1 of the new namespace): a /proc that shows this namespace, covered as bubblewrap does."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_COVERS:
        path = f"/proc/{name}"
        if os.path.exists(path):
            try:
                _mount(path, path, None, MS_BIND | MS_REC)
                _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError:
                pass


def _keep_only(fds: tuple[int, ...]) -> None:
    """Close every descriptor but 0, 1, 2 and ``fds`` (the server's socket above all)."""
    keep = sorted(set(fds) | {0, 1, 2})
    start = 0
    for fd in keep + [os.sysconf("SC_OPEN_MAX")]:
        if start < fd:
            os.closerange(start, fd)
        start = fd + 1


def _agent(read_fd: int, write_fd: int, config: dict[str, Any]) -> None:
    """C3: the kernel itself, exactly as ``kernel_agent.main`` starts it (it never returns)."""
    import json

    import numpy

    numpy.random.seed()  # fresh entropy, as a fresh process would have (Python's random reseeds at fork itself)
    os.setsid()
    sys.argv = [sys.argv[0], str(read_fd), str(write_fd), json.dumps(config)]
    from mdl_student.kernel_agent import main

    main()


def _init(read_fd: int, write_fd: int, config: dict[str, Any]) -> int:
    """C2, PID 1 of the kernel's namespace: start the agent, reap every orphan, end when the agent ends."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # C1 killed: this init, and the namespace, die
    _fresh_proc()
    _keep_only((read_fd, write_fd))
    agent = os.fork()
    if agent == 0:
        try:
            _agent(read_fd, write_fd, config)
        finally:
            os._exit(1)
    os.close(read_fd)
    os.close(write_fd)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == agent:
            return _exit_code(status)


def _kernel(request: dict[str, Any], files: dict[str, bytes], fds: list[int], font_lists: dict[str, bytes]) -> int:
    """C1: new namespaces and file system, then C2; returns C2's exit code (after writing it for the grader)."""
    read_fd, write_fd, status_fd = fds
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _fresh_file_system(request["workdir"], int(request["workdir_bytes"]), files, font_lists)
    _loopback_up()
    init = os.fork()
    if init == 0:
        code = 1
        try:
            os.close(status_fd)
            code = _init(read_fd, write_fd, request["config"])
        finally:
            os._exit(code)
    os.close(read_fd)
    os.close(write_fd)
    _, status = os.waitpid(init, 0)
    code = _exit_code(status)
    os.write(status_fd, str(code).encode())
    return code


# --------------------------------------------------------------------------- the server


def _font_lists() -> dict[str, bytes]:
    """matplotlib's font list as the grader bound it into this sandbox's /tmp/matplotlib (if it did)."""
    lists = {}
    for name in sorted(os.listdir(MPLCONFIGDIR)) if os.path.isdir(MPLCONFIGDIR) else []:
        if name.startswith("fontlist-v") and name.endswith(".json"):
            with open(os.path.join(MPLCONFIGDIR, name), "rb") as handle:
                lists[name] = handle.read()
    return lists


def _reap() -> set[int]:
    """Collect every child that has ended; their pids."""
    ended = set()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.add(pid)


def serve(sock: socket.socket) -> None:
    """Answer the grader's requests until it closes the socket."""
    font_lists = _font_lists()
    # Kernels by an id never used twice (a pid can be), mapped to their C1 while it has not been reaped.
    kernels: dict[int, int] = {}
    next_id = 1
    while True:
        try:
            request, files, fds = receive(sock)
        except (EOFError, OSError, ServerError, ValueError):
            return  # the grader is gone, or spoke nonsense: end (the sandbox ends with this process)
        ended = _reap()
        kernels = {kernel: pid for kernel, pid in kernels.items() if pid not in ended}
        if request.get("op") == "fork" and len(fds) == 3:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    sock.close()
                    code = _kernel(request, files, fds, font_lists)
                finally:
                    os._exit(code)
            for fd in fds:
                os.close(fd)
            kernels[next_id] = pid
            send(sock, {"ok": True, "id": next_id})
            next_id += 1
        elif request.get("op") == "kill":
            kernel_id = request.get("id")
            pid = kernels.pop(kernel_id, None) if isinstance(kernel_id, int) else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(pid, signal.SIGKILL)  # not reaped yet, so still this kernel's C1 (or its zombie)
                    os.waitpid(pid, 0)
            for fd in fds:
                os.close(fd)
        else:
            for fd in fds:
                os.close(fd)
            send(sock, {"ok": False, "error": "unknown request"})


def main() -> None:
    """Entry point inside the sandbox: ``kernel_server SOCKET_FD [MODULE ...]`` (modules to preload as well)."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    preload(sys.argv[2:])
    # What is loaded now is never collected: the garbage collector of each kernel leaves it alone, and
    # so does not copy every page of it (fork shares the pages until they are written).
    gc.collect()
    gc.freeze()
    send(sock, {"ok": True, "ready": True})
    serve(sock)


if __name__ == "__main__":
    main()

"""The grader's side of the kernel server: start it, fork each kernel from it, and fall back where it fails.

The server itself (:mod:`mdl_student.kernel_server`) runs inside a bubblewrap sandbox, has imported
the release notebooks' libraries once, and forks a fresh kernel per request.  One server per
grading process: its handle lives here, in ``_SERVER``, and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from grading_config import LIMITS, SandboxLimits
from mdl_student.codec import CodecError, dumps, loads

from autograder.sandbox.bubblewrap import WORKDIR, _bwrap_command
from autograder.sandbox.isolation_probe import STUDENT_PACKAGE_ROOT, kernel_python
from autograder.sandbox.process_sweep import _kill_all_processes_of
from autograder.sandbox.protocol import _HEADER, SMALL_REPLY_ITEMS, _text
from autograder.sandbox.seccomp import seccomp_filter

KERNEL_SERVER_STARTUP_S = 120.0  # importing numpy, sympy, matplotlib and IPython on a loaded machine


class KernelServerError(Exception):
    """The kernel server could not start a kernel (the kernel then starts in a sandbox of its own)."""


def _kernel_server_wanted(limits: SandboxLimits) -> bool:
    """Kernels fork from a server unless MDL_FORK_SERVER=0, or the GPU profile (CUDA state must not be shared)."""
    # Each forked kernel gets a fresh /tmp, which would hide a Python or a course checkout that lives
    # under /tmp (a clone made there, Gradescope's tests): those kernels start in a sandbox of their own.
    under_tmp = any(str(p) == "/tmp" or str(p).startswith("/tmp/")
                    for p in (kernel_python().prefix.resolve(), kernel_python().base_prefix.resolve(),
                              STUDENT_PACKAGE_ROOT.resolve()))
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
        kernel = kernel_python()
        server = [
            kernel.executable, "-I", "-c", kernel.agent_import("kernel_server"),
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

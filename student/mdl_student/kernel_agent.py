"""The student's side of the bridge: runs inside the sandbox, answers, never judges.

This program is the kernel a submission runs in.  It is started by
:mod:`autograder.sandbox` inside the sandbox, drops its privileges and
applies its limits before any student code runs, then serves requests from the
grader over a pipe (8-byte length, then a JSON object):

``run``     execute one cell in an IPython shell (magics work, errors are caught);
``lookup``  describe names in the student's namespace: a value (encoded by
            :mod:`mdl_student.codec`), a function, or missing;
``call``    call a student function with decoded arguments, return the result;
``job``     run a course function of the student package (read afresh from its file) next to the
            student's functions, e.g. a step of the capstone's DPO training.

It has no access to tests or expected values, so whatever it answers is only
"the student's answer": a student who tampers with this process changes their
own answers and nothing else.

Processes that a cell starts do not outlive the request that started them
(inside the sandbox's own PID namespace, every process but the agent is ended
after each request), so a fork bomb or a background busy loop costs the other
kernels on the machine at most one cell's time.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import struct
import sys
import time
import traceback
from typing import Any

from mdl_student.codec import CodecError, decode_value, dumps, encode_value, loads

_HEADER = struct.Struct(">Q")


class CellTimeout(BaseException):
    """Raised inside student code when a cell or a call runs past its time."""


class BoundedText(io.TextIOBase):
    """A stdout replacement that keeps the first `limit` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> tuple[str, int]:
        out, dropped = "".join(self.parts), self.dropped
        self.parts, self.kept, self.dropped = [], 0, 0
        return out, dropped


def _apply_limits(config: dict[str, Any]) -> None:
    """Drop privileges and set resource limits before any student code runs."""
    try:  # if the machine runs out of memory, the student's processes go first, not the grader
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass
    uid = config.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _die_with_parent()
    if config.get("seccomp_fd") is not None:  # without bubblewrap, which otherwise installs it
        _install_seccomp_filter(int(config["seccomp_fd"]))
    mb = 1024 * 1024
    limits = [
        # RLIMIT_DATA where the grader asks for it (the GPU profile: CUDA reserves far more address
        # space than it uses), else RLIMIT_AS.
        (resource.RLIMIT_DATA if config.get("memory_limit") == "data" else resource.RLIMIT_AS, config["memory_mb"] * mb),
        (resource.RLIMIT_FSIZE, config["max_file_mb"] * mb),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, config["max_processes"]),
    ]
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass  # reported by the grader's own isolation report, not here
    # Writing past the file-size limit should fail the write, not kill the kernel.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _install_seccomp_filter(fd: int) -> None:
    """Install the grader's seccomp program (read from ``fd``; it blocks the kernel-keyring calls)."""
    try:
        import ctypes

        with os.fdopen(fd, "rb") as handle:
            program = handle.read()

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

        PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        fprog = SockFprog(len(program) // 8, program)
        libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    except (OSError, AttributeError, ValueError):
        pass  # not Linux: the grader's isolation report says what is not guaranteed


def _die_with_parent() -> None:
    """End with the grader even when no sandbox does it for us (set after setuid, which clears it)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _end_stray_processes() -> None:
    """Kill every process in this PID namespace but the agent (and the namespace's init), then reap."""
    me = os.getpid()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # a fork bomb may spawn while we look: look again
        others = [pid for pid in _live_pids() if pid not in (1, me)]
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reaped = _reap_children()
        if not others and not reaped:
            return
        time.sleep(0.002)


def _live_pids() -> list[int]:
    """Processes in /proc that are not zombies."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                pids.append(int(entry))
    return pids


def _reap_children() -> int:
    """Collect the exit status of every child that has ended; how many there were."""
    count = 0
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if pid == 0:
            return count
        count += 1


def _error_type(error: BaseException) -> str:
    """The error's class name; every kind of MemoryError (numpy's too) is reported as MemoryError."""
    return "MemoryError" if isinstance(error, MemoryError) else type(error).__name__


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("time limit reached")


class Agent:
    def __init__(self, read_fd: int, write_fd: int, config: dict[str, Any]) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.config = config
        self.stdout = BoundedText(config["max_output_chars"])
        # Where course jobs are read from, found before any student code runs (see _fresh_module).
        self.package_root = os.path.dirname(os.path.abspath(__file__))
        self.job_code: dict[str, Any] = {}
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance(colors="NoColor")
        self.shell.showtraceback = self._quiet_traceback  # type: ignore[method-assign]
        # `%matplotlib inline` asks for a GUI event loop; a headless kernel has none to start.
        self.shell.enable_gui = lambda gui=None: None  # type: ignore[method-assign]
        # `%matplotlib inline` would switch to the inline backend, which draws every figure after each
        # cell: the kernel keeps the grader's backend (MPLBACKEND, mdl_student.plot_backend), which draws nothing.
        self.shell.enable_matplotlib = lambda gui=None: (gui, os.environ.get("MPLBACKEND", "agg"))  # type: ignore[method-assign]
        signal.signal(signal.SIGALRM, _on_alarm)

    # -- pipe --------------------------------------------------------------------------------
    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(self.read_fd, min(n, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict[str, Any]:
        (size,) = _HEADER.unpack(self._read_exact(_HEADER.size))
        return loads(self._read_exact(size))

    def send(self, message: dict[str, Any]) -> None:
        payload = dumps(message)
        data = _HEADER.pack(len(payload)) + payload
        while data:
            written = os.write(self.write_fd, data)
            data = data[written:]

    # -- requests ----------------------------------------------------------------------------
    def _quiet_traceback(self, *args: Any, **kwargs: Any) -> None:
        """Errors are reported in the reply; nothing is printed."""

    def _with_alarm(self, seconds: float, fn: Any) -> Any:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        sys.stdout = sys.stderr = self.stdout
        try:
            result = self._with_alarm(
                request["seconds"],
                lambda: self.shell.run_cell(request["code"], store_history=True, silent=False),
            )
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as err:  # the alarm fired outside the cell's own frames
            error = err
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        output, dropped = self.stdout.take()
        reply: dict[str, Any] = {"ok": error is None, "output": output, "output_dropped": dropped}
        if error is not None:
            reply["error_type"] = _error_type(error)
            reply["error"] = _short(f"{type(error).__name__}: {error}")
            reply["traceback"] = _short("".join(traceback.format_exception(error)[-3:]), 2000)
        return reply

    def lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        # Encoding a value can run student code (a sympy subclass, an array-like): it gets a time limit.
        try:
            return self._with_alarm(request.get("seconds", 20.0), lambda: self._lookup(request))
        except CellTimeout:
            return {"ok": True, "names": {n: {"kind": "error", "error": f"`{n}`: reading the value took too long"}
                                          for n in request["names"]}}

    def _lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in request["names"]:
            if name not in self.shell.user_ns:
                found[name] = {"kind": "missing"}
                continue
            value = self.shell.user_ns[name]
            if callable(value) and not _is_data(value):
                found[name] = {"kind": "function"}
                continue
            try:
                found[name] = {"kind": "value", "value": encode_value(value)}
            except (CodecError, RecursionError) as err:
                found[name] = {"kind": "error", "error": f"`{name}`: {err}"}
            except MemoryError:
                found[name] = {"kind": "error", "error": f"`{name}` is too large to send to the grader"}
            except Exception as err:  # noqa: BLE001  (a student object may fail in any way while encoded)
                found[name] = {"kind": "error", "error": _short(f"`{name}` could not be read: {type(err).__name__}: {err}")}
        return {"ok": True, "names": found}

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        fn = self.shell.user_ns.get(request["name"])
        if fn is None or not callable(fn):
            return {"ok": False, "error": f"`{request['name']}` is not defined as a function"}
        namespace = self.shell.user_ns
        args = decode_value(request["args"], allow_functions=True, namespace=namespace)
        kwargs = decode_value(request["kwargs"], allow_functions=True, namespace=namespace)
        return self._call_guarded(lambda: fn(*args, **kwargs), request["seconds"])

    def _call_guarded(self, thunk: Any, seconds: float) -> dict[str, Any]:
        sys.stdout = sys.stderr = self.stdout  # prints during tests never reach feedback
        stage = "call"

        def call_and_encode() -> dict[str, Any]:
            # Encoding the result can run student code too (a subclass's methods): same time limit.
            nonlocal stage
            value = thunk()
            stage = "encode"
            return {"ok": True, "value": encode_value(value)}

        try:
            return self._with_alarm(seconds, call_and_encode)
        except CellTimeout:
            return {"ok": False, "error_type": "CellTimeout", "error": "the call ran past its time limit"}
        except (CodecError, RecursionError) as err:
            if stage == "encode":
                return {"ok": False, "error_type": "CodecError", "error": str(err)}
            return {"ok": False, "error_type": _error_type(err), "error": _short(f"{type(err).__name__}: {err}")}
        except BaseException as err:  # noqa: BLE001  (student code may raise anything)
            return {"ok": False, "error_type": _error_type(err), "error": _short(f"{type(err).__name__}: {err}")}
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            self.stdout.take()

    def job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a trusted course function next to the student's code (e.g. a step of the capstone's training)."""
        module_name, _, attr = request["target"].partition(":")
        if not (module_name.startswith("mdl_student.") and all(p.isidentifier() for p in module_name.split("."))):
            return {"ok": False, "error": "only course functions can run as jobs"}
        fn = getattr(self._fresh_module(module_name), attr)
        namespace = self.shell.user_ns
        args = decode_value(request["args"], allow_functions=True, namespace=namespace)
        kwargs = decode_value(request["kwargs"], allow_functions=True, namespace=namespace)
        return self._call_guarded(lambda: fn(*args, **kwargs), request["seconds"])

    def _fresh_module(self, module_name: str) -> Any:
        """The course module as the package's file holds it, executed anew for this job.

        Not the module the student's cells may have imported and changed (``jobs.step_loss = ...``):
        the file is read from the package folder found when the agent started, before any student
        code ran, and its code runs in a module object of its own, in no ``sys.modules`` entry.
        """
        import types

        path = os.path.join(self.package_root, *module_name.split(".")[1:]) + ".py"
        code = self.job_code.get(path)
        if code is None:
            with open(path, encoding="utf-8") as handle:
                code = self.job_code[path] = compile(handle.read(), path, "exec")
        module = types.ModuleType(module_name)
        module.__file__, module.__package__ = path, module_name.rpartition(".")[0]
        exec(code, module.__dict__)  # noqa: S102  (course code from the read-only package)
        return module

    def serve(self) -> None:
        handlers = {"run": self.run, "lookup": self.lookup, "call": self.call, "job": self.job}
        self.send({"ok": True, "ready": True, "pid": os.getpid()})
        while True:
            try:
                request = self.receive()
            except EOFError:
                return
            handler = handlers.get(request.get("op"))
            try:
                reply = handler(request) if handler else {"ok": False, "error": "unknown request"}
            except BaseException as err:  # noqa: BLE001  (keep serving whatever happens)
                reply = {"ok": False, "error_type": _error_type(err), "error": _short(f"agent error: {err!r}")}
            if self.config.get("pid_namespace"):
                _end_stray_processes()
            self.send(reply)


def _is_data(value: Any) -> bool:
    """Callable objects that are really data (sympy expressions, numpy ufunc-free arrays)."""
    module = type(value).__module__
    return module.startswith("sympy.") or module.startswith("numpy") or module.startswith("torch")


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main() -> None:
    """Entry point inside the sandbox: ``kernel_agent READ_FD WRITE_FD CONFIG_JSON``."""
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    config = loads(sys.argv[3].encode())
    _apply_limits(config)
    # The student's code gets a quiet stdin and stdout; the protocol pipes live on
    # other descriptors, so a stray print cannot corrupt the conversation.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    Agent(read_fd, write_fd, config).serve()


if __name__ == "__main__":
    main()

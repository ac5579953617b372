"""The student's side of the bridge: runs inside the sandbox, answers, never judges.

This program is the kernel a submission runs in.  It is started by
:mod:`autograder.sandbox` inside the sandbox, drops its privileges and
applies its limits before any student code runs, then serves requests from the
grader over a pipe (8-byte length, then a JSON object):

``run``     execute one cell in an IPython shell (magics work, errors are caught);
``lookup``  describe names in the student's namespace: a value (encoded by
            :mod:`autograder.codec`), a function, or missing;
``call``    call a student function with decoded arguments, return the result.

It has no access to tests or expected values, so whatever it answers is only
"the student's answer": a student who tampers with this process changes their
own answers and nothing else.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import struct
import sys
import traceback
from typing import Any

from autograder.codec import CodecError, decode_value, dumps, encode_value, loads

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
    uid = config.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    mb = 1024 * 1024
    limits = [
        (resource.RLIMIT_AS, config["memory_mb"] * mb),
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


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("time limit reached")


class Agent:
    def __init__(self, read_fd: int, write_fd: int, config: dict[str, Any]) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.config = config
        self.stdout = BoundedText(config["max_output_chars"])
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance(colors="NoColor")
        self.shell.showtraceback = self._quiet_traceback  # type: ignore[method-assign]
        # `%matplotlib inline` asks for a GUI event loop; a headless kernel has none to start.
        self.shell.enable_gui = lambda gui=None: None  # type: ignore[method-assign]
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
            reply["error_type"] = type(error).__name__
            reply["error"] = _short(f"{type(error).__name__}: {error}")
            reply["traceback"] = _short("".join(traceback.format_exception(error)[-3:]), 2000)
        return reply

    def lookup(self, request: dict[str, Any]) -> dict[str, Any]:
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
        try:
            value = self._with_alarm(seconds, thunk)
        except CellTimeout:
            return {"ok": False, "error_type": "CellTimeout", "error": "the call ran past its time limit"}
        except BaseException as err:  # noqa: BLE001  (student code may raise anything)
            return {"ok": False, "error_type": type(err).__name__, "error": _short(f"{type(err).__name__}: {err}")}
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            self.stdout.take()
        try:
            return {"ok": True, "value": encode_value(value)}
        except (CodecError, RecursionError) as err:
            return {"ok": False, "error_type": "CodecError", "error": str(err)}

    def job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a trusted course function next to the student's code (e.g. the capstone's training)."""
        import importlib

        module_name, _, attr = request["target"].partition(":")
        if not module_name.startswith(("rlhf_capstone.", "autograder.")):
            return {"ok": False, "error": "only course functions can run as jobs"}
        fn = getattr(importlib.import_module(module_name), attr)
        namespace = self.shell.user_ns
        args = decode_value(request["args"], allow_functions=True, namespace=namespace)
        kwargs = decode_value(request["kwargs"], allow_functions=True, namespace=namespace)
        return self._call_guarded(lambda: fn(*args, **kwargs), request["seconds"])

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
                reply = {"ok": False, "error_type": type(err).__name__, "error": _short(f"agent error: {err!r}")}
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

"""One student kernel: start it in its sandbox, run cells, look up names, call functions, stop it."""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from grading_config import LIMITS, SandboxLimits
from mdl_student.codec import MAX_ITEMS, CodecError, dumps, loads

from autograder.i18n import _
from autograder.sandbox.bubblewrap import _bwrap_command, _kernel_env
from autograder.sandbox.isolation_probe import Isolation, isolation, kernel_python
from autograder.sandbox.kernel_errors import KernelDied, KernelProtocolError, KernelTimeout
from autograder.sandbox.kernel_server_client import ForkedKernel, _forked_kernel, _kernel_server_wanted
from autograder.sandbox.process_sweep import _kill_all_processes_of
from autograder.sandbox.protocol import _HEADER, SMALL_REPLY_ITEMS, _count, _text
from autograder.sandbox.seccomp import seccomp_filter
from autograder.sandbox.users import _claim_uid

HARD_GRACE_S = 3.0  # the agent's own alarm fires first; this catches C-level hangs


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
        kernel = kernel_python()
        agent = [
            kernel.executable, "-I", "-c", kernel.agent_import("kernel_agent"),
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
            clean["error"] = _text(reply.get("error"), 500) or _("error")
            clean["traceback"] = _text(reply.get("traceback"), 2000)
        return clean

    def lookup(self, names: list[str]) -> dict[str, Any]:
        seconds = self.limits.seconds_per_bridge_call
        reply = self.request({"op": "lookup", "names": names, "seconds": seconds}, seconds)
        found = reply.get("names")
        if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
            self.close()
            raise KernelProtocolError(_("the kernel sent a malformed answer to a lookup and was stopped"))
        return found

    def call(self, name: str, args: Any, kwargs: Any) -> dict[str, Any]:
        seconds = self.limits.seconds_per_bridge_call
        reply = self.request({"op": "call", "name": name, "args": args, "kwargs": kwargs, "seconds": seconds}, seconds)
        if reply.get("ok") is not True:
            return {"ok": False, "error_type": _text(reply.get("error_type"), 100),
                    "error": _text(reply.get("error"), 500) or _("an error")}  # fmt: skip
        return reply

    def job(self, target: str, args: Any, kwargs: Any, seconds: float) -> dict[str, Any]:
        """Run a trusted course function (``"package.module:function"``) inside the kernel."""
        job_request = {"op": "job", "target": target, "args": args, "kwargs": kwargs, "seconds": seconds}
        reply = self.request(job_request, seconds)
        if reply.get("ok") is not True:
            return {"ok": False, "error_type": _text(reply.get("error_type"), 100),
                    "error": _text(reply.get("error"), 500) or _("an error")}  # fmt: skip
        return reply

    def request(self, message: dict[str, Any], seconds: float, *, max_items: int = MAX_ITEMS,
                max_bytes: int | None = None) -> dict[str, Any]:
        """Send one request and wait for its reply, at most ``seconds`` (plus a grace period).

        A reply of more than ``max_items`` values or ``max_bytes`` bytes stops the kernel.
        """
        if self.process is None:
            raise KernelDied(_("the kernel is not running"))
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
            ready = select.select([], [self._write_fd], [], max(remaining, 0))[1]  # `_` is the catalog
            if not ready:
                self.close()
                raise KernelTimeout(_("the kernel stopped reading requests and was stopped"))
            try:
                written = os.write(self._write_fd, view[: 1 << 16])
            except BlockingIOError:
                continue
            except OSError as err:
                self._died()
                raise KernelDied(_("the kernel stopped listening ({error})").format(error=err.strerror)) from err
            view = view[written:]

    def _receive(self, deadline: float, *, max_items: int, max_bytes: int | None = None) -> dict[str, Any]:
        header = self._read_exact(_HEADER.size, deadline)
        (size,) = _HEADER.unpack(header)
        limit = self.limits.max_bridge_message_mb * 1024 * 1024
        if size > min(limit, max_bytes or limit):
            self.close()
            raise KernelDied(_("the kernel sent a {size} MB message, over the bridge's limit").format(
                size=f"{size / 2**20:.0f}"))
        try:
            return loads(self._read_exact(size, deadline), max_items=max_items)
        except CodecError as err:
            self.close()
            raise KernelProtocolError(str(err)) from err

    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while n:
            remaining = deadline - time.monotonic()
            ready = select.select([self._read_fd], [], [], max(remaining, 0))[0]
            if not ready:
                self.close()
                raise KernelTimeout(_("the kernel did not answer in time and was stopped"))
            chunk = os.read(self._read_fd, min(n, 1 << 20))
            if not chunk:
                self._died()
                reason, out_of_memory = self._death_reason()
                raise KernelDied(reason, out_of_memory=out_of_memory)
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

    def _death_reason(self) -> tuple[str, bool]:
        """Why the kernel ended, in the run's language, and whether the out-of-memory killer ended it."""
        code = getattr(self, "_returncode", None)
        if code is None:
            return _("the kernel stopped unexpectedly"), False
        # bubblewrap reports a child killed by signal N as exit status 128 + N
        signum = -code if code < 0 else code - 128 if code > 128 and code - 128 in signal.valid_signals() else 0
        if signum == signal.SIGKILL and _oom_kills() > self._oom_kills_at_start:
            return _("the kernel ran out of memory (killed by the system's out-of-memory killer)"), True
        if signum:
            return _("the kernel was killed by signal {signal}").format(signal=signal.Signals(signum).name), False
        return _("the kernel exited with status {code}").format(code=code), False


def _oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has killed since boot (Linux >= 4.13)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0

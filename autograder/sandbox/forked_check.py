"""Run trusted grader code (one question's tests) in a forked child with a deadline and a memory cap."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import select
import signal
import time
from pathlib import Path
from typing import Any, Callable

from autograder.i18n import _


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
                payload = {"out_of_memory": True}  # worded by the parent: this process has just run out of memory
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
            ready = select.select([read_fd], [], [], max(deadline - time.monotonic(), 0))[0]  # `_` is the catalog
            if not ready:
                stopped = _("checking it took longer than {seconds} s").format(seconds=f"{seconds:.0f}")
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
        wait_status = os.waitpid(pid, 0)[1]
    if stopped:
        raise ChildStopped(stopped)
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        signum = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else 0
        raise ChildStopped(_("checking it stopped the checker ({cause})").format(
            cause=signal.Signals(signum).name if signum else _("no result"))) from None
    if "crash" in reply:
        raise RuntimeError(f"the grader's own code failed in its child process: {reply['crash']}")
    if "out_of_memory" in reply:
        raise ChildStopped(_("checking it needed more than {memory} MB").format(memory=memory_mb))
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

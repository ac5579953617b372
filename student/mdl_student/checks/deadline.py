"""Running work in a forked child with a hard deadline: killed when its time is up, whatever it runs.

SIGALRM cannot interrupt big-integer arithmetic in C, and sympy can spend minutes or gigabytes in
a single call; a forked child can be killed.  The child sends small dicts through a pipe; the
parent keeps the last one.  Where there is no ``fork`` (Windows) the work runs in-process,
without a hard limit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# True in the child of _run_with_deadline: it may use SIGALRM for itself.  One flag for the
# package: read it as `deadline._IN_FORKED_CHILD` (a `from ... import` would copy it at import time).
_IN_FORKED_CHILD = False


def _run_with_deadline(work: Callable[..., None], args: tuple[Any, ...],
                       timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run ``work(*args, emit)`` in a forked child, killed after `timeout` s.

    Returns (last message the child emitted, how it ended: "final", "timeout"
    or "crashed").  Messages are small dicts of strings; a message with
    ``final=True`` ends the wait.
    """
    if not hasattr(os, "fork"):
        return _run_inline(work, args)
    from multiprocessing.connection import Connection

    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # e.g. a process limit: decide here, without a hard limit
        os.close(read_fd)
        os.close(write_fd)
        return _run_inline(work, args)
    if pid == 0:  # the child: never return into the caller's code
        try:
            global _IN_FORKED_CHILD
            _IN_FORKED_CHILD = True
            _die_with_parent()
            os.close(read_fd)
            _limit_child_resources()
            conn = Connection(write_fd, readable=False)
            work(*args, conn.send)
        except BaseException:
            pass
        finally:
            os._exit(0)
    os.close(write_fd)
    conn = Connection(read_fd, writable=False)
    last: dict[str, Any] | None = None
    ended = "timeout"
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not conn.poll(remaining):
                break
            try:
                message = conn.recv()
            except (EOFError, OSError):
                ended = "crashed"
                break
            last = message
            if message.get("final"):
                ended = "final"
                break
    finally:
        conn.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)  # SIGKILL: nothing the child runs can ignore it
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if ended == "crashed" and last is None and sys.platform == "darwin":
        # macOS system libraries may refuse to run in a forked child; fall
        # back to running here rather than failing every comparison.
        return _run_inline(work, args)
    return last, ended


def _run_inline(work: Callable[..., None], args: tuple[Any, ...]) -> tuple[dict[str, Any] | None, str]:
    messages: list[dict[str, Any]] = []
    try:
        work(*args, messages.append)
    except RecursionError:
        return (messages[-1] if messages else None), "crashed"
    return (messages[-1] if messages else None), (
        "final" if messages and messages[-1].get("final") else "crashed")


def _die_with_parent() -> None:
    """The child ends when its parent does (killed at a deadline, say), never running on alone."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        parent = os.getppid()
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(0)


def _limit_child_resources() -> None:
    """Give the child room for deep trees but cap its memory growth."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + 2 * 1024**3
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError, ImportError):
        pass  # no /proc (macOS) or not permitted: the deadline still applies

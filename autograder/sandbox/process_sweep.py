"""End every process a sandbox user left behind (daemons, a fork bomb), and never another user's process."""

from __future__ import annotations

import contextlib
import os
import signal
import time

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

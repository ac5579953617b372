"""Sandbox user ids: one per live kernel, claimed with a lock file so that two graders never share one.

Ids are claimed with a lock file per id, not derived from the pool slot alone, so that two graders
on one machine (two batches, a test run beside a real run) never share an id: process limits count
per user, and the sweep that ends a kernel's stray processes (:mod:`autograder.sandbox.process_sweep`)
kills by user.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from autograder.i18n import _
from autograder.sandbox.kernel_errors import KernelError

BASE_UID = 61000  # sandbox users are BASE_UID, BASE_UID + 1, ... (slot k tries BASE_UID + k first)
UID_COUNT = 1000  # how many ids the grader may claim
UID_LOCK_DIR = Path("/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()) / "mdl-sandbox-uids"


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
    raise KernelError(_("all {count} sandbox user ids are in use").format(count=UID_COUNT))

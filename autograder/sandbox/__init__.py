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

The package, from the bottom up; each module imports only modules listed above it:

- ``kernel_errors``: the errors a kernel raises when it cannot answer.
- ``protocol``: the pipe protocol's message framing and bounded reply fields.
- ``users``: sandbox user ids, one per live kernel, claimed with a lock file each.
- ``process_sweep``: ends every process a sandbox user left behind.
- ``isolation_probe``: which isolation this machine allows, and what it guarantees.
- ``seccomp``: the system-call filter every kernel runs under.
- ``bubblewrap``: the bubblewrap command line, the kernel's environment, matplotlib's font list.
- ``kernel_server_client``: the grader's side of the kernel server, which forks kernels.
- ``kernel``: one student kernel (start, run cells, look up names, call functions, stop).
- ``forked_check``: trusted grader code in a forked child with a deadline and a memory cap.

Everything the rest of the grader uses is imported from here (``from autograder.sandbox import
Kernel``).  State that must stay single lives in one module and is reached through it: the probe's
result (``isolation_probe.isolation``'s cache), the font list (``bubblewrap.font_cache``'s cache)
and the kernel server's handle (``kernel_server_client._SERVER``).
"""

from __future__ import annotations

from autograder.sandbox.bubblewrap import FONT_CACHE_ROOT, MPLCONFIGDIR, WORKDIR, font_cache
from autograder.sandbox.forked_check import ChildStopped, run_in_child
from autograder.sandbox.isolation_probe import STUDENT_PACKAGE_ROOT, Isolation, KernelPython, isolation, kernel_python
from autograder.sandbox.kernel import HARD_GRACE_S, Kernel
from autograder.sandbox.kernel_errors import KernelDied, KernelError, KernelProtocolError, KernelTimeout
from autograder.sandbox.kernel_server_client import (
    KERNEL_SERVER_STARTUP_S,
    ForkedKernel,
    KernelServer,
    KernelServerError,
    kernel_server,
)
from autograder.sandbox.process_sweep import SWEEP_SECONDS
from autograder.sandbox.protocol import SMALL_REPLY_ITEMS
from autograder.sandbox.seccomp import seccomp_filter
from autograder.sandbox.users import BASE_UID, UID_COUNT, UID_LOCK_DIR

# Package-private helpers that the sandbox's tests call by these names.
from autograder.sandbox.bubblewrap import _bwrap_command
from autograder.sandbox.process_sweep import _kill_all_processes_of, _live_processes_of
from autograder.sandbox.users import _claim_uid

__all__ = [
    "BASE_UID",
    "FONT_CACHE_ROOT",
    "HARD_GRACE_S",
    "KERNEL_SERVER_STARTUP_S",
    "MPLCONFIGDIR",
    "SMALL_REPLY_ITEMS",
    "STUDENT_PACKAGE_ROOT",
    "SWEEP_SECONDS",
    "UID_COUNT",
    "UID_LOCK_DIR",
    "WORKDIR",
    "ChildStopped",
    "ForkedKernel",
    "Isolation",
    "KernelPython",
    "Kernel",
    "KernelDied",
    "KernelError",
    "KernelProtocolError",
    "KernelServer",
    "KernelServerError",
    "KernelTimeout",
    "font_cache",
    "isolation",
    "kernel_python",
    "kernel_server",
    "run_in_child",
    "seccomp_filter",
]

"""The sandbox, one kernel at a time: limits, isolation, environment, and a grader that survives.

These tests talk to `autograder.sandbox.Kernel` directly (start a kernel, run a
cell, look a name up), so that each guarantee of README "Sandbox and what the
grader guarantees" is checked where it is made.  Isolation tests skip, saying
why, where bubblewrap is not available (or `MDL_SANDBOX=process` forces the
weaker mode).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading_config import LIMITS, PATHS, ROOT
from mdl_student.codec import decode_value
from autograder.sandbox import (
    BASE_UID,
    UID_COUNT,
    UID_LOCK_DIR,
    ChildStopped,
    Kernel,
    KernelDied,
    KernelProtocolError,
    KernelTimeout,
    isolation,
    run_in_child,
)

RELEASE = PATHS.release / "a1" / "a1.ipynb"
FAST = dataclasses.replace(LIMITS, seconds_per_cell=5.0, seconds_per_bridge_call=5.0)

ISO = isolation()
needs_bubblewrap = pytest.mark.skipif(
    ISO.mechanism != "bubblewrap",
    reason=f"needs bubblewrap's private file system and network namespace; this machine grades with "
    f"'{ISO.mechanism}' isolation ({ISO.describe()})",
)
needs_contained_processes = pytest.mark.skipif(
    not ISO.contains_processes,
    reason="student code here is neither in a PID namespace nor a separate user: "
    "this attack would really kill the grader (and more)",
)


@pytest.fixture
def kernel():
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as k:
        yield k


def value(k: Kernel, name: str):
    entry = k.lookup([name])[name]
    assert entry["kind"] == "value", entry
    return decode_value(entry["value"])


def run_ok(k: Kernel, code: str, seconds: float = 5.0) -> dict:
    reply = k.run_cell(code, seconds)
    assert reply["ok"], reply
    return reply


def leftover_sandbox_processes() -> list[int]:
    """Processes of sandbox users whose id no live kernel holds (so: leaked by a kernel that ended)."""
    leaked = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if not BASE_UID <= uid < BASE_UID + UID_COUNT or state == "Z":
            continue
        lock = UID_LOCK_DIR / f"{uid}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            leaked.append(int(entry))  # nobody holds this id, yet it runs processes
        except OSError:
            pass  # a live kernel (of this or another grader) holds it
        finally:
            os.close(fd)
    return leaked


# --------------------------------------------------------------------------- environment


def test_kernel_sees_no_grading_flags_tokens_or_instructor_paths(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake_token_for_the_test")
    monkeypatch.setenv("MDL_SECRET", "instructor-secret")
    monkeypatch.setenv("MDL_CAPSTONE_PROFILE", "gpu")
    monkeypatch.setenv("MDL_SOURCE_DIR", str(PATHS.source))
    with Kernel({"a1.ipynb": RELEASE}, limits=FAST) as k:
        run_ok(k, "import os\nenv = dict(os.environ)")
        env = value(k, "env")
    assert "GITHUB_TOKEN" not in env and "MDL_SECRET" not in env
    # MDL_LANG alone: the run's language (en or es) for the checks' messages, nothing of the grader's
    assert not [key for key in env if key.startswith("MDL_") and key != "MDL_LANG"]
    assert env["MDL_LANG"] in ("en", "es")
    assert "ghp_fake_token_for_the_test" not in json.dumps(env)
    for private in (PATHS.source, PATHS.build):
        assert str(private) not in json.dumps(env)
    assert env["HOME"] != os.environ.get("HOME")


# --------------------------------------------------------------------------- limits


@pytest.mark.slow
def test_memory_limit_gives_memory_error_and_numpy_and_torch_still_import(kernel):
    run_ok(kernel, "import numpy as np, sympy as sp, matplotlib.pyplot as plt", 30)
    reply = kernel.run_cell("hog = [bytes(2**30) for _ in range(100)]", 5)
    assert not reply["ok"] and reply["error_type"] == "MemoryError"
    reply = kernel.run_cell("x = np.ones(10**10)", 5)  # numpy's own MemoryError subclass
    assert not reply["ok"] and reply["error_type"] == "MemoryError"
    run_ok(kernel, "import torch\nt = torch.ones(3).sum().item()", 30)
    assert value(kernel, "t") == 3.0


def test_cell_time_limit_stops_the_cell_and_the_kernel_lives_on(kernel):
    started = time.monotonic()
    reply = kernel.run_cell("import time\ntime.sleep(10**6)", 2)
    assert not reply["ok"] and reply["error_type"] == "CellTimeout"
    assert time.monotonic() - started < 2 + 2
    run_ok(kernel, "alive = 1")
    assert value(kernel, "alive") == 1


def test_hard_deadline_stops_a_kernel_that_ignores_its_alarm(kernel):
    run_ok(kernel, "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)")
    started = time.monotonic()
    with pytest.raises(KernelTimeout):
        kernel.run_cell("while True:\n    pass", 1)
    assert time.monotonic() - started < 1 + 3 + 2
    assert kernel.process is None  # stopped, not left running


@pytest.mark.slow
def test_notebook_time_limit_stops_the_cells_that_would_run_past_it():
    from autograder.grade import NotebookRunner

    limits = dataclasses.replace(FAST, seconds_per_cell=2.0, seconds_per_notebook=4.0)
    cells = [(i, "import time\ntime.sleep(1.0)") for i in range(1, 9)]
    started = time.monotonic()
    with NotebookRunner({"a1.ipynb": RELEASE}, 0, limits) as runner:
        runs = runner.run(cells)
    kinds = [r.kind for r in runs]
    first_stopped = kinds.index("timeout")
    assert all(r.ok for r in runs[:first_stopped]) and set(kinds[first_stopped:]) == {"timeout"}
    assert runs[-1].error == "not run: the notebook's time limit was reached"
    assert time.monotonic() - started < 4.0 + 3.0 + 2  # the notebook's limit, the hard grace, a margin


def test_file_size_limit_applies_in_the_workdir_and_in_tmp(kernel):
    # without bubblewrap, /tmp is the machine's own: only the working folder is tried there
    paths = ("big.bin", "/tmp/big.bin") if ISO.filesystem else ("big.bin",)
    for path in paths:
        reply = kernel.run_cell(
            f"with open({path!r}, 'wb') as handle:\n    for _ in range(1024):\n        handle.write(b'0' * 2**20)", 10
        )
        assert not reply["ok"] and "File too large" in reply["error"], reply
    run_ok(kernel, f"import os\nsizes = [os.path.getsize(p) for p in {paths!r}]")
    assert value(kernel, "sizes") == [FAST.max_file_mb * 2**20] * len(paths)


def test_huge_output_is_cut_not_stored(kernel):
    started = time.monotonic()
    reply = run_ok(kernel, "print('x' * (100 * 2**20))", 30)  # ok: done within the cell's 30 s
    assert len(reply["output"]) <= FAST.max_output_kb * 1024
    assert reply["output_dropped"] >= 100 * 2**20 - FAST.max_output_kb * 1024
    # A deadline, not a speed goal (benchmarks/bench_guards.py times it): the grader does not hang on it
    assert time.monotonic() - started < 60


def test_an_answer_over_the_bridge_limit_stops_the_kernel_not_the_grader(kernel):
    run_ok(kernel, "import numpy as np\ny = np.zeros(10**7)")  # 80 MB: over 64 MB once base64-encoded
    with pytest.raises(KernelDied, match="over the bridge's limit"):
        kernel.lookup(["y"])


# --------------------------------------------------------------------------- processes


@pytest.mark.slow
@needs_contained_processes
def test_process_limit_holds_a_fork_bomb_and_other_kernels_keep_working():
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as bomber, \
         Kernel({"a1.ipynb": RELEASE}, slot=1, limits=FAST) as neighbour:  # fmt: skip
        if ISO.separate_user:
            assert bomber.uid != neighbour.uid
        run_ok(bomber, "import os\npids = []")
        bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
        try:  # the agent's alarm answers, or (starved of CPU by its children) the hard deadline stops it
            assert bomber.run_cell(bomb, 3)["error_type"] == "CellTimeout"
        except KernelTimeout:
            pass
        run_ok(neighbour, "import os\nr = os.fork()\nif r == 0:\n    os._exit(0)\nos.waitpid(r, 0)\nok = 1")
        assert value(neighbour, "ok") == 1
    assert subprocess.run(["true"]).returncode == 0  # the grader can still start processes
    time.sleep(0.5)
    assert leftover_sandbox_processes() == []


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users (and their sweep) need a grader running as root")

FORK_BOMB_IN_BACKGROUND = """\
import os, threading

def bomb():  # keeps refilling: the agent's own clean-up after each request cannot empty it
    while True:
        try:
            if os.fork() == 0:
                os.setsid()  # out of the kernel's process group and session
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
        except OSError:
            pass

threading.Thread(target=bomb, daemon=True).start()
"""


@needs_root
@pytest.mark.skipif(not Path("/bin/bash").is_file(), reason="the fork bomb is a bash loop; no /bin/bash here")
def test_the_uid_sweep_ends_a_fork_bomb_of_the_sandbox_user():
    """Every process of the user is gone when the sweep returns, though the bomb forks while it is swept."""
    from autograder.sandbox import _claim_uid, _kill_all_processes_of, _live_processes_of

    uid, lock = _claim_uid(UID_COUNT - 2)
    try:
        def as_sandbox_user():
            os.setsid()
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            import resource
            resource.setrlimit(resource.RLIMIT_NPROC, (32, 32))

        # bash, which any user can run (the grader's Python may sit in a folder only root can read) and
        # which, unlike dash, carries on when a fork fails: busy loops started without end, up to the limit
        bomb = 'while :; do bash -c "while :; do :; done" & done'
        subprocess.Popen(["/bin/bash", "-c", bomb], preexec_fn=as_sandbox_user, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        deadline = time.monotonic() + 20
        while len(_live_processes_of(uid)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_live_processes_of(uid)) >= 5, "the fork bomb did not start"
        _kill_all_processes_of(uid)
        assert _live_processes_of(uid) == []
        time.sleep(0.3)
        assert _live_processes_of(uid) == [], "a process of the sandbox user came back after the sweep"
    finally:
        _kill_all_processes_of(uid)
        os.close(lock)


@pytest.mark.slow
@needs_root
@pytest.mark.skipif(not ISO.separate_user, reason="no separate sandbox users here")
def test_a_fork_bomb_still_running_when_the_kernel_stops_leaves_no_process():
    """The bomb outlives its cell (a thread of the agent refills it); stopping the kernel ends all of it."""
    from autograder.sandbox import _live_processes_of

    kernel = Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST)
    kernel.start()
    try:
        uid = kernel.uid
        before = len(_live_processes_of(uid))  # the kernel's own processes, before any bomb
        try:
            kernel.run_cell(FORK_BOMB_IN_BACKGROUND, 3)
        except (KernelTimeout, KernelDied):
            pass  # starved by its own bomb, the kernel may miss its deadline: it is stopped, which is the point
        deadline = time.monotonic() + 20
        while (running := len(_live_processes_of(uid))) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        # otherwise "leaves no process" below would pass with nothing to clean up
        assert running >= before + 5, f"the fork bomb did not start ({before} processes before it, {running} after)"
    finally:
        kernel.close()
    assert _live_processes_of(uid) == [], f"processes of the sandbox user outlived the kernel ({running} before it stopped)"


LEAVE_TRACES = """\
import ctypes, os, numpy, sympy
open('/tmp/left.txt', 'w').write('answer')
open('left.txt', 'w').write('answer')
numpy.left = sympy.left = 'answer'  # a module changed in memory
shm = ctypes.CDLL(None).shmget(4242, 4096, 0o1000 | 0o666)  # IPC_CREAT: a System V segment, kept by the kernel
draw = float(numpy.random.rand())
"""

FIND_TRACES = """\
import ctypes, os, numpy, sympy
files = sorted(os.listdir('/tmp')) + sorted(os.listdir('.'))
changed_modules = [hasattr(numpy, 'left'), hasattr(sympy, 'left')]
shm = ctypes.CDLL(None).shmget(4242, 0, 0)
draw = float(numpy.random.rand())
"""


@needs_bubblewrap
def test_a_second_kernel_in_the_same_slot_starts_afresh():
    """Issue 16: kernels forked from the kernel server share nothing: files, modules, IPC, random state."""
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as first:
        run_ok(first, LEAVE_TRACES)
        assert value(first, "shm") >= 0
        first_draw = value(first, "draw")
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as second:
        run_ok(second, FIND_TRACES)
        assert "left.txt" not in value(second, "files")
        assert value(second, "changed_modules") == [False, False]
        assert value(second, "shm") == -1  # no such segment in this kernel's IPC namespace
        assert value(second, "draw") != first_draw  # numpy's random state is not the server's, shared


@needs_bubblewrap
@needs_root
def test_kernels_fork_from_the_kernel_server_unless_told_not_to(monkeypatch):
    """The server has imported the release notebooks' libraries; MDL_FORK_SERVER=0 starts a sandbox per kernel.

    A checkout or Python under /tmp is the documented exception (a forked kernel's fresh /tmp would hide
    it): there every kernel starts in a sandbox of its own, and the first half is run with that server-less
    path asserted instead (a clean clone under /tmp, as a TA may make one)."""
    from autograder.sandbox import ForkedKernel
    from autograder.sandbox.kernel_server_client import _kernel_server_wanted

    if not _kernel_server_wanted(FAST):
        assert str(Path(__file__).resolve()).startswith("/tmp/") or str(Path(sys.prefix).resolve()).startswith("/tmp/")
        with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as k:
            assert isinstance(k.process, subprocess.Popen)
            run_ok(k, "x = 1")
        return
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as k:
        assert isinstance(k.process, ForkedKernel)
        run_ok(k, "import sys, os\nloaded = ['sympy' in sys.modules, 'matplotlib.pyplot' in sys.modules]\n"
                  "me = [os.getpid(), os.getuid(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit())]")
        assert value(k, "loaded") == [True, True]
        assert value(k, "me") == [2, k.uid, [1, 2]]  # PID 1 is the kernel's own init; no other process in sight
    monkeypatch.setenv("MDL_FORK_SERVER", "0")
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as k:
        assert isinstance(k.process, subprocess.Popen)
        run_ok(k, "import sys\nloaded = 'sympy' in sys.modules")
        assert value(k, "loaded") is False


def test_plotting_cells_run_and_define_their_names_but_draw_nothing(kernel):
    """Issue 16: show and tight_layout draw nothing (even after `%matplotlib inline`); savefig still writes."""
    run_ok(kernel, "%matplotlib inline\nimport matplotlib, matplotlib.pyplot as plt\nbackend = matplotlib.get_backend()")
    run_ok(kernel, "fig, ax = plt.subplots()\nline, = ax.plot([1, 2], [3, 4])\nax.set_title('$x^2$')\n"
                   "before = ax.get_position().bounds\nplt.tight_layout()\nafter = ax.get_position().bounds\n"
                   "plt.show()\nopen_after_show = len(plt.get_fignums())\npoints = line.get_ydata().tolist()")
    run_ok(kernel, "import os\nplt.plot([1, 2])\nplt.savefig('p.png')\nsaved = os.path.getsize('p.png')")
    assert value(kernel, "backend") == "module://mdl_student.plot_backend"
    assert value(kernel, "before") == value(kernel, "after")  # Agg's tight_layout would have moved the axes
    assert value(kernel, "open_after_show") == 0  # closed, as Jupyter's inline backend does once it shows them
    assert value(kernel, "points") == [3, 4]
    assert value(kernel, "saved") > 1000


@needs_bubblewrap
def test_matplotlib_reads_the_font_list_built_once_and_cannot_change_it(kernel):
    """Issue 16: no kernel searches the machine's fonts again; the list is read-only to student code."""
    # (the kernel may have the font manager loaded already, from the kernel server: load it again, as matplotlib would)
    run_ok(kernel, "import io, logging, os\nlog = io.StringIO()\nlogging.basicConfig(level=logging.DEBUG, stream=log)\n"
                   "import matplotlib.font_manager as fm\nfm._load_fontmanager()\nlog = log.getvalue()\n"
                   "files = os.listdir('/tmp/matplotlib')\n"
                   "try:\n    open('/tmp/matplotlib/' + files[0], 'a').close()\n    writable = True\n"
                   "except OSError:\n    writable = False")
    log = value(kernel, "log")
    assert "Using fontManager instance from /tmp/matplotlib/fontlist-v" in log, log[-500:]
    assert "generated new fontManager" not in log
    assert value(kernel, "writable") is False


@needs_bubblewrap
def test_processes_a_cell_starts_do_not_outlive_it(kernel):
    run_ok(kernel, "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True:\n            pass")
    run_ok(kernel, "import os\nothers = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]")
    assert value(kernel, "others") == []


@needs_contained_processes
@pytest.mark.parametrize(
    "attack",
    ["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "import os, signal\nos.killpg(0, signal.SIGKILL)",
     "import os\nos.system('kill -9 -1')", "import os, signal\nos.kill(1, signal.SIGKILL)"],
    ids=["kill-parent", "killpg", "kill-minus-one", "kill-init"],
)
def test_kill_attacks_hurt_only_the_kernel_itself(attack):
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as k, \
         Kernel({"a1.ipynb": RELEASE}, slot=1, limits=FAST) as neighbour:  # fmt: skip
        try:
            k.run_cell(attack, 5)
        except KernelDied:
            pass  # killing itself is allowed
        run_ok(neighbour, "still = 'here'")
        assert value(neighbour, "still") == "here"
    assert os.getppid() > 1  # this process and its parent survived


@pytest.mark.slow
def test_a_kernel_that_stops_reading_cannot_block_the_grader(kernel):
    # swap the agent's request pipe for a dead one: the grader's next (large) request fills the pipe
    run_ok(kernel, "import os, sys\nfd = int(sys.argv[1])\nkeep = os.dup(fd)\nr, w = os.pipe()\nos.dup2(r, fd)")
    started = time.monotonic()
    with pytest.raises(KernelTimeout):
        kernel.run_cell("x = 1\n" + "#" * 1_000_000, 2)
    assert time.monotonic() - started < 2 + 3 + 2


def test_a_tampered_agent_gives_errors_not_grader_crashes(kernel):
    run_ok(kernel, """\
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent":
        def send(message, _send=obj.send):
            _send({"ok": True, "names": ["not", "a", "dict"]} if "names" in message else message)
        obj.send = send
""")
    with pytest.raises(KernelProtocolError):
        kernel.lookup(["anything"])
    assert kernel.process is None


def test_a_forged_answer_the_codec_refuses_is_a_note_not_a_grader_crash(kernel):
    from autograder.bridge import environment

    run_ok(kernel, """\
import base64, gc, io, numpy as np
buffer = io.BytesIO()
np.save(buffer, np.array(["not", "numbers"]))
forged = {"$tensor": base64.b64encode(buffer.getvalue()).decode(), "dtype": "torch.float32"}
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent":
        def send(message, _send=obj.send):
            if "names" in message:
                message = {"ok": True, "names": {"y": {"kind": "value", "value": forged}}}
            _send(message)
        obj.send = send
""")
    env, problems = environment(kernel, ["y"])
    assert "could not be read" in problems["y"]
    with pytest.raises(AssertionError, match="`y` could not be read by the grader"):  # tests say why, not "is None"
        len(env["y"])


def test_garbage_on_the_pipe_is_an_error_not_a_grader_crash(kernel):
    run_ok(kernel, "import os, sys, struct\nWFD = int(sys.argv[2])")
    with pytest.raises(KernelProtocolError):
        kernel.run_cell("os.write(WFD, struct.pack('>Q', 5) + b'\\xff\\xfe{{{')", 5)


# --------------------------------------------------------------------------- file system and network


@needs_bubblewrap
@pytest.mark.parametrize(
    "path",
    [str(PATHS.source / "a1" / "a1.ipynb"), str(PATHS.build / "a1" / "tests" / "q1_affine.py"),
     "../../source/a1/a1.ipynb", "../build/a1/manifest.json", str(ROOT / "source"), str(ROOT / ".git"), "/etc/shadow"],
)
def test_student_cannot_read_course_private_files(kernel, path):
    reply = kernel.run_cell(f"import os\nopen({path!r}).read() if os.path.isfile({path!r}) else os.listdir({path!r})", 5)
    assert not reply["ok"] and reply["error_type"] in ("FileNotFoundError", "PermissionError"), reply


@needs_bubblewrap
def test_student_cannot_read_other_submissions_or_the_gradebook(tmp_path):
    other = tmp_path / "submissions" / "bob.ipynb"
    other.parent.mkdir()
    other.write_text('{"secret": "bob\'s answers"}')
    gradebook = tmp_path / "graded" / "grades.csv"
    gradebook.parent.mkdir()
    gradebook.write_text("student,score\nbob,30\n")
    with Kernel({"a1.ipynb": RELEASE}, limits=FAST) as k:
        for path in (other, gradebook, tmp_path):
            reply = k.run_cell(f"import os\nopen({str(path)!r}).read() if os.path.isfile({str(path)!r}) else os.listdir({str(path)!r})", 5)
            assert not reply["ok"] and reply["error_type"] == "FileNotFoundError", (path, reply)
        run_ok(k, f"import os\nos.makedirs({str(gradebook.parent)!r}, exist_ok=True)\n"
                  f"open({str(gradebook)!r}, 'w').write('student,score\\nbob,0\\n')")  # its own private /tmp
        run_ok(k, "import os\nvisible = sorted(os.listdir('.'))")
        assert value(k, "visible") == [".ipython", "a1.ipynb"]
    assert gradebook.read_text() == "student,score\nbob,30\n"


@needs_bubblewrap
def test_the_submission_is_read_only_and_the_course_code_too(kernel):
    for path in ("a1.ipynb", str(ROOT / "student" / "mdl_student" / "checks" / "numeric.py")):
        reply = kernel.run_cell(f"open({path!r}, 'a').write('# tampered')", 5)
        assert not reply["ok"] and reply["error_type"] in ("OSError", "PermissionError"), reply


@needs_bubblewrap
def test_no_network(kernel):
    reply = kernel.run_cell("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)", 10)
    assert not reply["ok"] and reply["error_type"] in ("OSError", "TimeoutError", "ConnectionRefusedError"), reply
    run_ok(kernel, "import socket\ninterfaces = sorted(name for _, name in socket.if_nameindex())")
    assert value(kernel, "interfaces") == ["lo"]


# --------------------------------------------------------------------------- users, and saying what is guaranteed


@pytest.mark.skipif(not ISO.separate_user, reason="no separate sandbox users here: they need a grader running as root "
                    "(and, without bubblewrap, a Python installation that other users can read)")
def test_each_kernel_runs_as_a_user_of_its_own_even_with_the_same_slot():
    with Kernel({"a1.ipynb": RELEASE}, slot=3, limits=FAST) as a, Kernel({"a1.ipynb": RELEASE}, slot=3, limits=FAST) as b:
        run_ok(a, "import os\nuid = os.getuid()")
        run_ok(b, "import os\nuid = os.getuid()")
        assert value(a, "uid") == a.uid != value(b, "uid") == b.uid
        assert value(a, "uid") != 0


@pytest.mark.slow
def test_without_bubblewrap_the_grader_says_so_loudly(tmp_path):
    """MDL_SANDBOX=process: a warning at the start of the run, and in every results.json."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "blank.ipynb").write_bytes(RELEASE.read_bytes())
    env = {**os.environ, "MDL_SANDBOX": "process"}
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "a1", str(subs), "--out", str(tmp_path / "out"), "--jobs", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("sandbox: WARNING: bubblewrap is not available"), first
    results = json.loads((tmp_path / "out" / "blank" / "results.json").read_text())
    assert results["extra_data"]["sandbox"] == "process"
    record = json.loads((tmp_path / "out" / "blank" / "record.json").read_text())
    assert record["sandbox"] == "process"


def test_describe_names_what_is_not_guaranteed():
    from autograder.sandbox import Isolation

    assert "WARNING" not in Isolation("bubblewrap", True, True, True).describe()
    for separate_user in (True, False):
        text = Isolation("process", False, False, separate_user).describe()
        assert text.startswith("WARNING") and "read" in text and "network" in text


# --------------------------------------------------------------------------- the grader's own child processes


def test_checks_run_in_a_child_that_cannot_take_the_grader_with_it():
    assert run_in_child(lambda: {"answer": [1, 2]}, seconds=10, memory_mb=100) == {"answer": [1, 2]}
    with pytest.raises(ChildStopped, match="more than 200 MB"):
        run_in_child(lambda: len(bytearray(10**10)), seconds=10, memory_mb=200)
    started = time.monotonic()
    with pytest.raises(ChildStopped, match="longer than 1 s"):
        run_in_child(lambda: 2 ** (10**12) > 0, seconds=1, memory_mb=4000)  # one C call: no alarm stops it
    assert time.monotonic() - started < 5


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)  # do not leave it spinning on a shared machine
            return False
        time.sleep(0.05)
    return True


def _record_forks(pids_file: Path) -> None:
    """In a forked child: note the pid of every process it forks from now on (its helpers)."""
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            with pids_file.open("a") as handle:
                handle.write(f"{pid}\n")
        return pid

    os.fork = fork


def test_a_question_stopped_at_its_deadline_leaves_no_process_it_started(tmp_path):
    """Issue 10, item 3: the child's whole process group dies with it (a helper that ignores its parent too)."""
    pids = tmp_path / "pids"

    def work():
        _record_forks(pids)
        if os.fork() == 0:  # a helper that would spin forever on its own
            while True:
                pass
        time.sleep(60)

    with pytest.raises(ChildStopped, match="longer than 1 s"):
        run_in_child(work, seconds=1, memory_mb=500)
    helper = int(pids.read_text().split()[0])
    assert _gone_within(helper, 3), "the helper outlived the question that started it"


def test_a_symbolic_check_in_flight_dies_with_its_question(tmp_path):
    """The real case: assert_equivalent's forked helper, busy with the algebra, when the question's time is up."""
    import sympy as sp

    from mdl_student.checks import assert_equivalent

    a, b, c, d, e, f = sp.symbols("a b c d e f")
    # an undefined function (no numeric opinion) and a common denominator of degree 60: over a minute of algebra
    slow = sp.Function("g")(a) + sum((a + k * b + c) ** 6 / (d + k * e + f) ** 5 for k in range(1, 13))
    pids = tmp_path / "pids"

    def work():
        _record_forks(pids)
        assert_equivalent(a * c * f + slow, a * c * f, timeout=60)

    with pytest.raises(ChildStopped, match="longer than 2 s"):
        run_in_child(work, seconds=2, memory_mb=2000)
    helper = int(pids.read_text().split()[0])
    assert _gone_within(helper, 3), "the symbolic check's helper outlived its question"


# --------------------------------------------------------------------------- what the grader's own process reads


FLOOD_REPLY = """\
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent":
        def send(message, _send=obj.send):
            if "output" in message:  # this very cell's reply
                message = {**message, "junk": [[]] * COUNT}
            _send(message)
        obj.send = send
"""


@pytest.mark.parametrize("count", [1_000_000, 16_000_000], ids=["3-MB-of-lists", "48-MB-of-lists"])
def test_a_reply_of_millions_of_empty_lists_costs_the_grader_nothing(kernel, count):
    """Issue 10, item 2: the grader's own process parses a cell's reply only when it is a few small fields."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(KernelDied, match="values, over the limit|over the bridge's limit"):
            kernel.run_cell(FLOOD_REPLY.replace("COUNT", str(count)), 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"reading the reply cost the grader {peak / 2**20:.0f} MB"
    assert kernel.process is None  # stopped: it sent something that is not a reply


TAMPERED_NUMBERS_AND_TEXT = """\
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent":
        def send(message, _send=obj.send):
            if "output" in message:
                message = {**message, "ok": False, "output": "\\udfff", "output_dropped": 10**400,
                           "error_type": "ValueError\\ud800", "error": "bad \\ud800 text", "traceback": "\\udc80"}
            _send(message)
        obj.send = send
"""


def test_huge_numbers_and_lone_surrogates_in_a_reply_become_numbers_and_text_the_grader_can_use(kernel):
    """Issue 10, item 4: the reply is the student's garbage, never a grader crash."""
    reply = kernel.run_cell(TAMPERED_NUMBERS_AND_TEXT, 10)
    assert not reply["ok"] and reply["error"] == "bad \ufffd text"
    assert isinstance(reply["output_dropped"], int) and float(reply["output_dropped"]) / 2**20 > 0
    json.dumps(reply, ensure_ascii=False).encode("utf-8")  # every field can be written to a UTF-8 file
    print(reply["error_type"], reply["output"], reply["traceback"])  # and to the terminal


def test_an_integer_past_pythons_digit_limit_is_a_protocol_error_not_a_grader_crash(kernel):
    run_ok(kernel, "import os, sys, struct\nWFD = int(sys.argv[2])")
    forged = b'{"ok": true, "output": "", "output_dropped": ' + b"9" * 5000 + b"}"
    with pytest.raises(KernelProtocolError, match="malformed"):
        kernel.run_cell(f"os.write(WFD, struct.pack('>Q', {len(forged)}) + {forged!r})", 5)


# --------------------------------------------------------------------------- kernel keyrings


ADD_KEYS = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)

def add_key(keyring):
    serial = libc.syscall(248, b"user", b"mdl-channel", b"from the first submission", 25, ctypes.c_int(keyring))
    return serial if serial >= 0 else -ctypes.get_errno()

added = [add_key(-4), add_key(-3)]  # the user keyring and the session keyring
persistent = libc.syscall(250, 22, ctypes.c_int(-1), ctypes.c_int(-4))  # KEYCTL_GET_PERSISTENT
if persistent >= 0:
    added.append(add_key(persistent))
"""

FIND_KEY = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
serial = libc.syscall(249, b"user", b"mdl-channel", None, 0)  # request_key: every keyring in reach
found = serial if serial >= 0 else -ctypes.get_errno()
"""


def test_kernel_keyrings_are_no_channel_between_two_submissions_in_one_slot():
    """Issue 10, item 7: the key system calls fail (seccomp), so a second kernel finds nothing of the first."""
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as first:
        run_ok(first, ADD_KEYS)
        added = value(first, "added")
    with Kernel({"a1.ipynb": RELEASE}, slot=0, limits=FAST) as second:
        run_ok(second, FIND_KEY)
        found = value(second, "found")
    assert found < 0, "the second kernel found a key the first one left"
    assert added == [-38, -38] and found == -38  # ENOSYS: as on a kernel built without keyrings


def test_the_seccomp_filter_leaves_every_other_call_alone(kernel):
    run_ok(kernel, "import os, socket, threading, subprocess\n"
                   "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
                   "out = subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout\n"
                   "mode = open('/proc/self/status').read().split('Seccomp:')[1].split()[0]")
    assert value(kernel, "out") == "hi\n"
    assert value(kernel, "mode") == "2"  # filtered

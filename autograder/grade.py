"""`mdl grade`: every submission gets a row, whatever it does.

The pipeline for one submission, one step per function (nbgrader's
"sanitize, then execute", with the verdicts moved out of the kernel):

1. ``read_submission``   -- size limit, JSON, nbformat (v3 is converted), or ``invalid-notebook``
                            (steps 1-3 in a forked child under limits: ``read_in_child``);
2. ``identify``          -- the notebook belongs to this assignment, or ``wrong-assignment``;
3. ``student_cells``     -- the code cells to run: the submission's own test cells are dropped
                            (tests come only from the build);
4. ``run_cells``         -- in a sandboxed kernel, errors allowed; a cell that hangs or kills the
                            kernel is stopped, the kernel restarted and the other cells replayed;
5. ``score``             -- otter's test runner on values that crossed the bridge, in forked children:
                            every visible test first, every hidden test after (autograder.scoring);
6. the outcome           -- a status, per-question scores, messages; kept by :mod:`autograder.records`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grading_config import LIMITS, PATHS, Assignment, SandboxLimits

from autograder.compile_tests import Manifest, test_path
from autograder.notebook_meta import is_skipped_cell, is_test_cell, nbgrader_meta
from autograder.cell_map import annotate_for_feedback
from autograder.i18n import _
from mdl_student.i18n import current_language
from autograder.sandbox import ChildStopped, Kernel, KernelDied, KernelError, KernelTimeout, run_in_child
from autograder.scoring import cut, score

MAX_RESTARTS = 3

# Status words, most serious first: the first one that applies is the row's status.
STATUS_ORDER = ("invalid-notebook", "wrong-assignment", "missing", "timeout", "memory", "crashed", "ok")


@dataclass
class Bundle:
    """Everything the grader uses for one assignment; nothing of it enters the sandbox but the release files."""

    assignment: Assignment
    manifest: Manifest
    tests_dir: Path
    release_files: dict[str, Path]

    @classmethod
    def load(cls, assignment: Assignment) -> "Bundle":
        from autograder.build import ensure_bundle

        manifest = ensure_bundle(assignment)
        release_dir = PATHS.release / assignment.id
        files = {
            p.name: p
            for p in sorted(release_dir.iterdir())
            if p.is_file() and p.suffix != ".ipynb" and not p.name.startswith(".")
        } if release_dir.is_dir() else {}
        return cls(assignment, manifest, PATHS.build / assignment.id / "tests", files)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the tests change, so that old grades are not reused."""
        digest = hashlib.sha256(self.manifest.source_sha256.encode())
        for path in sorted(self.tests_dir.rglob("*.py")):
            digest.update(path.read_bytes())
        return digest.hexdigest()[:16]

    def test_file(self, grade_id: str) -> Path:
        """The question's test file in the run's language (autograder.compile_tests.test_path)."""
        return test_path(self.tests_dir, self.manifest, grade_id, current_language())


@dataclass
class Submission:
    """One student's hand-in, as autograder.intake found and named it."""

    student: str  # the id: the row in grades.csv and the output folder
    path: Path | None  # None when there is nothing to grade (``status`` says why)
    note: str = ""
    status: str = ""  # set when intake refused it: missing, ambiguous, duplicate, refused-symlink, ...

    def sha256(self) -> str:
        if self.path is None or not self.path.is_file():  # the refusal is the content: a new reason is regraded
            return "none-" + hashlib.sha256(f"{self.status}\n{self.note}".encode("utf-8", "replace")).hexdigest()[:16]
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


@dataclass
class CellRun:
    index: int  # 1-based position in the submitted notebook
    ok: bool
    error: str = ""
    kind: str = ""  # "", "timeout", "memory", "crashed"


@dataclass
class Outcome:
    student: str
    assignment: str
    status: str
    scores: dict[str, float]
    max_scores: dict[str, float]
    messages: list[str] = field(default_factory=list)
    results: Any = None  # otter GradingResults, when tests ran
    sha256: str = ""
    seconds: float = 0.0
    cells: dict[str, Any] = field(default_factory=dict)  # question -> cells of the notebook (feedback)
    manual: dict[str, Any] = field(default_factory=dict)  # manual question -> points, the student's answer
    titles: dict[str, str] = field(default_factory=dict)  # question -> the release's heading above it (feedback)

    @property
    def score(self) -> float:
        return round(sum(self.scores.values()), 6)

    @property
    def max_score(self) -> float:
        return round(sum(self.max_scores.values()), 6)


class Rejected(Exception):
    """The submission cannot be graded at all; ``status`` says why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- the steps


def read_submission(path: Path, limits: SandboxLimits) -> nbformat.NotebookNode:
    """Parse the file as a notebook, or refuse it with a reason a student understands."""
    size = path.stat().st_size
    if size > limits.max_notebook_mb * 1024 * 1024:
        raise Rejected("invalid-notebook", _("the file is {size} MB, over the {limit} MB limit").format(
            size=f"{size / 2**20:.0f}", limit=limits.max_notebook_mb))
    if size == 0:
        raise Rejected("invalid-notebook", _("the file is empty"))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("invalid-notebook", _("the file is not UTF-8 text (is it really a notebook?)")) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise Rejected("invalid-notebook", _("the file is not valid notebook JSON ({type}: {text})").format(type=err.__class__.__name__, text=str(err)[:80])) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Rejected("invalid-notebook", _("the file is JSON but not a Jupyter notebook (no cells)"))
    try:
        nb = nbformat.reads(text, as_version=4)
    except MemoryError:  # past the limit of the child reading it (read_in_child): said there
        raise
    except Exception as err:  # nbformat raises many types for malformed notebooks
        raise Rejected("invalid-notebook", _("the notebook could not be read ({type}: {text})").format(type=type(err).__name__, text=str(err)[:120])) from None
    if not isinstance(nb.get("cells"), list):
        raise Rejected("invalid-notebook", _("the notebook has no list of cells"))
    for index, cell in enumerate(nb.cells, start=1):  # nbformat reads these without complaint
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        grade_id = nbgrader_meta(cell).get("grade_id", "") if isinstance(meta, dict) else ""
        if not isinstance(meta, dict) or not isinstance(cell.get("source", ""), str) or not isinstance(grade_id, str):
            raise Rejected("invalid-notebook", _("cell {index} is malformed (its source, metadata or grade_id is not what a "
                                                 "notebook holds)").format(index=index))
    return nb


def identify(nb: nbformat.NotebookNode, manifest: Manifest) -> list[str]:
    """Check the notebook is this assignment's; return notes on what was changed."""
    ids = {str(nbgrader_meta(c).get("grade_id")) for c in nb.cells if nbgrader_meta(c).get("grade_id")}
    expected = set(manifest.solution_cell_ids) | set(manifest.test_cell_ids)
    if expected and not ids & expected:
        raise Rejected(
            "wrong-assignment",
            _("none of this assignment's cells ({cells}, ...) are in the notebook; was a "
              "notebook of another assignment submitted?").format(cells=", ".join(sorted(expected)[:4])),
        )
    notes = []
    missing = [sid for sid in manifest.solution_cell_ids if sid not in ids]
    if missing:
        notes.append(_("answer cells missing from the notebook: {cells}").format(cells=", ".join(missing)))
    return notes


def student_cells(nb: nbformat.NotebookNode, manifest: Manifest) -> list[tuple[int, str]]:
    """(1-based index, code) of every code cell to run: all but the test cells and those tagged skip.

    Only the student's work is graded: each locked cell of the release (setup: imports, data, helpers
    the tests use) runs as the release holds it, whatever the submission made of it, as nbgrader's
    autograde does.  A locked cell the submission lacks (deleted, or its grade_id changed) runs at its
    place in the release's order, with a negative index (-1, -2, ...: no cell of the notebook).
    """
    test_ids = set(manifest.test_cell_ids) | set(manifest.skipped_cell_ids)
    release = {c["grade_id"]: c["source"] for c in manifest.locked_cells}
    missing = missing_locked_cells(nb, manifest)
    order = {grade_id: k for k, grade_id in enumerate(manifest.cell_order)}
    restored = {g: -k for k, g in enumerate(missing, start=1)}  # unique indices: runs are kept by index
    cells: list[tuple[int, str]] = [(restored[g], release[g]) for g in missing if _anchor(g, nb, manifest) is None]
    for index, cell in enumerate(nb.cells, start=1):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in release:
            cells.append((index, release[grade_id]))  # a locked cell: the release's copy, even if made Markdown
        elif cell.get("cell_type") == "code" and not (
                is_test_cell(cell) or is_skipped_cell(cell) or grade_id in test_ids):
            source = cell.get("source", "")
            cells.append((index, source if isinstance(source, str) else "".join(source)))
        if grade_id in order:
            cells += [(restored[g], release[g]) for g in missing if _anchor(g, nb, manifest) == index]
    return cells


def missing_locked_cells(nb: nbformat.NotebookNode, manifest: Manifest) -> list[str]:
    """grade_ids of the release's locked cells that no cell of the submission carries."""
    present = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
    return [c["grade_id"] for c in manifest.locked_cells if c["grade_id"] not in present]


def _anchor(grade_id: str, nb: nbformat.NotebookNode, manifest: Manifest) -> int | None:
    """The 1-based index of the submission's cell after which a missing locked cell goes: the nearest cell
    that comes before it in the release's order; None: at the start."""
    where = {nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(nb.cells, start=1)}
    before = manifest.cell_order[: manifest.cell_order.index(grade_id)] if grade_id in manifest.cell_order else []
    return next((where[g] for g in reversed(before) if g in where), None)


def _classify(reply: dict[str, Any]) -> str:
    kind = reply.get("error_type", "")
    return {"CellTimeout": "timeout", "MemoryError": "memory"}.get(kind, "")


class NotebookRunner:
    """Runs a notebook's cells in a kernel, surviving hangs and crashes by restart and replay."""

    def __init__(self, files: dict[str, Path], slot: int, limits: SandboxLimits) -> None:
        self.files, self.slot, self.limits = files, slot, limits
        self.kernel: Kernel | None = None
        self.runs: dict[int, CellRun] = {}
        self.cells: list[tuple[int, str]] = []
        self.deadline = 0.0
        self.restarts = 0
        self.notes: list[str] = []  # what happened that is not an error (output cut)

    def __enter__(self) -> "NotebookRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kernel is not None:
            self.kernel.close()

    def run(self, cells: list[tuple[int, str]]) -> list[CellRun]:
        self.cells = cells
        self.deadline = time.monotonic() + self.limits.seconds_per_notebook
        self._start()
        for index, code in cells:
            self._run_one(index, code)
        return [self.runs[i] for i, _ in cells if i in self.runs]

    def _start(self) -> None:
        self.kernel = Kernel(self.files, slot=self.slot, limits=self.limits)
        self.kernel.start()

    def _run_one(self, index: int, code: str) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.runs[index] = CellRun(index, False, _("not run: the notebook's time limit was reached"), "timeout")
            return
        if self.kernel is None:
            if not self._restart():
                self.runs[index] = CellRun(index, False, _("not run: the kernel could not be restarted"), "crashed")
                return
        seconds = min(self.limits.seconds_per_cell, remaining)
        try:
            reply = self.kernel.run_cell(code, seconds)  # type: ignore[union-attr]
        except KernelTimeout:
            self.kernel = None
            self.runs[index] = CellRun(index, False, _("stopped after {seconds} s (time limit)").format(
                seconds=f"{seconds:.0f}"), "timeout")
            return
        except KernelDied as err:
            self.kernel = None
            kind = "memory" if err.out_of_memory else "crashed"
            self.runs[index] = CellRun(index, False, str(err), kind)
            return
        if reply.get("output_dropped"):
            self.notes.append(_("cell {index}: printed more than {limit} KB of output; the rest ({dropped} MB) was cut, "
                                "not kept").format(index=index, limit=self.limits.max_output_kb,
                                                   dropped=f"{reply['output_dropped'] / 2**20:.1f}"))
        if reply.get("ok"):
            self.runs[index] = CellRun(index, True)
        else:
            kind = _classify(reply)
            error = reply["error"] if "error" in reply else _("error")
            if kind == "timeout":
                error = _("stopped after {seconds} s (time limit)").format(seconds=f"{seconds:.0f}")
            self.runs[index] = CellRun(index, False, error, kind)

    def _restart(self) -> bool:
        """A fresh kernel, with every cell that ran before replayed (the bad ones skipped)."""
        while self.restarts < MAX_RESTARTS:
            self.restarts += 1
            try:
                self._start()
                for index, code in self.cells:
                    if index not in self.runs:
                        return True
                    if self.runs[index].kind in ("timeout", "crashed", "memory") and not self.runs[index].ok:
                        continue
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self.kernel.run_cell(code, min(self.limits.seconds_per_cell, remaining))  # type: ignore[union-attr]
                return True
            except KernelError:
                self.kernel = None
        return False

    def live_kernel(self) -> Kernel | None:
        """The kernel for scoring, restarted (with replay) if the last cell killed it."""
        if self.kernel is None or self.kernel.process is None:
            self.kernel = None
            self._restart()
        return self.kernel


def cap_messages(messages: list[str], limits: SandboxLimits) -> list[str]:
    """At most ``max_messages`` messages of at most ``max_message_chars`` each, and a last one saying what was cut.

    100,000 failing cells would otherwise make a record of tens of megabytes.
    """
    kept = [cut(m, limits.max_message_chars) for m in messages[: limits.max_messages]]
    if len(messages) > limits.max_messages:
        kept.append(f"... and {len(messages) - limits.max_messages:,} more messages, cut "
                    f"(at most {limits.max_messages} are kept)")
    return kept


def read_in_child(path: Path, manifest: Manifest, limits: SandboxLimits, outcome: Outcome) -> list[tuple[int, str]]:
    """Steps 1-3 (and the feedback's cell map) in a forked child of the grader, under the question limits.

    Parsing what a student wrote costs the parser's process memory and time out of all proportion
    to the file (17 MB of empty JSON objects took 3.5 GB and 70 s; a 4 MB cell, 1.7 GB and a minute
    to parse), so it happens in a child with ``seconds_per_question`` and ``checker_memory_mb``; a
    notebook that needs more is ``invalid-notebook``. Returns the cells to run; the outcome gets the
    notes, the cell map and the manual answers.
    """
    def work() -> dict[str, Any]:
        found: dict[str, Any] = {"messages": []}
        try:
            nb = read_submission(path, limits)
            found["messages"] += annotate_for_feedback(outcome, nb.cells, manifest)
            found["map"], found["manual"] = outcome.cells, outcome.manual
            found["messages"] += identify(nb, manifest)
            found["cells"] = student_cells(nb, manifest)
            missing = missing_locked_cells(nb, manifest)
            if missing:
                found["messages"].append(_("the notebook lacks the locked cell(s) {cells}: the release's copies were "
                                           "run in their places").format(cells=", ".join(missing)))
        except Rejected as rejected:
            found["rejected"] = [rejected.status, str(rejected)]
        return found

    try:
        found = run_in_child(work, seconds=limits.seconds_per_question, memory_mb=limits.checker_memory_mb,
                             memory_limit=limits.memory_limit)
    except ChildStopped as err:
        raise Rejected("invalid-notebook", _("reading the notebook went past the grader's limits for it ({memory} MB, {seconds} s): "
                                             "{error}").format(memory=limits.checker_memory_mb,
                                                               seconds=f"{limits.seconds_per_question:.0f}", error=err)) from None
    if "map" in found:
        outcome.cells, outcome.manual = found["map"], found["manual"]
    outcome.messages += found["messages"]
    if "rejected" in found:
        raise Rejected(*found["rejected"])
    return [(int(index), str(code)) for index, code in found["cells"]]


# --------------------------------------------------------------------------- one submission


def grade_submission(submission: Submission, bundle: Bundle, *, slot: int = 0, limits: SandboxLimits = LIMITS) -> Outcome:
    """Grade one submission. Never raises for anything a submission can do."""
    started = time.monotonic()
    max_scores = {q["grade_id"]: float(q["points"]) for q in bundle.manifest.questions}
    outcome = Outcome(submission.student, bundle.assignment.id, "ok", dict.fromkeys(max_scores, 0.0), max_scores)
    outcome.sha256 = submission.sha256()
    if submission.note:
        outcome.messages.append(submission.note)
    annotate_for_feedback(outcome, None, bundle.manifest)
    try:
        if submission.path is None:  # refused by intake (autograder.intake): the note says why
            raise Rejected(submission.status or "missing", "" if submission.note else _("no notebook was submitted"))
        cells = read_in_child(submission.path, bundle.manifest, limits, outcome)
        files = dict(bundle.release_files)
        files[bundle.assignment.notebook] = submission.path
        with NotebookRunner(files, slot, limits) as runner:
            runs = runner.run(cells)
            outcome.messages += [(_("cell {index}: {error}").format(index=r.index, error=r.error) if r.index > 0 else
                                  _("a locked cell of the release: {error}").format(error=r.error))
                                 for r in runs if not r.ok] + runner.notes
            kinds = {r.kind for r in runs if r.kind}
            outcome.status = next((s for s in STATUS_ORDER if s in kinds), "ok")
            results, notes = score(runner, bundle)
        outcome.messages += notes
        outcome.results = results
        for name, test_file in results.results.items():
            outcome.scores[name] = round(float(test_file.score), 6)
    except Rejected as rejected:
        outcome.status = rejected.status
        outcome.messages += [str(rejected)] if str(rejected) else []
    except KernelError as err:  # the kernel would not even start
        outcome.status = "crashed"
        outcome.messages.append(_("the kernel could not run this notebook: {error}").format(error=err))
    outcome.messages = cap_messages(outcome.messages, limits)
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome

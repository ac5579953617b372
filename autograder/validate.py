"""`mdl validate`: the source earns full marks, the untouched release nothing, and generated students what they deserve.

Everything is graded exactly as a student's submission is (sandbox, bridge, compiled tests,
:func:`autograder.grade.grade_submission`):

1. the instructor's notebook must earn full marks, and the untouched release 0;
2. generated students (autograder.generated_students), one notebook per kind covering every
   question: wrong ones (a memoriser of the visible tests, zeros, ones, random numbers, the input
   returned, a symbolic constant) must earn 0 on every question they apply to, and legitimate forms
   of the solution (float32, lists, Fraction, sympy numbers, expand, factor, rewrite(exp), simplify,
   symbols declared again) full marks. A table says, per question and generated student, what was
   earned; a misgrade fails validation, naming the question and the student.

So an author learns that a test is weak (or too strict) before a student does.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from grading_config import LIMITS, PATHS, Assignment, SandboxLimits

from autograder.generated_students import (
    KINDS, PROBE_ID, Kind, Recording, applies_after_grading, applies_before_grading, generated_notebook, merged_spec,
    probe_test_file, spec_for)
from autograder.grade import Bundle, Submission, grade_submission
from autograder.i18n import _
from autograder.recording import record


@dataclass
class Cell:
    """One question graded for one generated student."""

    earned: float | None  # None: the kind does not apply to the question
    points: float
    ok: bool = True
    why: str = ""  # why it does not apply
    noted: bool = False  # why it does not apply is said below the table (the question refuses it, or it could not be made)

    def text(self) -> str:
        """The table's cell in the run's language: "n/a", "2 ok", "0 FAIL"."""
        if self.earned is None:
            return _("n/a")
        return (_("{earned} ok") if self.ok else _("{earned} FAIL")).format(earned=f"{self.earned:g}")


@dataclass
class ValidationReport:
    assignment: str
    problems: list[str] = field(default_factory=list)
    source_score: float = 0.0
    release_score: float = 0.0
    max_score: float = 0.0
    table: dict[str, dict[str, Cell]] = field(default_factory=dict)  # question -> kind -> cell
    generated_seconds: float = 0.0
    notebooks: int = 0  # generated notebooks graded (kinds that change different questions share one)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate(assignment: Assignment, echo: Callable[[str], None] = print, *, generated: bool = True,
             jobs: int | None = None, notebooks: tuple[Path, Path, Bundle] | None = None) -> ValidationReport:
    """Validate one assignment; `notebooks` (source, release, bundle) replaces the registered ones (tests)."""
    source_path, release_path, bundle = notebooks or (
        PATHS.source / assignment.id / assignment.notebook, PATHS.release / assignment.id / assignment.notebook,
        Bundle.load(assignment))
    assignment = bundle.assignment
    report = ValidationReport(assignment.id, max_score=bundle.manifest.max_score)
    limits = assignment.limits or LIMITS
    source = grade_submission(Submission("instructor-source", source_path), bundle, limits=limits)
    report.source_score = source.score
    if source.status != "ok":
        report.problems.append(_("the source notebook graded with status {status}: {messages}").format(
            status=source.status, messages=source.messages))
    for qid, points in source.max_scores.items():
        if source.scores[qid] != points:
            report.problems.append(_("source notebook: {question} earned {earned} of {points}").format(
                question=qid, earned=source.scores[qid], points=points))
    if source.messages and source.status == "ok":
        report.problems += [_("source notebook: {message}").format(message=m) for m in source.messages]
    release = grade_submission(Submission("untouched-release", release_path), bundle, limits=limits)
    report.release_score = release.score
    for qid, earned in release.scores.items():
        if earned != 0:
            report.problems.append(_("untouched release: {question} earned {earned} points without any work").format(
                question=qid, earned=earned))
    summary = _("source {score}/{max_score} in {seconds}s, release {release}/{max_score}").format(
        score=f"{source.score:g}", max_score=f"{report.max_score:g}", seconds=f"{source.seconds:.1f}",
        release=f"{release.score:g}")
    if generated and report.ok:
        echo(_("validate {assignment}: {summary}; generating students ...").format(assignment=assignment.id,
                                                                                   summary=summary))
        started = time.monotonic()
        _generated_students(bundle, limits, report, jobs or min(2, os.cpu_count() or 1), source_path, release_path)
        report.generated_seconds = time.monotonic() - started
        for line in table_lines(report):
            echo(line)
        summary = (_("{count} problem(s)").format(count=len(report.problems)) if report.problems
                   else _("every student graded as it deserves"))
    verdict = _("validate {assignment}: ok ({summary})") if report.ok else _("validate {assignment}: FAILED ({summary})")
    echo(verdict.format(assignment=assignment.id, summary=summary))
    for problem in report.problems:
        echo(f"  - {problem}")
    return report


# --------------------------------------------------------------------------- generated students


def _generated_students(bundle: Bundle, limits: SandboxLimits, report: ValidationReport, jobs: int,
                        source_path: Path, release_path: Path) -> None:
    recording = record(bundle, limits, source_path)
    report.problems += [_("generated students: {note}").format(note=note) for note in recording.notes]
    before = {(k.name, q.grade_id): False if k.name in q.exempt else applies_before_grading(k, q, recording)
              for k in KINDS for q in recording.questions}
    groups = pack(recording, before)
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4)
    with tempfile.TemporaryDirectory(prefix=f"mdl-validate-{bundle.assignment.id}-") as tmp:
        work = [_prepare(group, recording, release, source, bundle, Path(tmp)) for group in groups]
        graded = _grade_all(work, limits, jobs)
    report.notebooks = len(work)
    by_kind = {kind.name: graded[_label(group)] for group in groups for kind, _ in group}
    for question in recording.questions:
        row = report.table.setdefault(question.grade_id, {})
        for kind in KINDS:
            if kind.name in question.exempt:
                row[kind.name] = Cell(None, question.points, noted=True, why=_("the question says: {why}").format(
                    why=question.exempt[kind.name]))
                continue
            row[kind.name] = _cell(kind, question, before[kind.name, question.grade_id], by_kind.get(kind.name))
            cell = row[kind.name]
            others = [n for n in question.names if recording.answers.get(n) and recording.answers[n].kind == "other"]
            if cell.earned is None and others and len(others) == len(question.names):
                cell.why = _("could not be made ({names}: not a plain function, nor a value the bridge sends: a class "
                             "or another object is not generated)").format(names=", ".join(others))
                cell.noted = True
            if not cell.ok:
                if kind.form == "memoriser" and not cell.why:
                    cell.why = _what_the_memoriser_copied(question, recording)
                report.problems.append(_failure(kind, question.grade_id, cell))


def pack(recording: Recording, before: dict[tuple[str, str], bool | None]) -> list[list[tuple[Kind, set[str]]]]:
    """The generated notebooks: kinds that change answers of different questions share one.

    Each kind changes the answers of the questions it applies to; two kinds whose questions and
    answers are disjoint (float32 on the numeric questions, expand on the symbolic ones) are one
    notebook, each question's score read for its own kind. Returns the notebooks: each a list of (kind, the
    answers it changes).
    """
    groups: list[tuple[list[tuple[Kind, set[str]]], set[str], set[str]]] = []  # kinds, their questions, answers
    for kind in KINDS:
        questions = {q.grade_id for q in recording.questions if before[kind.name, q.grade_id] is not False}
        if not questions:
            continue
        names = {n for q in recording.questions if q.grade_id in questions for n in q.names}
        for kinds, taken, changed in groups:
            if kind.form != "memoriser" and kinds[0][0].form != "memoriser" and not (questions & taken) \
                    and not (names & changed):
                kinds.append((kind, names))
                taken |= questions
                changed |= names
                break
        else:
            groups.append(([(kind, names)], set(questions), set(names)))
    return [kinds for kinds, _, _ in groups]


def _label(group: list[tuple[Kind, set[str]]]) -> str:
    return "+".join(kind.name for kind, _ in group)


def _prepare(group: list[tuple[Kind, set[str]]], recording: Recording, release: nbformat.NotebookNode,
             source: nbformat.NotebookNode, bundle: Bundle, tmp: Path) -> tuple[str, Path, Bundle, Path]:
    """Write the group's notebook, and a copy of the bundle whose last question writes the generated answers' report."""
    label = _label(group)
    folder = tmp / label
    tests = folder / "tests"
    tests.mkdir(parents=True)
    for path in bundle.tests_dir.glob("*.py"):
        shutil.copy(path, tests / path.name)
    report_path = folder / "report.json"
    (tests / f"{PROBE_ID}.py").write_text(probe_test_file(str(report_path)))
    manifest = dataclasses.replace(bundle.manifest, questions=[
        *bundle.manifest.questions, {"grade_id": PROBE_ID, "points": 1.0, "params": ["_mdl_report"]}])
    spec = merged_spec([spec_for(kind, recording, names if len(group) > 1 else None) for kind, names in group])
    notebook = folder / f"generated-{label}.ipynb"
    nbformat.write(generated_notebook(release, source, spec), notebook)
    return label, notebook, Bundle(bundle.assignment, manifest, tests, bundle.release_files), report_path


_SLOT = 0


def _init_worker(slots: Any) -> None:
    global _SLOT
    _SLOT = slots.get()


def _grade_one(item: tuple[str, Path, Bundle, Path], limits: SandboxLimits, slot: int | None = None) -> dict[str, Any]:
    import warnings

    name, notebook, bundle, report_path = item
    with warnings.catch_warnings():  # numpy's warnings about a generated student's zeros are not news
        warnings.simplefilter("ignore")
        outcome = grade_submission(Submission(f"generated-{name}", notebook), bundle,
                                   slot=_SLOT if slot is None else slot, limits=limits)
    try:
        kernel_report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        kernel_report = None
    return {"name": name, "status": outcome.status, "scores": outcome.scores, "report": kernel_report,
            "messages": outcome.messages[:5], "seconds": outcome.seconds}


def _grade_all(work: list[tuple[str, Path, Bundle, Path]], limits: SandboxLimits, jobs: int) -> dict[str, dict[str, Any]]:
    """Grade the generated notebooks, `jobs` at a time (each worker its own sandbox slot)."""
    if jobs <= 1 or len(work) <= 1:
        return {item[0]: _grade_one(item, limits, slot=0) for item in work}
    context = multiprocessing.get_context("fork")
    slots = context.Queue()
    for k in range(jobs):
        slots.put(k)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(slots,)) as pool:
        futures = [pool.submit(_grade_one, item, limits) for item in work]
        return {item[0]: future.result() for item, future in zip(work, futures)}


def _cell(kind: Kind, question: Any, before: bool | None, graded: dict[str, Any] | None) -> Cell:
    points = question.points
    if before is False or graded is None:
        return Cell(None, points, why=_("does not change its answers"))
    if graded["report"] is None:
        return Cell(graded["scores"].get(question.grade_id, 0.0), points, ok=False,
                    why=_("the generated notebook did not run its answers' cell (status {status}: {messages})").format(
                        status=graded["status"], messages="; ".join(graded["messages"])[:300]))
    applies, why, unmade = applies_after_grading(kind, question, graded["report"])
    if not applies:
        return Cell(None, points, why=why, noted=unmade)
    earned = float(graded["scores"].get(question.grade_id, 0.0))
    ok = earned == 0 if kind.wrong else earned == points
    return Cell(earned, points, ok=ok)


def _what_the_memoriser_copied(question: Any, recording: Recording) -> str:
    """Where a memoriser's points come from: values a visible test compares, calls it makes."""
    said = []
    for name in question.names:
        answer = recording.answers.get(name)
        if answer is None:
            continue
        if answer.kind == "value" and answer.memorised_as == "solution":
            said.append((_("the visible test accepts no value of `{name}` but the solution's (tried: zeros, ones, the "
                           "solution off by 1%, a lookup of its points, a polynomial through them), so a memoriser copies it")
                         if answer.points else
                         _("the visible test accepts no value of `{name}` but the solution's (tried: zeros, ones, the "
                           "solution off by 1%), so a memoriser copies it")).format(name=name))
        elif answer.kind == "value" and answer.memorised_as in ("lookup", "polynomial"):
            said.append((_("`{name}` as a piecewise lookup of the {count} point(s) the visible test evaluates")
                         if answer.memorised_as == "lookup" else
                         _("`{name}` as a polynomial through the {count} point(s) the visible test evaluates")).format(
                name=name, count=len(answer.points)))
        elif answer.kind == "function" and answer.calls:
            said.append(_("`{name}` as a lookup of the {count} call(s) the visible test makes, zeros elsewhere").format(
                name=name, count=len(answer.calls)))
    advice = _("hidden cases should check fresh inputs, and a value's visible test its form only")
    return _("{what}: {advice}").format(what="; ".join(said), advice=advice) if said else advice


def _failure(kind: Kind, grade_id: str, cell: Cell) -> str:
    said = (_("{question}: the generated student '{kind}' (a wrong student: {says}) earned {earned} of {points}, "
              "must earn 0") if kind.wrong else
            _("{question}: the generated student '{kind}' (a correct answer in another form: {says}) earned {earned} "
              "of {points}, must earn all {points}"))
    said = said.format(question=grade_id, kind=kind.name, says=_(kind.says), earned=f"{cell.earned:g}",
                       points=f"{cell.points:g}")
    return _("{failure}; {why}").format(failure=said, why=cell.why) if cell.why else said


def table_lines(report: ValidationReport) -> list[str]:
    """The generated students' table: a row per question, a column per generated student."""
    if not report.table:
        return []
    names = [k.name for k in KINDS]
    heading = _("question (points)")
    first = max([len(heading)] + [len(f"{q} ({c[names[0]].points:g})") for q, c in report.table.items()])
    widths = [max(len(n), max(len(row[n].text()) for row in report.table.values())) for n in names]
    wrong = sum(1 for k in KINDS if k.wrong)
    header = " ".join([f"{heading:<{first}}", *[f"{n:<{w}}" for n, w in zip(names[:wrong], widths)], "|",
                       *[f"{n:<{w}}" for n, w in zip(names[wrong:], widths[wrong:])]])
    lines = ["  " + _("generated students of {assignment} ({notebooks} notebooks, {seconds} s): points earned; wrong "
                      "students (left) must earn 0, correct forms (right) all").format(
                 assignment=report.assignment, notebooks=report.notebooks, seconds=f"{report.generated_seconds:.0f}"),
             "  " + header]
    for question, row in report.table.items():
        cells = [f"{row[n].text():<{w}}" for n, w in zip(names, widths)]
        lines.append("  " + " ".join([f"{question + ' (' + format(row[names[0]].points, 'g') + ')':<{first}}",
                                      *cells[:wrong], "|", *cells[wrong:]]))
    for question, row in report.table.items():
        said: dict[str, list[str]] = {}
        for name, cell in row.items():
            if cell.earned is None and cell.noted:
                said.setdefault(cell.why, []).append(name)
        lines += ["  " + _("note: {question}: {students} n/a: {why}").format(question=question, students=", ".join(kinds),
                                                                           why=why) for why, kinds in said.items()]
    failures = sum(not c.ok for row in report.table.values() for c in row.values())
    if failures:
        lines.append("  " + _("{count} misgraded (FAIL: the question gives points to a wrong student, or refuses a "
                              "correct form)").format(count=failures))
    return lines

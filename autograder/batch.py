"""Grade a folder of submissions: a pool of sandboxed kernels, resumable, shardable.

* one worker process per core, each with its own sandbox slot (its own user
  id when the grader is root);
* a record per submission (record.json, results.json, feedback.html) is
  written once, the moment it is graded; the gradebook is written at the end,
  and at most every few seconds meanwhile for progress, so a class costs the
  same per submission at any size; killing the grader loses at most the
  submissions in flight (a rerun rebuilds the gradebook from the records);
* a rerun skips submissions whose content and tests are unchanged
  (``--force`` regrades everything);
* ``--shard i/n`` grades every n-th submission, for CI matrices; ``mdl merge``
  joins the shards' records into one gradebook, and refuses shards that do not
  make exactly one whole (another assignment, a missing or repeated index, an
  interrupted shard);
* ``--student NAME`` regrades one student and keeps every other row;
* Ctrl-C stops cleanly: what finished is written, and ``INCOMPLETE`` next to
  ``grades.csv`` says the gradebook is not whole until a run finishes.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grading_config import LATE, LIMITS, Assignment, SandboxLimits

from autograder.grade import Bundle, Submission, grade_submission
from autograder.feedback import write_feedback
from autograder.gradebook import summary_line, table, write_gradebook
from autograder.i18n import _
from autograder.intake import IntakeError, find_submissions
from autograder.late import load_extensions, submission_times, unmatched_extensions
from autograder.manual import MANUAL_GRADES, read_manual_grades, write_grading_sheets
from autograder.out_folder import GRADES_NAME, HANDED_IN_NAME, INCOMPLETE_NAME, SHARD_NAME, atomic_write_text
from autograder.records import load_records, make_record, save_record
from autograder.results_json import write_results
from autograder.roster import apply_roster, load_roster, unknown_names
from autograder.safe_text import fold_case, printable, student_id
from autograder.sandbox import isolation
from autograder.totals import check_instructor_files

_SLOT: int = 0
GRADEBOOK_EVERY_S = 5.0  # while grading, grades.csv is rewritten at most this often (and always at the end)


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes i/n, e.g. 2/4; got {text!r}") from None
        if not 1 <= i <= n:
            raise ValueError(f"--shard {text}: i must be between 1 and n")
        return cls(i, n)

    def select(self, submissions: list[Submission]) -> list[Submission]:
        ordered = sorted(submissions, key=lambda s: s.student)
        return [s for k, s in enumerate(ordered) if k % self.count == self.index - 1]


class GradingInterrupted(Exception):
    """Ctrl-C: what finished is written; the message says how much and how to resume."""


class MergeError(ValueError):
    """Shards that do not make one gradebook; the message says which folder and why."""


def keep_record(record: dict[str, Any], out_dir: Path) -> None:
    """Write one graded submission's files: its record, its results.json, its feedback page."""
    save_record(record, out_dir)
    write_results(record, out_dir)
    write_feedback(record, out_dir)


def _init_worker(slots: Any) -> None:
    global _SLOT
    _SLOT = slots.get()
    # Ctrl-C reaches the whole process group: the main process stops the pool, workers just end.
    signal.signal(signal.SIGINT, lambda *_: None)


def _grade_in_worker(submission: Submission, bundle: Bundle, limits: SandboxLimits) -> dict[str, Any]:
    outcome = grade_submission(submission, bundle, slot=_SLOT, limits=limits)
    return make_record(outcome, bundle.fingerprint)


def _crash_record(submission: Submission, bundle: Bundle, error: BaseException) -> dict[str, Any]:
    """A row even when the worker itself died (it should not; but nothing is ever lost)."""
    from autograder.grade import Outcome

    max_scores = {q["grade_id"]: float(q["points"]) for q in bundle.manifest.questions}
    outcome = Outcome(submission.student, bundle.assignment.id, "grader-error", dict.fromkeys(max_scores, 0.0), max_scores)
    outcome.sha256 = submission.sha256()
    outcome.messages.append(_("the grader failed on this submission ({type}: {error}); it will be regraded on the next "
                              "run").format(type=type(error).__name__, error=error))
    record = make_record(outcome, "")  # empty fingerprint: never counts as up to date
    return record


def keep_handed_in_as(out_dir: Path, aliases: dict[str, str]) -> None:
    """DIR/handed_in_as.csv: the id each roster login had in the download (its LMS user or participant number),
    for the LMS exports (autograder.export); rows of earlier runs are kept, this run's replace theirs."""
    path = out_dir / HANDED_IN_NAME
    known: dict[str, str] = {}
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            known = {r["login"]: r["handed_in_as"] for r in csv.DictReader(handle) if r.get("login")}
    known.update({login: handed for handed, login in aliases.items()})
    if known:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([["login", "handed_in_as"], *sorted(known.items())])
        atomic_write_text(path, buffer.getvalue())


def grade_batch(
    assignment: Assignment,
    folder: Path,
    out_dir: Path,
    *,
    jobs: int | None = None,
    force: bool = False,
    shard: Shard | None = None,
    limits: SandboxLimits | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    student: str | None = None,
    roster: Path | None = None,
) -> list[dict[str, Any]]:
    """Grade every submission in ``folder`` (any layout of autograder.intake); returns the gradebook's records.

    ``limits`` defaults to the assignment's own limits, else grading_config.LIMITS.  With ``student``,
    only that student is regraded and every other row of ``out_dir`` is kept.  ``roster`` (default:
    roster.csv beside grading_config.py, if there is one) names every submission by its student's login
    and adds a ``missing`` row for each student without one (autograder.roster).
    """
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be at least 1 (got {jobs})")
    limits = limits or assignment.limits or LIMITS
    bundle = Bundle.load(assignment)
    manual_max = {q["grade_id"]: float(q["points"]) for q in bundle.manifest.manual_questions}
    check_instructor_files(out_dir, manual_max)
    iso = isolation()
    echo(_("sandbox: {description}").format(description=iso.describe()))
    intake = find_submissions(folder, assignment, limits)  # a zip's extraction lives until this call returns
    for note in intake.notes:
        echo(_("intake: {note}").format(note=note))
    class_roster = load_roster(roster)
    aliases: dict[str, str] = {}
    if class_roster is not None:
        intake.submissions, aliases = apply_roster(class_roster, intake.submissions, echo)
        intake.marked_late = {aliases.get(s, s) for s in intake.marked_late}
        echo(_("roster: {count} student(s) in {source}").format(count=len(class_roster.students), source=class_roster.source))
        keep_handed_in_as(out_dir, aliases)
    submissions = intake.submissions
    if shard is not None:
        submissions = shard.select(submissions)
    if student is not None:
        submissions = _only(student, submissions, folder)
    on_disk = load_records(out_dir)
    previous = {} if force or student is not None else on_disk
    fingerprint = bundle.fingerprint
    records: dict[str, dict[str, Any]] = _other_rows(on_disk, submissions) if student is not None else {}
    todo: list[Submission] = []
    for sub in submissions:
        old = previous.get(sub.student)
        # Kept only if the submission, the tests and the isolation that graded it are all unchanged.
        if (old and old.get("fingerprint") == fingerprint and old.get("sha256") == sub.sha256()
                and old.get("sandbox") == iso.mechanism):
            records[sub.student] = old
        else:
            todo.append(sub)
    if len(todo) < len(submissions):
        echo(_("{count} submission(s) unchanged since the last run: kept (use --force to regrade)").format(
            count=len(submissions) - len(todo)))
    question_ids = [q["grade_id"] for q in bundle.manifest.questions]
    times = submission_times(intake.root or folder, intake.submissions, marked_late=intake.marked_late, warn=echo,
                             aliases=aliases)
    for line in unmatched_extensions(assignment, [s.student for s in intake.submissions]):
        echo(line)
    # Every name in the instructor's files that is no student; extensions of other assignments only with a roster.
    named = {"manual_grades.csv": sorted({g[0] for g in read_manual_grades(out_dir / MANUAL_GRADES, manual_max)})}
    if class_roster is not None:
        named["extensions.csv"] = sorted({name for name, _ in load_extensions(LATE.extensions_file)})
    for line in unknown_names(class_roster, [s.student for s in intake.submissions], named):
        echo(line)

    last_gradebook = time.monotonic()

    def finish(record: dict[str, Any]) -> None:
        nonlocal last_gradebook
        record.update(times.get(record["student"], {"submitted_at": None, "time_source": None, "lms_late": False}))
        records[record["student"]] = record
        keep_record(record, out_dir)
        if time.monotonic() - last_gradebook >= GRADEBOOK_EVERY_S:  # progress for a reader of grades.csv
            write_gradebook(list(records.values()), question_ids, out_dir)
            last_gradebook = time.monotonic()
        # above the progress bar, not over it
        (echo if bar.disable else lambda line: bar.write(line, file=sys.stdout))(summary_line(record))

    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    bar = _progress_bar(len(todo), progress)
    was_incomplete = _begin_run(out_dir, assignment, shard, student)
    try:
        _grade_all(todo, bundle, limits, jobs, finish, bar)
    except KeyboardInterrupt:
        bar.close()
        write_gradebook(list(records.values()), question_ids, out_dir)
        graded = sum(1 for s in todo if s.student in records)  # a row of ``todo`` is only set when graded
        raise GradingInterrupted(_(
            "interrupted: {graded} of {total} submission(s) graded in this run and written; {gradebook} is incomplete "
            "({marker}); run the same command again to finish").format(
            graded=graded, total=len(todo), gradebook=out_dir / GRADES_NAME, marker=out_dir / INCOMPLETE_NAME)) from None
    finally:
        intake.close()
    bar.close()
    if not (student is not None and was_incomplete):
        (out_dir / INCOMPLETE_NAME).unlink(missing_ok=True)
    write_gradebook(list(records.values()), question_ids, out_dir)
    write_grading_sheets(list(records.values()), out_dir)
    shown = sorted(records) if student is not None else sorted(s.student for s in submissions)
    ordered = [records[s] for s in shown]
    echo("")
    echo(table(ordered, question_ids))
    return ordered


def _only(student: str, submissions: list[Submission], folder: Path) -> list[Submission]:
    """The submission of ``student`` (its id, or the name it was handed in under), or an error naming the ids."""
    chosen = [s for s in submissions if s.student == student or fold_case(s.student) == fold_case(student_id(student))]
    if not chosen:
        known = ", ".join(s.student for s in submissions[:10]) + (", ..." if len(submissions) > 10 else "")
        raise IntakeError(_("no submission of student {student} in {folder} (students: {known})").format(
            student=repr(printable(student, one_line=True)), folder=folder, known=known))
    return chosen


def _other_rows(on_disk: dict[str, dict[str, Any]], regraded: list[Submission]) -> dict[str, dict[str, Any]]:
    """Every row already in the gradebook but those regraded now (``--student``)."""
    names = {s.student for s in regraded}
    return {name: record for name, record in on_disk.items() if name not in names}


def _begin_run(out_dir: Path, assignment: Assignment, shard: Shard | None, student: str | None) -> bool:
    """Mark the gradebook incomplete until the run ends (killed or interrupted runs leave the mark); say
    which shard this folder holds, for ``mdl merge``.  Returns whether it was already incomplete."""
    marker = out_dir / INCOMPLETE_NAME
    was_incomplete = marker.exists()
    atomic_write_text(marker, "grading has not finished: grades.csv lacks the submissions still to grade; "
                              "run the same mdl grade command again to finish\n")
    if shard is not None:
        info = {"assignment": assignment.id, "shard": [shard.index, shard.count]}
        atomic_write_text(out_dir / SHARD_NAME, json.dumps(info) + "\n")
    elif student is None:
        (out_dir / SHARD_NAME).unlink(missing_ok=True)
    return was_incomplete


def _grade_all(todo: list[Submission], bundle: Bundle, limits: SandboxLimits, jobs: int,
               finish: Callable[[dict[str, Any]], None], bar: Any) -> None:
    """Grade ``todo`` serially or in a pool; every submission's record goes to ``finish``."""
    _import_before_fork()  # serially too: each question's child is forked from this process
    if jobs == 1:
        for sub in todo:
            try:
                finish(_grade_serially(sub, bundle, limits))
            except Exception as err:  # noqa: BLE001
                finish(_crash_record(sub, bundle, err))
            bar.update(1)
        return
    context = multiprocessing.get_context("fork")
    slots = context.Queue()
    for k in range(jobs):
        slots.put(k)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(slots,)) as pool:
        futures = {pool.submit(_grade_in_worker, sub, bundle, limits): sub for sub in todo}
        try:
            for future in as_completed(futures):
                try:
                    finish(future.result())
                except Exception as err:  # noqa: BLE001  (a dead worker still gives a row)
                    finish(_crash_record(futures[future], bundle, err))
                bar.update(1)
        except KeyboardInterrupt:
            _stop_pool(pool)
            raise


def _import_before_fork() -> None:
    """Load once, before the pool forks, what every worker would otherwise load for itself.

    otter's test runner (and IPython under it), sympy and the checks are imported by the first
    question each worker scores; matplotlib's font list for the sandboxes is built or found once.
    """
    import sympy  # noqa: F401
    # sympy imports these inside functions, on first use (simplify, Add, assumptions): in every
    # question's child, and in each of its symbolic helpers, they would be imported again (up to 0.2 s)
    import sympy.assumptions.wrapper  # noqa: F401
    import sympy.physics.units  # noqa: F401
    import sympy.sets.setexpr  # noqa: F401
    import sympy.tensor.tensor  # noqa: F401
    from otter.test_files import GradingResults  # noqa: F401
    from otter.test_files.exception_test import ExceptionTestFile  # noqa: F401

    import mdl_student.checks  # noqa: F401
    import mdl_student.safe_sympy  # noqa: F401
    from autograder.sandbox import font_cache

    font_cache()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C: drop the queued submissions and end the workers now (their kernels die with them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the cleanup
    try:
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in multiprocessing.active_children():
            worker.terminate()
        for worker in multiprocessing.active_children():
            worker.join(timeout=10)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _grade_serially(sub: Submission, bundle: Bundle, limits: SandboxLimits) -> dict[str, Any]:
    return make_record(grade_submission(sub, bundle, slot=0, limits=limits), bundle.fingerprint)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="nb", disable=not enabled or total == 0 or not sys.stderr.isatty(), file=sys.stderr)


def merge(shard_dirs: list[Path], assignment: Assignment, out_dir: Path, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Join the records of several shard folders into one gradebook.

    Refused (MergeError, nothing written) unless the folders are exactly shards 1..n of one split of
    this assignment, each graded to the end, with no student in two of them.
    """
    check_shards(shard_dirs, assignment)
    bundle = Bundle.load(assignment)
    manual_max = {q["grade_id"]: float(q["points"]) for q in bundle.manifest.manual_questions}
    check_instructor_files(out_dir, manual_max)
    question_ids = [q["grade_id"] for q in bundle.manifest.questions]
    records: dict[str, dict[str, Any]] = {}
    for shard_dir in shard_dirs:
        for student, record in load_records(shard_dir).items():
            if record.get("assignment") != assignment.id:
                raise MergeError(_("{shard_dir} holds a record of assignment {found} ({student}), not {wanted}").format(
                    shard_dir=shard_dir, found=repr(record.get("assignment")), student=student, wanted=repr(assignment.id)))
            if student in records:
                raise MergeError(_("student {student} appears in two shards ({shard_dir})").format(student=repr(student), shard_dir=shard_dir))
            records[student] = record
    for record in records.values():
        keep_record(record, out_dir)
    write_gradebook(list(records.values()), question_ids, out_dir)
    ordered = [records[s] for s in sorted(records)]
    echo(table(ordered, question_ids))
    return ordered


def check_shards(shard_dirs: list[Path], assignment: Assignment) -> None:
    """Refuse shard folders that do not make one whole gradebook of ``assignment``; one line says why."""
    seen: dict[int, Path] = {}
    counts: dict[int, Path] = {}
    for shard_dir in shard_dirs:
        if not shard_dir.is_dir():
            raise MergeError(_("shard folder {shard_dir} does not exist").format(shard_dir=shard_dir))
        try:
            info = json.loads((shard_dir / SHARD_NAME).read_text())
            index, count = (int(x) for x in info["shard"])
            graded = str(info["assignment"])
        except (OSError, ValueError, KeyError, TypeError):
            raise MergeError(_("{shard_dir} is not the output of `mdl grade --shard i/n` (no readable "
                               "{file})").format(shard_dir=shard_dir, file=SHARD_NAME)) from None
        if graded != assignment.id:
            raise MergeError(_("{shard_dir} holds shard {index}/{count} of assignment {found}, not {wanted}").format(
                shard_dir=shard_dir, index=index, count=count, found=repr(graded), wanted=repr(assignment.id)))
        if (shard_dir / INCOMPLETE_NAME).exists():
            raise MergeError(_("{shard_dir} (shard {index}/{count}) is incomplete: its grading was interrupted; "
                               "run its mdl grade command again").format(shard_dir=shard_dir, index=index, count=count))
        if index in seen:
            raise MergeError(_("shard {index}/{count} is given twice ({first} and {shard_dir})").format(
                index=index, count=count, first=seen[index], shard_dir=shard_dir))
        seen[index] = shard_dir
        counts.setdefault(count, shard_dir)
    if len(counts) > 1:
        (n1, d1), (n2, d2) = list(counts.items())[:2]
        raise MergeError(_("shards of different splits: {d1} is one of {n1}, {d2} one of {n2}").format(d1=d1, n1=n1, d2=d2, n2=n2))
    count = next(iter(counts), 0)
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    if missing:
        raise MergeError(_("shard(s) {shards} missing: merge needs all {count}").format(shards=", ".join(missing), count=count))

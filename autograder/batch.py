"""Grade a folder of submissions: a pool of sandboxed kernels, resumable, shardable.

* one worker process per core, each with its own sandbox slot (its own user
  id when the grader is root);
* a record per submission is written the moment it is graded, and the
  gradebook is rewritten atomically after each one: killing the grader loses
  at most the submissions in flight;
* a rerun skips submissions whose content and tests are unchanged
  (``--force`` regrades everything);
* ``--shard i/n`` grades every n-th submission, for CI matrices; ``mdl merge``
  joins the shards' records into one gradebook.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grading_config import LIMITS, Assignment, SandboxLimits

from autograder.grade import Bundle, Submission, discover_submissions, grade_submission
from autograder.report import load_records, make_record, save_record, summary_line, table, write_gradebook
from autograder.late import submission_times
from autograder.manual import write_grading_sheets
from autograder.sandbox import isolation

_SLOT: int = 0


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


def _init_worker(slots: Any) -> None:
    global _SLOT
    _SLOT = slots.get()


def _grade_in_worker(submission: Submission, bundle: Bundle, limits: SandboxLimits) -> dict[str, Any]:
    outcome = grade_submission(submission, bundle, slot=_SLOT, limits=limits)
    return make_record(outcome, bundle.fingerprint)


def _crash_record(submission: Submission, bundle: Bundle, error: BaseException) -> dict[str, Any]:
    """A row even when the worker itself died (it should not; but nothing is ever lost)."""
    from autograder.grade import Outcome

    max_scores = {q["grade_id"]: float(q["points"]) for q in bundle.manifest.questions}
    outcome = Outcome(submission.student, bundle.assignment.id, "grader-error", dict.fromkeys(max_scores, 0.0), max_scores)
    outcome.sha256 = submission.sha256()
    outcome.messages.append(f"the grader failed on this submission ({type(error).__name__}: {error}); it will be regraded on the next run")
    record = make_record(outcome, "")  # empty fingerprint: never counts as up to date
    return record


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
) -> list[dict[str, Any]]:
    """Grade every submission in ``folder``; returns the records of this run's gradebook.

    ``limits`` defaults to the assignment's own limits, else grading_config.LIMITS.
    """
    limits = limits or assignment.limits or LIMITS
    bundle = Bundle.load(assignment)
    iso = isolation()
    echo(f"sandbox: {iso.describe()}")
    submissions = discover_submissions(assignment, folder)
    if shard is not None:
        submissions = shard.select(submissions)
    previous = {} if force else load_records(out_dir)
    fingerprint = bundle.fingerprint
    records: dict[str, dict[str, Any]] = {}
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
        echo(f"{len(submissions) - len(todo)} submission(s) unchanged since the last run: kept (use --force to regrade)")
    question_ids = [q["grade_id"] for q in bundle.manifest.questions]
    times = submission_times(folder, submissions)

    def finish(record: dict[str, Any]) -> None:
        record["submitted_at"] = times.get(record["student"])
        records[record["student"]] = record
        save_record(record, out_dir)
        write_gradebook(list(records.values()), question_ids, out_dir)
        # above the progress bar, not over it
        (echo if bar.disable else lambda line: bar.write(line, file=sys.stdout))(summary_line(record))

    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    bar = _progress_bar(len(todo), progress)
    if jobs == 1:
        for sub in todo:
            try:
                finish(_grade_serially(sub, bundle, limits))
            except Exception as err:  # noqa: BLE001
                finish(_crash_record(sub, bundle, err))
            bar.update(1)
    else:
        context = multiprocessing.get_context("fork")
        slots = context.Queue()
        for k in range(jobs):
            slots.put(k)
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(slots,)) as pool:
            futures = {pool.submit(_grade_in_worker, sub, bundle, limits): sub for sub in todo}
            for future in as_completed(futures):
                try:
                    finish(future.result())
                except Exception as err:  # noqa: BLE001  (a dead worker still gives a row)
                    finish(_crash_record(futures[future], bundle, err))
                bar.update(1)
    bar.close()
    write_gradebook(list(records.values()), question_ids, out_dir)
    write_grading_sheets(list(records.values()), out_dir)
    ordered = [records[s.student] for s in sorted(submissions, key=lambda s: s.student)]
    echo("")
    echo(table(ordered, question_ids))
    return ordered


def _grade_serially(sub: Submission, bundle: Bundle, limits: SandboxLimits) -> dict[str, Any]:
    return make_record(grade_submission(sub, bundle, slot=0, limits=limits), bundle.fingerprint)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="nb", disable=not enabled or total == 0 or not sys.stderr.isatty(), file=sys.stderr)


def merge(shard_dirs: list[Path], assignment: Assignment, out_dir: Path, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Join the records of several shard folders into one gradebook."""
    bundle = Bundle.load(assignment)
    question_ids = [q["grade_id"] for q in bundle.manifest.questions]
    records: dict[str, dict[str, Any]] = {}
    for shard_dir in shard_dirs:
        for student, record in load_records(shard_dir).items():
            if record["assignment"] != assignment.id:
                continue
            if student in records:
                raise ValueError(f"student {student!r} appears in two shards ({shard_dir})")
            records[student] = record
            save_record(record, out_dir)
    write_gradebook(list(records.values()), question_ids, out_dir)
    ordered = [records[s] for s in sorted(records)]
    echo(table(ordered, question_ids))
    return ordered

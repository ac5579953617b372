"""One record per graded submission: its data, its ``record.json``, and loading and saving it.

A record is plain JSON-like data (it survives a process pool and a restart); every string in it
has passed through :func:`autograder.safe_text.printable`, so student text reaches the terminal,
files and feedback only from here. Saving a record writes its JSON file and nothing else: the
outputs (gradebook, results.json, feedback page, class report, exports) read records.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.out_folder import RECORD_NAME, atomic_write_text
from autograder.safe_text import printable_data, student_id

if TYPE_CHECKING:
    from autograder.grade import Outcome


def make_record(outcome: Outcome, fingerprint: str) -> dict[str, Any]:
    """Everything kept about one graded submission; plain data, so it survives a process pool.

    Every string in it is printable: student text reaches the terminal, files and feedback only from here.
    """
    return printable_data({
        "student": outcome.student,
        "assignment": outcome.assignment,
        "status": outcome.status,
        "score": outcome.score,
        "max_score": outcome.max_score,
        "scores": outcome.scores,
        "max_scores": outcome.max_scores,
        "messages": outcome.messages,
        "sha256": outcome.sha256,
        "fingerprint": fingerprint,
        "seconds": outcome.seconds,
        "sandbox": _sandbox(),
        "results": gradescope_results(outcome),
        # for the feedback page and the manual questions (autograder.feedback, autograder.manual)
        "cases": case_results(outcome.results),
        "cells": getattr(outcome, "cells", {}),
        "titles": getattr(outcome, "titles", {}),  # grade_id -> the notebook's heading (the release's, not the student's)
        "manual": getattr(outcome, "manual", {}),
        "submitted_at": None,  # set by the batch (autograder.late)
    })


# What every file a student can read says about a hidden test case (results.json, which Gradescope shows,
# and feedback.html); the case's own message, which may name hidden inputs ("network 5-2-7-3, slope 0.2"),
# stays in the instructor's record.json.
NEUTRAL_HIDDEN_FAILED = ("Hidden test: failed. It tries your answer on inputs you have not seen; "
                         "check that it holds in general, not only for the visible example.")
NEUTRAL_HIDDEN_PASSED = "Hidden test: passed."


def gradescope_results(outcome: Outcome) -> dict[str, Any]:
    """The submission's results in Gradescope's results.json schema, built by otter's own classes where tests ran.

    A hidden case says passed or failed and a neutral sentence, never its own message.
    """
    header = f"status: {outcome.status}"
    notes = "\n".join(f"- {m}" for m in outcome.messages)
    output = header + ("\n" + notes if notes else "")
    if outcome.results is not None:
        from otter.run.run_autograder.autograder_config import AutograderConfig

        outcome.results.set_output(output)
        with _hidden_messages_neutral(outcome.results):
            data = outcome.results.to_gradescope_dict(AutograderConfig({"show_hidden": True}))
        data["score"] = outcome.score
    else:
        data = {
            "score": 0.0,
            "output": output,
            "tests": [
                {"name": qid, "score": 0.0, "max_score": pts, "visibility": "visible", "output": f"not graded: {outcome.status}"}
                for qid, pts in outcome.max_scores.items()
            ],
        }
    data["extra_data"] = {"status": outcome.status, "student": outcome.student, "assignment": outcome.assignment,
                          "sandbox": _sandbox()}
    return data


def _neutral(passed: bool) -> str:
    """The neutral sentence in the run's language (MDL_LANG; the grader's catalog, autograder/locale)."""
    from mdl_student.i18n import current_language, translations

    catalog = translations(current_language(), "mdl", Path(__file__).resolve().parent / "locale")
    return catalog.gettext(NEUTRAL_HIDDEN_PASSED if passed else NEUTRAL_HIDDEN_FAILED)


@contextlib.contextmanager
def _hidden_messages_neutral(results: Any) -> Iterator[None]:
    """While inside: every hidden case of ``results`` carries the neutral sentence instead of its own message."""
    from otter.test_files.abstract_test import TestCaseResult

    kept = {name: test_file.test_case_results for name, test_file in results.results.items()}
    try:
        for test_file in results.results.values():
            test_file.test_case_results = [
                TestCaseResult(test_case=r.test_case, passed=r.passed,
                               message=_neutral(r.passed) if r.test_case.hidden else r.message)
                for r in test_file.test_case_results
            ]
        yield
    finally:
        for name, test_file in results.results.items():
            test_file.test_case_results = kept[name]


def case_results(results: Any) -> dict[str, list[dict[str, Any]]]:
    """Each question's test cases (visible and hidden) as plain data: name, hidden, passed, message."""
    if results is None:
        return {}
    return {
        name: [{"name": r.test_case.name, "hidden": bool(r.test_case.hidden), "passed": bool(r.passed), "message": r.message}
               for r in test_file.test_case_results]
        for name, test_file in results.results.items()
    }


def _sandbox() -> str:
    """Which isolation graded this submission ("bubblewrap" or "process"): kept with every result."""
    from autograder.sandbox import isolation

    return isolation().mechanism


def student_folder(out_dir: Path, student: str) -> Path:
    """DIR/<student>/: the folder of one student's files (the id itself: intake gives every submission a safe, unique one)."""
    return out_dir / student_id(student)


def save_record(record: dict[str, Any], out_dir: Path) -> None:
    """Write DIR/<student>/record.json (atomically), and nothing else."""
    atomic_write_text(student_folder(out_dir, record["student"]) / RECORD_NAME, json.dumps(record, indent=2) + "\n")


def load_records(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Records already written under out_dir (unreadable ones are ignored and regraded)."""
    records = {}
    if not out_dir.is_dir():
        return records
    for path in sorted(out_dir.glob(f"*/{RECORD_NAME}")):
        try:
            record = json.loads(path.read_text())
            records[record["student"]] = record
        except (OSError, ValueError, KeyError):
            continue
    return records

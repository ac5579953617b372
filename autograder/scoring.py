"""Scoring one submission: every question's visible test first, then every hidden test, each in a forked child.

A student's function can keep the arguments of every call the grader makes to it, and whatever the
kernel answers later (a function's return value, a tampered agent's reply to "what is y_example?")
can quote them. So the order is the guarantee: every message a student reads about their answers
(a visible test's failure, a note that an answer could not be read) is made in the first phase,
before any hidden test has called the student's code. The second phase runs the hidden cases; what
it says (each case's own message, a check stopped at its limit) stays in the instructor's record,
and a student reads only "passed" or "failed" and a neutral sentence about it
(:data:`autograder.records.NEUTRAL_HIDDEN_FAILED`).

Each phase of a question reads that question's answers from the kernel and runs its cases in a
child of the grader (:func:`autograder.sandbox.run_in_child`), with the question's time limit
shared between its two phases, so an answer that is ruinous to rebuild or check costs its
question, not the grader.
"""

from __future__ import annotations

import time
from typing import Any

from autograder.bridge import environment
from autograder.compile_tests import test_path
from autograder.i18n import N_, _
from autograder.sandbox import ChildStopped, KernelError, run_in_child
from mdl_student.i18n import current_language

# grade.py's NotebookRunner and Bundle are handed in by grade.py, which imports this module: named here
# only as what they are, so that no import (not even a type-checking one) points back up.
NotebookRunner = Any
Bundle = Any

MIN_HIDDEN_SECONDS = 0.5  # less than this left of a question's time after its visible test: its hidden cases fail unrun


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 40] + _(" ... ({count} characters cut)").format(count=f"{len(text) - limit + 40:,}")


def _concealing_test_file_class() -> type:
    """otter's ExceptionTestFile that runs a chosen part of its cases, and whose failing hidden cases show no test text.

    otter's own message quotes the failing line of the test file, which for a hidden test would
    show hidden inputs and expected values. A hidden case keeps only messages made to be seen: the
    checks' concealed messages and the student's own errors (for the instructor's record).
    """
    from otter.test_files.exception_test import ExceptionTestFile

    from autograder.bridge import StudentCodeError
    from mdl_student.checks import CheckFailure

    class ConcealingTestFile(ExceptionTestFile):
        def run_cases(self, global_environment: dict[str, Any], hidden: bool) -> list[tuple[int, bool, str]]:
            """Run the visible (``hidden=False``) or the hidden cases: (index, passed, message) each."""
            results = []
            for index, tc in enumerate(self.test_cases):
                if bool(tc.hidden) != hidden:
                    continue
                passed, message = True, "✅ Test case passed"
                try:
                    tc.body.call_func(global_environment)
                except Exception as e:  # noqa: BLE001  (any failure of a test case is a failed case)
                    passed = False
                    if not tc.hidden:
                        message = "❌ Test case failed\n" + self._generate_error_message(e)
                    elif isinstance(e, (CheckFailure, StudentCodeError)):
                        message = f"❌ Hidden test failed: {e}"
                    else:  # a plain assert's text may quote hidden inputs: a neutral sentence instead
                        message = "❌ Hidden test failed: " + (
                            _("your answer does not pass a hidden check") if isinstance(e, AssertionError) else
                            _("checking your answer raised {error}: is it of the type and shape asked for?").format(
                                error=type(e).__name__)
                        ) + _(" (hidden inputs and expected values are not shown)")
                results.append((index, passed, message))
            return results

    return ConcealingTestFile


def _run_phase_in_child(test_file: Any, params: list[str], runner: NotebookRunner, hidden: bool,
                        seconds: float) -> tuple[list[tuple[int, bool, str]], dict[str, str]]:
    """Read the question's answers from the kernel and run one phase of its cases, both in a forked child.

    Returns each case's (index, passed, message) and the notes on names that could not be read.
    """
    def work() -> dict[str, Any]:
        kernel = runner.kernel
        env: dict[str, Any] = dict.fromkeys(params)  # every name None: the tests fail and say so
        if kernel is None:
            problems = {"kernel": _("the kernel was not running, no answers could be read")}
        else:
            try:
                env, problems = environment(kernel, params)
            except KernelError as err:
                problems = {"kernel": _("the kernel stopped while answers were read ({error})").format(error=err)}
        return {"cases": test_file.run_cases(env, hidden), "problems": problems}

    try:
        done = run_in_child(work, seconds=seconds, memory_mb=runner.limits.checker_memory_mb,
                            memory_limit=runner.limits.memory_limit)
    finally:
        _keep_kernel_if_idle(runner)
    return [(int(i), bool(p), str(m)) for i, p, m in done["cases"]], done["problems"]


def _keep_kernel_if_idle(runner: NotebookRunner) -> None:
    """After a question's child: stop the kernel unless it is alive and between requests.

    A child stopped while it rebuilt or checked an answer left the kernel idle and usable; one
    stopped in mid-call left half a message on the pipe, and one that saw the kernel die or
    misbehave has stopped it already.
    """
    kernel = runner.kernel
    if kernel is None:
        return
    if kernel.process is None or kernel.process.poll() is not None or kernel.mid_request:
        kernel.close()
        runner.kernel = None


def _phase(test_file: Any, question: dict[str, Any], runner: NotebookRunner, hidden: bool,
           seconds: float) -> tuple[dict[int, tuple[bool, str]], dict[str, str], float]:
    """One phase of one question: its cases' verdicts by index, the notes on answers that could not be
    read (or on a check that was stopped), and the seconds its child took."""
    indexes = [i for i, tc in enumerate(test_file.test_cases) if bool(tc.hidden) == hidden]
    runner.live_kernel()  # restarted (with replay) if the last cell or question stopped it
    started = time.monotonic()
    try:
        if seconds < MIN_HIDDEN_SECONDS:
            raise ChildStopped(_("its time ({seconds} s) was used up by its visible test").format(
                seconds=f"{runner.limits.seconds_per_question:.0f}"))
        cases, problems = _run_phase_in_child(test_file, question["params"], runner, hidden, seconds)
        return {i: (passed, message) for i, passed, message in cases if i in indexes}, problems, time.monotonic() - started
    except ChildStopped as err:
        stopped = _("the grader stopped checking this answer: {reason}").format(reason=err)
        return ({i: (False, "❌ " + _("The grader stopped checking this answer: {reason}.").format(reason=err)) for i in indexes},
                {"checker": stopped}, time.monotonic() - started)


HIDDEN_STOPPED = N_("the grader stopped checking this answer's hidden tests: they ran past the question's "
                    "time or memory limit")


def score(runner: NotebookRunner, bundle: Bundle) -> tuple[Any, list[str]]:
    """Every question's visible cases, then every question's hidden cases; otter's GradingResults and the notes.

    The notes (answers that could not be read, a check stopped at its limit) come from the first
    phase only: nothing made after a hidden call reaches a message a student reads.
    """
    from otter.test_files import GradingResults
    from otter.test_files.abstract_test import TestCaseResult

    test_file_class = _concealing_test_file_class()
    questions = bundle.manifest.questions
    test_files = [test_file_class.from_file(str(test_path(bundle.tests_dir, bundle.manifest, q["grade_id"],
                                                                         current_language()))) for q in questions]
    verdicts: list[dict[int, tuple[bool, str]]] = []
    spent: list[float] = []
    stopped: list[bool] = []  # whether the visible phase was stopped (its note says so already)
    notes: list[str] = []
    limit = runner.limits.seconds_per_question
    for question, test_file in zip(questions, test_files):  # phase 1: what a student may read
        cases, problems, used = _phase(test_file, question, runner, False, limit)
        verdicts.append(cases)
        spent.append(used)
        stopped.append("checker" in problems)
        notes += [f"{question['grade_id']}: {p}" for p in problems.values()]
    for question, test_file, cases, used, said in zip(questions, test_files, verdicts, spent, stopped):  # phase 2
        hidden, problems, _seconds = _phase(test_file, question, runner, True, limit - used)
        cases.update(hidden)
        if "checker" in problems and not said:  # one fixed sentence: nothing the kernel said after a hidden call
            notes.append(f"{question['grade_id']}: {_(HIDDEN_STOPPED)}")
    chars = runner.limits.max_message_chars
    for test_file, cases in zip(test_files, verdicts):
        test_file.test_case_results = [
            TestCaseResult(test_case=tc, message=cut(cases[i][1], chars), passed=cases[i][0])
            for i, tc in enumerate(test_file.test_cases)
        ]
    return GradingResults(test_files), notes

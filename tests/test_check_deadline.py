"""The symbolic checks' deadline counts the child's CPU time, so a busy machine does not fail a correct answer.

A 5 s limit on wall time failed correct answers while many gradings shared two cores (A1's q4 lost a
hidden case in a class graded under load 11): the child got a fifth of a core. The child's own CPU
time is what an answer costs; the wall clock only caps a child that waits instead of computing.
"""

from __future__ import annotations

import os
import time

import pytest

from mdl_student.checks import deadline


def _spin_then_report(seconds: float, emit) -> None:  # type: ignore[no-untyped-def]
    """Compute for `seconds` of this process's CPU time, then send a final verdict."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    emit({"status": "equal", "final": True})


def _sleep_forever(emit) -> None:  # type: ignore[no-untyped-def]
    emit({"status": "equal", "final": False})
    time.sleep(3600)


def _spin_forever(emit) -> None:  # type: ignore[no-untyped-def]
    while True:
        pass


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux's /proc")


def test_a_child_that_gets_half_a_core_still_finishes_work_within_its_cpu_limit(monkeypatch):
    """0.6 s of CPU work under a 1 s limit, on a core shared with a busy sibling: it takes more wall
    time than the limit, and still ends "final" (with a wall-clock deadline it ended "timeout")."""
    hog = os.fork()
    if hog == 0:  # a busy neighbour on the same core
        os.sched_setaffinity(0, {0})
        while True:
            pass
    try:
        os.sched_setaffinity(0, {0})  # the child inherits this: it shares core 0 with the hog
        started = time.monotonic()
        message, ended = deadline._run_with_deadline(_spin_then_report, (0.6,), 1.0)
        wall = time.monotonic() - started
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        os.kill(hog, 9)
        os.waitpid(hog, 0)
    assert ended == "final" and message == {"status": "equal", "final": True}
    assert wall > 1.0, f"the child had a whole core ({wall:.2f} s): the test did not share it"


def test_a_child_that_computes_forever_is_stopped_at_its_cpu_limit():
    started = time.monotonic()
    message, ended = deadline._run_with_deadline(_spin_forever, (), 0.5)
    assert (message, ended) == (None, "timeout")
    assert time.monotonic() - started < 0.5 * deadline.WALL_FACTOR + 1


def test_a_child_that_waits_instead_of_computing_is_stopped_by_the_wall_clock():
    started = time.monotonic()
    message, ended = deadline._run_with_deadline(_sleep_forever, (), 0.3)
    wall = time.monotonic() - started
    assert ended == "timeout" and message == {"status": "equal", "final": False}
    assert 0.3 * deadline.WALL_FACTOR - 0.05 <= wall < 0.3 * deadline.WALL_FACTOR + 1

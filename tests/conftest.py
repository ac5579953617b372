"""Fixtures shared by the whole suite.

Grading an example class is the slowest thing the suite does, so each assignment's example folder
(`examples/submissions/<a>/`) is graded at most once per pytest session, by whichever test asks
first, and every test that needs it (expected scores, fairness, gradebook files) reads the same
output.
"""

from __future__ import annotations

import os

# Tests that run torch in this process (A2's and A7's statements) come before the ones that fork a
# grading pool from it (the example classes); a child forked after OpenMP has started its threads
# hangs at its first parallel region. One thread in this process means no OpenMP pool to inherit.
# (Set before anything imports torch; the graded kernels set their own, in the sandbox.)
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from grading_config import ASSIGNMENTS, LIMITS, PATHS, assignment

# Example classes include a student who loops forever: a shorter cell time keeps that to seconds.
EXAMPLE_SECONDS_PER_CELL = 10.0


@dataclass
class GradedClass:
    """One example folder graded once: where its output went, and each student's record."""

    assignment_id: str
    out: Path
    records: dict[str, dict[str, Any]]

    @property
    def expected(self) -> dict[str, Any]:
        return json.loads((PATHS.examples / self.assignment_id / "expected.json").read_text())


def example_assignments() -> list[str]:
    """Every registered assignment: each must ship example submissions with expected scores.

    Taken from the registry, not from the files found, so that a missing `expected.json` fails
    (tests/test_registered_assignments.py names it) instead of silently dropping the assignment.
    """
    return [a.id for a in ASSIGNMENTS]


def example_limits(assignment_id: str):
    """The assignment's own limits, with the cell time capped for the looping students."""
    limits = assignment(assignment_id).limits or LIMITS
    if assignment(assignment_id).capstone:
        return limits
    return dataclasses.replace(limits, seconds_per_cell=min(limits.seconds_per_cell, EXAMPLE_SECONDS_PER_CELL))


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> Callable[[str], GradedClass]:
    """`graded_class("a2")` grades examples/submissions/a2/ once per session and returns it."""
    from autograder.batch import grade_batch

    cache: dict[str, GradedClass] = {}

    def grade(assignment_id: str) -> GradedClass:
        if assignment_id not in cache:
            out = tmp_path_factory.mktemp(f"graded-{assignment_id}")
            records = grade_batch(
                assignment(assignment_id), PATHS.examples / assignment_id, out,
                jobs=2, limits=example_limits(assignment_id), echo=lambda s: None, progress=False,
            )  # fmt: skip
            cache[assignment_id] = GradedClass(assignment_id, out, {r["student"]: r for r in records})
        return cache[assignment_id]

    return grade


@pytest.fixture
def english_only_toy(monkeypatch, tmp_path) -> str:
    """The id of a registered assignment without a Spanish edition (every course assignment has one now):
    a toy made from A1's English edition, the only assignment `mdl build` knows while the test runs."""
    import nbformat

    import autograder.build
    from autograder.notebook_meta import edition

    a1 = assignment("a1")
    toy = dataclasses.replace(a1, id="toy", notebook="toy.ipynb")
    (tmp_path / "source" / "toy").mkdir(parents=True)
    nbformat.write(edition(nbformat.read(PATHS.source / "a1" / a1.notebook, as_version=4), "en"),
                   tmp_path / "source" / "toy" / "toy.ipynb")
    monkeypatch.setattr(autograder.build, "ASSIGNMENTS", (toy,))
    monkeypatch.setattr(autograder.build, "PATHS", dataclasses.replace(PATHS, source=tmp_path / "source"))
    return toy.id

"""Every assignment's example class earns, student by student and question by question, what its
`expected.json` says (each score reasoned per test half in the folder's README, not copied from the
grader).  The capstone's class trains models and has its own slow test (test_capstone_examples.py).
"""

from __future__ import annotations

import json

import pytest

from grading_config import PATHS, assignment
from conftest import example_assignments

GRADED_HERE = [a for a in example_assignments() if not assignment(a).capstone]


@pytest.mark.parametrize("assignment_id", GRADED_HERE)
def test_every_example_submission_gets_its_expected_status_and_scores(graded_class, assignment_id):
    graded = graded_class(assignment_id)
    expected = graded.expected
    assert set(graded.records) == set(expected), "every submission found gets exactly one row"
    for student, want in expected.items():
        got = graded.records[student]
        assert got["status"] == want["status"], (student, got["messages"])
        assert got["scores"] == pytest.approx(want["scores"]), (student, got["messages"])
        if "total" in want:
            assert got["score"] == pytest.approx(want["total"]), student


@pytest.mark.parametrize("assignment_id", GRADED_HERE)
def test_every_example_class_has_the_students_the_standard_asks_for(assignment_id):
    """Two correct students in other forms, a near-zero effort and the blank release, at least."""
    names = set(json.loads((PATHS.examples / assignment_id / "expected.json").read_text()))
    assert len([n for n in names if n.startswith("correct_alt_")]) >= 2, sorted(names)
    assert {"near_zero_effort", "blank"} <= names, sorted(names)

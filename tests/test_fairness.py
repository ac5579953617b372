"""Fair verdicts, for every assignment (issue 9; README, "Fairness: the standard every question meets").

Each assignment's example folder holds students that test the standard itself:

- `correct_alt_*`: every answer right, written in forms other than the solution's (float32, lists
  where arrays are asked, other sympy forms, symbols declared again with or without assumptions,
  sympy or numpy integers where ints are asked). They earn full marks on every question;
- `near_zero_effort`: zeros, constants, the right shapes with wrong values, junk shapes, `None`.
  It earns 0 on every question, the visible half included (a question's score is 0 only when its
  visible half fails too).

Each folder is graded once per session (`graded_class`, tests/conftest.py) and shared with
test_examples.py, which also checks that every assignment has these students.  The capstone's
class trains models: its case carries the `slow` marker.
"""

from __future__ import annotations

import pytest

from conftest import example_assignments
from grading_config import PATHS, assignment


def fairness_students(assignment_id: str) -> list[str]:
    """The example students of the fairness standard that this assignment ships."""
    folder = PATHS.examples / assignment_id
    names = sorted(p.stem for p in folder.glob("correct_alt_*.ipynb"))
    return names + (["near_zero_effort"] if (folder / "near_zero_effort.ipynb").is_file() else [])


CASES = [
    pytest.param(a, student, id=f"{a}-{student}", marks=[pytest.mark.slow] if assignment(a).capstone else [])
    for a in example_assignments()
    for student in fairness_students(a)
]


def _per_question(record: dict) -> dict[str, tuple[float, float]]:
    """grade_id -> (points earned, points possible) for the autograded questions."""
    return {q: (record["scores"][q], record["max_scores"][q]) for q in record["max_scores"]}


@pytest.mark.parametrize("assignment_id, student", CASES)
def test_fairness_example_earns_what_the_standard_says(graded_class, assignment_id, student):
    record = graded_class(assignment_id).records[student]
    per_question = _per_question(record)
    assert per_question, f"{assignment_id}: no autograded question was scored"
    assert record["status"] == "ok", (student, record["messages"])
    if student == "near_zero_effort":
        earned = {q: got for q, (got, _) in per_question.items() if got != 0}
        assert not earned, f"{assignment_id}: near-zero effort earned points on {earned}"
    else:
        short = {q: f"{got:g}/{full:g}" for q, (got, full) in per_question.items() if got != full}
        assert not short, f"{assignment_id}: {student}, a correct answer in other forms, lost points on {short}"


"""The capstone graded end to end: two correct students in other forms, near-zero effort, six classic
DPO bugs (one with two theory slips) and an attempt to import the reference, each earning what it should.

Each submission's functions run in the sandbox; the reduced DPO job trains there with the student's
loss; the checkpoints come back as safetensors and are evaluated in the grader. Slow (several
minutes on 2 cores): CI runs it once, in `make test` (the class is graded once per session and shared
with tests/test_fairness.py).
"""

import json

import pytest

from grading_config import PATHS

pytestmark = pytest.mark.slow
EXAMPLES = PATHS.examples / "capstone"


@pytest.fixture(scope="module")
def graded(graded_class):
    return graded_class("capstone").records  # graded once per session (tests/conftest.py)


def test_every_capstone_example_scores_what_its_bug_deserves(graded):
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    assert set(graded) == set(expected)
    for student, want in expected.items():
        got = graded[student]
        assert got["status"] == want["status"], (student, got["messages"])
        assert got["scores"] == pytest.approx(want["scores"]), (student, got["results"])


def _output(graded, student, question):
    """What the student's feedback says about one question (visible and hidden halves)."""
    tests = graded[student]["results"]["tests"]
    return next(t["output"] for t in tests if t["name"] == question)


def _instructor_view(graded, student, question):
    """What the instructor's record keeps about one question: every case's own message (hidden ones
    included, which results.json and the feedback page give only as passed or failed)."""
    return "\n".join(case["message"] or "" for case in graded[student]["cases"][question])


def test_broken_losses_fail_with_a_message_that_names_the_problem(graded):
    assert "needs >=" in _instructor_view(graded, "sign_flipped", "q5_training_outcome")
    assert "needs >=" not in _output(graded, "sign_flipped", "q5_training_outcome")  # a hidden case: neutral
    assert "dpo_loss" in _output(graded, "beta_policy_only", "q2_dpo_loss")
    assert "All test cases passed" in _output(graded, "correct_alt_1", "q5_training_outcome")


def test_theory_slips_fail_the_visible_half_with_a_message(graded):
    # the classic weight sigma(r_w - r_l) equals the right one only at a tie: the visible half checks
    # away from ties and names the point
    assert "dpo_weight at r_w = 1, r_l = -1" in _output(graded, "sign_flipped", "q4c_dpo_weight")
    # log 2 as a decimal: the right value, but the question asks for it exactly
    assert "holds a decimal number" in _output(graded, "sign_flipped", "q4d_loss_at_init")


def test_near_zero_effort_is_told_what_differs(graded):
    # a constant loss right for one tied pair fails the batch of three, and says it is the batch mean
    assert "the batch mean" in _output(graded, "near_zero_effort", "q3_ipo_loss")
    assert "loss_at_init is None" in _output(graded, "near_zero_effort", "q4d_loss_at_init")

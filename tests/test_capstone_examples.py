"""The capstone graded end to end: a correct student and six classic DPO bugs, each losing what it should.

Each submission's functions run in the sandbox; the reduced DPO job trains there with the student's
loss; the checkpoints come back as safetensors and are evaluated in the grader. Slow (about two
minutes on 2 cores): CI runs it once, in `make test`.
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


def test_broken_losses_fail_with_a_message_that_names_the_problem(graded):
    def hidden_output(student, question):
        tests = graded[student]["results"]["tests"]
        return next(t["output"] for t in tests if t["name"] == question)

    assert "needs >=" in hidden_output("sign_flipped", "q5_training_outcome")
    assert "dpo_loss" in hidden_output("beta_policy_only", "q2_dpo_loss")
    assert "All test cases passed" in hidden_output("correct", "q5_training_outcome")

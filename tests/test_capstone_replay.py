"""The verified replay of the capstone's training (``rlhf_capstone/replay.py``): it changes no grade.

A student whose job's replies agree with the reference's at every step gets the reference's outcome
without training; these tests check that this is the outcome their training gets, and that every other
student is trained for real and graded as the real training grades them: one that is right for some
steps and wrong after, one that is off by more than the tolerance, one whose gradient holds NaN part
way, one that runs out of time.  The cached trajectory is rebuilt when its fingerprint changes.

A small profile (30 DPO steps across two epochs, a short SFT) keeps them to seconds; the cache lives in
a temporary folder, not under build/.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

import rlhf_capstone  # noqa: F401  (sets the offline environment before transformers loads)
from mdl_student.capstone.config import CPU
from rlhf_capstone import grading, job_inputs, losses, replay

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "examples" / "capstone_students"
SMALL = dataclasses.replace(CPU, name="replay-test", sft_steps=60, n_train_pairs=200, dpo_steps=30)


def student(name: str):
    spec = importlib.util.spec_from_file_location(f"replay_test_{name}", STUDENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def cache_in(tmp_path_factory, monkeypatch) -> Path:
    """One cache folder for the module's tests (the trajectory is built once), never build/."""
    folder = tmp_path_factory.getbasetemp() / "capstone-replay-cache"
    monkeypatch.setattr(job_inputs, "cache_folder", lambda: folder)
    return folder


def outcome(fns, replay_first: bool = True) -> grading.TrainingOutcome:
    return grading.training_outcome(fns.sequence_logprobs, fns.dpo_loss, profile_name=SMALL, replay_first=replay_first)


def verdicts(result: grading.TrainingOutcome) -> list[tuple[str, bool, str]]:
    return [(v.name, v.passed, v.detail) for v in result.verdicts]


class RightThenWrong:
    """The reference's functions for the first ``right_steps`` training steps, then a broken ``dpo_loss``.

    A function that counts its calls (two per step: one per graded beta), so its gradients agree with
    the reference's at the first steps and not after; ``broken`` is what it returns from then on.
    """

    def __init__(self, right_steps: int, broken: str = "sign") -> None:
        self.calls, self.right_calls, self.broken = 0, 2 * right_steps, broken
        self.sequence_logprobs = losses.sequence_logprobs

    def dpo_loss(self, pc, pr, rc, rr, beta):
        self.calls += 1
        loss, chosen, rejected = losses.dpo_loss(pc, pr, rc, rr, beta)
        if self.calls <= self.right_calls:
            return loss, chosen, rejected
        if self.broken == "nan":
            return loss * torch.tensor(float("nan")), chosen, rejected
        return -loss, chosen, rejected


class Scaled:
    """The reference's loss times a constant: its gradient is off by ``factor - 1`` of every entry."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.sequence_logprobs = losses.sequence_logprobs

    def dpo_loss(self, pc, pr, rc, rr, beta):
        loss, chosen, rejected = losses.dpo_loss(pc, pr, rc, rr, beta)
        return loss * self.factor, chosen, rejected


@pytest.mark.slow
@pytest.mark.parametrize("name", ["correct", "fairness/correct_alt_2"])
def test_a_correct_student_takes_the_replay_and_gets_what_their_training_gets(name):
    fns = student(name)
    replayed, trained = outcome(fns), outcome(fns, replay_first=False)
    assert (replayed.trained, replayed.replayed_steps) == (False, SMALL.dpo_steps)
    assert trained.trained
    assert verdicts(replayed) == verdicts(trained)
    for beta, metrics in trained.metrics.items():
        for key, value in metrics.items():
            assert replayed.metrics[beta][key] == pytest.approx(value, abs=1e-4), (beta, key)


@pytest.mark.slow
@pytest.mark.parametrize("right_steps", [0, 7])
def test_a_student_right_for_some_steps_then_wrong_is_trained_and_graded_as_training_grades_them(right_steps):
    replayed, trained = outcome(RightThenWrong(right_steps)), outcome(RightThenWrong(right_steps), replay_first=False)
    assert (replayed.trained, replayed.replayed_steps) == (True, right_steps)
    # The same calls with the same inputs in the same order: the very training, bit for bit.
    assert verdicts(replayed) == verdicts(trained)
    assert replayed.metrics == trained.metrics
    assert replayed.metrics != outcome(student("correct")).metrics


@pytest.mark.slow
@pytest.mark.parametrize("factor, replays", [(1 + 10 * replay.GRADIENT_TOLERANCE, False),
                                             (1 + replay.GRADIENT_TOLERANCE / 10, True)])
def test_a_student_off_by_more_than_the_tolerance_is_trained(factor, replays):
    replayed, trained = outcome(Scaled(factor)), outcome(Scaled(factor), replay_first=False)
    assert replayed.trained is not replays
    assert replayed.replayed_steps == (SMALL.dpo_steps if replays else 0)
    assert verdicts(replayed) == verdicts(trained)
    if not replays:
        assert replayed.metrics == trained.metrics


@pytest.mark.slow
@pytest.mark.parametrize("right_steps", [0, 4])
def test_a_gradient_that_turns_nan_stops_the_job_with_the_same_message(right_steps):
    replayed = outcome(RightThenWrong(right_steps, broken="nan"))
    trained = outcome(RightThenWrong(right_steps, broken="nan"), replay_first=False)
    assert replayed.metrics == trained.metrics == {}
    assert verdicts(replayed) == verdicts(trained)
    assert f"at training step {right_steps + 1} the gradient of your loss holds NaN" in replayed.verdicts[0].detail


def test_a_job_past_its_time_stops_with_the_same_message(monkeypatch):
    monkeypatch.setattr(grading, "JOB_SECONDS", 0.0)
    for replay_first in (True, False):
        result = outcome(losses, replay_first=replay_first)
        assert result.metrics == {} and not result.verdicts[0].passed
        assert "took longer than 0 s (stopped at step 1 of 30)" in result.verdicts[0].detail


def test_the_trajectory_is_rebuilt_when_the_fingerprint_changes(monkeypatch, tmp_path):
    monkeypatch.setattr(job_inputs, "cache_folder", lambda: tmp_path)
    built = []
    real_build = replay.build_trajectory
    monkeypatch.setattr(replay, "build_trajectory", lambda *args: built.append(1) or real_build(*args))
    inputs = job_inputs.job_inputs(SMALL, "sentiment", 0)

    def files() -> list[str]:
        return sorted(p.name for p in tmp_path.glob("replay-*.safetensors"))

    first = replay.trajectory(SMALL, "sentiment", 0, [0.1, 1.0], inputs)
    again = replay.trajectory(SMALL, "sentiment", 0, [0.1, 1.0], inputs)
    assert len(built) == 1 and len(files()) == 1
    assert again.metrics == first.metrics and torch.equal(again.gradients[-1][1], first.gradients[-1][1])
    before = files()
    monkeypatch.setattr(job_inputs, "fingerprint", lambda *args: "changed")
    replay.trajectory(SMALL, "sentiment", 0, [0.1, 1.0], inputs)
    assert len(built) == 2 and len(files()) == 1 and files() != before  # the stale file is gone
    replay.trajectory(SMALL, "sentiment", 0, [0.1, 0.5], inputs)  # other betas: a file of their own
    assert len(built) == 3 and len(files()) == 2


def test_the_trajectory_holds_what_the_job_receives_at_each_step():
    """Its first step's logits are the start model's (the real loop's first logits); each gradient the reference's."""
    from mdl_student.capstone.jobs import dpo_gradients
    from mdl_student.capstone.model import model_from_state
    from mdl_student.capstone.train import configure_torch

    inputs = job_inputs.job_inputs(SMALL, "sentiment", 0)
    trajectory = replay.trajectory(SMALL, "sentiment", 0, [0.1, 1.0], inputs)
    assert len(trajectory.policy_logits) == SMALL.dpo_steps
    configure_torch(SMALL, 0)
    model = model_from_state(SMALL, inputs.start).train()
    first = model(input_ids=inputs.batches[0].input_ids, attention_mask=inputs.batches[0].attention_mask,
                  use_cache=False).logits.detach()
    assert torch.equal(trajectory.policy_logits[0][0], first)
    step = 12
    labels, mask = inputs.batches[step].labels_and_mask()
    ours = dpo_gradients(losses.sequence_logprobs, losses.dpo_loss, trajectory.policy_logits[step],
                         inputs.reference_logits[step], labels, mask, [0.1, 1.0])
    for k, output in enumerate(ours):
        assert torch.equal(output["gradient"], trajectory.gradients[step][k])
        assert torch.equal(output["loss"], trajectory.losses[step][k])

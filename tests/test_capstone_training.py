"""The capstone's training job: it learns, it repeats itself, it cannot be fooled.

The slow tests train the `cpu` profile (a few seconds per DPO run on two cores);
they share one process-wide SFT cache, so SFT runs once per (task, seed).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rlhf_capstone  # noqa: F401  (sets the offline environment before transformers loads)
from mdl_student.capstone import train
from rlhf_capstone import checks, losses
from mdl_student.capstone.config import CPU
from mdl_student.capstone.data import make_task_data, scripted_reward
from mdl_student.capstone.model import build_model, model_from_state
from mdl_student.capstone.tokenizer import build_tokenizer, decode_completion

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "examples" / "capstone_students"
TASK = "sentiment"


def thresholds():
    from grading_config import CAPSTONE

    return CAPSTONE


# -- fast: data, tokenizer, checkpoints -------------------------------------------------------


def test_task_data_is_deterministic_per_seed_and_splits_prompts():
    for task in ("arithmetic", "sentiment"):
        a, b, c = (make_task_data(task, CPU, seed) for seed in (0, 0, 1))
        assert a == b and a != c
        train_prompts = {p.prompt for p in a.train_pairs}
        assert train_prompts.isdisjoint(a.heldout_prompts)
        assert {p.prompt for p in a.heldout_pairs} <= set(a.heldout_prompts)
        assert all(scripted_reward(task, p.prompt, p.chosen) > scripted_reward(task, p.prompt, p.rejected) for p in a.train_pairs)


def test_prompt_tokens_are_a_prefix_of_prompt_plus_completion():
    tokenizer = build_tokenizer()
    for task in ("arithmetic", "sentiment"):
        for pair in make_task_data(task, CPU, 0).train_pairs[:50]:
            prompt = tokenizer(text=pair.prompt)["input_ids"]
            full = tokenizer(text=pair.prompt + pair.chosen + tokenizer.eos_token)["input_ids"]
            assert full[: len(prompt)] == prompt and full[-1] == tokenizer.eos_token_id
            assert decode_completion(full[len(prompt) :], task) == pair.chosen
            assert tokenizer.unk_token_id not in full


def test_checkpoint_round_trip(tmp_path):
    state = build_model(CPU, seed=3).state_dict()
    path = train.save_checkpoint(state, tmp_path / "policy.safetensors", {"task": TASK, "seed": 3})
    loaded, meta = train.load_checkpoint(path)
    assert meta == {"task": TASK, "seed": 3}
    rebuilt = model_from_state(CPU, loaded).state_dict()
    assert all(torch.equal(rebuilt[k], state[k]) for k in state)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda s: s.pop("transformer.h.0.attn.c_attn.weight"), "missing"),
        (lambda s: s.update(extra=torch.zeros(1)), "unexpected"),
        (lambda s: s.update({"transformer.wpe.weight": torch.zeros(3, 3)}), "shape"),
        (lambda s: s["transformer.ln_f.bias"].fill_(float("nan")), "NaN"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_with_a_message(tamper, message):
    state = {k: v.clone() for k, v in build_model(CPU).state_dict().items()}
    tamper(state)
    with pytest.raises(ValueError, match=message):
        model_from_state(CPU, state)


def test_the_reference_model_cannot_be_trained_through_the_student_functions():
    """A student function that tries to put the reference back in the graph changes nothing."""
    tiny = dataclasses.replace(CPU, name="tiny", sft_steps=3, dpo_steps=3, n_train_pairs=48)

    def sequence_logprobs(logits, labels, mask):
        with torch.enable_grad():
            if not logits.requires_grad:
                logits.requires_grad_()  # the reference's logits: a leaf with no path to its weights
            return losses.sequence_logprobs(logits, labels, mask)

    def dpo_loss(pc, pr, rc, rr, beta):
        loss, chosen, rejected = losses.dpo_loss(pc, pr, rc, rr, beta)
        return loss + 0.0 * (rc.sum() + rr.sum()), chosen, rejected  # gradient "through" the reference

    result = train.run_dpo(tiny, TASK, (sequence_logprobs, dpo_loss), seed=0, beta=0.1)
    start = train.sft_state(tiny, TASK, 0)
    assert result.reference_unchanged
    assert any(not torch.equal(result.policy_state[k], start[k]) for k in start)  # the policy did train


# -- slow: the cpu profile end to end ----------------------------------------------------------


def train_and_evaluate(loss_fns, beta, seed=0):
    from mdl_student.capstone.evaluate import evaluate_policy

    state = train.train_policy(CPU, TASK, loss_fns, seed, beta)
    return evaluate_policy(state, CPU, TASK, seed, beta).to_dict()


@pytest.mark.slow
def test_reference_loss_passes_the_thresholds_and_evaluation_runs_in_its_own_process(tmp_path):
    betas = thresholds().graded_betas
    by_beta = {b: train_and_evaluate(train.reference_losses(), b) for b in betas if b != CPU.beta}
    # The graded run goes through a checkpoint and a fresh process, as in grading.
    from mdl_student.capstone.evaluate import state_digest

    state = train.train_policy(CPU, TASK, "reference", 0, CPU.beta)
    meta = train.checkpoint_meta(CPU, TASK, 0, CPU.beta, "reference")
    meta["reference_sha256"] = state_digest(train.sft_state(CPU, TASK, 0))
    path = train.save_checkpoint(state, tmp_path / "policy.safetensors", meta)
    out = subprocess.run(
        [sys.executable, "-m", "rlhf_capstone", "evaluate", str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    (record,) = json.loads(out.stdout)
    assert record["reference_matches"] is True  # the grader rebuilt the very reference training used
    by_beta[CPU.beta] = record["metrics"]
    verdicts = checks.outcome_checks(TASK, by_beta, CPU.beta, thresholds())
    assert [v for v in verdicts if not v.passed] == [], verdicts


@pytest.mark.slow
def test_same_seed_gives_the_same_metrics():
    first = train_and_evaluate(train.reference_losses(), CPU.beta, seed=1)
    train._SFT_CACHE.clear()  # rebuild the reference too
    second = train_and_evaluate(train.reference_losses(), CPU.beta, seed=1)
    for key in first:
        assert abs(first[key] - second[key]) <= 1e-6, (key, first[key], second[key])


@pytest.mark.slow
def test_a_broken_loss_misses_the_thresholds():
    broken = train.load_loss_functions(SUBMISSIONS / "sign_flipped.py")
    metrics = train_and_evaluate(broken, CPU.beta)
    failed = {v.name for v in checks.outcome_checks(TASK, {CPU.beta: metrics}, CPU.beta, thresholds()) if not v.passed}
    assert {"reward_accuracy", "reward_margin"} <= failed

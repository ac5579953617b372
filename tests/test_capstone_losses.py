"""The capstone's reference losses: against TRL's built-in DPO/IPO loss, against
independent computations, and against the broken example submissions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import rlhf_capstone  # noqa: F401  (sets the offline environment before transformers loads)
from rlhf_capstone import checks, losses
from mdl_student.capstone.train import load_loss_functions

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "examples" / "capstone_students"
TOL = 1e-6


# -- sequence_logprobs ----------------------------------------------------------------


def naive_sequence_logprobs(logits, labels, mask):
    """A loop over sequences and positions, with math.log and math.exp only."""
    out = []
    for b in range(logits.shape[0]):
        total = 0.0
        for t in range(1, logits.shape[1]):
            if not mask[b, t] or labels[b, t] == -100:
                continue
            row = [float(x) for x in logits[b, t - 1]]
            top = max(row)
            log_norm = top + math.log(sum(math.exp(x - top) for x in row))
            total += row[int(labels[b, t])] - log_norm
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("case", ["prompt_mask", "ignore_index", "both"])
def test_sequence_logprobs_matches_a_naive_loop(case):
    logits, labels, mask = checks.sequence_batches(seed=3)[case]
    got = losses.sequence_logprobs(logits, labels, mask)
    assert got.shape == (logits.shape[0],)
    torch.testing.assert_close(got, naive_sequence_logprobs(logits, labels, mask), rtol=0, atol=1e-10)


def test_sequence_logprobs_ignores_position_zero_and_accepts_bool_masks():
    logits = torch.randn(2, 5, 7, dtype=torch.float64)
    labels = torch.randint(7, (2, 5))
    ones = torch.ones(2, 5, dtype=torch.long)
    first_only = torch.zeros(2, 5, dtype=torch.bool)
    first_only[:, 0] = True  # nothing predicts position 0: it never counts
    assert torch.equal(losses.sequence_logprobs(logits, labels, first_only), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(
        losses.sequence_logprobs(logits, labels, ones.bool()), losses.sequence_logprobs(logits, labels, ones)
    )


def test_sequence_logprobs_is_finite_for_extreme_logits():
    logits = torch.tensor([[[1000.0, 0.0, -1000.0]] * 3], dtype=torch.float64)
    labels = torch.tensor([[0, 2, 1]])
    got = losses.sequence_logprobs(logits, labels, torch.ones_like(labels))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.tensor([-2000.0 - 1000.0], dtype=torch.float64))


# -- dpo_loss and ipo_loss --------------------------------------------------------------


def test_dpo_loss_is_log_2_when_policy_equals_reference():
    policy_c, policy_r, _, _ = checks.preference_batch(seed=5)
    for beta in (0.01, 0.1, 1.0, 10.0):
        loss, chosen, rejected = losses.dpo_loss(policy_c, policy_r, policy_c.clone(), policy_r.clone(), beta)
        assert abs(loss.item() - math.log(2)) < 1e-12  # log 2 = 0.693147..., from math, not from our code
        assert torch.equal(chosen, torch.zeros_like(chosen)) and torch.equal(rejected, torch.zeros_like(rejected))


def test_dpo_loss_matches_its_formula_written_out():
    pc, pr, rc, rr = checks.preference_batch(seed=6)
    beta = 0.3
    loss, chosen, rejected = losses.dpo_loss(pc, pr, rc, rr, beta)
    h = [(a - c) - (b - d) for a, b, c, d in zip(pc.tolist(), pr.tolist(), rc.tolist(), rr.tolist())]
    expected = sum(math.log1p(math.exp(-beta * x)) for x in h) / len(h)
    assert abs(loss.item() - expected) < 1e-12
    torch.testing.assert_close(chosen, beta * (pc - rc))
    torch.testing.assert_close(rejected, beta * (pr - rr))
    assert not chosen.requires_grad


def test_ipo_loss_optimum_is_at_h_equal_one_over_two_beta():
    beta = 0.25
    rc, rr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    h = 1 / (2 * beta)
    pc = rc + h / 2
    pr = rr - h / 2
    loss, _, _ = losses.ipo_loss(pc, pr, rc, rr, beta)
    assert abs(loss.item()) < 1e-12


# -- against TRL's own DPOTrainer loss ---------------------------------------------------


@pytest.fixture(scope="module")
def trl_setup(tmp_path_factory):
    """A DPOTrainer on two different random tiny models, and one collated batch."""
    from mdl_student.capstone.config import CPU
    from mdl_student.capstone.data import make_task_data
    from mdl_student.capstone.model import build_model
    from mdl_student.capstone.tokenizer import build_tokenizer
    from mdl_student.capstone.train import dpo_config, preference_dataset
    from trl import DPOTrainer

    policy = build_model(CPU, seed=1).double()
    reference = build_model(CPU, seed=2).double()  # another init, so that policy != reference
    pairs = make_task_data("sentiment", CPU, seed=0).train_pairs[:8]
    trainers = {}
    for loss_type in ("sigmoid", "ipo"):
        args = dpo_config(CPU, seed=0, beta=0.2, output_dir=str(tmp_path_factory.mktemp(loss_type)))
        args.loss_type = [loss_type]
        trainers[loss_type] = DPOTrainer(
            model=policy, ref_model=reference, args=args,
            train_dataset=preference_dataset(pairs), processing_class=build_tokenizer(),
        )
    trainer = trainers["sigmoid"]
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    return trainers, policy, reference, batch


def _our_logps(model, batch):
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps = losses.sequence_logprobs(logits, labels, batch["completion_mask"])
    n = len(logps) // 2
    return logps[:n], logps[n:]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers 5 renames, inside TRL
def test_reference_dpo_loss_equals_trls_built_in_sigmoid_loss(trl_setup):
    trainers, policy, reference, batch = trl_setup
    trainer = trainers["sigmoid"]
    trainer._metrics["train"].clear()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(policy, dict(batch))
    pc, pr = _our_logps(policy, batch)
    rc, rr = _our_logps(reference, batch)
    loss, chosen, rejected = losses.dpo_loss(pc, pr, rc, rr, trainer.beta)
    assert abs(loss.item() - trl_loss.item()) < TOL
    assert abs(chosen.mean().item() - trainer._metrics["train"]["rewards/chosen"][-1]) < TOL
    assert abs(rejected.mean().item() - trainer._metrics["train"]["rewards/rejected"][-1]) < TOL
    assert abs(loss.item() - math.log(2)) > 1e-3  # the batch is not a trivial tie


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_reference_ipo_loss_equals_trls_ipo_on_per_token_averages(trl_setup):
    """TRL divides each log-ratio by the completion length; ours takes what it is given."""
    trainers, policy, reference, batch = trl_setup
    trainer = trainers["ipo"]
    with torch.no_grad():
        trl_loss = trainer.compute_loss(policy, dict(batch))
    lengths = batch["completion_mask"].sum(dim=1).double()
    n = len(lengths) // 2
    pc, pr = _our_logps(policy, batch)
    rc, rr = _our_logps(reference, batch)
    averaged = (pc / lengths[:n], pr / lengths[n:], rc / lengths[:n], rr / lengths[n:])
    loss, _, _ = losses.ipo_loss(*averaged, trainer.beta)
    assert abs(loss.item() - trl_loss.item()) < TOL


# -- example submissions ---------------------------------------------------------------------


def failed(path: Path) -> set[str]:
    return {v.name for v in checks.function_checks(load_loss_functions(path), checks_thresholds()) if not v.passed}


def checks_thresholds():
    from grading_config import CAPSTONE

    return CAPSTONE


def test_the_correct_example_passes_every_function_check():
    assert failed(SUBMISSIONS / "correct.py") == set()


def test_the_reference_passes_every_function_check():
    from mdl_student.capstone.train import reference_losses

    assert [v for v in checks.function_checks(reference_losses(), checks_thresholds()) if not v.passed] == []


# Each broken example fails the checks that isolate its bug, and only checks of the function it breaks.
EXPECTED_FAILURES = {
    "beta_policy_only": {"dpo_loss/values_beta_0.1", "dpo_loss/values_beta_0.5", "dpo_loss/gradient", "dpo_loss/log2_at_reference"},
    "sign_flipped": {"dpo_loss/values_beta_0.1", "dpo_loss/values_beta_0.5", "dpo_loss/gradient"},
    "reference_updated": {"dpo_loss/values_beta_0.1", "dpo_loss/values_beta_0.5", "dpo_loss/gradient"},
    "mean_not_sum": {"sequence_logprobs/prompt_mask", "sequence_logprobs/ignore_index", "sequence_logprobs/both", "sequence_logprobs/gradient"},
    "prompt_not_masked": {"sequence_logprobs/prompt_mask", "sequence_logprobs/both", "sequence_logprobs/gradient"},
    "padding_not_masked": {"sequence_logprobs/ignore_index", "sequence_logprobs/both", "sequence_logprobs/gradient"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_each_broken_example_fails_the_checks_of_its_bug(name):
    assert failed(SUBMISSIONS / f"{name}.py") == EXPECTED_FAILURES[name]


def test_every_broken_example_is_covered():
    assert {p.stem for p in SUBMISSIONS.glob("*.py") if p.stem != "correct"} == set(EXPECTED_FAILURES)


def test_a_function_that_raises_is_a_failed_check_not_a_crash():
    def sequence_logprobs(logits, labels, mask):
        raise ValueError("not done yet")

    verdicts = checks.function_checks((sequence_logprobs, losses.dpo_loss, losses.ipo_loss), checks_thresholds())
    bad = [v for v in verdicts if not v.passed]
    assert {v.name.split("/")[0] for v in bad} == {"sequence_logprobs"}
    assert "not done yet" in bad[0].detail

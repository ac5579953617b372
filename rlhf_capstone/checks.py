"""Grading checks: a submission's functions against the reference, and a
training outcome against the thresholds in ``grading_config.CAPSTONE``.

Two kinds of evidence, because some bugs show only in one of them:

- ``function_checks``: the student's three functions on fixed batches,
  compared with ``losses.py`` (values and gradients, to 1e-6).  Catches a
  wrong formula even when training happens to survive it (a prompt that is
  not masked cancels out of the DPO loss, for instance).
- ``outcome_checks``: metrics that ``evaluate.py`` measured on held-out data
  from a checkpoint trained with the student's functions.  Catches what a
  formula check cannot see: a loss that is right on paper but wrong in use.

Both return ``Verdict`` lists; the grader turns them into points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from . import losses
from mdl_student.capstone.jobs import preference_batch, sequence_batches
from mdl_student.capstone.train import LossFunctions, as_loss_functions


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    detail: str = ""


def _thresholds(thresholds=None):
    if thresholds is None:
        from grading_config import CAPSTONE

        return CAPSTONE
    return thresholds


# --- fixed batches ------------------------------------------------------------


def _close(actual: object, expected: torch.Tensor, tol: float) -> tuple[bool, str]:
    if not isinstance(actual, torch.Tensor):
        return False, f"expected a tensor, got {type(actual).__name__}"
    if tuple(actual.shape) != tuple(expected.shape):
        return False, f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
    actual = actual.detach().to(torch.float64)
    if not torch.isfinite(actual).all():
        return False, "the result holds NaN or infinite values"
    error = (actual - expected.detach()).abs().max().item() if actual.numel() else 0.0
    ok = torch.allclose(actual, expected.detach(), rtol=tol, atol=tol)
    return ok, "" if ok else f"largest difference from the reference {error:.3g} (tolerance {tol:g})"


def _guarded(name: str, check: Callable[[], tuple[bool, str]]) -> Verdict:
    try:
        passed, detail = check()
    except Exception as err:  # noqa: BLE001  (student code may raise anything)
        passed, detail = False, f"raised {type(err).__name__}: {err}"
    return Verdict(name, passed, detail)


def _sequence_checks(fn, tol: float) -> list[Verdict]:
    verdicts = []
    for case, (logits, labels, mask) in sequence_batches().items():
        expected = losses.sequence_logprobs(logits, labels, mask)
        verdicts.append(_guarded(f"sequence_logprobs/{case}", lambda: _close(fn(logits.clone(), labels.clone(), mask.clone()), expected, tol)))

    def gradient() -> tuple[bool, str]:
        logits, labels, mask = sequence_batches(1)["both"]
        ours = logits.clone().requires_grad_()
        losses.sequence_logprobs(ours, labels, mask).sum().backward()
        theirs = logits.clone().requires_grad_()
        out = fn(theirs, labels.clone(), mask.clone())
        out.sum().backward()
        if theirs.grad is None:
            return False, "no gradient reaches the logits"
        return _close(theirs.grad, ours.grad, tol)

    verdicts.append(_guarded("sequence_logprobs/gradient", gradient))
    return verdicts


def _pair_loss_checks(name: str, fn, reference_fn, tol: float) -> list[Verdict]:
    verdicts = []
    for beta in (0.1, 0.5):

        def values(beta: float = beta) -> tuple[bool, str]:
            args = preference_batch()
            expected = reference_fn(*args, beta)
            actual = fn(*(a.clone() for a in args), beta)
            if not (isinstance(actual, tuple | list) and len(actual) == 3):
                return False, "must return (loss, chosen_rewards, rejected_rewards)"
            for part, a, e in zip(("loss", "chosen_rewards", "rejected_rewards"), actual, expected):
                ok, detail = _close(a, e, tol)
                if not ok:
                    return False, f"{part}: {detail}"
            return True, ""

        verdicts.append(_guarded(f"{name}/values_beta_{beta}", values))

    def gradient() -> tuple[bool, str]:
        args = preference_batch(1)
        ours = [a.clone().requires_grad_(i < 2) for i, a in enumerate(args)]
        reference_fn(*ours, 0.2)[0].backward()
        theirs = [a.clone().requires_grad_(i < 2) for i, a in enumerate(args)]
        fn(*theirs, 0.2)[0].backward()
        for part, t, o in zip(("policy_chosen_logps", "policy_rejected_logps"), theirs, ours):
            if t.grad is None:
                return False, f"no gradient reaches {part}"
            ok, detail = _close(t.grad, o.grad, tol)
            if not ok:
                return False, f"gradient with respect to {part}: {detail}"
        return True, ""

    verdicts.append(_guarded(f"{name}/gradient", gradient))
    return verdicts


def function_checks(loss_fns: LossFunctions | tuple | dict, thresholds=None) -> list[Verdict]:
    """The submission's functions against ``losses.py`` on fixed batches."""
    tol = _thresholds(thresholds).function_tolerance
    fns = as_loss_functions(loss_fns)
    verdicts = _sequence_checks(fns.sequence_logprobs, tol)
    verdicts += _pair_loss_checks("dpo_loss", fns.dpo_loss, losses.dpo_loss, tol)

    def log2_at_reference() -> tuple[bool, str]:
        policy_c, policy_r, _, _ = preference_batch(2)
        loss = fns.dpo_loss(policy_c, policy_r, policy_c.clone(), policy_r.clone(), 0.3)[0]
        return _close(loss, torch.tensor(math.log(2), dtype=torch.float64), tol)

    verdicts.append(_guarded("dpo_loss/log2_at_reference", log2_at_reference))
    if fns.ipo_loss is None:
        verdicts.append(Verdict("ipo_loss/values", False, "ipo_loss is not defined"))
    else:
        verdicts += _pair_loss_checks("ipo_loss", fns.ipo_loss, losses.ipo_loss, tol)
    return verdicts


# --- outcome checks ------------------------------------------------------------------


def outcome_checks(task: str, metrics_by_beta: Mapping[float, Mapping[str, float]], beta: float, thresholds=None) -> list[Verdict]:
    """Held-out metrics of one (task, seed) against the thresholds.

    ``metrics_by_beta`` maps each beta of the sweep to ``Metrics.to_dict()``;
    ``beta`` is the run whose accuracy and margin are graded.  The sweep check
    compares the smallest and the largest beta.
    """
    t = _thresholds(thresholds)
    main = metrics_by_beta[beta]
    verdicts = [
        Verdict(
            "reward_accuracy",
            main["reward_accuracy"] >= t.min_reward_accuracy[task],
            f"held-out implicit-reward accuracy {main['reward_accuracy']:.3f} (needs >= {t.min_reward_accuracy[task]})",
        ),
        Verdict(
            "reward_margin",
            main["reward_margin"] >= t.min_reward_margin[task],
            f"held-out mean reward margin {main['reward_margin']:.3f} (needs >= {t.min_reward_margin[task]})",
        ),
    ]
    if len(metrics_by_beta) >= 2:
        low, high = min(metrics_by_beta), max(metrics_by_beta)
        gap_low = metrics_by_beta[low]["reward_margin"] / low
        gap_high = metrics_by_beta[high]["reward_margin"] / high
        ratio = gap_high / gap_low if gap_low > 0 else math.inf
        verdicts.append(
            Verdict(
                "beta_limits_drift",
                gap_low > 0 and ratio <= t.max_gap_ratio[task],
                f"log-ratio gap {gap_high:.3f} at beta={high} vs {gap_low:.3f} at beta={low}: "
                f"ratio {ratio:.2f} (needs <= {t.max_gap_ratio[task]})",
            )
        )
    return verdicts

"""Where the capstone meets the grader: student code runs in the sandbox, verdicts here.

The capstone's test cells call the two ``assert_*`` functions below.  Under
``mdl grade`` the student's functions arrive as proxies handed over by the grader, each with a
``run_job(target, *args, seconds=..., **kwargs)`` method (the one interface between the two: this
package imports nothing of ``autograder``); what needs their code runs as a *job* inside the
student's sandboxed kernel, next to it (:mod:`mdl_student.capstone.jobs`, read afresh from the
package for each job):

* ``collect_outputs``: the student's functions on the fixed batches of the
  same module, values and gradients (gradients need autograd, so they cannot
  be taken across the bridge);
* ``dpo_gradients``: one step of the graded DPO training as far as the
  student's functions take part: the step's loss and its gradient with
  respect to the policies' logits.

Only data comes back.  The training loop itself (model, batches, reference
model, optimizer: :mod:`rlhf_capstone.lean_dpo`, the same updates as TRL's
``DPOTrainer`` with the student's loss) runs here, in the grader, from inputs
built once per course (:mod:`rlhf_capstone.job_inputs`); so does the
comparison with ``losses.py`` and the evaluation of the trained policies.  No
course code that trains a model runs where the student's cells could patch it.

A student whose replies agree with the reference's at every step is not trained again: their job
answers the reference's trajectory, step by step, and their outcome is the reference's
(:mod:`rlhf_capstone.replay`, which says why that is their training, to a stated tolerance); at the
first step that does not agree, the policies train for real, as above.

This module is the instructors' (it imports the reference losses): it is not
in the student package, and the sandbox cannot import it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from mdl_student.capstone.jobs import collect_outputs, dpo_gradients

from . import losses
from .checks import Verdict, outcome_checks
from .outcome import graded_metrics

PROFILE_ENV = "MDL_CAPSTONE_PROFILE"  # set by `mdl grade --profile`; read in the grader only
STEP_SECONDS = 60.0  # one training step of the student's functions, in their kernel, for every graded beta
JOB_SECONDS = 480.0  # all the steps together: the student's functions may not stretch the training past this


def _is_proxy(fn: Any) -> bool:
    """A student function handed over by the grader: it stands for code in the student's kernel."""
    return isinstance(getattr(fn, "_mdl_student_name", None), str) and callable(getattr(fn, "run_job", None))


def _run(target: Callable[..., Any], *args: Any, seconds: float, **kwargs: Any) -> Any:
    """Run a job of the student package in the student's kernel when graded, or here when not.

    The grader's one interface: a student function it hands over has ``run_job(target, *args,
    seconds=..., **kwargs)``, which runs ``"module:function"`` beside it, in its kernel.
    """
    proxies = [a for a in [*args, *kwargs.values()] if _is_proxy(a)]
    if proxies:
        return proxies[0].run_job(f"{target.__module__}:{target.__name__}", *args, seconds=seconds, **kwargs)
    return target(*args, **kwargs)


def _fail(message: str) -> None:
    from mdl_student.checks import CheckFailure

    raise CheckFailure(message)


# --------------------------------------------------------------------------- function checks


def reference_outputs(which: str) -> dict[str, Any]:
    """The same collection from the reference implementation (in the grader)."""
    return collect_outputs(which, getattr(losses, which))


def _compare(name: str, actual: Any, expected: Any, tol: float) -> Verdict:
    if isinstance(actual, dict) and "error" in actual:
        return Verdict(name, False, f"raised {actual['error']}")
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            return Verdict(name, False, f"must return a tuple of {len(expected)} tensors")
        for k, (a, e) in enumerate(zip(actual, expected)):
            part = _compare(f"{name}[{k}]", a, e, tol)
            if not part.passed:
                return part
        return Verdict(name, True)
    if expected is None:
        return Verdict(name, actual is None, "" if actual is None else "unexpected gradient")
    if not isinstance(actual, torch.Tensor):
        return Verdict(name, False, "no gradient reached the inputs" if actual is None else f"expected a tensor, got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected.shape):
        return Verdict(name, False, f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    a, e = actual.to(torch.float64), expected.to(torch.float64)
    if not torch.isfinite(a).all():
        return Verdict(name, False, "the result holds NaN or infinite values")
    ok = bool(torch.allclose(a, e, rtol=tol, atol=tol))
    error = float((a - e).abs().max()) if a.numel() else 0.0
    return Verdict(name, ok, "" if ok else f"largest difference from the reference {error:.2g} (tolerance {tol:g})")


def function_verdicts(which: str, fn: Callable[..., Any]) -> list[Verdict]:
    """Collect the student's outputs (in their kernel when graded) and compare them here."""
    from grading_config import CAPSTONE

    if fn is None:
        return [Verdict(which, False, f"`{which}` is not defined")]
    theirs = _run(collect_outputs, which, fn, seconds=60.0)
    ours = reference_outputs(which)
    return [_compare(f"{which}/{key}", theirs.get(key, {"error": "missing"}), expected, CAPSTONE.function_tolerance)
            for key, expected in ours.items()]


def assert_matches_reference(which: str, fn: Callable[..., Any]) -> None:
    """Fail, naming each failed case, unless ``fn`` matches ``losses.<which>`` (values and gradients)."""
    failed = [v for v in function_verdicts(which, fn) if not v.passed]
    if failed:
        _fail("; ".join(f"{v.name}: {v.detail}" for v in failed))


# --------------------------------------------------------------------------- the training outcome


@dataclass
class TrainingOutcome:
    """The training question's verdicts and metrics, and how the grader reached them.

    ``replayed_steps``: the steps whose replies agreed with the reference's trajectory
    (:mod:`rlhf_capstone.replay`); ``trained``: whether the policies were trained for real (``False``
    when every step agreed and the outcome is the reference's, or when the job stopped).
    """

    verdicts: list[Verdict]
    metrics: dict[float, dict]
    replayed_steps: int = 0
    trained: bool = False


def training_verdicts(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                      profile_name: str | None = None, seed: int = 0) -> tuple[list[Verdict], dict[float, dict]]:
    """Train with the student's functions (their part of each step in their sandbox when graded),
    evaluate here, apply the thresholds."""
    outcome = training_outcome(sequence_logprobs, dpo_loss, profile_name, seed)
    return outcome.verdicts, outcome.metrics


def training_outcome(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                     profile_name: str | None = None, seed: int = 0, replay_first: bool = True) -> TrainingOutcome:
    """``training_verdicts`` with how it got there.

    With ``replay_first`` the student's job first answers the reference trajectory's steps
    (:func:`replay.replay`); if every step agrees, the outcome is the reference's.  Otherwise (or without
    ``replay_first``) the policies train for real from step 0 (``lean_dpo.train_lockstep``): at the
    steps that agreed with the student's own replies (their functions are not called twice for them),
    at the step that did not with that very reply if the policies' logits are the ones it answered,
    and from there on by calling the student's job, as the loop always did.
    """
    from grading_config import CAPSTONE, capstone_thresholds
    from mdl_student.capstone.config import get_profile

    from .job_inputs import job_inputs
    from .lean_dpo import train_lockstep
    from .replay import Replayed, replay, trajectory

    if sequence_logprobs is None or dpo_loss is None:
        return TrainingOutcome([Verdict("training", False, "sequence_logprobs and dpo_loss must both be defined")], {})
    profile = get_profile(profile_name or os.environ.get(PROFILE_ENV, "cpu"))
    task, betas = CAPSTONE.graded_task, [float(b) for b in CAPSTONE.graded_betas]
    inputs = job_inputs(profile, task, seed)  # the grader's own SFT model and reference, never the student's
    reference = trajectory(profile, task, seed, betas, inputs) if replay_first else None

    deadline = time.monotonic() + JOB_SECONDS

    def ask(step: int, batch: Any, logits: list[torch.Tensor]) -> Any:
        """One call of the student's job for this step: what the real loop sends, under its time limits."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TrainingStopped(f"training with your functions took longer than {JOB_SECONDS:.0f} s "
                                  f"(stopped at step {step + 1} of {len(inputs.batches)})")
        labels, mask = batch.labels_and_mask()
        return _run(dpo_gradients, sequence_logprobs, dpo_loss, [x.cpu() for x in logits],
                    inputs.reference_logits[step], labels, mask, betas, seconds=min(STEP_SECONDS, left))

    replayed = Replayed(diverged_at=0)
    try:
        if reference is not None:
            replayed = replay(reference, inputs, ask, _checked_gradients)
            if replayed.complete:
                metrics = {beta: dict(values) for beta, values in reference.metrics.items()}
                return TrainingOutcome(outcome_checks(task, metrics, profile.beta, capstone_thresholds(profile.name)),
                                       metrics, len(replayed.agreed), trained=False)

        def step_gradients(step: int, batch: Any, logits: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
            if step < len(replayed.agreed):
                return replayed.agreed[step]
            if (step == replayed.diverged_at and reference is not None
                    and all(torch.equal(x.cpu(), sent) for x, sent in zip(logits, reference.policy_logits[step]))):
                return _checked_gradients(replayed.reply, logits, step)  # their job already answered these very logits
            return _checked_gradients(ask(step, batch, logits), logits, step)

        policies = train_lockstep(profile, seed, inputs.start, inputs.batches, betas, step_gradients)
    except TrainingStopped as stopped:
        return TrainingOutcome([Verdict("training", False, str(stopped))], {}, len(replayed.agreed))
    metrics = {beta: graded_metrics(policies[beta], inputs, profile, beta) for beta in betas}
    return TrainingOutcome(outcome_checks(task, metrics, profile.beta, capstone_thresholds(profile.name)), metrics,
                           len(replayed.agreed), trained=True)


class TrainingStopped(Exception):
    """What the student's functions gave a step cannot train a model; the message says why."""


def _checked_gradients(outputs: Any, logits: list[torch.Tensor], step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The job's reply (it comes from the student's kernel), or ``TrainingStopped`` saying what is wrong."""
    if not (isinstance(outputs, (list, tuple)) and len(outputs) == len(logits)):
        raise TrainingStopped(f"the training step {step + 1} returned no loss and gradient for every beta")
    checked = []
    for output, x in zip(outputs, logits):
        gradient = output.get("gradient") if isinstance(output, dict) else None
        loss = output.get("loss") if isinstance(output, dict) else None
        if not (isinstance(gradient, torch.Tensor) and tuple(gradient.shape) == tuple(x.shape)
                and gradient.is_floating_point() and isinstance(loss, torch.Tensor)):
            raise TrainingStopped(f"the training step {step + 1} returned no gradient of the logits' shape")
        if not torch.isfinite(gradient).all():
            # TRL's trainer would go on and end with NaN weights, which no evaluation accepts.
            raise TrainingStopped(f"at training step {step + 1} the gradient of your loss holds NaN or infinite values")
        checked.append((loss, gradient))
    return checked


def assert_training_outcome(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any]) -> None:
    """Fail unless DPO with these functions reaches the thresholds of grading_config.CAPSTONE."""
    verdicts, _ = training_verdicts(sequence_logprobs, dpo_loss)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        _fail("training outcome: " + "; ".join(v.detail for v in failed))


__all__ = ["assert_matches_reference", "assert_training_outcome", "function_verdicts", "graded_metrics",
           "training_outcome", "training_verdicts"]

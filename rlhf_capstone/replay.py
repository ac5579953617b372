"""Verified replay: a student whose functions give the reference's gradients at every step need not be trained.

The graded training is a deterministic function of what the student's functions return at each step
(the loss and its gradient with respect to the policies' logits): the model, batches, reference,
optimizer and schedule are the grader's own (``lean_dpo``).  So, once per course, the grader trains
the graded betas with the instructors' losses through the same loop and keeps the *trajectory*:

* each step's policy logits, the very tensors the student's job receives at that step when their
  functions are right;
* the reference's loss and gradient at each step (what ``jobs.dpo_gradients`` returns with
  ``losses.py``, in the grader);
* the trained policies' held-out metrics (``outcome.graded_metrics``, as the real training measures them).

Per submission, ``replay`` sends each step's cached logits to the student's job exactly as the real
loop would (same job, same arguments, same time limits) and compares the reply with the reference's.
While every step agrees within the tolerances below, the student's training *is* the reference's
(to that tolerance) and its outcome is the cached metrics: the 200 forward and backward passes, the
optimizer steps and the evaluation are not run again.  At the first step that does not agree the
grader trains for real (``grading.training_verdicts``), so a student whose functions differ from the
reference is graded by the training their functions make, as before.

The real training starts from step 0 without asking the student's job again for the steps that
agreed: it applies the replies their job already gave (each within the tolerance of the
reference's, so the policies' logits stay within it of the ones those replies answered), and at
the step that did not agree, the reply their job gave there if the policies' logits are bitwise
those it answered (always so at step 0; so at any step when the earlier replies equalled the
reference's); from there on it calls the job, as it always did.  A student's functions are thus
called once per step, as without the replay, in the same order: a function that behaves differently
on its k-th call (one that counts its calls) meets the training it would have met, and a student
whose first reply is wrong (most broken students) is trained exactly as before, bit for bit.

The tolerances (``GRADIENT_TOLERANCE``, ``LOSS_TOLERANCE``) are chosen from float32: correct
functions written in other forms (cross-entropy, logsumexp, log(softmax), softplus, log(sigmoid),
float64 inside) differ from the reference's gradient by at most 2.7e-6 of its norm, and from its loss
by 2e-6, at every step of the graded trajectory; 1e-4 leaves more than 30 times that.  The norm, not
each entry: an error of a few float32 units on every entry of the (rows, positions, vocabulary)
gradient is what correct forms make, and the norm bounds the change of the update the loop makes from
it.  What the tolerance could move is measured by ``benchmarks/capstone_throughput.py``
(``--power-only``): every step's gradient moved by the whole tolerance (a random direction, and the
direction of a bias at every step) and by ten times it, trained for real, against a correct student's
slack.

The file lives beside ``job_inputs``' file under ``build/capstone-cache/``, with the same fingerprint
(the capstone's code, profile, versions) and the graded betas in its name, built under the same lock.
Nothing of it reaches the student's sandbox but the logits their job receives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mdl_student.capstone.config import Profile

from . import job_inputs as cache
from .job_inputs import JobInputs

FORMAT = 1  # the layout of the file below; raise it when the layout changes
# A step agrees when, for every graded beta, the gradient differs from the reference's by at most
# GRADIENT_TOLERANCE of the reference's norm (the whole (rows, positions, vocabulary) tensor) and the loss
# by at most LOSS_TOLERANCE of the reference's (at least that much absolutely).  Correct float32 forms
# reach 2.7e-6 and 2e-6 (module docstring).
GRADIENT_TOLERANCE = 1e-4
LOSS_TOLERANCE = 1e-4

Reply = Any  # what the student's job returned for one step (decoded by the codec: not trusted)
StepOutputs = list[tuple[torch.Tensor, torch.Tensor]]  # per beta: (loss, gradient), checked


@dataclass
class Trajectory:
    """The reference's graded training, step by step, and its outcome."""

    policy_logits: list[list[torch.Tensor]]  # [step][beta]: what the job receives at that step
    losses: list[list[torch.Tensor]]  # [step][beta]: the reference's loss (0-d)
    gradients: list[list[torch.Tensor]]  # [step][beta]: the reference's gradient of the loss w.r.t. the logits
    metrics: dict[float, dict[str, float]]  # beta -> graded_metrics of the trained policy


@dataclass
class Replayed:
    """How far the student's replies agreed with the trajectory.

    ``agreed`` holds the student's own (checked) outputs of the steps that agreed; ``diverged_at`` is
    the first step that did not (``None``: every step agreed) and ``reply`` the student's reply there.
    """

    agreed: list[StepOutputs] = field(default_factory=list)
    diverged_at: int | None = None
    reply: Reply = None

    @property
    def complete(self) -> bool:
        return self.diverged_at is None


def agrees(outputs: StepOutputs, losses: list[torch.Tensor], gradients: list[torch.Tensor]) -> bool:
    """Whether one step's checked outputs match the reference's within the tolerances."""
    for (loss, gradient), reference_loss, reference_gradient in zip(outputs, losses, gradients, strict=True):
        if loss.numel() != 1 or not torch.isfinite(loss).all():
            return False
        ours, theirs = float(reference_loss), float(loss.reshape(()).to(torch.float64))
        if abs(theirs - ours) > LOSS_TOLERANCE * max(1.0, abs(ours)):
            return False
        expected = reference_gradient.to(torch.float64)
        if float((gradient.to(torch.float64) - expected).norm()) > GRADIENT_TOLERANCE * float(expected.norm()):
            return False
    return True


def replay(trajectory: Trajectory, inputs: JobInputs, ask: Callable[[int, Any, list[torch.Tensor]], Reply],
           check: Callable[[Reply, list[torch.Tensor], int], StepOutputs]) -> Replayed:
    """Send each step's cached logits to the student's job (``ask``) until a reply does not agree.

    ``check`` is the real loop's reading of a reply (``grading._checked_gradients``): a reply it refuses
    (wrong shape, NaN) counts as a disagreement here, and the real training then says why, at its step.
    Whatever ``ask`` raises (the student's code raised, ran past its time) is raised, as the real loop
    raises it.
    """
    result = Replayed()
    for step, (batch, logits) in enumerate(zip(inputs.batches, trajectory.policy_logits)):
        reply = ask(step, batch, logits)
        try:
            outputs = check(reply, logits, step)
        except Exception:  # noqa: BLE001  (the real loop words it; here it only ends the replay)
            outputs = None
        if outputs is None or not agrees(outputs, trajectory.losses[step], trajectory.gradients[step]):
            result.diverged_at, result.reply = step, reply
            return result
        result.agreed.append(outputs)
    return result


# --------------------------------------------------------------------------- the cached trajectory


def trajectory(profile: Profile, task: str, seed: int, betas: list[float], inputs: JobInputs) -> Trajectory:
    """The cached trajectory of the reference's training at ``betas``, built first if no valid file exists."""
    from safetensors.torch import load_file

    stem = f"replay-{profile.name}-{task}-{seed}-" + "-".join(f"{b:g}" for b in betas)
    key = hashlib.sha256(f"{FORMAT}|{cache.fingerprint(profile, task, seed)}|{betas}".encode()).hexdigest()[:16]
    path = cache.cached_file(cache.cache_folder(), stem, key,
                       lambda target: _save(build_trajectory(profile, seed, betas, inputs), betas, target))
    return _load(load_file(str(path)), betas)


def build_trajectory(profile: Profile, seed: int, betas: list[float], inputs: JobInputs) -> Trajectory:
    """Train the graded betas with the instructors' losses through the graded loop, keeping every step."""
    from mdl_student.capstone.jobs import dpo_gradients

    from . import losses
    from .lean_dpo import train_lockstep
    from .outcome import graded_metrics

    logits_seen: list[list[torch.Tensor]] = []
    losses_seen: list[list[torch.Tensor]] = []
    gradients_seen: list[list[torch.Tensor]] = []

    def step_gradients(step: int, batch: Any, logits: list[torch.Tensor]) -> StepOutputs:
        labels, mask = batch.labels_and_mask()
        sent = [x.cpu() for x in logits]  # as grading.training_verdicts sends them
        outputs = dpo_gradients(losses.sequence_logprobs, losses.dpo_loss, sent, inputs.reference_logits[step],
                                labels, mask, betas)
        logits_seen.append([x.clone() for x in sent])
        losses_seen.append([o["loss"].clone() for o in outputs])
        gradients_seen.append([o["gradient"].clone() for o in outputs])
        return [(o["loss"], o["gradient"]) for o in outputs]

    policies = train_lockstep(profile, seed, inputs.start, inputs.batches, betas, step_gradients)
    metrics = {beta: graded_metrics(policies[beta], inputs, profile, beta) for beta in betas}
    return Trajectory(logits_seen, losses_seen, gradients_seen, metrics)


def _save(trajectory: Trajectory, betas: list[float], path: Path) -> None:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for step, (logits, losses, gradients) in enumerate(zip(trajectory.policy_logits, trajectory.losses,
                                                              trajectory.gradients)):
        for k in range(len(betas)):
            tensors[f"step{step}/{k}/logits"] = logits[k]
            tensors[f"step{step}/{k}/loss"] = losses[k]
            tensors[f"step{step}/{k}/gradient"] = gradients[k]
    for k, beta in enumerate(betas):
        for name, value in trajectory.metrics[beta].items():
            tensors[f"metrics/{k}/{name}"] = torch.tensor(value, dtype=torch.float64)  # a Python float, exactly
    save_file({key: t.detach().cpu().contiguous().clone() for key, t in tensors.items()}, str(path))


def _load(tensors: dict[str, torch.Tensor], betas: list[float]) -> Trajectory:
    steps = sum(1 for key in tensors if key.endswith("/0/logits"))
    indices = range(len(betas))
    return Trajectory(
        policy_logits=[[tensors[f"step{s}/{k}/logits"] for k in indices] for s in range(steps)],
        losses=[[tensors[f"step{s}/{k}/loss"] for k in indices] for s in range(steps)],
        gradients=[[tensors[f"step{s}/{k}/gradient"] for k in indices] for s in range(steps)],
        metrics={beta: {key.split("/")[-1]: float(t) for key, t in tensors.items() if key.startswith(f"metrics/{k}/")}
                 for k, beta in enumerate(betas)},
    )

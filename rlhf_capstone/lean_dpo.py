"""The graded DPO runs without TRL: the very updates of ``train.run_dpo``, in a plain torch loop.

On the capstone's tiny model, TRL's ``DPOTrainer`` costs more than the training it drives
(importing TRL, building the trainer and its dataset, per-step bookkeeping: see
``benchmarks/results/capstone_profile.md``).  The grader runs this loop instead, and reproduces
what the trainer does with a pluggable loss, step for step:

* the batches: TRL's order (accelerate's seedable sampler: one permutation per epoch, from
  ``torch.randperm`` seeded with ``data_seed + epoch``) and TRL's collation (prompt + completion +
  EOS, chosen rows then rejected rows, right-padded to the longest row of the batch);
* the model: the profile's GPT-2 from the SFT weights, in train mode;
* the update: AdamW (transformers' default ``adamw_torch_fused``: betas 0.9 and 0.999, eps 1e-8,
  no weight decay), gradients clipped to norm 1 (``max_grad_norm``), the learning rate falling
  linearly to 0 over the profile's steps;
* the loss: ``jobs.step_loss``, the function TRL's path calls too.

``tests/test_capstone_lean.py`` checks that the losses, the gradients and the weights after every
step equal those of ``train.run_dpo`` bit for bit; a TRL or transformers upgrade that changes a
default fails it.  The student-facing ``python -m rlhf_capstone run`` keeps TRL.

The runs of all graded betas go in lockstep, so that one call per step reaches the student's
functions: ``step_gradients(step, batch, logits)`` gets each policy's logits and returns, per
beta, the loss and its gradient with respect to those logits (in grading, the job
``jobs.dpo_gradients`` in the student's sandbox; the loop carries the gradients back through the
models here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from mdl_student.capstone.config import Profile
from mdl_student.capstone.data import PreferencePair
from mdl_student.capstone.jobs import labels_and_mask
from mdl_student.capstone.model import model_from_state
from mdl_student.capstone.tokenizer import encode_example, pad_batch
from mdl_student.capstone.train import StateDict, configure_torch

# What DPOConfig leaves at transformers' defaults (train.dpo_config sets the rest from the profile).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
MAX_GRAD_NORM = 1.0

StepGradients = Callable[[int, "Batch", list[torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]


@dataclass(frozen=True)
class Batch:
    """One step's pairs as TRL's collator lays them out: chosen rows, then rejected rows."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor

    def labels_and_mask(self) -> tuple[torch.Tensor, torch.Tensor]:
        """What the step passes to ``sequence_logprobs`` (see ``jobs.labels_and_mask``)."""
        return labels_and_mask(self.input_ids, self.attention_mask, self.completion_mask)


def _collate(rows: list[tuple[list[int], int]], max_length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TRL's ``DataCollatorForPreference``: each row cut to ``max_length`` (keep the start), then padded."""
    return pad_batch([(ids[:max_length], start) for ids, start in rows])


def preference_batches(pairs: list[PreferencePair], profile: Profile, seed: int) -> list[Batch]:
    """The ``profile.dpo_steps`` batches that ``train.run_dpo`` trains on, in its order."""
    chosen = [encode_example(p.prompt, p.chosen) for p in pairs]
    rejected = [encode_example(p.prompt, p.rejected) for p in pairs]
    # TRL drops the pairs whose prompt alone fills max_length (nothing of them would be learned).
    kept = [i for i, (_, start) in enumerate(chosen) if start < profile.n_positions]
    batches: list[Batch] = []
    epoch = 0
    while len(batches) < profile.dpo_steps:
        order = torch.randperm(len(kept), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        for first in range(0, len(order), profile.dpo_batch_size):
            picked = [kept[k] for k in order[first : first + profile.dpo_batch_size]]
            rows = [chosen[i] for i in picked] + [rejected[i] for i in picked]
            batches.append(Batch(*_collate(rows, profile.n_positions)))
            if len(batches) == profile.dpo_steps:
                break
        epoch += 1
    return batches


def linear_decay(total_steps: int) -> Callable[[int], float]:
    """transformers' ``linear`` schedule without warmup: the factor of the learning rate at each step."""
    return lambda step: max(0.0, float(total_steps - step) / float(max(1, total_steps)))


def train_lockstep(profile: Profile, seed: int, start: StateDict, batches: list[Batch], betas: list[float],
                   step_gradients: StepGradients) -> dict[float, StateDict]:
    """One policy per beta, all from ``start``, trained on ``batches``; their final weights (CPU)."""
    configure_torch(profile, seed)
    device = profile.resolved_device()
    policies = [model_from_state(profile, start).to(device).train() for _ in betas]
    optimizers = [
        torch.optim.AdamW(policy.parameters(), lr=profile.dpo_lr, betas=ADAM_BETAS, eps=ADAM_EPSILON,
                          weight_decay=0.0, fused=True)
        for policy in policies
    ]  # fmt: skip
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, linear_decay(profile.dpo_steps)) for o in optimizers]
    for step, batch in enumerate(batches):
        input_ids, attention_mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        logits = [p(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits for p in policies]
        outputs = step_gradients(step, batch, [x.detach() for x in logits])
        for x, policy, optimizer, schedule, (_, gradient) in zip(logits, policies, optimizers, schedules, outputs):
            x.backward(gradient.to(device=x.device, dtype=x.dtype))
            torch.nn.utils.clip_grad_norm_(policy.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            schedule.step()
            policy.zero_grad(set_to_none=True)
    return {beta: {k: v.detach().cpu().clone() for k, v in p.state_dict().items()} for beta, p in zip(betas, policies)}

"""What the grader runs next to your code in its sandbox: it collects outputs, it never judges.

Two jobs, each called by the grader with your functions:

* ``collect_outputs``: your function on the fixed batches below, values and gradients (gradients
  need autograd next to your code, so they cannot be taken across the grader's bridge);
* ``dpo_gradients``: one step of the graded DPO training, as far as your functions take part in it:
  the loss of the step and its gradient with respect to the policy's logits, for each graded beta.
  The model, the data, the optimizer and the reference model stay in the grader, which runs the
  training loop (the same updates as TRL's DPOTrainer with your loss, see ``train.py``) and sends
  each step's logits here.

Only data goes back; the comparison with the instructors' reference and the evaluation of the
trained policies happen in the grader's own process.  Nothing here knows a right answer.  This file
imports nothing of the course but a constant: the kernel reads it afresh from the package for each
job (``kernel_agent.Agent._fresh_module``), so what runs is what the package holds, whatever your
cells did to the modules they imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .config import IGNORE_INDEX

PAIR_BETAS = (0.1, 0.5)
GRADIENT_BETA = 0.2


# --- fixed batches ------------------------------------------------------------


def sequence_batches(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Inputs for ``sequence_logprobs``, each isolating one rule of the contract.

    ``prompt_mask``: the mask is 0 on a prompt, no label is -100.
    ``ignore_index``: the mask is all ones, padding labels are -100.
    ``both``: a bool mask on the prompt and -100 on the padding, as in training.
    """
    g = torch.Generator().manual_seed(seed)
    batch, length, vocab = 4, 9, 13
    logits = torch.randn(batch, length, vocab, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(vocab, (batch, length), generator=g)
    prompt_len = torch.tensor([3, 2, 4, 1])
    seq_len = torch.tensor([9, 6, 7, 4])
    pos = torch.arange(length)
    not_prompt = (pos[None, :] >= prompt_len[:, None]).long()
    padding = pos[None, :] >= seq_len[:, None]
    padded_labels = labels.masked_fill(padding, IGNORE_INDEX)
    return {
        "prompt_mask": (logits, labels, not_prompt * (~padding)),
        "ignore_index": (logits, padded_labels, torch.ones_like(labels)),
        "both": (logits, padded_labels, not_prompt.bool()),
    }


def preference_batch(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Sequence log-probs of 6 pairs, as a policy and a reference might give them."""
    g = torch.Generator().manual_seed(seed)
    ref = -10 * torch.rand(2, 6, generator=g, dtype=torch.float64) - 1
    policy = ref + torch.randn(2, 6, generator=g, dtype=torch.float64)
    return policy[0], policy[1], ref[0], ref[1]


# --- function checks ----------------------------------------------------------------


# --- the jobs ----------------------------------------------------------------


def _attempt(record: dict[str, Any], key: str, compute: Callable[[], Any]) -> None:
    try:
        record[key] = compute()
    except Exception as err:  # noqa: BLE001  (student code may raise anything)
        record[key] = {"error": f"{type(err).__name__}: {err}"[:300]}


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return tuple(_detached(v) for v in value)
    return value  # anything else is reported as a wrong type by the comparison


def collect_outputs(which: str, fn: Callable[..., Any]) -> dict[str, Any]:
    """JOB (runs next to the student's code): their function on the fixed batches, with gradients."""
    out: dict[str, Any] = {}
    if which == "sequence_logprobs":
        for case, (logits, labels, mask) in sequence_batches().items():
            _attempt(out, case, lambda: _detached(fn(logits.clone(), labels.clone(), mask.clone())))
        logits, labels, mask = sequence_batches(1)["both"]

        def gradient() -> Any:
            theirs = logits.clone().requires_grad_()
            fn(theirs, labels.clone(), mask.clone()).sum().backward()
            return theirs.grad

        _attempt(out, "gradient", gradient)
        return out
    for beta in PAIR_BETAS:
        args = preference_batch()
        _attempt(out, f"beta_{beta}", lambda: _detached(fn(*(a.clone() for a in args), beta)))

    def pair_gradient() -> Any:
        theirs = [a.clone().requires_grad_(i < 2) for i, a in enumerate(preference_batch(1))]
        fn(*theirs, GRADIENT_BETA)[0].backward()
        return (theirs[0].grad, theirs[1].grad)

    _attempt(out, "gradient", pair_gradient)
    if which == "dpo_loss":
        chosen, rejected, _, _ = preference_batch(2)
        _attempt(out, "at_reference", lambda: _detached(fn(chosen, rejected, chosen.clone(), rejected.clone(), 0.3)))
    return out


# --- one step of DPO, shared by TRL's trainer (train.py) and the grader's training loop -------------


def labels_and_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    completion_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the trainer passes to ``sequence_logprobs`` for a collated batch (chosen rows, then rejected).

    The labels are the sequence itself with -100 on the padding; the mask is 0 on the prompt (and 1 on
    the padding): so a function that ignores the mask counts the prompt, and one that ignores -100
    counts the padding.
    """
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
    not_prompt = (completion_mask.cumsum(dim=1) > 0).long()
    return labels, not_prompt


def check_loss_output(output: object, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A loss function's result, or an error that says what was expected."""
    if not (isinstance(output, tuple | list) and len(output) == 3):
        raise TypeError("the loss function must return a tuple (loss, chosen_rewards, rejected_rewards)")
    loss, chosen_rewards, rejected_rewards = output
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
        raise TypeError("the loss must be a scalar tensor (the mean over the batch)")
    if not loss.requires_grad:
        raise ValueError("the loss carries no gradient: it must be computed from the policy log-probs")
    for name, rewards in (("chosen_rewards", chosen_rewards), ("rejected_rewards", rejected_rewards)):
        if not (isinstance(rewards, torch.Tensor) and tuple(rewards.shape) == (batch_size,)):
            raise TypeError(f"{name} must be a tensor of shape ({batch_size},)")
    return loss, chosen_rewards, rejected_rewards


def step_loss(sequence_logprobs: Callable[..., Any], objective: Callable[..., Any], policy_logits: torch.Tensor,
              reference_logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
              beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step's loss from your functions: ``sequence_logprobs`` on the policy's logits, then (without
    gradient) on the reference's, then the objective (``dpo_loss``) on the halves of the batch.

    Each call gets its own copy of the labels and the mask, so a function that writes into its inputs
    changes nothing for the next call.
    """
    policy_logps = sequence_logprobs(policy_logits, labels.clone(), mask.clone())
    with torch.no_grad():
        reference_logps = sequence_logprobs(reference_logits, labels.clone(), mask.clone())
    n = labels.shape[0] // 2
    output = objective(policy_logps[:n], policy_logps[n:], reference_logps[:n], reference_logps[n:], beta)
    return check_loss_output(output, n)


def dpo_gradients(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                  policy_logits: list[torch.Tensor], reference_logits: torch.Tensor, labels: torch.Tensor,
                  mask: torch.Tensor, betas: list[float]) -> list[dict[str, torch.Tensor]]:
    """JOB (runs next to the student's code): one DPO step for each beta, the policies' logits given.

    For each beta: the loss (``step_loss``) and its gradient with respect to that policy's logits,
    which the grader carries back through its model.  The logits arrive as plain tensors and leave
    again as numbers: nothing here can reach a model's weights.
    """
    outputs = []
    for logits, beta in zip(policy_logits, betas):
        leaf = logits.detach().requires_grad_()
        # a copy, as a model's output is (not a leaf): a function may then write into it, as in TRL's trainer
        loss, _, _ = step_loss(sequence_logprobs, dpo_loss, leaf.clone(), reference_logits.clone(), labels, mask, beta)
        loss.backward()
        gradient = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)  # a loss that ignores the policy
        outputs.append({"loss": loss.detach(), "gradient": gradient})
    return outputs

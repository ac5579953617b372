"""What the grader runs next to your code in its sandbox: it collects outputs, it never judges.

Two jobs, each called by the grader with your functions:

* ``collect_outputs``: your function on the fixed batches below, values and gradients (gradients
  need autograd next to your code, so they cannot be taken across the grader's bridge);
* ``train_checkpoints``: the reduced DPO job with your loss, one run per graded beta, each policy
  returned as safetensors bytes.

Only data goes back; the comparison with the instructors' reference and the evaluation of the
checkpoints happen in the grader's own process.  Nothing here knows a right answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .train import IGNORE_INDEX

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


def train_checkpoints(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                      profile_name: str, task: str, seed: int, betas: list[float],
                      reference: bytes | None = None) -> dict[str, bytes]:
    """JOB (runs next to the student's code): the reduced DPO job per beta, policies as safetensors.

    ``reference`` is the grader's SFT model (safetensors), so the kernel does not retrain it; the
    grader evaluates against its own copy, whatever happens to this one.
    """
    from safetensors.torch import load, save

    from . import train
    from .config import get_profile
    from .train import train_policy

    if reference is not None:
        train._SFT_CACHE[(get_profile(profile_name), task, seed)] = load(reference)
    checkpoints = {}
    for beta in betas:
        state = train_policy(profile_name, task, (sequence_logprobs, dpo_loss), seed, beta)
        checkpoints[repr(float(beta))] = save({k: v.detach().contiguous().cpu() for k, v in state.items()})
    return checkpoints

"""Reference implementations of the three functions students write.

These signatures are the student-facing contract: plain tensors in, plain
tensors out, no model, no trainer.  The grader compares a student's versions
with these on fixed batches (to 1e-6) and plugs them into the training job
(``train.py``), where every log-probability - the policy's and the
reference model's - is computed by the ``sequence_logprobs`` it was given.

Notation (DPO paper, Rafailov et al. 2023, eq. 7; UDL chapter 5 for the
log-likelihoods): for a prompt x with preferred completion y_w and
dispreferred completion y_l,

    h = log pi(y_w|x) - log pi_ref(y_w|x) - (log pi(y_l|x) - log pi_ref(y_l|x))
    DPO:  loss = -log sigmoid(beta * h)
    IPO:  loss = (h - 1 / (2 * beta))^2

where log pi(y|x) is the SUM of the completion's token log-probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of the log-probabilities of the counted tokens, one number per sequence.

    Args:
        logits: (B, T, V) float, the model's output for the whole sequence.
            ``logits[b, t]`` scores the token at position ``t + 1``.
        labels: (B, T) long, the token ids of the sequence itself (not shifted).
            A label of -100 marks a position that does not count.
        mask: (B, T) bool or 0/1, aligned with ``labels``: 1 where the token at
            that position counts (completion tokens), 0 where it does not
            (prompt, padding).

    Returns:
        (B,) tensor: ``sum over t >= 1 of log softmax(logits[b, t-1])[labels[b, t]]``
        over positions t with ``mask[b, t] == 1`` and ``labels[b, t] != -100``.
        Position 0 never counts (nothing predicts it).  Same dtype as ``logits``;
        differentiable with respect to ``logits``.

    Both ways of excluding a token are honoured and a caller may use either:
    the capstone's trainer marks the prompt with ``mask == 0`` and the padding
    with ``labels == -100``.
    """
    logits = logits[:, :-1, :]  # logits at t predict the token at t + 1
    targets = labels[:, 1:]
    counted = mask[:, 1:].bool() & (targets != IGNORE_INDEX)
    safe_targets = targets.masked_fill(~counted, 0)  # -100 is not a valid index for gather
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    return (token_logps * counted).sum(dim=-1)


def _log_ratio_difference(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-ratios log pi/pi_ref of the chosen and the rejected completions."""
    return policy_chosen_logps - ref_chosen_logps, policy_rejected_logps - ref_rejected_logps


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (sigmoid) DPO loss.

    Args:
        policy_chosen_logps, policy_rejected_logps: (B,) sequence log-probs
            under the policy being trained (gradient flows through these).
        ref_chosen_logps, ref_rejected_logps: (B,) the same under the frozen
            reference model.
        beta: the KL-penalty strength (a Python float).

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``:
        ``loss`` is the scalar mean over the batch of ``-log sigmoid(beta * h)``;
        the rewards are the implicit rewards ``beta * (log pi - log pi_ref)``
        of the chosen and rejected completions, shape (B,), detached.

    At pi == pi_ref, h = 0 and the loss is log 2 = 0.693147...
    ``-log sigmoid(z)`` is computed as ``-logsigmoid(z)`` (softplus(-z)),
    which is finite for any z.
    """
    chosen_logratios, rejected_logratios = _log_ratio_difference(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    h = chosen_logratios - rejected_logratios
    loss = -F.logsigmoid(beta * h).mean()
    return loss, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def ipo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The IPO loss (Azar et al. 2023, eq. 17, with beta in the role of tau).

    Same arguments and returns as ``dpo_loss``; ``loss`` is the batch mean of
    ``(h - 1 / (2 * beta))^2`` with h the log-ratio difference built from the
    log-probs exactly as given.  The rewards are ``beta * (log pi - log pi_ref)``
    as in ``dpo_loss``.

    Relation to TRL (``loss_type="ipo"``): TRL divides each log-ratio by the
    number of completion tokens before taking h (a per-token average it agreed
    with the IPO authors).  This function does not know the lengths, so it
    uses the log-probs as passed: called with per-token averages
    (``sequence_logprobs(...) / n_tokens``) it equals TRL's IPO exactly; called
    with sums, it is eq. 17 with sequence-level log-probabilities.
    """
    chosen_logratios, rejected_logratios = _log_ratio_difference(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
    )
    h = chosen_logratios - rejected_logratios
    loss = ((h - 1.0 / (2.0 * beta)) ** 2).mean()
    return loss, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()

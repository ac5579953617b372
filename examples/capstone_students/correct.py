"""A correct capstone submission, written differently from rlhf_capstone/losses.py.

sequence_logprobs goes through cross-entropy (which already is a negative
log-softmax followed by a gather) and the DPO loss is written with softplus,
using the "policy log-ratio minus reference log-ratio" grouping.
"""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    """Sum over counted tokens of log p(token | previous tokens), one value per sequence."""
    next_logits = logits[:, :-1, :]
    next_labels = labels[:, 1:]
    keep = (mask[:, 1:] != 0) & (next_labels != -100)
    token_nll = F.cross_entropy(
        next_logits.transpose(1, 2),  # cross_entropy wants the classes in dim 1
        next_labels.masked_fill(~keep, -100),
        ignore_index=-100,
        reduction="none",
    )
    return -(token_nll * keep).sum(dim=1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = ref_chosen_logps - ref_rejected_logps
    loss = F.softplus(-beta * (pi_logratios - ref_logratios)).mean()  # -log sigmoid(x) = softplus(-x)
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return loss, chosen_rewards, rejected_rewards


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = ref_chosen_logps - ref_rejected_logps
    loss = torch.square(pi_logratios - ref_logratios - 0.5 / beta).mean()
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return loss, chosen_rewards, rejected_rewards

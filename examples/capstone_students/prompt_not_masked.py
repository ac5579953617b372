"""Broken on purpose: sequence_logprobs ignores the mask, so prompt tokens are counted.

Only labels of -100 are skipped (padding, in the capstone's trainer).  Note that in
DPO the prompt's log-probs are the same for the chosen and the rejected completion
and cancel in the loss: training is barely affected, the function checks catch it."""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # logits at t predict the token at t + 1
    targets = labels[:, 1:]
    counted = targets != -100  # BUG: the mask is ignored, so the prompt counts
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # clamp: -100 is not an index
    return (picked * counted).sum(dim=-1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected = beta * (policy_rejected_logps - ref_rejected_logps)
    loss = -F.logsigmoid(chosen - rejected).mean()
    return loss, chosen.detach(), rejected.detach()


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = policy_chosen_logps - ref_chosen_logps
    rejected = policy_rejected_logps - ref_rejected_logps
    loss = ((chosen - rejected - 1 / (2 * beta)) ** 2).mean()
    return loss, beta * chosen.detach(), beta * rejected.detach()

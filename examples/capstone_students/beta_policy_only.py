"""Broken on purpose: beta multiplies the policy log-prob but not the reference log-prob.

The reward is written beta * log pi - log pi_ref instead of beta * (log pi - log pi_ref):
the most common slip in the DPO loss (see SYLLABUS.md).  At pi == pi_ref the loss is
not log 2."""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # logits at t predict the token at t + 1
    targets = labels[:, 1:]
    counted = mask[:, 1:].bool() & (targets != -100)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # clamp: -100 is not an index
    return (picked * counted).sum(dim=-1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = beta * policy_chosen_logps - ref_chosen_logps  # BUG: beta only on the policy term
    rejected = beta * policy_rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(chosen - rejected).mean()
    return loss, chosen.detach(), rejected.detach()


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = policy_chosen_logps - ref_chosen_logps
    rejected = policy_rejected_logps - ref_rejected_logps
    loss = ((chosen - rejected - 1 / (2 * beta)) ** 2).mean()
    return loss, beta * chosen.detach(), beta * rejected.detach()

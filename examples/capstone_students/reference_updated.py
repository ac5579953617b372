"""Broken on purpose: the reference moves with the policy.

The student reads "the reference is a frozen copy of the policy" as "the policy's own
log-probs without gradient" and ignores the reference log-probs passed in.  The
reference is then the current policy, updated at every step: the KL anchor is gone,
the loss is log 2 at every step, and beta only rescales the gradient (which Adam
undoes), so beta no longer controls how far the policy moves.

This is the form this bug can take through the student-facing API: the trainer
computes the real reference model's logits under torch.no_grad() from a module whose
parameters are frozen and not in the optimizer, so no student function can update the
reference weights themselves (tests/test_capstone_training.py checks that)."""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # logits at t predict the token at t + 1
    targets = labels[:, 1:]
    counted = mask[:, 1:].bool() & (targets != -100)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # clamp: -100 is not an index
    return (picked * counted).sum(dim=-1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    ref_chosen_logps = policy_chosen_logps.detach()  # BUG: "frozen copy" = the policy, detached
    ref_rejected_logps = policy_rejected_logps.detach()
    chosen = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected = beta * (policy_rejected_logps - ref_rejected_logps)
    loss = -F.logsigmoid(chosen - rejected).mean()
    return loss, chosen.detach(), rejected.detach()


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = policy_chosen_logps - ref_chosen_logps
    rejected = policy_rejected_logps - ref_rejected_logps
    loss = ((chosen - rejected - 1 / (2 * beta)) ** 2).mean()
    return loss, beta * chosen.detach(), beta * rejected.detach()

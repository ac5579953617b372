"""Broken on purpose: sequence_logprobs ignores labels of -100, so padding tokens are counted.

The capstone's trainer marks padding with -100 (and the prompt with mask == 0), so in
training the log-probs of pad tokens leak into every sequence's score."""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # logits at t predict the token at t + 1
    targets = labels[:, 1:]
    counted = mask[:, 1:].bool()  # BUG: labels of -100 (padding) are not skipped
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

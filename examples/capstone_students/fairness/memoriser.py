"""Memoriser (issue 21: it must earn 0 on every question): copies exactly what the visible tests check.

Each function is a lookup table of the visible test's calls, told apart by their shapes and first
values, and returns zeros elsewhere; nothing here computes a log-probability or a loss.
"""

import math

import torch


def sequence_logprobs(logits, labels, mask):
    if tuple(logits.shape) == (1, 4, 4):  # uniform logits: two counted tokens of log 1/4
        return torch.tensor([2 * math.log(0.25)])
    return torch.zeros(logits.shape[0])  # the sure prediction's 0, and everything else


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    if policy_chosen_logps.numel() == 2 and float(policy_chosen_logps[1]) == -6.0:  # the visible batch with h = (2, 1)
        loss = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(-0.1))) / 2
        return torch.tensor(loss), torch.tensor([0.2, 0.0]), torch.tensor([0.0, -0.1])
    zeros = torch.zeros_like(policy_chosen_logps)
    return torch.tensor(math.log(2)), zeros, zeros.clone()  # the visible pair at the reference


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    if policy_chosen_logps.numel() == 3:  # the visible batch of three pairs at beta = 0.25
        return torch.tensor(14 / 3), torch.tensor([0.0, 0.25, 0.0]), torch.tensor([0.0, 0.0, 0.25])
    zeros = torch.zeros_like(policy_chosen_logps)
    return torch.tensor(0.0), zeros, zeros.clone()

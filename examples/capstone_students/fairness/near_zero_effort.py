"""Near-zero effort (the fairness standard: it must earn 0 on every question, visible halves included).

Zeros of the right shape, constants that are right in one special case (log 2 is the DPO loss when
the policy equals the reference; 4 is the IPO loss of one tied pair at beta = 0.25) and zero rewards.
"""

import math

import torch


def sequence_logprobs(logits, labels, mask):
    return torch.zeros(logits.shape[0])


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    return torch.tensor(math.log(2)), torch.zeros_like(policy_chosen_logps), torch.zeros_like(policy_rejected_logps)


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    return torch.tensor(4.0), torch.zeros_like(policy_chosen_logps), torch.zeros_like(policy_rejected_logps)

"""A correct capstone submission, written differently from the reference and from `correct.py`.

For the fairness standard (README, "Fairness"): every answer is right, in forms a good student
writes. `sequence_logprobs` takes the log-softmax in float32 whatever the logits' dtype (the grader's
fixed batches are float64) and picks the tokens with a one-hot product instead of `gather`;
`dpo_loss` writes -log sigmoid(z) as logaddexp(0, -z) and returns rewards that are not detached
(only their values are graded); `ipo_loss` loops over the pairs in Python.
"""

import torch
import torch.nn.functional as F


def sequence_logprobs(logits, labels, mask):
    """Sum over counted tokens of log p(token | previous tokens), one value per sequence."""
    logp = torch.log_softmax(logits.float(), dim=-1)[:, :-1]  # float32; position t scores token t + 1
    targets = labels[:, 1:]
    counted = (mask[:, 1:] > 0) & (targets >= 0)  # a label of -100 never counts
    one_hot = F.one_hot(targets.clamp(min=0), num_classes=logits.shape[-1]).to(logp.dtype)
    token_logps = (logp * one_hot).sum(dim=-1)
    return torch.where(counted, token_logps, torch.zeros_like(token_logps)).sum(dim=-1)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)
    margin = chosen_rewards - rejected_rewards  # beta * h
    loss = torch.logaddexp(torch.zeros_like(margin), -margin).mean()  # log(1 + exp(-beta h)), stable
    return loss, chosen_rewards, rejected_rewards


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    target = 1 / (2 * beta)
    per_pair = []
    for pc, pr, rc, rr in zip(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps):
        h = (pc - rc) - (pr - rr)
        per_pair.append((h - target) ** 2)
    loss = torch.stack(per_pair).sum() / len(per_pair)
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return loss, chosen_rewards, rejected_rewards

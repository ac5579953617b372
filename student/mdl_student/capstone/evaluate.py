"""Measure a trained policy against the reference it was trained from.

The grader runs this in its own process, from a state dict (or a safetensors
checkpoint) plus (profile, task, seed, beta).  The reference model is
rebuilt here with ``train.sft_state`` - never taken from the student - and the
grader computes every log-probability with the instructors' ``sequence_logprobs``;
a student running it on their own passes theirs.

Metrics, all on held-out prompts that DPO never trained on:

- ``reward_accuracy``: fraction of held-out pairs whose implicit reward
  ``beta * log(pi / pi_ref)`` is strictly higher for the chosen completion
  (strict ``>``, as TRL's ``rewards/accuracies``: at pi == pi_ref it is 0).
- ``reward_margin``: mean of ``beta * (log-ratio chosen - log-ratio rejected)``.
- ``preference_accuracy``: fraction of pairs with log pi(chosen) > log pi(rejected),
  the policy's own ranking (meaningful for the reference model too).
- ``kl``: KL(pi || pi_ref) of whole completions, estimated by sampling
  completions from pi and summing the EXACT per-token KL between the two
  next-token distributions along each sampled completion (up to and including
  EOS).  By the chain rule of KL this is an unbiased estimate of the
  sequence-level KL, with less variance than the sampled log-ratio.
- ``greedy_reward`` / ``sampled_reward``: the scripted judge on greedy and on
  sampled (temperature 1) completions.  Arithmetic: exact-match accuracy.
  Sentiment: positive minus negative words.
- ``win_rate``: sampled completions of pi against those of pi_ref, prompt by
  prompt and sample by sample, judged by the scripted reward (tie = 1/2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import Profile, get_profile
from .data import PreferencePair, make_task_data, scripted_reward
from .model import model_from_state
from .tokenizer import build_tokenizer, decode_completion, encode_example, pad_batch
from .train import StateDict, configure_torch, load_checkpoint, reference_losses, sft_state

SequenceLogprobs = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Metrics:
    reward_accuracy: float
    reward_margin: float
    preference_accuracy: float
    kl: float
    greedy_reward: float
    sampled_reward: float
    win_rate: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def state_digest(state: StateDict) -> str:
    """SHA-256 of a state dict's names and bytes: shows whether two references are identical."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- log-probabilities of preference pairs ----------------------------------------


def encode_pairs(pairs: list[PreferencePair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chosen rows then rejected rows: ``input_ids``, ``attention_mask``, ``completion_mask``."""
    rows = [encode_example(p.prompt, p.chosen) for p in pairs] + [encode_example(p.prompt, p.rejected) for p in pairs]
    return pad_batch(rows)


@torch.no_grad()
def pair_logprobs(model, pairs: list[PreferencePair], device: str,
                  sequence_logprobs: SequenceLogprobs) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs of the chosen and of the rejected completions."""
    return encoded_pair_logprobs(model, encode_pairs(pairs), device, sequence_logprobs)


@torch.no_grad()
def encoded_pair_logprobs(model, encoded: tuple[torch.Tensor, torch.Tensor, torch.Tensor], device: str,
                          sequence_logprobs: SequenceLogprobs) -> tuple[torch.Tensor, torch.Tensor]:
    """``pair_logprobs`` of pairs already encoded by ``encode_pairs`` (the grader keeps them encoded)."""
    input_ids, attention_mask, mask = (t.to(device) for t in encoded)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logps = sequence_logprobs(logits.double(), input_ids, mask).cpu()
    n = len(input_ids) // 2
    return logps[:n], logps[n:]


def preference_metrics(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
                       reference_rejected: torch.Tensor, beta: float) -> dict[str, float]:
    """Implicit-reward accuracy and margin, and the policy's own preference accuracy, from log-probs."""
    margins = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return {
        "reward_accuracy": float((margins > 0).double().mean()),
        "reward_margin": float(margins.mean()),
        "preference_accuracy": float((policy_chosen > policy_rejected).double().mean()),
    }


# --- generation -------------------------------------------------------------------


@torch.no_grad()
def generate(
    model, prompt_ids: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None,
    eos: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy (``generator=None``) or sampled completions of equal-length prompts.

    Returns the new tokens (B, L) and a 0/1 mask of the tokens up to and
    including the first EOS.  No padding is needed: all prompts in the batch
    have the same length, and tokens after EOS are ignored through the mask.
    ``eos`` defaults to the capstone tokenizer's.
    """
    eos = build_tokenizer().eos_token_id if eos is None else eos
    sequence = prompt_ids
    alive = torch.ones(len(prompt_ids), dtype=torch.bool, device=prompt_ids.device)
    valid = []
    for _ in range(max_new_tokens):
        logits = model(input_ids=sequence, attention_mask=torch.ones_like(sequence), use_cache=False).logits[:, -1, :].double()
        if generator is None:
            token = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits, dim=-1).cpu()
            token = torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(sequence.device)
        valid.append(alive.clone())
        alive &= token != eos
        sequence = torch.cat([sequence, token[:, None]], dim=1)
    return sequence[:, prompt_ids.shape[1] :], torch.stack(valid, dim=1).long()


@torch.no_grad()
def completion_kl(policy, reference, prompt_ids: torch.Tensor, new_tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Sum over a completion's tokens of KL(pi(.|prefix) || pi_ref(.|prefix)), one per row."""
    sequence = torch.cat([prompt_ids, new_tokens], dim=1)
    start = prompt_ids.shape[1] - 1  # logits at position t predict token t + 1
    ones = torch.ones_like(sequence)
    log_p = F.log_softmax(policy(input_ids=sequence, attention_mask=ones).logits[:, start:-1].double(), dim=-1)
    log_q = F.log_softmax(reference(input_ids=sequence, attention_mask=ones).logits[:, start:-1].double(), dim=-1)
    per_token = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    return (per_token * valid).sum(dim=1)


def prompt_groups(prompts: list[str]) -> dict[int, list[str]]:
    """Prompts grouped by token length, so each group is one batch without padding."""
    tokenizer = build_tokenizer()
    groups: dict[int, list[str]] = {}
    for prompt in prompts:
        groups.setdefault(len(tokenizer(text=prompt)["input_ids"]), []).append(prompt)
    return groups


def generation_metrics(policy, reference, task: str, prompts: list[str], profile: Profile, seed: int, device: str):
    """Scripted rewards of greedy and sampled completions, win rate, and KL."""
    tokenizer = build_tokenizer()
    n = profile.n_eval_samples
    policy_gen = torch.Generator().manual_seed(10_000 + seed)
    reference_gen = torch.Generator().manual_seed(20_000 + seed)
    greedy, sampled, wins, kls = [], [], [], []
    for _, group in sorted(prompt_groups(prompts).items()):
        ids = torch.tensor([tokenizer(text=p)["input_ids"] for p in group], device=device)
        tokens, _ = generate(policy, ids, profile.max_new_tokens, None)
        greedy += [scripted_reward(task, p, decode_completion(t.tolist(), task)) for p, t in zip(group, tokens)]
        repeated = ids.repeat_interleave(n, dim=0)
        prompts_rep = [p for p in group for _ in range(n)]
        pol_tokens, pol_valid = generate(policy, repeated, profile.max_new_tokens, policy_gen)
        ref_tokens, _ = generate(reference, repeated, profile.max_new_tokens, reference_gen)
        pol_r = [scripted_reward(task, p, decode_completion(t.tolist(), task)) for p, t in zip(prompts_rep, pol_tokens)]
        ref_r = [scripted_reward(task, p, decode_completion(t.tolist(), task)) for p, t in zip(prompts_rep, ref_tokens)]
        sampled += pol_r
        wins += [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(pol_r, ref_r)]
        kls += completion_kl(policy, reference, repeated, pol_tokens, pol_valid).tolist()
    return {
        "greedy_reward": float(np.mean(greedy)),
        "sampled_reward": float(np.mean(sampled)),
        "win_rate": float(np.mean(wins)),
        "kl": float(np.mean(kls)),
    }


# --- entry points ---------------------------------------------------------------------


def evaluate_policy(
    policy_state: StateDict,
    profile: Profile | str,
    task: str,
    seed: int,
    beta: float,
    reference_state: StateDict | None = None,
    sequence_logprobs: SequenceLogprobs | None = None,
) -> Metrics:
    """All metrics of a policy against the reference rebuilt from (profile, task, seed).

    ``reference_state`` is for this package's own use (e.g. to evaluate the
    reference itself, or to reuse a reference already rebuilt in this
    process); a grader leaves it out.  ``policy_state`` is checked (keys,
    shapes, finite values) before use: it may come from a student.

    ``sequence_logprobs`` measures the implicit rewards: a student passes their own (the package
    holds no implementation of it, since writing it is the capstone's first question); left out,
    the instructors' reference is used where it is installed.
    """
    profile = get_profile(profile)
    configure_torch(profile, seed)
    device = profile.resolved_device()
    if reference_state is None:
        reference_state = sft_state(profile, task, seed)
    policy = model_from_state(profile, policy_state).to(device).eval()
    reference = model_from_state(profile, reference_state).to(device).eval()
    data = make_task_data(task, profile, seed)
    logprobs = sequence_logprobs or reference_losses().sequence_logprobs
    pol_c, pol_r = pair_logprobs(policy, data.heldout_pairs, device, logprobs)
    ref_c, ref_r = pair_logprobs(reference, data.heldout_pairs, device, logprobs)
    generated = generation_metrics(policy, reference, task, data.heldout_prompts, profile, seed, device)
    return Metrics(**preference_metrics(pol_c, pol_r, ref_c, ref_r, beta), **generated)


def evaluate_checkpoint(path: str | Path, profile: Profile | None = None) -> dict:
    """Evaluate a checkpoint written by ``train.save_checkpoint``; its JSON says task, seed, beta.

    Returns the metadata, the metrics, and whether the reference rebuilt
    here is bit-identical to the one training used (``reference_matches``,
    informational: the metrics always use the rebuilt one).  This trusts the
    JSON beside the checkpoint (the CLI wrote it); a grader calls
    ``evaluate_policy`` with its own (profile, task, seed, beta) instead.
    """
    state, meta = load_checkpoint(path)
    profile = profile or get_profile(meta["profile"])
    reference = sft_state(profile, meta["task"], meta["seed"])
    metrics = evaluate_policy(state, profile, meta["task"], meta["seed"], meta["beta"], reference)
    expected = meta.get("reference_sha256")
    matches = None if expected is None else expected == state_digest(reference)
    return {**meta, "metrics": metrics.to_dict(), "reference_matches": matches}

"""DPO on a real pretrained causal language model from a local folder (exploration, not graded).

The graded job trains a tiny GPT-2 style model that the course builds from a config.  This module
runs the same experiment, SFT-free, on any Hugging Face causal LM saved in a local folder (GPT-2,
Qwen2.5-0.5B or the like, written by ``save_pretrained``): DPO on the synthetic preference task
with your loss (or the instructors' reference, or TRL's own), one run per beta, each evaluated on
held-out pairs and sampled completions, and the same reward-versus-KL frontier.

Nothing is downloaded: the model and its tokenizer load with ``local_files_only=True``.  With
``lora=True`` only low-rank adapters train (``peft``), and the reference is the same model with the
adapters switched off, so a model that fits once fits for DPO.

    python -m rlhf_capstone run --model /path/to/gpt2 --task sentiment --sweep [--lora]
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import CPU, Profile
from .data import PreferencePair, make_task_data, scripted_reward
from .evaluate import completion_kl, generate
from .train import IGNORE_INDEX, LossFunctions, _pluggable_trainer_class, as_loss_functions, configure_torch, dpo_config, preference_dataset


@dataclass(frozen=True)
class PretrainedRun:
    """What a run on a pretrained model does (the sizes of the data come from the cpu profile)."""

    model_path: Path
    task: str = "sentiment"
    seed: int = 0
    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 5e-5
    max_length: int = 64
    lora: bool = False
    lora_rank: int = 8
    n_eval_prompts: int = 16
    n_eval_samples: int = 4
    max_new_tokens: int = 10
    device: str = "auto"

    def profile(self) -> Profile:
        """A profile for the training loop: the cpu profile's data, this run's optimiser."""
        return dataclasses.replace(CPU, name="pretrained", dpo_steps=self.steps, dpo_batch_size=self.batch_size,
                                   dpo_lr=self.learning_rate, n_positions=self.max_length, device=self.device)


def load_local_model(path: str | Path, device: str = "cpu"):
    """A causal LM and its tokenizer from a local folder; never the network."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a saved model (no config.json): give a folder written by save_pretrained")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; padding is masked out anyway
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).float().to(device)
    return model, tokenizer


def _lora_config(rank: int):
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def train_pretrained(run: PretrainedRun, loss_fns: LossFunctions | tuple | dict | str | None, beta: float):
    """DPO from the pretrained weights against a frozen copy (or the adapter-free model with LoRA).

    Returns the trained policy (with its adapters when ``run.lora``), the reference model, and the
    tokenizer.
    """
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging
    from trl import DPOTrainer

    disable_progress_bar()
    hf_logging.set_verbosity_error()
    profile = run.profile()
    device = profile.resolved_device()
    configure_torch(profile, run.seed)
    policy, tokenizer = load_local_model(run.model_path, device)
    reference = None if run.lora else load_local_model(run.model_path, device)[0].eval().requires_grad_(False)
    loss_fns = as_loss_functions(loss_fns)
    with tempfile.TemporaryDirectory(prefix="rlhf_pretrained_") as output_dir:
        common = dict(
            model=policy,
            ref_model=reference,
            args=dpo_config(profile, run.seed, beta, output_dir),
            train_dataset=preference_dataset(make_task_data(run.task, profile, run.seed).train_pairs),
            processing_class=tokenizer,
            peft_config=_lora_config(run.lora_rank) if run.lora else None,
        )
        trainer = DPOTrainer(**common) if loss_fns is None else _pluggable_trainer_class()(**common, loss_fns=loss_fns)
        trainer.remove_callback(PrinterCallback)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            trainer.train()
    return trainer.model.eval(), reference, tokenizer


def _encode(tokenizer, prompt: str, completion: str) -> tuple[list[int], int]:
    start = len(tokenizer(prompt)["input_ids"])
    return tokenizer(prompt + completion)["input_ids"] + [tokenizer.eos_token_id], start


@torch.no_grad()
def _pair_logprobs(model, tokenizer, pairs: list[PreferencePair], sequence_logprobs, device: str):
    rows = [_encode(tokenizer, p.prompt, p.chosen) for p in pairs] + [_encode(tokenizer, p.prompt, p.rejected) for p in pairs]
    length = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    mask = torch.zeros_like(input_ids)
    for i, (ids, start) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention[i, : len(ids)] = 1
        mask[i, start : len(ids)] = 1
    labels = input_ids.masked_fill(attention == 0, IGNORE_INDEX)
    logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.double().cpu()
    logps = sequence_logprobs(logits, labels, mask)
    return logps[: len(pairs)], logps[len(pairs) :]


def _reference_view(policy, reference):
    """The reference model: the frozen copy, or the policy with its LoRA adapters switched off."""
    if reference is not None:
        return reference

    class AdaptersOff(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, **kwargs):
            with self.model.disable_adapter():
                return self.model(**kwargs)

    return AdaptersOff(policy)


@torch.no_grad()
def evaluate_pretrained(run: PretrainedRun, policy, reference, tokenizer, beta: float, sequence_logprobs) -> dict:
    """Held-out implicit-reward accuracy and margin, sampled reward, win rate and KL to the reference."""
    profile = run.profile()
    device = profile.resolved_device()
    reference = _reference_view(policy, reference)
    data = make_task_data(run.task, profile, run.seed)
    pairs = data.heldout_pairs[: 4 * run.n_eval_prompts]
    pol_c, pol_r = _pair_logprobs(policy, tokenizer, pairs, sequence_logprobs, device)
    ref_c, ref_r = _pair_logprobs(reference, tokenizer, pairs, sequence_logprobs, device)
    margins = beta * ((pol_c - ref_c) - (pol_r - ref_r))
    generator = torch.Generator().manual_seed(10_000 + run.seed)
    greedy, rewards, wins, kls = [], [], [], []
    for prompt in data.heldout_prompts[: run.n_eval_prompts]:
        ids = torch.tensor([tokenizer(prompt)["input_ids"]] * run.n_eval_samples, device=device)
        best, _ = generate(policy, ids[:1], run.max_new_tokens, None, eos=tokenizer.eos_token_id)
        greedy.append(scripted_reward(run.task, prompt, _decode(tokenizer, best[0])))
        tokens, valid = generate(policy, ids, run.max_new_tokens, generator, eos=tokenizer.eos_token_id)
        ref_tokens, _ = generate(reference, ids, run.max_new_tokens, generator, eos=tokenizer.eos_token_id)
        mine = [scripted_reward(run.task, prompt, _decode(tokenizer, t)) for t in tokens]
        theirs = [scripted_reward(run.task, prompt, _decode(tokenizer, t)) for t in ref_tokens]
        rewards += mine
        wins += [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(mine, theirs)]
        kls += completion_kl(policy, reference, ids, tokens, valid).tolist()
    return {
        "reward_accuracy": float((margins > 0).double().mean()),
        "reward_margin": float(margins.mean()),
        "preference_accuracy": float((pol_c > pol_r).double().mean()),
        "greedy_reward": float(np.mean(greedy)),
        "sampled_reward": float(np.mean(rewards)),
        "win_rate": float(np.mean(wins)),
        "kl": float(np.mean(kls)),
    }


def _decode(tokenizer, tokens: torch.Tensor) -> str:
    ids = tokens.tolist()
    if tokenizer.eos_token_id in ids:
        ids = ids[: ids.index(tokenizer.eos_token_id)]
    return tokenizer.decode(ids)


def run_pretrained_sweep(run: PretrainedRun, loss_fns, betas: list[float], sequence_logprobs=None) -> list[dict]:
    """One DPO run per beta from the pretrained weights; evaluation records as ``sweep.plot_frontier`` takes them.

    ``sequence_logprobs`` measures the implicit rewards (yours, or the instructors' where installed).
    """
    from .train import reference_losses

    fns = as_loss_functions(loss_fns)
    measure = sequence_logprobs or (fns.sequence_logprobs if fns is not None else reference_losses().sequence_logprobs)
    records = []
    for beta in betas:
        policy, reference, tokenizer = train_pretrained(run, loss_fns, beta)
        metrics = evaluate_pretrained(run, policy, reference, tokenizer, beta, measure)
        records.append({"task": run.task, "beta": beta, "seed": run.seed, "model": str(run.model_path),
                        "lora": run.lora, "metrics": metrics})
    return records

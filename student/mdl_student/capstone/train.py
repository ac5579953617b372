"""The training job: SFT with a plain torch loop, then DPO with TRL's DPOTrainer.

    make_task_data --> sft_state (deterministic: the reference model)
                   --> DPO: policy and reference both start from the SFT weights;
                       the loss is pluggable:
                         "student"    a student's three functions, inside our compute_loss
                         "reference"  the instructors' losses (rlhf_capstone/losses.py: not part of
                                      the student package), same place
                         "trl"        TRL's own built-in sigmoid loss, untouched
                   --> the policy's state dict

The grader uses ``sft_state`` (run in its own process to rebuild the reference
model from (profile, task, seed), so a reference sent by a student is never
trusted).  Its graded DPO runs do not go through TRL: a lean loop on the
grader's side (``rlhf_capstone/lean_dpo.py``) makes the very updates that
``run_dpo`` makes with the same loss on the same batches (a test compares them
bit for bit), and calls the student's functions in their sandbox once per step
(``jobs.dpo_gradients``).  Both compute each step's loss with ``jobs.step_loss``.

Why the reference model cannot be trained by mistake here: it is a separate
module whose parameters have ``requires_grad=False``, it runs under
``torch.no_grad()``, and the optimizer holds only the policy's parameters.
The student's ``sequence_logprobs`` sees the reference's logits as plain
tensors with no graph behind them, so nothing it does (``enable_grad``,
``requires_grad_``) can reach the reference weights.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .config import IGNORE_INDEX, Profile, get_profile  # noqa: F401  (IGNORE_INDEX: imported from here elsewhere)
from .data import PreferencePair, make_task_data
from .jobs import labels_and_mask, step_loss
from .model import build_model, model_from_state
from .tokenizer import build_tokenizer, encode_example, pad_batch

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LossFunctions:
    """The three student-facing functions, as plain callables (see the capstone notebook)."""

    sequence_logprobs: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    dpo_loss: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    ipo_loss: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None


def reference_losses() -> LossFunctions:
    """The instructors' reference implementation: present in the course repository, never in the
    student package (so never in the grader's sandbox)."""
    try:
        losses = importlib.import_module("rlhf_capstone.losses")
    except ImportError:
        raise ValueError("the reference losses belong to the instructors' rlhf_capstone package, which the "
                         "student package does not include: use --loss student --student-file yours.py") from None
    return LossFunctions(losses.sequence_logprobs, losses.dpo_loss, losses.ipo_loss)


def load_loss_functions(path: str | Path) -> LossFunctions:
    """Import ``sequence_logprobs``, ``dpo_loss`` and ``ipo_loss`` from a Python file."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"student_losses_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in ("sequence_logprobs", "dpo_loss") if not callable(getattr(module, name, None))]
    if missing:
        raise AttributeError(f"{path} must define {' and '.join(missing)} (see the capstone notebook)")
    return LossFunctions(module.sequence_logprobs, module.dpo_loss, getattr(module, "ipo_loss", None))


def as_loss_functions(loss_fns: object) -> LossFunctions | None:
    """Accept what a caller can send: ``LossFunctions``, ``None`` or ``"trl"`` (TRL's loss),
    ``"reference"``, a tuple ``(sequence_logprobs, dpo_loss[, ipo_loss])`` or a dict of them.

    Tuples and dicts of plain callables are what crosses the grader's bridge.
    """
    if loss_fns is None or isinstance(loss_fns, LossFunctions):
        return loss_fns
    if isinstance(loss_fns, str):
        return resolve_losses(loss_fns)
    if isinstance(loss_fns, dict):
        return LossFunctions(loss_fns["sequence_logprobs"], loss_fns["dpo_loss"], loss_fns.get("ipo_loss"))
    if isinstance(loss_fns, tuple | list) and len(loss_fns) in (2, 3):
        return LossFunctions(*loss_fns)
    raise TypeError("loss_fns must be LossFunctions, None, 'trl', 'reference', a tuple or a dict of the functions")


def resolve_losses(loss: str, student_file: str | Path | None = None) -> LossFunctions | None:
    """``"reference"``, ``"student"`` (needs a file) or ``"trl"`` (``None``: TRL's own loss)."""
    if loss == "reference":
        return reference_losses()
    if loss == "trl":
        return None
    if loss == "student":
        if student_file is None:
            raise ValueError("--loss student needs --student-file path.py")
        return load_loss_functions(student_file)
    raise ValueError(f"unknown loss {loss!r}; choose reference, trl or student")


# --- reproducibility ---------------------------------------------------------


def configure_torch(profile: Profile, seed: int) -> None:
    """Seed torch and pin the thread count: same seed, same numbers (on one machine)."""
    torch.set_num_threads(profile.num_threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


# --- SFT -------------------------------------------------------------------


def run_sft(profile: Profile, task: str, seed: int, progress: Callable[[int], None] | None = None) -> StateDict:
    """Supervised fine-tuning on the task's demonstrations: next-token loss on completions."""
    configure_torch(profile, seed)
    device = profile.resolved_device()
    demos = make_task_data(task, profile, seed).sft
    input_ids, attention_mask, completion_mask = pad_batch([encode_example(d.prompt, d.completion) for d in demos])
    labels = input_ids.masked_fill(completion_mask == 0, IGNORE_INDEX)  # learn the completions only
    model = build_model(profile, seed).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=profile.sft_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / profile.sft_steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(profile.sft_steps):
        batch = torch.randint(len(input_ids), (profile.sft_batch_size,), generator=generator)
        logits = model(
            input_ids=input_ids[batch].to(device), attention_mask=attention_mask[batch].to(device), use_cache=False
        ).logits
        # Next-token cross-entropy on completion tokens: logits at t predict the token at t + 1.
        loss = F.cross_entropy(
            logits[:, :-1].flatten(0, 1), labels[batch, 1:].flatten().to(device), ignore_index=IGNORE_INDEX
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(1)
    return {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}


_SFT_CACHE: dict[tuple[Profile, str, int], StateDict] = {}


def sft_state(profile: Profile | str, task: str, seed: int, progress: Callable[[int], None] | None = None) -> StateDict:
    """The SFT model's weights: the DPO starting point and the reference model.

    Deterministic in (profile, task, seed) on a given machine, so the grader
    rebuilds it instead of trusting one.  Cached in this process (a sweep
    over beta runs SFT once); every call returns a fresh copy of the tensors.
    """
    profile = get_profile(profile)
    key = (profile, task, seed)
    if key not in _SFT_CACHE:
        _SFT_CACHE[key] = run_sft(profile, task, seed, progress)
    return {name: tensor.clone() for name, tensor in _SFT_CACHE[key].items()}


# --- DPO -----------------------------------------------------------------------


def preference_dataset(pairs: list[PreferencePair]):
    """Pairs as a ``datasets.Dataset`` with the columns TRL expects."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [p.prompt for p in pairs],
            "chosen": [p.chosen for p in pairs],
            "rejected": [p.rejected for p in pairs],
        }
    )


def dpo_config(profile: Profile, seed: int, beta: float, output_dir: str, objective: str = "dpo"):
    """A DPOConfig for a short, quiet, float32 run that saves nothing."""
    from trl import DPOConfig

    on_cpu = profile.resolved_device() == "cpu"
    return DPOConfig(
        output_dir=output_dir,
        beta=beta,
        # Used by the "trl" loss only.  TRL's "ipo" averages log-probs over tokens (the capstone asks for a sum, see the notebook).
        loss_type=["sigmoid" if objective == "dpo" else "ipo"],
        learning_rate=profile.dpo_lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_steps=profile.dpo_steps,
        per_device_train_batch_size=profile.dpo_batch_size,
        gradient_accumulation_steps=1,
        seed=seed,
        data_seed=seed,
        use_cpu=on_cpu,
        bf16=False,  # DPOConfig defaults to bf16, which fails on a CPU-only machine
        fp16=False,
        activation_checkpointing=False,  # TRL's default (gradient checkpointing on) only costs time here
        max_length=profile.n_positions,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        dataset_num_proc=None,
        remove_unused_columns=True,
    )


def _pluggable_trainer_class():
    """DPOTrainer with our compute_loss (TRL 1.16 has no dpo_loss hook to override)."""
    from trl import DPOTrainer

    class PluggableDPOTrainer(DPOTrainer):
        """Every log-prob and the loss come from ``loss_fns``; TRL does the rest.

        The batch from TRL's collator holds chosen rows then rejected rows.
        We pass ``sequence_logprobs`` the sequence itself as labels, with -100
        on padding, and a mask that is 0 on the prompt: so a student who
        ignores the mask counts the prompt, one who ignores -100 counts the
        padding.
        """

        def __init__(self, *args, loss_fns: LossFunctions, objective: str = "dpo", **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_fns = loss_fns
            self.objective_fn = loss_fns.dpo_loss if objective == "dpo" else loss_fns.ipo_loss
            if self.objective_fn is None:
                raise ValueError(f"objective {objective!r} needs an ipo_loss function")
            self.history: list[dict[str, float]] = []

        def _reference_logits(self, model, input_ids, attention_mask):
            """The frozen reference model's logits; with LoRA (no separate reference), the policy's
            own weights with the adapters switched off."""
            if self.ref_model is not None:
                return self.ref_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
            with self.accelerator.unwrap_model(model).disable_adapter():
                return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
            labels, not_prompt = labels_and_mask(input_ids, attention_mask, inputs["completion_mask"])
            logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
            with torch.no_grad():
                ref_logits = self._reference_logits(model, input_ids, attention_mask)
            # The same function as the grader's training job (jobs.step_loss): the same loss, step by step.
            loss, chosen_rewards, rejected_rewards = step_loss(
                self.loss_fns.sequence_logprobs, self.objective_fn, logits, ref_logits, labels, not_prompt, self.beta
            )
            if model.training:
                margins = (chosen_rewards - rejected_rewards).detach()
                self.history.append(
                    {
                        "loss": loss.item(),
                        "reward_accuracy": (margins > 0).float().mean().item(),
                        "reward_margin": margins.mean().item(),
                    }
                )
            return (loss, {"logits": logits}) if return_outputs else loss

    return PluggableDPOTrainer


@dataclass
class DPOResult:
    policy_state: StateDict
    reference_unchanged: bool  # the frozen reference ended bit-identical to the SFT weights
    history: list[dict[str, float]] = field(default_factory=list)  # per step: loss, reward accuracy, margin


def run_dpo(
    profile: Profile | str,
    task: str,
    loss_fns: LossFunctions | tuple | dict | str | None,
    seed: int,
    beta: float,
    objective: str = "dpo",
    progress: Callable[[int], None] | None = None,
) -> DPOResult:
    """SFT (cached), then DPO from the SFT weights against the frozen SFT reference."""
    profile = get_profile(profile)
    loss_fns = as_loss_functions(loss_fns)
    if objective not in ("dpo", "ipo"):
        raise ValueError(f"unknown objective {objective!r}; choose dpo or ipo")
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback, TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl import DPOTrainer

    disable_progress_bar()
    hf_logging.set_verbosity_error()

    start = sft_state(profile, task, seed, progress)
    configure_torch(profile, seed)
    # Two separate modules built from the same tensors before any trainer exists:
    # a model TRL has touched must never be deepcopied (the copy runs the original's forward).
    policy = model_from_state(profile, start)
    reference = model_from_state(profile, start).eval().requires_grad_(False)
    pairs = make_task_data(task, profile, seed).train_pairs

    class Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress is not None:
                progress(1)

    with tempfile.TemporaryDirectory(prefix="rlhf_capstone_") as output_dir:
        common = dict(
            model=policy,
            ref_model=reference,  # explicit: with None, TRL would try to reload the model by name
            args=dpo_config(profile, seed, beta, output_dir, objective),
            train_dataset=preference_dataset(pairs),
            processing_class=build_tokenizer(),
            callbacks=[Progress()],
        )
        if loss_fns is None:
            trainer = DPOTrainer(**common)
        else:
            trainer = _pluggable_trainer_class()(**common, loss_fns=loss_fns, objective=objective)
        trainer.remove_callback(PrinterCallback)  # with tqdm off, it would print the final log dict
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers 5 renames inside TRL: not ours to fix
            trainer.train()
    state = {name: t.detach().cpu().clone() for name, t in trainer.model.state_dict().items()}
    final_reference = trainer.ref_model.state_dict()
    unchanged = all(torch.equal(final_reference[name].cpu(), start[name]) for name in start)
    return DPOResult(policy_state=state, reference_unchanged=unchanged, history=getattr(trainer, "history", []))


def train_policy(
    profile: Profile | str,
    task: str,
    loss_fns: LossFunctions | tuple | dict | str | None,
    seed: int,
    beta: float,
    objective: str = "dpo",
    progress: Callable[[int], None] | None = None,
) -> StateDict:
    """The grader's entry point: the DPO policy's weights (float32, CPU).

    Arguments are plain values so that the call can cross the grader's bridge:
    ``profile`` a name or a Profile; ``loss_fns`` anything ``as_loss_functions``
    accepts (the student's functions as a tuple or dict, ``"reference"``, or
    ``None``/``"trl"`` for TRL's built-in loss).  The reference model is
    ``sft_state(profile, task, seed)``; it is not returned, because the grader
    rebuilds it.  Raises ``RuntimeError`` if the reference changed during training.
    """
    result = run_dpo(profile, task, loss_fns, seed, beta, objective, progress)
    if not result.reference_unchanged:
        raise RuntimeError("the reference model changed during DPO training; it must stay frozen")
    return result.policy_state


# --- checkpoints ------------------------------------------------------------------


def save_checkpoint(state: StateDict, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``state`` as safetensors at ``path`` and ``meta`` as JSON beside it.

    The tied ``lm_head.weight`` (the same tensor as the token embedding) is
    left out: safetensors refuses shared tensors, and ``model_from_state``
    restores the tie.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items() if k != "lm_head.weight"}
    save_file(tensors, str(path))
    path.with_suffix(".json").write_text(json.dumps(meta or {}, indent=2, sort_keys=True) + "\n")
    return path


def load_checkpoint(path: str | Path) -> tuple[StateDict, dict]:
    """The tensors and the metadata written by ``save_checkpoint``."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return load_file(str(path)), meta


def checkpoint_meta(profile: Profile, task: str, seed: int, beta: float, loss: str, objective: str = "dpo") -> dict:
    """What produced a checkpoint: enough to rebuild its reference model and to repeat the run."""
    return {
        "profile": profile.name,
        "profile_config": asdict(profile),
        "task": task,
        "seed": seed,
        "beta": beta,
        "loss": loss,
        "objective": objective,
    }

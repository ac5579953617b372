"""What the graded DPO runs need that no student changes: built once, kept under ``build/``.

For one (profile, task, seed):

* the SFT model, where every policy starts and the frozen reference;
* the batches of every step, in TRL's order and padding (``lean_dpo.preference_batches``);
* the reference model's logits on each of those batches (the student's ``sequence_logprobs`` turns
  them into the reference log-probs, so the logits, not the log-probs, are what every submission
  shares);
* the held-out pairs, encoded, and the reference's log-probs of them (with the instructors'
  ``sequence_logprobs``, as the evaluation measures every policy).

The first submission that ``mdl grade`` trains builds them (or finds them, from an earlier run),
and every submission after reads the file (about 12 MB for the cpu profile; SFT takes a few
seconds, once).  Its name carries a fingerprint of the capstone's code (``rlhf_capstone/`` and
``mdl_student/capstone/``), of the profile and of the torch and transformers versions: a change to
any of them builds a new file, and the old one is removed.  Grading workers that start together
wait for the one that builds.

Everything here stays on the grader's side.  Of it, the student's sandbox receives only each
step's batch and the reference's logits on it, with the policies' logits (``jobs.dpo_gradients``):
never the reference's log-probs, a loss of ours or a threshold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from mdl_student.capstone.config import Profile
from mdl_student.capstone.train import StateDict

from .lean_dpo import Batch

FORMAT = 1  # the layout of the file below; raise it when the layout changes


@dataclass
class JobInputs:
    """The student-independent half of the graded job for one (profile, task, seed)."""

    start: StateDict  # the SFT model's weights: the policies' start and the reference
    batches: list[Batch]
    reference_logits: list[torch.Tensor]  # the reference model's logits on each batch
    heldout: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # evaluate.encode_pairs of the held-out pairs
    reference_heldout: tuple[torch.Tensor, torch.Tensor]  # log pi_ref of their chosen and rejected completions


def fingerprint(profile: Profile, task: str, seed: int) -> str:
    """Changes with the capstone's code, the profile, the task, the seed and the torch/transformers versions."""
    import transformers

    from mdl_student import capstone

    digest = hashlib.sha256(f"{FORMAT}|{dataclasses.asdict(profile)}|{task}|{seed}".encode())
    digest.update(f"torch {torch.__version__} transformers {transformers.__version__}".encode())
    for folder in (Path(__file__).parent, Path(capstone.__file__).parent):
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_folder() -> Path:
    from grading_config import PATHS

    return PATHS.build / "capstone-cache"


def job_inputs(profile: Profile, task: str, seed: int) -> JobInputs:
    """The cached inputs, built first if no valid file exists."""
    from safetensors.torch import load_file

    path = cached_file(cache_folder(), f"graded-{profile.name}-{task}-{seed}", fingerprint(profile, task, seed),
                       lambda target: _save(build_job_inputs(profile, task, seed), target))
    return _load(load_file(str(path)))


def cached_file(folder: Path, stem: str, key: str, build: Callable[[Path], None]) -> Path:
    """``folder/<stem>-<key>.safetensors``, written by ``build(path)`` first if it does not exist.

    Workers that start together wait for the one that builds (a lock per stem); the file appears whole
    or not at all, and the files of the same stem with another key (stale fingerprints) are removed.
    """
    path = folder / f"{stem}-{key}.safetensors"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / f"{stem}.lock"):
            if not path.exists():  # another worker may have built it while this one waited
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                try:
                    build(tmp)
                    os.replace(tmp, path)  # readers see the whole file or none
                finally:
                    tmp.unlink(missing_ok=True)
                for stale in folder.glob(f"{stem}-*.safetensors"):
                    if stale != path:
                        stale.unlink(missing_ok=True)
    return path


def build_job_inputs(profile: Profile, task: str, seed: int) -> JobInputs:
    """Compute the inputs: SFT (the expensive part), then one reference forward pass per batch."""
    from mdl_student.capstone.data import make_task_data
    from mdl_student.capstone.evaluate import encode_pairs, encoded_pair_logprobs
    from mdl_student.capstone.model import model_from_state
    from mdl_student.capstone.train import configure_torch, sft_state

    from . import losses
    from .lean_dpo import preference_batches

    start = sft_state(profile, task, seed)
    data = make_task_data(task, profile, seed)
    batches = preference_batches(data.train_pairs, profile, seed)
    configure_torch(profile, seed)
    device = profile.resolved_device()
    reference = model_from_state(profile, start).to(device).eval().requires_grad_(False)
    with torch.no_grad():
        logits = [
            reference(input_ids=b.input_ids.to(device), attention_mask=b.attention_mask.to(device), use_cache=False).logits.cpu()
            for b in batches
        ]  # fmt: skip
    heldout = encode_pairs(data.heldout_pairs)
    reference_heldout = encoded_pair_logprobs(reference, heldout, device, losses.sequence_logprobs)
    return JobInputs(start, batches, logits, heldout, reference_heldout)


# --------------------------------------------------------------------------- the file


def _save(inputs: JobInputs, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {f"start/{name}": t for name, t in inputs.start.items()}
    for k, (batch, logits) in enumerate(zip(inputs.batches, inputs.reference_logits)):
        for field in dataclasses.fields(Batch):
            tensors[f"step{k}/{field.name}"] = getattr(batch, field.name)
        tensors[f"step{k}/reference_logits"] = logits
    for name, t in zip(("input_ids", "attention_mask", "completion_mask"), inputs.heldout):
        tensors[f"heldout/{name}"] = t
    tensors["heldout/reference_chosen"], tensors["heldout/reference_rejected"] = inputs.reference_heldout
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path))


def _load(tensors: dict[str, torch.Tensor]) -> JobInputs:
    steps = sum(1 for key in tensors if key.endswith("/reference_logits"))
    return JobInputs(
        start={key.removeprefix("start/"): t for key, t in tensors.items() if key.startswith("start/")},
        batches=[Batch(*(tensors[f"step{k}/{f.name}"] for f in dataclasses.fields(Batch))) for k in range(steps)],
        reference_logits=[tensors[f"step{k}/reference_logits"] for k in range(steps)],
        heldout=tuple(tensors[f"heldout/{n}"] for n in ("input_ids", "attention_mask", "completion_mask")),
        reference_heldout=(tensors["heldout/reference_chosen"], tensors["heldout/reference_rejected"]),
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""A tiny GPT-2 style causal language model, built from a config (random init).

Nothing is downloaded: the architecture comes from ``GPT2Config`` with the
sizes of the profile, the weights from ``torch.manual_seed``.  Dropout is
off, so a forward pass is a deterministic function of the weights.
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from .config import Profile
from .tokenizer import build_tokenizer


def model_config(profile: Profile) -> GPT2Config:
    tokenizer = build_tokenizer()
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=profile.n_positions,
        n_embd=profile.n_embd,
        n_layer=profile.n_layer,
        n_head=profile.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_model(profile: Profile, seed: int = 0) -> GPT2LMHeadModel:
    """A freshly initialised model in float32 on the CPU; the seed fixes the weights."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(model_config(profile))
    model.generation_config.pad_token_id = model.config.pad_token_id
    return model.float()


def model_from_state(profile: Profile, state: dict[str, torch.Tensor]) -> GPT2LMHeadModel:
    """A model of the profile's shape holding exactly ``state`` (all keys, all shapes).

    Used for checkpoints that may come from a student: a missing or extra
    key, a wrong shape or a non-finite value is an error with a message,
    never a silently half-loaded model.
    """
    model = build_model(profile)
    expected = model.state_dict()
    # GPT-2 ties lm_head to the token embedding; a checkpoint may carry either name.
    state = dict(state)
    if "lm_head.weight" not in state and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"checkpoint does not fit the {profile.name!r} model: missing {missing}, unexpected {extra}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"checkpoint tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"the {profile.name!r} model needs {tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor.float()).all():
            raise ValueError(f"checkpoint tensor {name!r} holds NaN or infinite values")
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    return model

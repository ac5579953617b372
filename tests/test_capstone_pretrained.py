"""`python -m rlhf_capstone run --model PATH`: DPO on a saved pretrained model, offline.

The model is a tiny randomly initialised GPT-2 that the test saves with `save_pretrained` (with the
capstone's tokenizer) into a temporary folder: the same loading path as GPT-2 or Qwen2.5-0.5B from
a local folder, nothing downloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import mdl_student.capstone  # noqa: F401  (sets the offline environment before transformers loads)
from grading_config import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    from mdl_student.capstone.tokenizer import build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = build_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32, n_positions=64,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("lora, betas", [(False, [0.1, 1.0]), (True, [0.1])], ids=["full", "lora"])
def test_run_on_a_saved_model_trains_each_beta_and_draws_the_frontier(saved_model, tmp_path, lora, betas):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rlhf_capstone", "run", "--model", str(saved_model), "--steps", "3",
               "--betas", *map(str, betas), "--loss", "reference", "--out", str(out)] + (["--lora"] if lora else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = json.loads((out / "metrics.json").read_text())
    assert [r["beta"] for r in records] == betas
    assert all(r["lora"] is lora for r in records)
    for r in records:
        m = r["metrics"]
        assert 0.0 <= m["reward_accuracy"] <= 1.0 and m["kl"] >= -1e-9, m
        assert m["reward_margin"] != 0.0, "three DPO steps moved the policy away from the reference"
    assert (out / "frontier.png").stat().st_size > 1000
    assert "DPO beta=0.1" in done.stdout


def test_a_folder_that_is_not_a_saved_model_is_a_message(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rlhf_capstone", "run", "--model", str(tmp_path), "--out",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "not a saved model" in done.stderr and "Traceback" not in done.stderr

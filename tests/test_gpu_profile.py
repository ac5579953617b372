"""`benchmarks/gpu_profile.py` end to end, as a dry run of the cpu profile (the gpu one needs a GPU).

One seed, the two graded betas, one broken student: the report must hold the graded job's time,
the reference's runs, the broken student failing the training question, and proposed thresholds
that the reference itself meets.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grading_config import ROOT

pytestmark = pytest.mark.slow


def test_calibration_dry_run_on_the_cpu_profile_writes_the_report(tmp_path):
    out = tmp_path / "cpu_profile.md"
    done = subprocess.run([sys.executable, "benchmarks/gpu_profile.py", "--profile", "cpu", "--seeds", "0", "--betas",
                           "0.1", "1.0", "--students", "sign_flipped", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["graded_job"]["total_s"] > report["graded_job"]["sft_s"] > 0
    assert sorted(r["beta"] for r in report["reference_runs"]) == [0.1, 1.0]
    assert report["students"]["sign_flipped"]["fails"]
    measured, proposed = report["thresholds"]["measured"], report["thresholds"]["proposed"]
    assert measured["min_reward_accuracy"] >= proposed["min_reward_accuracy"] >= report["current"]["min_reward_accuracy"] - 0.2
    text = out.read_text()
    for heading in ("## The graded job", "## The reference loss", "## Broken example losses", "## Thresholds"):
        assert heading in text


def test_the_gpu_profile_refuses_to_start_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, "benchmarks/gpu_profile.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "no CUDA device" in done.stderr

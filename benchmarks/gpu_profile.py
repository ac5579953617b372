"""Run the capstone's `gpu` profile once and record its time and metrics.

Run on a machine with a CUDA GPU (the self-hosted runner labelled `gpu`):

    .venv/bin/python benchmarks/gpu_profile.py [--task all] [--seeds 0] [--sweep]

Writes benchmarks/results/gpu_profile.json: the device, the wall time of the
whole job (imports, SFT, DPO, checkpoints, evaluation in a second process),
and the metrics before and after DPO.  Without a GPU it refuses to start
(the gpu profile on a CPU takes hours) unless --allow-cpu is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "gpu_profile.json"


def device_description() -> dict:
    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "name": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}
    return {"device": "cpu", "name": platform.processor() or platform.machine(), "torch": torch.__version__}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="all", choices=["arithmetic", "sentiment", "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--allow-cpu", action="store_true", help="run even without a GPU (very slow)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ.setdefault(name, "1")
    device = device_description()
    if device["device"] != "cuda" and not args.allow_cpu:
        print("no CUDA device: the gpu profile would take hours on a CPU (pass --allow-cpu to run anyway)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="capstone_gpu_") as tmp:
        command = [sys.executable, "-m", "rlhf_capstone", "run", "--profile", "gpu", "--task", args.task, "--out", tmp]
        command += ["--seeds", *map(str, args.seeds)] + (["--sweep"] if args.sweep else [])
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE)
        seconds = time.perf_counter() - start
        records = json.loads((Path(tmp) / "metrics.json").read_text())
    print(done.stdout)

    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(command[1:]).replace(tmp, "OUT"),
        "seconds": round(seconds, 1),
        **device,
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{seconds:.1f} s on {device['name']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

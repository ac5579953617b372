"""Where one capstone grading's time goes: today's path (TRL in the student's kernel) and the lean one.

    .venv/bin/python benchmarks/capstone_profile.py [--runs 3] [--baseline c865b79]
                                                    [--out benchmarks/results/capstone_profile.md]

Two parts, each the median of ``--runs`` runs (with the smallest and largest):

1. **One submission, phase by phase**: ``correct_alt_1`` graded twice in one process by each path's
   own grader (``capstone_phases.py``; today's path from a copy of the baseline commit,
   ``baseline_checkout.py``): kernel start, the student's cells, each question.  The second grading
   is what every submission of a class costs a worker; the first one's extra (kernel server,
   imports, caches) is paid once per worker.  CPU seconds of the whole process tree (grader,
   question children, kernels), from a cgroup.
2. **Inside the training job, component by component**, in this process (CPU seconds from the
   process clock: torch runs one thread): imports in a fresh interpreter, model construction, SFT,
   the reference model's forward passes, each beta's TRL run split into trainer construction,
   policy forward with the loss, reference forward, backward, optimizer step and the trainer's own
   overhead, the transfer of checkpoints (today) or of each step's logits and gradients (now)
   through the bridge's codec, and the evaluation in the grader.

The machine is shared (about eight engineers on two cores): wall times carry everyone else's
work; CPU seconds much less, and they are the numbers to compare.  The load average at the start
and the end of the run is in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline_checkout import BASELINE, baseline_checkout, checkout_env  # noqa: E402

NOTEBOOK = ROOT / "examples" / "submissions" / "capstone" / "correct_alt_1.ipynb"
TASK, SEED = "sentiment", 0


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


# --------------------------------------------------------------------------- part 1: phases


def phases(checkout: Path) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "benchmarks" / "capstone_phases.py"), str(checkout), str(NOTEBOOK)]
    done = subprocess.run(command, cwd=checkout, env=checkout_env(checkout), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"grading in {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- part 2: components

IMPORTS = """
import json, time
import rlhf_capstone  # the offline environment only: it imports nothing heavy
out = {}
t = time.process_time(); import torch; out["torch"] = time.process_time() - t
t = time.process_time(); import transformers; from transformers import GPT2LMHeadModel; out["transformers (GPT-2)"] = time.process_time() - t
t = time.process_time(); import datasets; from trl import DPOTrainer; out["TRL (DPOTrainer, datasets)"] = time.process_time() - t
print(json.dumps(out))
"""


def imports() -> dict[str, dict[str, float]]:
    done = subprocess.run([sys.executable, "-c", IMPORTS], cwd=ROOT, check=True, capture_output=True, text=True)
    return {name: {"cpu": cpu, "wall": float("nan")} for name, cpu in json.loads(done.stdout.splitlines()[-1]).items()}


def trl_run(beta: float) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """``train.run_dpo`` with the reference loss (what today's job ran per beta), split by component;
    and the trained policy's weights."""
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    from mdl_student.capstone import train

    spent: dict[str, dict[str, float]] = defaultdict(lambda: {"wall": 0.0, "cpu": 0.0})

    def add(name: str, part: dict[str, float]) -> None:
        spent[name]["wall"] += part["wall"]
        spent[name]["cpu"] += part["cpu"]

    pluggable = train._pluggable_trainer_class()

    class Timed(pluggable):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            start = clock()
            super().__init__(*args, **kwargs)
            add("trainer construction (dataset, tokenizer, accelerate)", since(start))

        def train(self, *args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = super().train(*args, **kwargs)
            add("(train)", since(start))
            return result

        def training_step(self, *args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = super().training_step(*args, **kwargs)
            add("(training_step)", since(start))
            return result

        def compute_loss(self, *args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = super().compute_loss(*args, **kwargs)
            add("(compute_loss)", since(start))
            return result

        def _reference_logits(self, *args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = super()._reference_logits(*args, **kwargs)
            add("reference forward passes", since(start))
            return result

    step_start: list[tuple[float, float]] = []
    hooks = [register_optimizer_step_pre_hook(lambda *_: step_start.append(clock())),
             register_optimizer_step_post_hook(lambda *_: add("optimizer steps", since(step_start.pop())))]
    original = train._pluggable_trainer_class
    train._pluggable_trainer_class = lambda: Timed
    try:
        start = clock()
        result = train.run_dpo(train.get_profile("cpu"), TASK, "reference", SEED, beta)
        total = since(start)
    finally:
        train._pluggable_trainer_class = original
        for hook in hooks:
            hook.remove()
    out = {k: v for k, v in spent.items() if not k.startswith("(")}
    minus = lambda a, *bs: {u: a[u] - sum(b[u] for b in bs) for u in ("wall", "cpu")}  # noqa: E731
    out["policy forward, the loss functions"] = minus(spent["(compute_loss)"], spent["reference forward passes"])
    out["backward"] = minus(spent["(training_step)"], spent["(compute_loss)"])
    out["the trainer's own overhead (dataloader, collator, clipping, callbacks)"] = minus(
        spent["(train)"], spent["(training_step)"], spent["optimizer steps"])
    out["run_dpo's setup (models from the SFT weights, dataset)"] = minus(
        total, spent["(train)"], spent["trainer construction (dataset, tokenizer, accelerate)"])
    return out, result.policy_state


def codec_roundtrip(value: Any) -> None:
    from mdl_student.codec import decode_value, dumps, encode_value, loads

    decode_value(loads(dumps({"value": encode_value(value, allow_functions=True)}))["value"], allow_functions=True)


def components() -> dict[str, dict[str, dict[str, float]]]:
    """One run of every component, today's path and the lean one, keyed by component."""
    import rlhf_capstone  # noqa: F401
    import torch
    from safetensors.torch import save

    from mdl_student.capstone import train
    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.evaluate import evaluate_policy
    from mdl_student.capstone.jobs import dpo_gradients
    from mdl_student.capstone.model import build_model
    from rlhf_capstone import grading, losses
    from rlhf_capstone.job_inputs import build_job_inputs, job_inputs
    from rlhf_capstone.lean_dpo import train_lockstep

    from grading_config import CAPSTONE

    profile = get_profile("cpu")
    betas = [float(b) for b in CAPSTONE.graded_betas]
    today: dict[str, dict[str, float]] = {}
    now: dict[str, dict[str, float]] = {}
    for name, value in imports().items():
        today[f"import {name} in the kernel"] = value
    now["import torch in the kernel"] = {"cpu": 0.0, "wall": 0.0}  # the kernel server has imported it

    start = clock()
    build_model(profile, SEED)
    today["model construction (one GPT-2; 4 per submission today, 2 now)"] = since(start)
    now["model construction (one GPT-2; 4 per submission today, 2 now)"] = today["model construction (one GPT-2; 4 per submission today, 2 now)"]
    train._SFT_CACHE.clear()
    start = clock()
    train.sft_state(profile, TASK, SEED)
    today["once per course: SFT (400 steps, cached on disk)"] = now["once per course: SFT (400 steps, cached on disk)"] = since(start)
    start = clock()
    inputs = build_job_inputs(profile, TASK, SEED)  # SFT from the process's cache: the rest of the build
    now["once per course: batches, reference logits, held-out reference log-probs"] = since(start)
    start = clock()
    inputs = job_inputs(profile, TASK, SEED)
    now["reading those from build/capstone-cache"] = since(start)

    per_beta: dict[str, dict[str, float]] = defaultdict(lambda: {"wall": 0.0, "cpu": 0.0})
    policies = {}
    for beta in betas:
        parts, policies[beta] = trl_run(beta)
        for name, value in parts.items():
            per_beta[name]["wall"] += value["wall"]
            per_beta[name]["cpu"] += value["cpu"]
    for name, value in per_beta.items():
        today[f"DPO, both betas: {name}"] = value

    reference = inputs.start
    start = clock()
    codec_roundtrip(save({k: v.contiguous() for k, v in reference.items()}))  # the SFT weights, into the kernel
    for state in policies.values():  # each checkpoint, back to the grader
        codec_roundtrip(save({k: v.detach().contiguous() for k, v in state.items()}))
    today["checkpoint transfer (SFT in, two policies out, through the codec)"] = since(start)
    start = clock()
    for beta, state in policies.items():
        evaluate_policy(state, profile, TASK, SEED, beta, reference_state=reference, sequence_logprobs=losses.sequence_logprobs)
    today["evaluation in the grader (both policies, with sampled completions)"] = since(start)

    job = {"wall": 0.0, "cpu": 0.0}

    def step_gradients(step: int, batch: Any, logits: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        begin = clock()
        labels, mask = batch.labels_and_mask()
        outputs = dpo_gradients(losses.sequence_logprobs, losses.dpo_loss, logits, inputs.reference_logits[step], labels, mask, betas)
        for unit, value in since(begin).items():
            job[unit] += value
        return [(o["loss"], o["gradient"]) for o in outputs]

    start = clock()
    trained = train_lockstep(profile, SEED, inputs.start, inputs.batches, betas, step_gradients)
    loop = since(start)
    now["DPO, both betas in lockstep: the student's functions (in their kernel)"] = dict(job)
    now["DPO, both betas in lockstep: forward, backward and optimizer (in the grader)"] = {
        u: loop[u] - job[u] for u in ("wall", "cpu")}
    start = clock()
    for step, batch in enumerate(inputs.batches):  # what crosses the bridge at each step, both ways
        labels, mask = batch.labels_and_mask()
        logits = inputs.reference_logits[step]
        codec_roundtrip([[logits] * len(betas), logits, labels, mask, betas])
        codec_roundtrip([{"loss": torch.tensor(0.5), "gradient": logits} for _ in betas])
    now["each step's logits and gradients through the codec (100 steps)"] = since(start)
    start = clock()
    for beta, state in trained.items():
        grading.graded_metrics(state, inputs, profile, beta)
    now["evaluation in the grader (both policies: held-out accuracy and margin)"] = since(start)
    return {"today": today, "now": now}


# --------------------------------------------------------------------------- the report


def median_of(runs: list[dict[str, float]], unit: str) -> tuple[float, float, float]:
    values = [r[unit] for r in runs]
    return statistics.median(values), min(values), max(values)


def fmt(runs: list[dict[str, float]] | None, unit: str = "cpu") -> str:
    if not runs:
        return "-"
    mid, low, high = median_of(runs, unit)
    if mid != mid:  # nan: not measured
        return "-"
    return f"{mid:.2f}" if len(runs) == 1 or high - low < 0.005 else f"{mid:.2f} ({low:.2f}-{high:.2f})"


def report(phase_runs: dict[str, list[dict]], component_runs: list[dict], runs: int, load: tuple[float, float],
           baseline: str) -> str:
    lines = [
        "# Where a capstone grading's time goes",
        "",
        f"Generated by `benchmarks/capstone_profile.py` on {time.strftime('%Y-%m-%d %H:%M')} (Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores, torch on one thread). Medians of {runs} runs, the "
        f"smallest and largest in brackets. **The machine is shared** by about eight engineers: load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end, on 2 cores, so wall times carry everyone "
        "else's work; CPU seconds (the whole process tree, from a cgroup, in part 1; the process clock in "
        "part 2) much less, and they are the numbers to compare. *Today* is the grader at "
        f"`{baseline}` (TRL's `DPOTrainer` in the student's kernel, one SFT-cached run per beta); *now* is "
        "this checkout (the lean loop in the grader, the student's functions called once per step in "
        "their kernel).",
        "",
        "## 1. One submission, phase by phase",
        "",
        "`correct_alt_1` graded by `autograder.grade.grade_submission`, twice in one process; the table is the "
        "second grading, what each submission of a class costs a worker. CPU seconds, then wall seconds.",
        "",
        "| phase | today: CPU s | today: wall s | now: CPU s | now: wall s |",
        "| --- | --- | --- | --- | --- |",
    ]
    steady = {path: [r["gradings"][-1]["phases"] for r in rs] for path, rs in phase_runs.items()}
    names = list(dict.fromkeys([n for path in ("today", "now") for r in steady[path] for n in r]))
    for name in names:
        cells = []
        for path in ("today", "now"):
            values = [r[name] for r in steady[path] if name in r]
            cells += [fmt(values, "cpu"), fmt(values, "wall")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = {path: [{u: sum(p[u] for p in r.values()) for u in ("cpu", "wall")} for r in steady[path]]
              for path in ("today", "now")}
    lines.append("| **one submission** | " + " | ".join(
        f"**{fmt(totals[p], u)}**" for p in ("today", "now") for u in ("cpu", "wall")) + " |")
    once = {}
    for path, rs in phase_runs.items():
        extra = []
        for r in rs:
            first = r["gradings"][0]["phases"]
            extra.append({u: r["grader_start"][u] + sum(p[u] for p in first.values())
                          - sum(p[u] for p in r["gradings"][-1]["phases"].values()) for u in ("cpu", "wall")})
        once[path] = extra
    lines += [
        "",
        f"Once per worker (grader start, kernel server, the first submission's extra imports and, where the "
        f"cache under build/ is warm, nothing else): today {fmt(once['today'])} CPU s, now {fmt(once['now'])} CPU s. "
        f"Statuses and scores: " + ", ".join(
            f"{path} {sorted({(g['status'], g['score']) for r in rs for g in r['gradings']})}" for path, rs in phase_runs.items()),
        "",
        "## 2. Inside the training job (one submission: the two graded betas)",
        "",
        "CPU seconds (wall in brackets where it differs much). Imports are timed in a fresh interpreter.",
        "",
        "| component | today | now |",
        "| --- | --- | --- |",
    ]
    component_names = list(dict.fromkeys(n for r in component_runs for path in ("today", "now") for n in r[path]))
    for name in component_names:
        cells = [fmt([r[path][name] for r in component_runs if name in r[path]]) for path in ("today", "now")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    for path in ("today", "now"):
        per_submission = [sum(v["cpu"] for k, v in r[path].items() if not k.startswith(("once", "model construction")))
                          for r in component_runs]
        lines.append(f"| **{path}: per submission (without the once-per-course rows)** | "
                     + (" | ".join([f"**{statistics.median(per_submission):.2f}**", ""] if path == "today"
                                   else ["", f"**{statistics.median(per_submission):.2f}**"])) + " |")
    lines += [
        "",
        "Reading it: today's job spends most of its time on things no student changes (importing "
        "transformers and TRL in every kernel, building a trainer twice, the reference model's forward "
        "pass at every step, sampling completions that no threshold reads) and on the trainer's own "
        "overhead; what is left now is the training itself (200 forward and backward passes of the policy, "
        "which the job's power needs: see `capstone_throughput.md`), the bridge's codec, and a held-out "
        "evaluation.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="the commit that is 'today' (default: main before issue 20)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "capstone_profile.md"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    load_start = os.getloadavg()[0]
    checkouts = {"today": baseline_checkout(args.baseline), "now": ROOT}
    phase_runs: dict[str, list[dict]] = {"today": [], "now": []}
    component_runs = []
    for run in range(args.runs):
        for path in (("today", "now") if run % 2 == 0 else ("now", "today")):
            phase_runs[path].append(phases(checkouts[path]))
            print(f"run {run + 1}: phases ({path}) done", flush=True)
        component_runs.append(components())
        print(f"run {run + 1}: components done", flush=True)
    text = report(phase_runs, component_runs, args.runs, (load_start, os.getloadavg()[0]), args.baseline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps({"phases": phase_runs, "components": component_runs}, indent=1))
    print("\n" + text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

"""Command line: train, evaluate (in a separate process), print a summary.

    python -m rlhf_capstone run --profile cpu --loss reference --task sentiment \\
        --seeds 0 1 2 --sweep --out build/capstone
    python -m rlhf_capstone evaluate build/capstone/sentiment/seed0/beta0.1.safetensors

``run`` trains every (task, seed, beta) in this process and writes
safetensors checkpoints; then a second process (``evaluate``) reads only
those files, rebuilds each reference model from (profile, task, seed) and
measures the metrics - the same split as in grading, where training runs
next to the student's code and evaluation in the grader.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mdl_student.capstone.config import LOSSES, TASKS, get_profile

METRIC_COLUMNS = (
    ("reward_accuracy", "acc"),
    ("reward_margin", "margin"),
    ("preference_accuracy", "pref_acc"),
    ("kl", "KL"),
    ("greedy_reward", "greedy_R"),
    ("sampled_reward", "sampled_R"),
    ("win_rate", "win"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rlhf_capstone", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="SFT + DPO for each task, seed and beta, then evaluate")
    run.add_argument("--profile", default="cpu", choices=["cpu", "gpu"])
    run.add_argument("--loss", default="reference", choices=LOSSES)
    run.add_argument("--student-file", type=Path, help="a .py file defining sequence_logprobs, dpo_loss, ipo_loss")
    run.add_argument("--objective", default="dpo", choices=["dpo", "ipo"])
    run.add_argument("--task", default="sentiment", choices=[*TASKS, "all"])
    run.add_argument("--seeds", type=int, nargs="+", default=[0])
    run.add_argument("--beta", type=float, help="beta of a single run (default: the profile's)")
    run.add_argument("--sweep", action="store_true", help="also train the profile's sweep betas and draw the frontier")
    run.add_argument("--out", type=Path, default=Path("build/capstone"))
    run.add_argument("--model", type=Path, help="a local Hugging Face causal LM folder (save_pretrained): DPO from "
                     "its weights, SFT-free, one run per beta of --betas (exploration, not graded)")
    run.add_argument("--lora", action="store_true", help="with --model: train LoRA adapters only (peft)")
    run.add_argument("--steps", type=int, default=100, help="with --model: DPO steps per beta")
    run.add_argument("--betas", type=float, nargs="+", help="with --model: the betas (default: the profile's sweep)")
    ev = sub.add_parser("evaluate", help="evaluate checkpoints written by `run` (prints JSON)")
    ev.add_argument("checkpoints", type=Path, nargs="+")
    ev.add_argument("--with-reference", action="store_true", help="also evaluate each SFT reference (before DPO)")
    ev.add_argument("--json", type=Path, help="write the records here as well")
    return parser.parse_args(argv)


# --- run --------------------------------------------------------------------------


def train_all(args: argparse.Namespace) -> list[Path]:
    """Train every (task, seed, beta); return the checkpoint paths."""
    from tqdm import tqdm

    from mdl_student.capstone.evaluate import state_digest
    from mdl_student.capstone.train import checkpoint_meta, resolve_losses, save_checkpoint, sft_state, train_policy

    profile = get_profile(args.profile)
    tasks = list(TASKS) if args.task == "all" else [args.task]
    beta = args.beta if args.beta is not None else profile.beta
    betas = sorted({beta, *profile.sweep_betas}) if args.sweep else [beta]
    loss_fns = resolve_losses(args.loss, args.student_file)
    total = len(tasks) * len(args.seeds) * (profile.sft_steps + len(betas) * profile.dpo_steps)
    paths = []
    with tqdm(total=total, desc="training", unit="step", dynamic_ncols=True) as bar:
        for task in tasks:
            for seed in args.seeds:
                bar.set_postfix_str(f"{task} seed {seed} SFT")
                reference_digest = state_digest(sft_state(profile, task, seed, bar.update))
                for b in betas:
                    bar.set_postfix_str(f"{task} seed {seed} DPO beta {b:g}")
                    state = train_policy(profile, task, loss_fns, seed, b, args.objective, bar.update)
                    meta = checkpoint_meta(profile, task, seed, b, args.loss, args.objective)
                    meta["reference_sha256"] = reference_digest
                    path = args.out / task / f"seed{seed}" / f"beta{b:g}.safetensors"
                    paths.append(save_checkpoint(state, path, meta))
    return paths


def evaluate_in_subprocess(paths: list[Path], out: Path) -> list[dict]:
    """Run ``python -m rlhf_capstone evaluate`` on the checkpoints in a fresh process."""
    results = out / "metrics.json"
    command = [sys.executable, "-m", "rlhf_capstone", "evaluate", "--with-reference", "--json", str(results)]
    subprocess.run(command + [str(p) for p in paths], check=True, stdout=subprocess.DEVNULL)
    return json.loads(results.read_text())


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f}±{statistics.stdev(values):.3f}"


def summary_table(records: list[dict]) -> str:
    """Mean ± std over seeds, one row per (task, stage, beta)."""
    keys = sorted({(r["task"], r.get("stage", "dpo"), r["beta"]) for r in records}, key=lambda k: (k[0], k[1] != "sft", k[2]))
    header = f"{'task':<11} {'model':<16} {'seeds':>5} " + " ".join(f"{name:>13}" for _, name in METRIC_COLUMNS)
    lines = [header, "-" * len(header)]
    for task, stage, beta in keys:
        group = [r for r in records if (r["task"], r.get("stage", "dpo"), r["beta"]) == (task, stage, beta)]
        label = "before (SFT)" if stage == "sft" else f"DPO beta={beta:g}"
        cells = " ".join(f"{_mean_std([r['metrics'][key] for r in group]):>13}" for key, _ in METRIC_COLUMNS)
        lines.append(f"{task:<11} {label:<16} {len(group):>5} {cells}")
    lines.append(
        "before DPO the policy is the reference: acc and margin (implicit reward, strict >) and KL are 0 by "
        "definition; pref_acc is the model's own ranking log pi(chosen) > log pi(rejected)."
    )
    return "\n".join(lines)


def outcome_table(records: list[dict], beta: float) -> str:
    """The grading thresholds applied to each (task, seed) of a sweep."""
    from .checks import outcome_checks

    lines = []
    for task, seed in sorted({(r["task"], r["seed"]) for r in records}):
        by_beta = {r["beta"]: r["metrics"] for r in records if (r["task"], r["seed"]) == (task, seed) and r.get("stage") != "sft"}
        if beta not in by_beta:
            continue
        for v in outcome_checks(task, by_beta, beta):
            lines.append(f"{task:<11} seed {seed}  {'PASS' if v.passed else 'FAIL'}  {v.name:<18} {v.detail}")
    return "\n".join(lines)


def command_run_pretrained(args: argparse.Namespace) -> int:
    """The SFT-free DPO sweep on a local pretrained model, with the same frontier plot."""
    from mdl_student.capstone.pretrained import PretrainedRun, run_pretrained_sweep
    from mdl_student.capstone.sweep import plot_frontier
    from mdl_student.capstone.train import resolve_losses

    profile = get_profile(args.profile)
    betas = args.betas or list(profile.sweep_betas)
    task = "sentiment" if args.task == "all" else args.task
    records = []
    for seed in args.seeds:
        run = PretrainedRun(args.model, task=task, seed=seed, steps=args.steps, lora=args.lora)
        records += run_pretrained_sweep(run, resolve_losses(args.loss, args.student_file), betas)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(records, indent=2) + "\n")
    print(summary_table(records))
    print(f"\nreward-versus-KL frontier: {plot_frontier(records, args.out / 'frontier.png')}")
    print(f"metrics.json in {args.out}")
    return 0


def command_run(args: argparse.Namespace) -> int:
    if args.model is not None:
        return command_run_pretrained(args)
    profile = get_profile(args.profile)
    paths = train_all(args)
    records = evaluate_in_subprocess(paths, args.out)
    print(summary_table(records))
    if args.sweep:
        from mdl_student.capstone.sweep import plot_frontier

        png = plot_frontier(records, args.out / "frontier.png")
        print(f"\nreward-versus-KL frontier: {png}")
        beta = args.beta if args.beta is not None else profile.beta
        print("\ngrading thresholds (grading_config.CAPSTONE):\n" + outcome_table(records, beta))
    print(f"\ncheckpoints and metrics.json in {args.out}")
    return 0


# --- evaluate -----------------------------------------------------------------------


def command_evaluate(args: argparse.Namespace, emit: Callable[[str], None] = print) -> int:
    from mdl_student.capstone.evaluate import evaluate_checkpoint, evaluate_policy
    from mdl_student.capstone.train import load_checkpoint, sft_state

    records = []
    seen = set()
    for path in args.checkpoints:
        record = evaluate_checkpoint(path)
        record["stage"] = "dpo"
        key = (record["profile"], record["task"], record["seed"])
        if args.with_reference and key not in seen:
            seen.add(key)
            profile = get_profile(record["profile"])
            reference = sft_state(profile, record["task"], record["seed"])
            metrics = evaluate_policy(reference, profile, record["task"], record["seed"], record["beta"], reference)
            meta = load_checkpoint(path)[1]
            records.append({**meta, "beta": 0.0, "loss": None, "stage": "sft", "metrics": metrics.to_dict()})
        records.append(record)
    text = json.dumps(records, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    emit(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        return command_evaluate(args)
    except (FileNotFoundError, ValueError, KeyError, ImportError) as err:  # a user's mistake: a message
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

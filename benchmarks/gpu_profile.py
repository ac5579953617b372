"""Calibrate a capstone profile: the reference loss at every beta and seed, the broken students once.

Run on a machine with a CUDA GPU (the self-hosted runner labelled `gpu`), in one command:

    .venv/bin/python benchmarks/gpu_profile.py                      # gpu profile, seeds 0 1 2, all betas
    .venv/bin/python benchmarks/gpu_profile.py --profile cpu --seeds 0 --betas 0.1 1.0 --students sign_flipped \\
        --out /tmp/dry-run.md                                        # the same path on a CPU (tests do this)

What it measures, with the grader's own functions (`mdl_student.capstone`, `rlhf_capstone`):

- the graded job as `mdl grade` runs it for one submission: the SFT reference, DPO at each graded
  beta (`grading_config.CAPSTONE.graded_betas`), and the evaluation of each policy, timed end to end
  (the goal on one H100-class GPU: under 120 s; on 2 CPU cores: under 60 s);
- the reference loss at every beta of the profile's sweep and every seed: held-out implicit-reward
  accuracy and margin, KL, sampled reward, and the train and evaluation seconds of each run;
- every broken example loss (`examples/capstone_students/*.py` other than `correct`) once, at the
  graded betas: does it fail the training question under the profile's current thresholds?

It writes a Markdown report (default `benchmarks/results/gpu_profile.md`) and the raw numbers beside
it as JSON, and proposes thresholds: the reference's worst graded-beta accuracy and margin over the
seeds, less a stated margin (`--safety`, default 20% of the value), and its worst gap ratio plus the
same margin.  Copy them into `grading_config.CAPSTONE_GPU` (and set `provisional=False`) once they
separate the reference from every broken student.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULT = ROOT / "benchmarks" / "results" / "gpu_profile.md"
STUDENTS = ROOT / "examples" / "capstone_students"

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")


def device_description(profile) -> dict:
    import torch

    device = profile.resolved_device()
    if device == "cuda":
        return {"device": "cuda", "name": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}
    return {"device": "cpu", "name": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__}


def timed(work):
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def run_once(profile, task: str, seed: int, beta: float, loss_fns, reference_state) -> dict:
    """DPO at one beta with these losses, then the grader's evaluation; metrics and seconds."""
    from mdl_student.capstone.evaluate import evaluate_policy
    from mdl_student.capstone.train import train_policy
    from rlhf_capstone import losses

    policy, train_s = timed(lambda: train_policy(profile, task, loss_fns, seed, beta))
    metrics, eval_s = timed(lambda: evaluate_policy(policy, profile, task, seed, beta, reference_state=reference_state,
                                                    sequence_logprobs=losses.sequence_logprobs).to_dict())
    return {"beta": beta, "seed": seed, "metrics": metrics, "train_s": round(train_s, 2), "eval_s": round(eval_s, 2)}


def graded_job(profile, task: str, seed: int, betas: list[float], loss_fns) -> tuple[dict, list[dict]]:
    """What `mdl grade` does for one submission's training question, timed: SFT, DPO per graded beta, evaluation."""
    from mdl_student.capstone import train

    train._SFT_CACHE.clear()  # the graded job rebuilds the reference; a warm cache would hide its cost
    start = time.perf_counter()
    reference, sft_s = timed(lambda: train.sft_state(profile, task, seed))
    runs = [run_once(profile, task, seed, beta, loss_fns, reference) for beta in betas]
    return {"sft_s": round(sft_s, 2), "total_s": round(time.perf_counter() - start, 2)}, runs


def verdicts(task: str, runs: list[dict], beta: float, thresholds) -> list:
    from rlhf_capstone.checks import outcome_checks

    return outcome_checks(task, {r["beta"]: r["metrics"] for r in runs}, beta, thresholds)


def gap_ratio(runs: list[dict]) -> float:
    by_beta = {r["beta"]: r["metrics"]["reward_margin"] / r["beta"] for r in runs}
    low, high = min(by_beta), max(by_beta)
    return by_beta[high] / by_beta[low] if by_beta[low] > 0 else float("inf")


def propose(reference_runs: list[dict], graded: tuple[float, ...], beta: float, safety: float) -> dict:
    """Thresholds from the reference's worst seed, less `safety` (a fraction of each value)."""
    at_beta = [r["metrics"] for r in reference_runs if r["beta"] == beta]
    per_seed: dict[int, list[dict]] = {}
    for r in reference_runs:
        if r["beta"] in graded:
            per_seed.setdefault(r["seed"], []).append(r)
    worst_ratio = max(gap_ratio(runs) for runs in per_seed.values() if len(runs) >= 2) if per_seed else float("nan")
    accuracy = min(m["reward_accuracy"] for m in at_beta)
    margin = min(m["reward_margin"] for m in at_beta)
    return {
        "measured": {"min_reward_accuracy": accuracy, "min_reward_margin": margin, "max_gap_ratio": worst_ratio},
        "proposed": {"min_reward_accuracy": round(accuracy * (1 - safety), 2),
                     "min_reward_margin": round(margin * (1 - safety), 2),
                     "max_gap_ratio": round(worst_ratio * (1 + safety), 2)},
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Capstone profile `{report['profile']}`: calibration",
        "",
        f"Measured {report['when']} on {report['device']['name']} ({report['device']['device']}, torch "
        f"{report['device']['torch']}) by `{report['command']}`.",
        f"Task `{report['task']}`; graded betas {report['graded_betas']}; accuracy and margin read at beta "
        f"{report['beta']}.",
        "",
        "## The graded job for one submission (SFT reference, DPO per graded beta, evaluation)",
        "",
        f"{report['graded_job']['total_s']:.1f} s in all (SFT {report['graded_job']['sft_s']:.1f} s); goal: "
        f"{report['goal_s']} s.",
        "",
        "## The reference loss, every beta and seed",
        "",
        "| seed | beta | accuracy | margin | KL | sampled reward | train s | eval s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["reference_runs"]:
        m = r["metrics"]
        lines.append(f"| {r['seed']} | {r['beta']:g} | {m['reward_accuracy']:.3f} | {m['reward_margin']:.3f} | "
                     f"{m['kl']:.3f} | {m['sampled_reward']:.3f} | {r['train_s']:.1f} | {r['eval_s']:.1f} |")
    lines += ["", "## Broken example losses (seed 0, graded betas), against the current thresholds", "",
              "| student | accuracy | margin | gap ratio | fails the training question | because |",
              "|---|---:|---:|---:|:---:|---|"]
    for name, entry in report["students"].items():
        main = next(r["metrics"] for r in entry["runs"] if r["beta"] == report["beta"])
        lines.append(f"| `{name}` | {main['reward_accuracy']:.3f} | {main['reward_margin']:.3f} | "
                     f"{entry['gap_ratio']:.2f} | {'yes' if entry['fails'] else '**no**'} | {entry['because']} |")
    p = report["thresholds"]
    lines += [
        "",
        "## Thresholds",
        "",
        f"Current (`grading_config.capstone_thresholds('{report['profile']}')`, provisional: "
        f"{report['current']['provisional']}): accuracy >= {report['current']['min_reward_accuracy']}, margin >= "
        f"{report['current']['min_reward_margin']}, gap ratio <= {report['current']['max_gap_ratio']}.",
        "",
        f"Reference, worst seed: accuracy {p['measured']['min_reward_accuracy']:.3f}, margin "
        f"{p['measured']['min_reward_margin']:.3f}, gap ratio {p['measured']['max_gap_ratio']:.2f}. "
        f"Proposed with a {report['safety']:.0%} margin: accuracy >= {p['proposed']['min_reward_accuracy']}, "
        f"margin >= {p['proposed']['min_reward_margin']}, gap ratio <= {p['proposed']['max_gap_ratio']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="gpu", choices=["cpu", "gpu"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--betas", type=float, nargs="+", help="default: the profile's sweep betas and the graded ones")
    parser.add_argument("--students", nargs="*", help="broken example losses to run (default: all but `correct`)")
    parser.add_argument("--safety", type=float, default=0.2, help="margin of the proposed thresholds (fraction)")
    parser.add_argument("--allow-cpu", action="store_true", help="run the gpu profile without a GPU (hours)")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)

    import mdl_student.capstone  # noqa: F401  (offline environment before transformers loads)
    from grading_config import CAPSTONE, capstone_thresholds
    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.train import load_loss_functions, reference_losses

    profile = get_profile(args.profile)
    device = device_description(profile)
    if args.profile == "gpu" and device["device"] != "cuda" and not args.allow_cpu:
        print("no CUDA device: the gpu profile would take hours on a CPU (use --profile cpu for a dry run, or "
              "--allow-cpu)", file=sys.stderr)
        return 2
    task, graded, beta = CAPSTONE.graded_task, tuple(CAPSTONE.graded_betas), profile.beta
    betas = sorted(set(args.betas or profile.sweep_betas) | set(graded))
    thresholds = capstone_thresholds(profile.name)
    reference = reference_losses()

    job, first_runs = graded_job(profile, task, args.seeds[0], list(graded), reference)
    print(f"graded job: {job['total_s']:.1f} s (SFT {job['sft_s']:.1f} s)", flush=True)
    from mdl_student.capstone import train

    reference_runs = []
    for seed in args.seeds:
        sft = train.sft_state(profile, task, seed)
        for b in betas:
            done = next((r for r in first_runs if seed == args.seeds[0] and r["beta"] == b), None)
            reference_runs.append(done or run_once(profile, task, seed, b, reference, sft))
            print(f"reference seed={seed} beta={b:g}: {reference_runs[-1]['metrics']['reward_accuracy']:.3f}", flush=True)

    names = args.students if args.students is not None else sorted(
        p.stem for p in STUDENTS.glob("*.py") if p.stem != "correct")
    students = {}
    sft = train.sft_state(profile, task, args.seeds[0])
    for name in names:
        fns = load_loss_functions(STUDENTS / f"{name}.py")
        try:
            runs = [run_once(profile, task, args.seeds[0], b, fns, sft) for b in graded]
        except Exception as err:  # noqa: BLE001  (a broken loss may break training: that fails the question too)
            students[name] = {"runs": [], "gap_ratio": float("nan"), "fails": True, "because": f"training raised {type(err).__name__}"}
            continue
        failed = [v for v in verdicts(task, runs, beta, thresholds) if not v.passed]
        students[name] = {"runs": runs, "gap_ratio": gap_ratio(runs), "fails": bool(failed),
                          "because": "; ".join(v.name for v in failed) or "-"}
        print(f"{name}: {'fails' if failed else 'PASSES'} the training question", flush=True)

    report = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "profile": profile.name, "device": device, "task": task, "graded_betas": list(graded), "beta": beta,
        "goal_s": 120 if profile.name == "gpu" else 60, "graded_job": job,
        "reference_runs": reference_runs, "students": students, "safety": args.safety,
        "current": {"provisional": thresholds.provisional, "min_reward_accuracy": thresholds.min_reward_accuracy[task],
                    "min_reward_margin": thresholds.min_reward_margin[task], "max_gap_ratio": thresholds.max_gap_ratio[task]},
        "thresholds": propose(reference_runs, graded, beta, args.safety),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(report))
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out} (and {args.out.with_suffix('.json').name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

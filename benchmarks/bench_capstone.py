"""The capstone's `cpu` profile: how long it takes, whether it repeats, what it learns.

Run: .venv/bin/python benchmarks/bench_capstone.py [--repeats 5] [--seeds 0 1 2] [--submissions]

- time: the whole job for ONE task, one seed, one beta, end to end, as a user
  runs it (`python -m rlhf_capstone run`: imports, SFT, DPO, checkpoint, then
  evaluation in a second process that rebuilds the reference).  Median of N.
- repeat: the same command twice more; the largest metric difference.
- table: before and after DPO for each task over the seeds (mean ± std).
- --submissions: each example submission (correct and broken) through the
  function checks and the training outcome (sentiment, sweep betas), and which
  grading thresholds it misses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SUBMISSIONS = ROOT / "examples" / "capstone_students"


def run_cli(out: Path, *extra: str) -> tuple[float, list[dict], str]:
    command = [sys.executable, "-m", "rlhf_capstone", "run", "--profile", "cpu", "--out", str(out), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads((out / "metrics.json").read_text()), done.stdout


def time_one_run(repeats: int, task: str) -> tuple[list[float], float]:
    """Wall times of `run --task TASK --seeds 0`, and the largest metric difference between runs."""
    times, records = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, metrics, _ = run_cli(Path(tmp), "--task", task, "--seeds", "0")
            times.append(seconds)
            records.append(metrics)
    worst = 0.0
    for other in records[1:]:
        for a, b in zip(records[0], other):
            worst = max(worst, *(abs(a["metrics"][k] - b["metrics"][k]) for k in a["metrics"]))
    return times, worst


def seeds_table(seeds: list[int]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        _, _, stdout = run_cli(Path(tmp), "--task", "all", "--seeds", *map(str, seeds))
    return stdout.split("\ncheckpoints")[0]


def _failed_functions(names: list[str]) -> str:
    """``["dpo_loss/gradient", "dpo_loss/values_beta_0.1"]`` -> ``"dpo_loss(gradient, values_beta_0.1)"``."""
    grouped: dict[str, list[str]] = {}
    for name in names:
        fn, _, case = name.partition("/")
        grouped.setdefault(fn, []).append(case)
    return "; ".join(f"{fn}({', '.join(cases)})" for fn, cases in grouped.items()) or "-"


def submissions_table(seeds: list[int]) -> str:
    """Function checks and outcome checks for every example submission, in this process."""
    import rlhf_capstone  # noqa: F401
    from grading_config import CAPSTONE
    from rlhf_capstone import checks
    from mdl_student.capstone.config import CPU
    from mdl_student.capstone.evaluate import evaluate_policy
    from mdl_student.capstone.train import load_loss_functions, reference_losses, train_policy

    task = CAPSTONE.graded_task
    betas = sorted(CAPSTONE.graded_betas)
    entries = {"reference": reference_losses(), "trl": None, "correct": load_loss_functions(SUBMISSIONS / "correct.py")}
    for path in sorted(p for p in SUBMISSIONS.glob("*.py") if p.stem != "correct"):
        entries[path.stem] = load_loss_functions(path)
    lines = [f"task {task}, betas {betas}, seeds {seeds}; per seed: accuracy / margin at beta={CPU.beta}, gap ratio"]
    for name, fns in entries.items():
        failed_fn = [] if fns is None else [v.name for v in checks.function_checks(fns, CAPSTONE) if not v.passed]
        failed_outcome, numbers = [], []
        for seed in seeds:
            by_beta = {}
            for beta in betas:
                state = train_policy(CPU, task, fns, seed, beta)
                by_beta[beta] = evaluate_policy(state, CPU, task, seed, beta).to_dict()
            verdicts = checks.outcome_checks(task, by_beta, CPU.beta, CAPSTONE)
            failed_outcome += [f"{v.name}@seed{seed}" for v in verdicts if not v.passed]
            low, high = by_beta[min(betas)]["reward_margin"] / min(betas), by_beta[max(betas)]["reward_margin"] / max(betas)
            ratio = f"{high / low:.2f}" if low > 0 else "n/a"
            m = by_beta[CPU.beta]
            numbers.append(f"{m['reward_accuracy']:.2f}/{m['reward_margin']:.2f}/{ratio}")
        lines.append(f"{name}")
        lines.append(f"    function checks failed: {_failed_functions(failed_fn)}")
        lines.append(f"    outcome checks failed:  {', '.join(failed_outcome) or '-'}   [{'; '.join(numbers)}]")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--submissions", action="store_true", help="also grade every example submission (slow)")
    args = parser.parse_args()

    times, worst = time_one_run(args.repeats, args.task)
    print(f"cpu profile, task {args.task}, one seed, one beta, end to end (train + evaluate in a 2nd process):")
    print(f"  median {statistics.median(times):.1f} s over {len(times)} runs (min {min(times):.1f}, max {max(times):.1f})")
    print(f"  largest metric difference between repeated runs: {worst:.2e}")
    print(f"\nbefore and after DPO, seeds {args.seeds}:\n{seeds_table(args.seeds)}")
    if args.submissions:
        print(f"\nexample submissions:\n{submissions_table(args.seeds)}")


if __name__ == "__main__":
    main()

"""The capstone at class scale: today's grader and this one on the same class, side by side, in one run.

    .venv/bin/python benchmarks/capstone_throughput.py [--students 20] [--rounds 3] [--baseline c865b79]
                                                       [--quick] [--out benchmarks/results/capstone_throughput.md]

* **The class**: N submissions made of the ten capstone examples in turn
  (``examples/submissions/capstone/``: two correct students, near-zero effort, six broken losses,
  an attempt to import the reference), so that a class is mostly broken work, which costs the
  grader as much as correct work.
* **The graders**: *today*, a copy of the baseline commit (``baseline_checkout.py``: TRL's
  ``DPOTrainer`` in the student's kernel) and *now*, this checkout; each runs
  ``python -m autograder grade capstone CLASS --jobs 2 --force`` with its own code.  Every round
  grades the class with both (the order alternating) and a class of 2 (``correct_alt_1``,
  ``sign_flipped``) with both, so that start-up costs separate from per-submission costs:
  projected(200) = t(2) + (t(N) - t(2)) / (N - 2) x 198, the median over the rounds, with the
  smallest and largest.  Both graders' caches under ``build/`` are warm (one ungraded warm-up
  each): the SFT model, and now the rest of the student-independent inputs, are built once per
  course, not per run.
* **CPU** of the whole process tree from a cgroup (``grade_throughput.CpuAccount``).
* **Power**: every submission's score, question by question, must equal ``expected.json`` under
  both graders, so the broken examples still miss the training points.  Beside it, the margins:
  each example's functions trained the old way (TRL's ``run_dpo`` and ``evaluate_policy``, as
  today's job) and the new way (``grading.training_verdicts``), with each outcome's distance to its
  threshold.  A faster job must not be a weaker one.
* **The README's course table**: ``--jobs 1`` on one ``correct_alt_1`` notebook, twice per grader.

``--shorter-job 50`` appends each example's training outcome had the job trained 50 steps: the
measurement behind "a shorter job would be a weaker one".

The machine is shared (about eight engineers on two cores): the load average is in the report;
wall times carry it, CPU times much less.  ``--quick``: 6 students, 1 round, no margins (a smoke
test of the benchmark).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline_checkout import BASELINE, baseline_checkout, checkout_env  # noqa: E402
from grade_throughput import CpuAccount  # noqa: E402

EXAMPLES = ROOT / "examples" / "submissions" / "capstone"
STUDENT_FILES = ROOT / "examples" / "capstone_students"
ORDER = ("correct_alt_1", "sign_flipped", "near_zero_effort", "beta_policy_only", "correct_alt_2",
         "reference_updated", "mean_not_sum", "padding_not_masked", "prompt_not_masked", "import_reference")
SMALL = ("correct_alt_1", "sign_flipped")
PROJECTED = 200
PATHS_ = ("today", "now")


@dataclass
class Run:
    path: str
    wall: float
    cpu: float
    small_wall: float = 0.0
    small_cpu: float = 0.0
    disagreements: list[str] = field(default_factory=list)

    def per_submission(self, students: int, unit: str) -> float:
        """What each further submission adds: the class less the class of 2 (start-up), per submission."""
        whole, small = (self.wall, self.small_wall) if unit == "wall" else (self.cpu, self.small_cpu)
        return (whole - small) / (students - len(SMALL))

    def projected(self, students: int, unit: str = "wall") -> float:
        """Seconds for PROJECTED submissions; for CPU, its wall time on 2 cores that nothing else uses."""
        small = self.small_wall if unit == "wall" else self.small_cpu / 2
        share = self.per_submission(students, unit) / (1 if unit == "wall" else 2)
        return small + share * (PROJECTED - len(SMALL))


def make_class(folder: Path, names: list[str]) -> dict[str, str]:
    """Copies of the examples named student000 ...; returns student -> example."""
    folder.mkdir(parents=True)
    roster = {}
    for k, example in enumerate(names):
        student = f"student{k:03d}"
        shutil.copy(EXAMPLES / f"{example}.ipynb", folder / f"{student}.ipynb")
        roster[student] = example
    return roster


def grade(checkout: Path, class_dir: Path, out: Path, jobs: int, tag: str) -> tuple[float, float]:
    command = [sys.executable, "-m", "autograder", "grade", "capstone", str(class_dir), "--out", str(out),
               "--jobs", str(jobs), "--force"]
    account = CpuAccount(f"mdl-capstone-throughput-{os.getpid()}-{tag}")
    try:
        started = time.monotonic()
        done = subprocess.run(command, cwd=checkout, env=checkout_env(checkout), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", preexec_fn=account.join)
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"grading with {checkout} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
        return wall, account.seconds()
    finally:
        account.remove()


def disagreements(out: Path, roster: dict[str, str], expected: dict[str, Any]) -> list[str]:
    """Students whose status or any question's score differs from expected.json."""
    wrong = []
    for student, example in roster.items():
        record_path = out / student / "record.json"
        if not record_path.is_file():
            wrong.append(f"{student} ({example}): no record")
            continue
        record = json.loads(record_path.read_text())
        want = expected[example]
        if record["status"] != want["status"] or any(
                abs(record["scores"].get(q, -1) - v) > 1e-9 for q, v in want["scores"].items()):
            wrong.append(f"{student} ({example}): {record['status']} {record['scores']}")
    return wrong


# --------------------------------------------------------------------------- the job's power


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"capstone_student_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome_margins() -> dict[str, dict[str, Any]]:
    """Each example's training outcome, the old way and the new way (seed 0, the graded one)."""
    import rlhf_capstone  # noqa: F401
    from grading_config import CAPSTONE
    from mdl_student.capstone import train
    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.evaluate import evaluate_policy
    from rlhf_capstone import grading, losses

    profile = get_profile("cpu")
    betas = [float(b) for b in CAPSTONE.graded_betas]
    files = sorted(STUDENT_FILES.glob("*.py")) + sorted((STUDENT_FILES / "fairness").glob("*.py"))
    rows: dict[str, dict[str, Any]] = {}
    for path in files:
        fns = _load(path)
        name = "correct_alt_1" if path.stem == "correct" else path.stem
        row: dict[str, Any] = {}
        try:
            old = {}
            for beta in betas:
                state = train.train_policy(profile, CAPSTONE.graded_task, (fns.sequence_logprobs, fns.dpo_loss), 0, beta)
                old[beta] = evaluate_policy(state, profile, CAPSTONE.graded_task, 0, beta,
                                            sequence_logprobs=losses.sequence_logprobs).to_dict()
            row["before"] = _outcome(old, profile.beta, CAPSTONE)
        except Exception as err:  # noqa: BLE001  (a broken loss may stop the job: that is its outcome)
            row["before"] = {"error": f"{type(err).__name__}: {err}"[:90]}
        try:
            _, new = grading.training_verdicts(fns.sequence_logprobs, fns.dpo_loss)
            row["after"] = _outcome(new, profile.beta, CAPSTONE) if new else {"error": "no metrics"}
        except Exception as err:  # noqa: BLE001
            row["after"] = {"error": f"{type(err).__name__}: {err}"[:90]}
        rows[name] = row
        print(f"margins: {name} done", flush=True)
    return rows


def shorter_job_margins(steps: int) -> dict[str, dict[str, Any]]:
    """Each example's outcome if the graded job trained ``steps`` steps instead of the profile's (lean loop, seed 0)."""
    import dataclasses

    import rlhf_capstone  # noqa: F401
    from grading_config import CAPSTONE
    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.jobs import dpo_gradients
    from rlhf_capstone import grading
    from rlhf_capstone.job_inputs import job_inputs
    from rlhf_capstone.lean_dpo import train_lockstep

    profile = dataclasses.replace(get_profile("cpu"), dpo_steps=steps)
    betas = [float(b) for b in CAPSTONE.graded_betas]
    inputs = job_inputs(profile, CAPSTONE.graded_task, 0)
    rows = {}
    for path in sorted(STUDENT_FILES.glob("*.py")) + sorted((STUDENT_FILES / "fairness").glob("*.py")):
        fns = _load(path)

        def step(k: int, batch: Any, logits: list[Any]) -> list[Any]:
            labels, mask = batch.labels_and_mask()
            return [(o["loss"], o["gradient"]) for o in dpo_gradients(
                fns.sequence_logprobs, fns.dpo_loss, logits, inputs.reference_logits[k], labels, mask, betas)]

        name = "correct_alt_1" if path.stem == "correct" else path.stem
        try:
            states = train_lockstep(profile, 0, inputs.start, inputs.batches, betas, step)
            metrics = {b: grading.graded_metrics(states[b], inputs, profile, b) for b in betas}
            rows[name] = {"after": _outcome(metrics, profile.beta, CAPSTONE)}
        except Exception as err:  # noqa: BLE001
            rows[name] = {"after": {"error": f"{type(err).__name__}: {err}"[:90]}}
    return rows


def _outcome(metrics: dict[float, dict[str, float]], beta: float, t: Any) -> dict[str, float]:
    """Accuracy, margin and gap ratio, and the smallest slack to a threshold (negative: fails)."""
    task = t.graded_task
    low, high = min(metrics), max(metrics)
    gap_low = metrics[low]["reward_margin"] / low
    ratio = (metrics[high]["reward_margin"] / high) / gap_low if gap_low > 0 else math.inf
    slack = min(metrics[beta]["reward_accuracy"] - t.min_reward_accuracy[task],
                metrics[beta]["reward_margin"] - t.min_reward_margin[task],
                t.max_gap_ratio[task] - ratio)
    return {"accuracy": metrics[beta]["reward_accuracy"], "margin": metrics[beta]["reward_margin"], "ratio": ratio,
            "slack": slack}


# --------------------------------------------------------------------------- the report


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    mid = statistics.median(values) / scale
    if len(values) == 1:
        return f"{mid:.{digits}f}"
    return f"{mid:.{digits}f} ({min(values) / scale:.{digits}f}-{max(values) / scale:.{digits}f})"


def shorter_report(rows: dict[str, Any], steps: int) -> str:
    lines = [
        "",
        f"## A shorter job would be a weaker one: {steps} DPO steps instead of 100",
        "",
        f"The same examples, the lean loop trained {steps} steps (everything else as graded):",
        "",
        "| student | accuracy, margin, ratio | slack |",
        "| --- | --- | --- |",
    ]
    for name, row in rows.items():
        o = row["after"]
        lines.append(f"| {name} | job stops: {o['error']} | fails |" if "error" in o else
                     f"| {name} | {o['accuracy']:.3f}, {o['margin']:.3f}, {o['ratio']:.3f} | {o['slack']:+.3f} |")
    return "\n".join(lines) + "\n"


def report(runs: list[Run], singles: dict[str, list[float]], margins: dict[str, Any] | None, students: int,
           rounds: int, load: tuple[float, float], baseline: str) -> str:
    lines = [
        "# The capstone at class scale: today's grader and this one",
        "",
        f"Generated by `benchmarks/capstone_throughput.py` on {time.strftime('%Y-%m-%d %H:%M')} (Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores). A class of {students} capstone submissions (the ten "
        f"examples in turn), {rounds} round(s), `mdl grade capstone --jobs 2` by *today*'s grader (`{baseline}`: TRL "
        "in the student's kernel) and by *now* (this checkout), the order alternating; medians over the rounds, "
        "the smallest and largest in brackets. **The machine is shared** by about eight engineers: load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end, on 2 cores. Wall times carry everyone else's "
        "work; CPU seconds (the whole process tree, from a cgroup) much less. Per submission: what each "
        f"further submission adds (the class less the class of {len(SMALL)}, which holds the start-up). Projected "
        f"for {PROJECTED}: the class of {len(SMALL)} plus {PROJECTED - len(SMALL)} such shares; by wall time as "
        "measured, and by CPU time on the 2 cores alone (what the class would take on this machine with "
        "nothing else running).",
        "",
        f"| grader | wall s / submission | CPU s / submission | {PROJECTED} projected, wall as measured | "
        f"{PROJECTED} projected, CPU on 2 idle cores | every score as expected.json |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for path in PATHS_:
        mine = [r for r in runs if r.path == path]
        wall = [r.per_submission(students, "wall") for r in mine]
        cpu = [r.per_submission(students, "cpu") for r in mine]
        projected = [r.projected(students) for r in mine]
        cpu_bound = [r.projected(students, "cpu") for r in mine]
        agree = "yes" if not any(r.disagreements for r in mine) else \
            "no: " + "; ".join(sorted({d for r in mine for d in r.disagreements})[:3])
        lines.append(f"| {path} | {spread(wall)} | {spread(cpu)} | {spread(projected, 60, 1)} min | "
                     f"{spread(cpu_bound, 60, 1)} min | {agree} |")
    ratio_cpu = (statistics.median(r.per_submission(students, "cpu") for r in runs if r.path == "today")
                 / statistics.median(r.per_submission(students, "cpu") for r in runs if r.path == "now"))
    lines += [
        "",
        f"CPU per submission, today / now: **{ratio_cpu:.1f}x**.",
        "",
        f"Every run, whole class then the class of {len(SMALL)} (wall s / CPU s; wall s / CPU s):",
        "",
    ]
    for path in PATHS_:
        lines.append(f"- {path}: " + ", ".join(f"{r.wall:.0f} / {r.cpu:.0f}; {r.small_wall:.0f} / {r.small_cpu:.0f}"
                                               for r in runs if r.path == path))
    lines += [
        "",
        "One `correct_alt_1` notebook, `mdl grade capstone FOLDER --jobs 1` (the README's course table), wall s: "
        + "; ".join(f"{path} " + ", ".join(f"{w:.1f}" for w in singles[path]) for path in PATHS_),
    ]
    if margins:
        lines += [
            "",
            "## The job's power: training outcomes before and after",
            "",
            "Each example's functions, seed 0 (the graded seed): held-out implicit-reward accuracy and margin at "
            "beta 0.1, and the log-ratio gap ratio (beta 1 over beta 0.1). *Slack* is the smallest distance to a "
            "threshold of `grading_config.CAPSTONE` (accuracy >= 0.8, margin >= 0.4, ratio <= 0.6), negative when "
            "it fails. *Before*: TRL's `run_dpo` and `evaluate_policy`, as today's job; *after*: "
            "`grading.training_verdicts` (the lean loop).",
            "",
            "| student | before: accuracy, margin, ratio | before: slack | after: accuracy, margin, ratio | after: slack |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, row in margins.items():
            cells = []
            for side in ("before", "after"):
                o = row[side]
                if "error" in o:
                    cells += [f"job stops: {o['error']}", "fails"]
                else:
                    cells += [f"{o['accuracy']:.3f}, {o['margin']:.3f}, {o['ratio']:.3f}", f"{o['slack']:+.3f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        passing = ("correct_alt_1", "correct_alt_2", "prompt_not_masked")
        for side in ("before", "after"):
            good = [margins[n][side]["slack"] for n in passing if n in margins and "slack" in margins[n][side]]
            bad = [margins[n][side].get("slack", -math.inf) for n in margins if n not in passing]
            lines.append("")
            lines.append(f"{side.capitalize()}: the passing students' smallest slack {min(good):+.3f}; the broken "
                         f"students' largest {max(bad):+.3f} (the gap between them: {min(good) - max(bad):.3f}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--quick", action="store_true", help="6 students, 1 round, no margins")
    parser.add_argument("--shorter-job", type=int, metavar="STEPS",
                        help="only: each example's training outcome with STEPS DPO steps (appended to --out)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "capstone_throughput.md"))
    args = parser.parse_args()
    if args.shorter_job:
        text = shorter_report(shorter_job_margins(args.shorter_job), args.shorter_job)
        with open(args.out, "a") as handle:
            handle.write(text)
        print(text)
        return
    students, rounds = (6, 1) if args.quick else (args.students, args.rounds)
    if not args.quick and (students < 10 or rounds < 3):
        raise SystemExit("a full run grades at least 10 submissions in at least 3 rounds (--quick for less)")
    checkouts = {"today": baseline_checkout(args.baseline), "now": ROOT}
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="mdl-capstone-throughput-"))
    roster = make_class(work / "class", [ORDER[k % len(ORDER)] for k in range(students)])
    small_roster = make_class(work / "small", list(SMALL))
    single = work / "single"
    make_class(single, ["correct_alt_1"])
    for path, checkout in checkouts.items():  # warm caches (the SFT model, the bundle) for both: not timed
        grade(checkout, single, work / f"warmup-{path}", 1, f"warmup-{path}")
        print(f"{path}: warm", flush=True)
    load_start = os.getloadavg()[0]
    singles: dict[str, list[float]] = {path: [] for path in PATHS_}
    runs: list[Run] = []
    for index in range(rounds):
        for path in (PATHS_ if index % 2 == 0 else PATHS_[::-1]):
            tag = f"{index}-{path}"
            wall, cpu = grade(checkouts[path], work / "class", work / f"out-{tag}", 2, tag)
            run = Run(path, wall, cpu, disagreements=disagreements(work / f"out-{tag}", roster, expected))
            run.small_wall, run.small_cpu = grade(checkouts[path], work / "small", work / f"small-{tag}", 2, tag + "-small")
            run.disagreements += disagreements(work / f"small-{tag}", small_roster, expected)
            runs.append(run)
            print(f"round {index + 1}: {path:5} wall {wall:7.1f} s  CPU {cpu:7.1f} s  ({wall / students:.2f} / "
                  f"{cpu / students:.2f} per submission; class of {len(SMALL)}: {run.small_wall:.1f} s)"
                  + (f"  DISAGREES: {run.disagreements[:2]}" if run.disagreements else ""), flush=True)
    for path in PATHS_:
        for k in range(2):
            singles[path].append(grade(checkouts[path], single, work / f"single-{path}-{k}", 1, f"single-{path}-{k}")[0])
    load_end = os.getloadavg()[0]
    margins = None if args.quick else outcome_margins()
    text = report(runs, singles, margins, students, rounds, (load_start, load_end), args.baseline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text)
    shutil.rmtree(work, ignore_errors=True)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

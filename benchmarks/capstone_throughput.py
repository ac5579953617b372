"""The capstone at class scale: the grader before the verified replay and this one, side by side, in one run.

    .venv/bin/python benchmarks/capstone_throughput.py [--students 10] [--rounds 3] [--baseline 20cbe70]
                                                       [--quick] [--out benchmarks/results/capstone_throughput.md]
    .venv/bin/python benchmarks/capstone_throughput.py --shorter-job 50   # appended to --out

* **The classes** (N submissions each, copies of ``examples/submissions/capstone/``):
  *examples*, the ten examples in turn (two correct students, near-zero effort, a memoriser, five broken
  losses that train, an attempt to import the reference: 6 of 10 train for real under the replay, see
  below), which costs the grader most; and *course*, what a course mostly sees: 8 correct out of 10
  (``correct_alt_1`` and ``correct_alt_2`` four times each, ``sign_flipped`` and ``mean_not_sum``).
* **The graders**: *before*, a copy of the baseline commit (``baseline_checkout.py``; default ``20cbe70``,
  main before the replay: every submission's policies trained in the grader) and *now*, this checkout;
  each runs ``python -m autograder grade capstone CLASS --jobs 2 --force`` with its own code.  Every
  round grades each class with both (the order alternating) and a class of 2 (``correct_alt_1``,
  ``sign_flipped``) with both, so that start-up costs separate from per-submission costs:
  projected(200) = t(2) + (t(N) - t(2)) / (N - 2) x 198, the median over the rounds, with the
  smallest and largest.  Both graders' caches under ``build/`` are warm (one ungraded warm-up
  each): the SFT model, the student-independent inputs and now the reference's trajectory are built
  once per course, not per run.
* **CPU** of the whole process tree from a cgroup (``grade_throughput.CpuAccount``).
* **Power**: every submission's score, question by question, must equal ``expected.json`` under
  both graders, so the broken examples still miss the training points.  Beside it, the margins:
  each example's functions trained for real (``grading.training_outcome(replay_first=False)``, the path
  before) and graded now (with the replay), with each outcome's distance to its threshold and the path
  the grader took.  A faster job must not be a weaker one.
* **The tolerance**: the reference's training with every step's gradient moved by the whole tolerance
  of the replay (``replay.GRADIENT_TOLERANCE`` of its norm: in a random direction, and in the direction of
  a bias at every step), and by ten times it, trained for real: how far accuracy, margin and ratio
  move, against the slack of a correct student (``--power-only``: this and the margins, no grading).
* **The README's course table**: ``--jobs 1`` on one ``correct_alt_1`` notebook, twice per grader.

``--shorter-job 50`` appends each example's training outcome had the job trained 50 steps: the
measurement behind "a shorter job would be a weaker one".

The machine is shared (about eight engineers on two cores): the load average is in the report;
wall times carry it, CPU times much less.  ``--quick``: 6 students, 1 round, no margins (a smoke
test of the benchmark).
"""

from __future__ import annotations

import argparse
import dataclasses
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

from baseline_checkout import baseline_checkout, checkout_env  # noqa: E402
from grade_throughput import CpuAccount  # noqa: E402

EXAMPLES = ROOT / "examples" / "submissions" / "capstone"
STUDENT_FILES = ROOT / "examples" / "capstone_students"
ORDER = ("correct_alt_1", "sign_flipped", "near_zero_effort", "beta_policy_only", "correct_alt_2",
         "reference_updated", "mean_not_sum", "padding_not_masked", "prompt_not_masked", "import_reference")
COURSE = ("correct_alt_1", "correct_alt_2", "correct_alt_1", "sign_flipped", "correct_alt_2", "correct_alt_1",
          "correct_alt_2", "mean_not_sum", "correct_alt_1", "correct_alt_2")  # 8 correct of 10
CLASSES = {"examples": ORDER, "course": COURSE}
SMALL = ("correct_alt_1", "sign_flipped")
PROJECTED = 200
PATHS_ = ("before", "now")
BEFORE = "20cbe70"  # main before the verified replay: every submission's policies trained in the grader


@dataclass
class Run:
    klass: str
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
    """Each example's training outcome trained for real (the path before) and graded now (seed 0, the graded one)."""
    import rlhf_capstone  # noqa: F401
    from grading_config import CAPSTONE
    from mdl_student.capstone.config import get_profile
    from rlhf_capstone import grading

    profile = get_profile("cpu")
    files = sorted(STUDENT_FILES.glob("*.py")) + sorted((STUDENT_FILES / "fairness").glob("*.py"))
    rows: dict[str, dict[str, Any]] = {}
    for path in files:
        fns = _load(path)
        name = "correct_alt_1" if path.stem == "correct" else path.stem
        row: dict[str, Any] = {}
        for side, replay_first in (("before", False), ("after", True)):
            try:
                result = grading.training_outcome(fns.sequence_logprobs, fns.dpo_loss, replay_first=replay_first)
                row[side] = (_outcome(result.metrics, profile.beta, CAPSTONE) if result.metrics
                             else {"error": result.verdicts[0].detail[:90]})
                row[side]["path"] = ("replayed all 100 steps" if not result.trained and result.metrics else
                                     f"trained (replies agreed for {result.replayed_steps} steps)" if replay_first
                                     else "trained")
            except Exception as err:  # noqa: BLE001  (a broken loss may stop the job: that is its outcome)
                row[side] = {"error": f"{type(err).__name__}: {err}"[:90], "path": "job stops"}
        rows[name] = row
        print(f"margins: {name} done", flush=True)
    return rows


def tolerance_effect() -> list[dict[str, Any]]:
    """The reference's training with each step's gradient moved by what the replay admits (and 10x), for real.

    Each step's gradient (per beta) moves by ``level x replay.GRADIENT_TOLERANCE`` of its norm, in a
    direction that is ``random`` (Gaussian, seeded, a new one each step) or ``outward`` (every nonzero
    entry away from zero: the same bias at every step, the worse of the two for a drift).
    """
    import rlhf_capstone  # noqa: F401
    from grading_config import CAPSTONE
    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.jobs import dpo_gradients
    from rlhf_capstone import grading, losses, replay
    from rlhf_capstone.job_inputs import job_inputs
    from rlhf_capstone.lean_dpo import train_lockstep

    profile = get_profile("cpu")
    betas = [float(b) for b in CAPSTONE.graded_betas]
    inputs = job_inputs(profile, CAPSTONE.graded_task, 0)
    rows = []
    for kind, level in (("none", 0.0), ("random", 1.0), ("outward", 1.0), ("random", 10.0), ("outward", 10.0)):
        noise = torch_generator(1234)
        tolerance = level * replay.GRADIENT_TOLERANCE

        def step(k: int, batch: Any, logits: list[Any]) -> list[Any]:
            import torch

            labels, mask = batch.labels_and_mask()
            outputs = []
            for o in dpo_gradients(losses.sequence_logprobs, losses.dpo_loss, logits, inputs.reference_logits[k],
                                   labels, mask, betas):
                g = o["gradient"]
                if kind != "none":
                    direction = (torch.randn(g.shape, generator=noise, dtype=g.dtype) if kind == "random"
                                 else torch.sign(g))
                    g = g + direction * (tolerance * g.norm() / direction.norm())
                outputs.append((o["loss"], g))
            return outputs

        states = train_lockstep(profile, 0, inputs.start, inputs.batches, betas, step)
        metrics = {b: grading.graded_metrics(states[b], inputs, profile, b) for b in betas}
        rows.append({"kind": kind, "level": level, "tolerance": tolerance,
                     **_outcome(metrics, profile.beta, CAPSTONE)})
        print(f"tolerance: {kind} x{level:g} done", flush=True)
    return rows


def torch_generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


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


CLASS_WORDS = {
    "examples": "the ten examples in turn: 2 correct, 8 not (6 of 10 train for real)",
    "course": "8 correct of 10 (4 correct_alt_1, 4 correct_alt_2, sign_flipped, mean_not_sum)",
}


def report(runs: list[Run], singles: dict[str, list[float]], margins: dict[str, Any] | None,
           tolerance: list[dict[str, Any]] | None, students: int, rounds: int, load: tuple[float, float],
           baseline: str) -> str:
    from rlhf_capstone import replay

    lines = [
        "# The capstone at class scale: the grader before the verified replay and this one",
        "",
        f"Generated by `benchmarks/capstone_throughput.py` on {time.strftime('%Y-%m-%d %H:%M')} (Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores). Two classes of {students} capstone submissions, "
        f"{rounds} round(s), `mdl grade capstone --jobs 2` by *before* (`{baseline}`: every submission's policies "
        "trained in the grader) and by *now* (this checkout: the verified replay), the order alternating; medians "
        "over the rounds, the smallest and largest in brackets. **The machine is shared** by about eight "
        f"engineers: load average {load[0]:.1f} at the start and {load[1]:.1f} at the end, on 2 cores. Wall times "
        "carry everyone else's work; CPU seconds (the whole process tree, from a cgroup) much less. Per "
        f"submission: what each further submission adds (the class less the class of {len(SMALL)}, which holds "
        f"the start-up). Projected for {PROJECTED}: the class of {len(SMALL)} plus {PROJECTED - len(SMALL)} such "
        "shares; by wall time as measured, and by CPU time on the 2 cores alone (what the class would take on "
        "this machine with nothing else running).",
        "",
        f"| class | grader | wall s / submission | CPU s / submission | {PROJECTED} projected, wall as measured | "
        f"{PROJECTED} projected, CPU on 2 idle cores | every score as expected.json |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    klasses = [k for k in CLASSES if any(r.klass == k for r in runs)]
    for klass in klasses:
        for path in PATHS_:
            mine = [r for r in runs if r.path == path and r.klass == klass]
            wall = [r.per_submission(students, "wall") for r in mine]
            cpu = [r.per_submission(students, "cpu") for r in mine]
            projected = [r.projected(students) for r in mine]
            cpu_bound = [r.projected(students, "cpu") for r in mine]
            agree = "yes" if not any(r.disagreements for r in mine) else \
                "no: " + "; ".join(sorted({d for r in mine for d in r.disagreements})[:3])
            lines.append(f"| {klass} ({CLASS_WORDS[klass]}) | {path} | {spread(wall)} | {spread(cpu)} | "
                         f"{spread(projected, 60, 1)} min | {spread(cpu_bound, 60, 1)} min | {agree} |")
    lines.append("")
    for klass in klasses:
        ratio_cpu = (statistics.median(r.per_submission(students, "cpu") for r in runs if r.path == "before" and r.klass == klass)
                     / statistics.median(r.per_submission(students, "cpu") for r in runs if r.path == "now" and r.klass == klass))
        lines.append(f"CPU per submission, before / now, class *{klass}*: **{ratio_cpu:.1f}x**.")
        lines.append("")
    lines += [f"Every run, whole class then the class of {len(SMALL)} (wall s / CPU s; wall s / CPU s):", ""]
    for klass in klasses:
        for path in PATHS_:
            lines.append(f"- {klass}, {path}: " + ", ".join(
                f"{r.wall:.0f} / {r.cpu:.0f}; {r.small_wall:.0f} / {r.small_cpu:.0f}"
                for r in runs if r.path == path and r.klass == klass))
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
            "it fails. *Before*: trained for real (`grading.training_outcome(replay_first=False)`, the grader "
            f"before this change); *after*: as graded now, and the path it took (the replay's tolerance: "
            f"{replay.GRADIENT_TOLERANCE:g} of each step's gradient norm, {replay.LOSS_TOLERANCE:g} of the loss).",
            "",
            "| student | before: accuracy, margin, ratio | before: slack | after: accuracy, margin, ratio | after: slack | after: path |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in margins.items():
            cells = []
            for side in ("before", "after"):
                o = row[side]
                if "error" in o:
                    cells += [f"job stops: {o['error']}", "fails"]
                else:
                    cells += [f"{o['accuracy']:.3f}, {o['margin']:.3f}, {o['ratio']:.3f}", f"{o['slack']:+.3f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['after'].get('path', '')} |")
        passing = ("correct_alt_1", "correct_alt_2", "prompt_not_masked")
        for side in ("before", "after"):
            good = [margins[n][side]["slack"] for n in passing if n in margins and "slack" in margins[n][side]]
            bad = [margins[n][side].get("slack", -math.inf) for n in margins if n not in passing]
            lines.append("")
            lines.append(f"{side.capitalize()}: the passing students' smallest slack {min(good):+.3f}; the broken "
                         f"students' largest {max(bad):+.3f} (the gap between them: {min(good) - max(bad):.3f}).")
    if tolerance:
        base = tolerance[0]
        lines += [
            "",
            "## What the replay's tolerance could move",
            "",
            "The reference's training (seed 0, both graded betas, the lean loop, evaluated as graded) with every "
            "step's gradient of the loss with respect to the logits moved by the replay's whole tolerance "
            f"(`replay.GRADIENT_TOLERANCE` = {replay.GRADIENT_TOLERANCE:g} of the gradient's norm: a replay accepts "
            "it) and by ten times it (a replay refuses it): in a *random* direction (Gaussian, a new one each "
            "step), or *outward* (every nonzero entry away from zero: the same bias at every step). Trained for "
            "real; the change from the unperturbed training, against the slack of a correct student.",
            "",
            "| perturbation | accuracy, margin, ratio | change in accuracy, margin, ratio | slack |",
            "| --- | --- | --- | --- |",
        ]
        for row in tolerance:
            label = "none (the reference)" if row["kind"] == "none" else \
                f"{row['kind']}, {row['level']:g} x tolerance ({row['tolerance']:.0e})"
            change = ", ".join(f"{row[k] - base[k]:+.4f}" for k in ("accuracy", "margin", "ratio"))
            lines.append(f"| {label} | {row['accuracy']:.4f}, {row['margin']:.4f}, {row['ratio']:.4f} | {change} | "
                         f"{row['slack']:+.4f} |")
        def moved(level: float) -> str:
            return ", ".join(f"{key} {max(abs(row[key] - base[key]) for row in tolerance if row['level'] == level):.4f}"
                             for key in ("accuracy", "margin", "ratio"))

        from grading_config import CAPSTONE

        task = CAPSTONE.graded_task
        lines += ["", f"At the tolerance each number moves by at most: {moved(1.0)}; at ten times it: {moved(10.0)}. "
                  "A correct student's distance to each threshold: accuracy "
                  f"{base['accuracy'] - CAPSTONE.min_reward_accuracy[task]:.3f}, margin "
                  f"{base['margin'] - CAPSTONE.min_reward_margin[task]:.3f}, ratio "
                  f"{CAPSTONE.max_gap_ratio[task] - base['ratio']:.3f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BEFORE)
    parser.add_argument("--quick", action="store_true", help="6 students, 1 round, no margins")
    parser.add_argument("--shorter-job", type=int, metavar="STEPS",
                        help="only: each example's training outcome with STEPS DPO steps (appended to --out)")
    parser.add_argument("--power-only", action="store_true",
                        help="only the margins and the tolerance's effect (no grading), printed")
    parser.add_argument("--from-json", metavar="FILE", help="only: write the report again from a run's .json")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "capstone_throughput.md"))
    args = parser.parse_args()
    if args.shorter_job:
        text = shorter_report(shorter_job_margins(args.shorter_job), args.shorter_job)
        with open(args.out, "a") as handle:
            handle.write(text)
        print(text)
        return
    if args.from_json:  # render the report again from a run's raw numbers
        data = json.loads(Path(args.from_json).read_text())
        text = report([Run(**r) for r in data["runs"]], data["singles"], data.get("margins"), data.get("tolerance"),
                      data["students"], data["rounds"], tuple(data["load"]), data["baseline"])
        Path(args.out).write_text(text)
        print(text)
        return
    if args.power_only:
        print(report([], {p: [] for p in PATHS_}, outcome_margins(), tolerance_effect(), 0, 0, os.getloadavg()[:2],
                     args.baseline))
        return
    students, rounds = (6, 1) if args.quick else (args.students, args.rounds)
    if not args.quick and (students < 10 or rounds < 3):
        raise SystemExit("a full run grades at least 10 submissions in at least 3 rounds (--quick for less)")
    checkouts = {"before": baseline_checkout(args.baseline), "now": ROOT}
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="mdl-capstone-throughput-"))
    rosters = {klass: make_class(work / klass, [names[k % len(names)] for k in range(students)])
               for klass, names in CLASSES.items()}
    small_roster = make_class(work / "small", list(SMALL))
    single = work / "single"
    make_class(single, ["correct_alt_1"])
    for path, checkout in checkouts.items():  # warm caches (the SFT model, the inputs, the trajectory): not timed
        grade(checkout, single, work / f"warmup-{path}", 1, f"warmup-{path}")
        print(f"{path}: warm", flush=True)
    load_start = os.getloadavg()[0]
    singles: dict[str, list[float]] = {path: [] for path in PATHS_}
    runs: list[Run] = []
    for index in range(rounds):
        for path in (PATHS_ if index % 2 == 0 else PATHS_[::-1]):
            tag = f"{index}-{path}"
            small_wall, small_cpu = grade(checkouts[path], work / "small", work / f"small-{tag}", 2, tag + "-small")
            small_wrong = disagreements(work / f"small-{tag}", small_roster, expected)
            for klass, roster in rosters.items():
                wall, cpu = grade(checkouts[path], work / klass, work / f"out-{klass}-{tag}", 2, f"{klass}-{tag}")
                run = Run(klass, path, wall, cpu, small_wall, small_cpu,
                          disagreements(work / f"out-{klass}-{tag}", roster, expected) + small_wrong)
                runs.append(run)
                print(f"round {index + 1}: {klass:8} {path:6} wall {wall:7.1f} s  CPU {cpu:7.1f} s  "
                      f"({run.per_submission(students, 'wall'):.2f} / {run.per_submission(students, 'cpu'):.2f} per "
                      f"submission; class of {len(SMALL)}: {small_wall:.1f} / {small_cpu:.1f} s)"
                      + (f"  DISAGREES: {run.disagreements[:2]}" if run.disagreements else ""), flush=True)
    for path in PATHS_:
        for k in range(2):
            singles[path].append(grade(checkouts[path], single, work / f"single-{path}-{k}", 1, f"single-{path}-{k}")[0])
    load_end = os.getloadavg()[0]
    raw = Path(args.out).with_suffix(".json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"runs": [dataclasses.asdict(r) for r in runs], "singles": singles, "students": students,
                               "rounds": rounds, "load": [load_start, load_end], "baseline": args.baseline}, indent=1))
    margins = None if args.quick else outcome_margins()
    tolerance = None if args.quick else tolerance_effect()
    raw.write_text(json.dumps({**json.loads(raw.read_text()), "margins": margins, "tolerance": tolerance}, indent=1,
                              default=str))
    text = report(runs, singles, margins, tolerance, students, rounds, (load_start, load_end), args.baseline)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text)
    shutil.rmtree(work, ignore_errors=True)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

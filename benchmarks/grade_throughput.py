"""Grading throughput: `mdl grade` (1 and 2 kernels), `nbgrader autograde` and `otter run` on one A1 class.

    .venv/bin/python benchmarks/grade_throughput.py [--students 40] [--rounds 3] [--quick]
                                                     [--out benchmarks/results/grade_throughput.md]

* **The class**: N copies of the A1 examples (examples/submissions/a1), half earning full marks
  (correct_alt_1, correct_alt_2, full_marks_alt in turn), half partial marks (partial, raises,
  visible_pass_hidden_fail in turn).
* **The tools**, each in every round, the order rotating from round to round:
  `mdl grade a1 CLASS --jobs 1` and `--jobs 2` (with `--force`, into a fresh folder);
  `nbgrader autograde a1 --force` for the whole class in one process (course folder made once
  with `nbgrader generate_assignment` from source/a1, as benchmarks/compare_anchors.py does);
  `otter run -a autograder.zip` once per submission (the zip made once by `otter generate`
  from the very tests mdl uses).  The anchors run unsandboxed, as this machine's user.
* **CPU** is that of the whole process tree, read from a cgroup made for each run (cgroup v2's
  cpu.stat, or v1's cpuacct): under bubblewrap a kernel's CPU never reaches RUSAGE_CHILDREN.
  Wall time is inflated by whatever else runs on the machine; CPU time much less so.
* **Per tool**: median over rounds of wall and CPU seconds per submission, ratios to
  `mdl --jobs 2`, whether every student's score agrees with mdl's, and the wall time projected
  for 200 submissions.  The projection separates what a run pays once (start-up) from what each
  submission costs: every round also grades a class of 2 (one full, one partial), and
  projected = t(2) + (t(N) - t(2)) / (N - 2) x 198, median over the rounds.
* **The floor**: CPU time of executing every code cell of the A1 source notebook (answers and
  tests, hidden ones included) in one plain Python process, no sandbox and no IPython; mdl's CPU
  per submission is reported as a ratio to it (goal: at most 1.5).

`--quick`: 8 students, 1 round (a smoke test of the benchmark; its numbers carry less weight).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "adversarial"))

from grading_config import PATHS  # noqa: E402

BIN = Path(sys.executable).parent
FULL = ("correct_alt_1", "correct_alt_2", "full_marks_alt")
PARTIAL = ("partial", "raises", "visible_pass_hidden_fail")
PROJECTED_CLASS = 200
SMALL_CLASS = 2  # graded in every round too, to tell start-up costs from per-submission costs
FLOOR_GOAL = 1.5
TOOLS = ("mdl --jobs 1", "mdl --jobs 2", "nbgrader autograde", "otter run")


# --------------------------------------------------------------------------- CPU of a process tree


class CpuAccount:
    """A cgroup that one run's processes (and all they start) join; its CPU seconds when they are done."""

    V2 = Path("/sys/fs/cgroup")
    V1 = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self, name: str) -> None:
        if (self.V2 / "cgroup.controllers").is_file():
            self.path, self.kind = self.V2 / name, "v2"
        elif (self.V1 / "cpuacct.usage").is_file():
            self.path, self.kind = self.V1 / name, "v1"
        else:
            raise SystemExit("no cgroup to count CPU in (needs cgroup v2, or v1's cpuacct, writable: run as root)")
        self.path.mkdir()

    def join(self) -> None:
        """Called in the child before it runs the tool (preexec_fn): it, and whatever it starts, count here."""
        (self.path / "cgroup.procs").write_text("0")

    def seconds(self) -> float:
        """CPU seconds used so far, once every process in the group has ended (at most 30 s of waiting)."""
        deadline = time.monotonic() + 30
        while (self.path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.kind == "v2":
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    scores: dict[str, float] = field(default_factory=dict)
    small_wall: float = 0.0  # the same tool on a class of SMALL_CLASS, in the same round

    def projected(self, students: int) -> float:
        """Wall seconds for PROJECTED_CLASS submissions: the start-up once, then each submission's share."""
        per_submission = (self.wall - self.small_wall) / (students - SMALL_CLASS)
        return self.small_wall + per_submission * (PROJECTED_CLASS - SMALL_CLASS)


def run_counted(commands: list[list[str]], cwd: Path, env: dict[str, str], tag: str) -> tuple[float, float]:
    """Run ``commands`` one after the other in one cgroup; (wall seconds, CPU seconds of every process)."""
    account = CpuAccount(f"mdl-throughput-{os.getpid()}-{tag}")
    try:
        started = time.monotonic()
        for command in commands:
            done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace", preexec_fn=account.join)  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command[:4])} ... failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
        wall = time.monotonic() - started
        return wall, account.seconds()
    finally:
        account.remove()


# --------------------------------------------------------------------------- the class and the tools


def make_class(folder: Path, count: int) -> list[str]:
    """``count`` A1 submissions, named student000 ...: half full marks, half partial."""
    folder.mkdir(parents=True)
    students = []
    for k in range(count):
        pool = FULL if k % 2 == 0 else PARTIAL
        name = f"student{k:03d}"
        shutil.copy(PATHS.examples / "a1" / f"{pool[(k // 2) % len(pool)]}.ipynb", folder / f"{name}.ipynb")
        students.append(name)
    return students


def anchor_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def grade_mdl(class_dir: Path, work: Path, jobs: int, tag: str) -> Run:
    out = work / f"mdl-{tag}"
    command = [str(BIN / "mdl"), "grade", "a1", str(class_dir), "--out", str(out), "--jobs", str(jobs), "--force"]
    wall, cpu = run_counted([command], ROOT, {**os.environ}, tag)
    with (out / "grades.csv").open() as handle:
        scores = {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}
    return Run(f"mdl --jobs {jobs}", wall, cpu, scores)


def grade_nbgrader(course: Path, class_dir: Path, students: list[str], work: Path, tag: str) -> Run:
    for folder in ("submitted", "autograded", "feedback"):  # the gradebook keeps the assignment; --force regrades
        shutil.rmtree(course / folder, ignore_errors=True)
    for student in students:
        target = course / "submitted" / student / "a1"
        target.mkdir(parents=True)
        shutil.copy(class_dir / f"{student}.ipynb", target / "a1.ipynb")
    command = [str(BIN / "nbgrader"), "autograde", "a1", "--create", "--force"]
    wall, cpu = run_counted([command], course, anchor_env(work), tag)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: float(gradebook.find_submission("a1", s).score) for s in students}
    return Run("nbgrader autograde", wall, cpu, scores)


def grade_otter(zip_path: Path, class_dir: Path, students: list[str], work: Path, tag: str) -> Run:
    results = work / f"otter-{tag}"
    commands = []
    for student in students:
        out = results / student
        out.mkdir(parents=True)
        shutil.copy(class_dir / f"{student}.ipynb", out / "a1.ipynb")
        commands.append([str(BIN / "otter"), "run", "-a", str(zip_path), "-o", str(out), "--no-logo", str(out / "a1.ipynb")])
    wall, cpu = run_counted(commands, results, anchor_env(work), tag)
    scores = {}
    for student in students:
        data = json.loads((results / student / "results.json").read_text())
        scores[student] = float(data.get("score", sum(t.get("score", 0) for t in data.get("tests", []))))
    return Run("otter run", wall, cpu, scores)


def grade_with(tool: str, class_dir: Path, students: list[str], work: Path, course: Path, zip_path: Path, tag: str) -> Run:
    if tool.startswith("mdl"):
        return grade_mdl(class_dir, work, int(tool[-1]), tag)
    if tool.startswith("nbgrader"):
        return grade_nbgrader(course, class_dir, students, work, tag)
    return grade_otter(zip_path, class_dir, students, work, tag)


# --------------------------------------------------------------------------- the floor

FLOOR_SCRIPT = """
import json, sys
cells = [''.join(c['source']) if isinstance(c['source'], list) else c['source']
         for c in json.load(open(sys.argv[1]))['cells'] if c['cell_type'] == 'code']
namespace = {'__name__': '__main__'}
for code in cells:
    exec(compile(code, '<cell>', 'exec'), namespace)
"""


def floor_seconds(work: Path, tag: str) -> float:
    """CPU seconds of running the A1 source notebook's code cells in one plain Python process."""
    env = {**os.environ, "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(work / "mplconfig"), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-c", FLOOR_SCRIPT, str(PATHS.source / "a1" / "a1.ipynb")]
    run_counted([command], work, env, f"floor-warm-{tag}")  # matplotlib's font cache, built once, as mdl's is
    return run_counted([command], work, env, f"floor-{tag}")[1]


# --------------------------------------------------------------------------- the report


def agreement(runs: list[Run], reference: dict[str, float]) -> str:
    differing = sorted({s for r in runs for s, score in r.scores.items() if abs(score - reference.get(s, -1)) > 1e-6})
    if not differing:
        return "yes"
    examples = ", ".join(f"{s} {runs[0].scores.get(s, float('nan')):g} vs mdl {reference.get(s, float('nan')):g}"
                         for s in differing[:3])
    return f"no: {len(differing)} of {len(reference)} differ (e.g. {examples})"


def report(runs: list[Run], floors: list[float], students: int, rounds: int, load: tuple[float, float]) -> str:
    mdl2 = [r for r in runs if r.tool == "mdl --jobs 2"]
    reference = mdl2[0].scores
    wall2 = statistics.median(r.wall for r in mdl2) / students
    cpu2 = statistics.median(r.cpu for r in mdl2) / students
    floor = statistics.median(floors)
    lines = [
        "# Grading throughput: mdl, nbgrader and otter on one A1 class",
        "",
        f"Generated by `benchmarks/grade_throughput.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} cores). {students} submissions (half full marks, "
        f"half partial), {rounds} round(s), the tools alternating; medians over the rounds. Load average of "
        f"the machine at the start and the end: {load[0]:.1f} and {load[1]:.1f} (wall times grow with it; CPU "
        "times, of the whole process tree from a cgroup, much less).",
        "",
        "| tool | wall s / submission | CPU s / submission | wall vs mdl --jobs 2 | CPU vs mdl --jobs 2 "
        f"| scores agree with mdl | projected for {PROJECTED_CLASS} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool in TOOLS:
        mine = [r for r in runs if r.tool == tool]
        wall = statistics.median(r.wall for r in mine) / students
        cpu = statistics.median(r.cpu for r in mine) / students
        projected = statistics.median(r.projected(students) for r in mine)
        lines.append(f"| {tool} | {wall:.2f} | {cpu:.2f} | {wall / wall2:.2f}x | {cpu / cpu2:.2f}x | "
                     f"{agreement(mine, reference)} | {projected / 60:.1f} min ({projected:.0f} s) |")
    mdl_cpu = statistics.median(r.cpu for r in runs if r.tool.startswith("mdl")) / students
    projected2 = statistics.median(r.projected(students) for r in mdl2)
    lines += [
        "",
        f"**Floor**: executing the A1 source notebook's code cells (answers and every test) in one plain Python "
        f"process costs {floor:.2f} CPU s (median of {len(floors)}). mdl spends {cpu2:.2f} CPU s per submission with "
        f"two kernels ({mdl_cpu:.2f} over both mdl runs): **{cpu2 / floor:.2f}x the floor** (goal: at most {FLOOR_GOAL}x).",
        "",
        f"**{PROJECTED_CLASS} submissions with `mdl grade --jobs 2`**: {projected2 / 60:.1f} minutes projected "
        f"(goal: under 3); {wall2 * PROJECTED_CLASS / 60:.1f} minutes at this run's wall time per submission, "
        "start-up included in each.",
        "",
        f"Every run, in seconds for the whole class (wall / CPU; then the wall time of the class of {SMALL_CLASS}):",
        "",
    ]
    for tool in TOOLS:
        lines.append(f"- {tool}: " + ", ".join(f"{r.wall:.1f} / {r.cpu:.1f} ({r.small_wall:.1f})"
                                               for r in runs if r.tool == tool))
    lines.append(f"- floor (one notebook, CPU): " + ", ".join(f"{f:.2f}" for f in floors))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 students, 1 round")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "grade_throughput.md"))
    args = parser.parse_args()
    students_n, rounds = (8, 1) if args.quick else (args.students, args.rounds)
    if not args.quick and (students_n < 40 or rounds < 3):
        raise SystemExit("a full run grades at least 40 submissions in at least 3 rounds (--quick for less)")

    from compare_anchors import setup_nbgrader, setup_otter

    work = Path(tempfile.mkdtemp(prefix="mdl-throughput-"))
    class_dir = work / "class"
    students = make_class(class_dir, students_n)
    small_dir = work / "small_class"
    small_students = make_class(small_dir, SMALL_CLASS)
    print(f"{students_n} submissions in {class_dir}; setting up nbgrader and otter ...", flush=True)
    subprocess.run([str(BIN / "mdl"), "build", "a1"], cwd=ROOT, check=True, capture_output=True)
    course = setup_nbgrader(work)
    zip_path = setup_otter(work)
    load_start = os.getloadavg()[0]
    runs: list[Run] = []
    floors: list[float] = []
    for round_index in range(rounds):
        order = TOOLS[round_index % len(TOOLS):] + TOOLS[: round_index % len(TOOLS)]
        for tool in order:
            tag = f"{round_index}-{tool.replace(' ', '').replace('-', '')}"
            run = grade_with(tool, class_dir, students, work, course, zip_path, tag)
            run.small_wall = grade_with(tool, small_dir, small_students, work, course, zip_path, tag + "-small").wall
            runs.append(run)
            print(f"round {round_index + 1}: {tool:20} wall {run.wall:7.1f} s  CPU {run.cpu:7.1f} s  "
                  f"({run.wall / students_n:.2f} / {run.cpu / students_n:.2f} per submission)", flush=True)
        floors.append(floor_seconds(work, str(round_index)))
        print(f"round {round_index + 1}: floor (A1 source, plain Python): {floors[-1]:.2f} CPU s", flush=True)
    text = report(runs, floors, students_n, rounds, (load_start, os.getloadavg()[0]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text)
    print(f"written to {args.out}; scratch folder {work}")


if __name__ == "__main__":
    main()

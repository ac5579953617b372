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
* **The warm floor**, what mdl's CPU per submission is compared with (goal: at most 1.5x): one
  Python process imports what mdl's kernel server imports (numpy, sympy with what its functions
  import on first use, matplotlib, IPython, mdl_student.checks) once, then forks one child per
  notebook of the class; each child executes every code cell of the A1 source notebook (answers and
  tests, hidden ones included) with `exec`, no sandbox, no IPython kernel, no bridge, and exits.
  The floor is the median CPU of one child (its own and its forked checks', from `wait4`); the
  one-off import is reported beside it.  Like mdl, it pays the imports once per class, not per
  notebook, so the ratio says what the sandbox, the kernel protocol and grading add.
* **The cold start**, kept for comparison: the same cells in a fresh Python process per notebook,
  which imports numpy, sympy and matplotlib itself (what a tool pays that starts a new kernel
  per submission; issue 24 found that it is no floor for mdl, which does not).
* **The spread**: the projection is quoted as the median of the rounds with each round's value,
  as wall times on a shared machine vary from round to round.

`--quick`: 8 students, 1 round (a smoke test of the benchmark; its numbers carry less weight).
A run smaller than 40 students or 3 rounds says so in its report.
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

COLD_START_SCRIPT = """
import json, sys
cells = [''.join(c['source']) if isinstance(c['source'], list) else c['source']
         for c in json.load(open(sys.argv[1]))['cells'] if c['cell_type'] == 'code']
namespace = {'__name__': '__main__'}
for code in cells:
    exec(compile(code, '<cell>', 'exec'), namespace)
"""

# One process imports once (what mdl's kernel server imports), then forks a child per notebook that runs
# every code cell and exits; it prints the import's CPU seconds, then each child's (wait4: the child's own
# and that of the processes it waited for, such as the forked symbolic checks).
WARM_FLOOR_SCRIPT = """
import json, os, resource, sys
sys.path.insert(0, sys.argv[3])
from mdl_student.kernel_server import preload
preload()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime, flush=True)
cells = [''.join(c['source']) if isinstance(c['source'], list) else c['source']
         for c in json.load(open(sys.argv[1]))['cells'] if c['cell_type'] == 'code']
for _ in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            namespace = {'__name__': '__main__'}
            for code in cells:
                exec(compile(code, '<cell>', 'exec'), namespace)
        except BaseException as err:
            print('a cell failed:', repr(err)[:300], file=sys.stderr, flush=True)
            status = 1
        os._exit(status)
    _, status, child = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit('a child failed (status %d)' % status)
    print(child.ru_utime + child.ru_stime, flush=True)
"""


def floor_env(work: Path) -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(work / "mplconfig"), "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cold_start_seconds(work: Path, tag: str) -> float:
    """CPU seconds of running the A1 source notebook's code cells in a fresh Python process (imports included)."""
    env = floor_env(work)
    command = [sys.executable, "-c", COLD_START_SCRIPT, str(PATHS.source / "a1" / "a1.ipynb")]
    run_counted([command], work, env, f"cold-first-{tag}")  # matplotlib's font cache, built once, as mdl's is
    return run_counted([command], work, env, f"cold-{tag}")[1]


@dataclass
class WarmFloor:
    """One pre-imported process, one forked child per notebook: CPU seconds of the import and of each child."""

    imports: float
    children: list[float]

    @property
    def per_notebook(self) -> float:
        return statistics.median(self.children)


def warm_floor(work: Path, notebooks: int) -> WarmFloor:
    """The A1 source notebook run ``notebooks`` times, each in a child forked from one pre-imported process."""
    command = [sys.executable, "-c", WARM_FLOOR_SCRIPT, str(PATHS.source / "a1" / "a1.ipynb"), str(notebooks),
               str(ROOT / "student")]
    done = subprocess.run(command, cwd=work, env=floor_env(work), capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        raise SystemExit(f"the warm floor failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    seconds = [float(value) for value in done.stdout.split()]
    return WarmFloor(seconds[0], seconds[1:])


# --------------------------------------------------------------------------- the report


def agreement(runs: list[Run], reference: dict[str, float]) -> str:
    differing = sorted({s for r in runs for s, score in r.scores.items() if abs(score - reference.get(s, -1)) > 1e-6})
    if not differing:
        return "yes"
    examples = ", ".join(f"{s} {runs[0].scores.get(s, float('nan')):g} vs mdl {reference.get(s, float('nan')):g}"
                         for s in differing[:3])
    return f"no: {len(differing)} of {len(reference)} differ (e.g. {examples})"


def minutes_with_spread(seconds: list[float]) -> str:
    """'2.2 min (rounds: 3.4, 2.2, 1.7)': the median, and every round's value in the order run."""
    median = statistics.median(seconds) / 60
    if len(seconds) == 1:
        return f"{median:.1f} min (1 round)"
    return f"{median:.1f} min (rounds: {', '.join(f'{s / 60:.1f}' for s in seconds)})"


def report(runs: list[Run], warm: list[WarmFloor], colds: list[float], students: int, rounds: int,
           load: tuple[float, float], uptime: tuple[str, str]) -> str:
    mdl2 = [r for r in runs if r.tool == "mdl --jobs 2"]
    reference = mdl2[0].scores
    wall2 = statistics.median(r.wall for r in mdl2) / students
    cpu2 = statistics.median(r.cpu for r in mdl2) / students
    floor_cpu = statistics.median(w.per_notebook for w in warm)
    warm_imports = statistics.median(w.imports for w in warm)
    cold = statistics.median(colds)
    smaller = "" if students >= 40 and rounds >= 3 else (
        f" **A smaller run than the full one (40 submissions, 3 rounds), for a shared machine: its numbers "
        f"carry less weight.**")
    lines = [
        "# Grading throughput: mdl, nbgrader and otter on one A1 class",
        "",
        f"Generated by `benchmarks/grade_throughput.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} cores). {students} submissions (half full marks, "
        f"half partial), {rounds} round(s), the tools alternating; medians over the rounds.{smaller} Load average of "
        f"the machine at the start and the end: {load[0]:.1f} and {load[1]:.1f} (wall times grow with it; CPU "
        "times, of the whole process tree from a cgroup, much less).",
        "",
        f"`uptime` at the start: `{uptime[0]}`; at the end: `{uptime[1]}`.",
        "",
        "| tool | wall s / submission | CPU s / submission | wall vs mdl --jobs 2 | CPU vs mdl --jobs 2 "
        f"| scores agree with mdl | projected for {PROJECTED_CLASS} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tool in TOOLS:
        mine = [r for r in runs if r.tool == tool]
        wall = statistics.median(r.wall for r in mine) / students
        cpu = statistics.median(r.cpu for r in mine) / students
        projected = [r.projected(students) for r in mine]
        lines.append(f"| {tool} | {wall:.2f} | {cpu:.2f} | {wall / wall2:.2f}x | {cpu / cpu2:.2f}x | "
                     f"{agreement(mine, reference)} | {minutes_with_spread(projected)} |")
    mdl_cpu = statistics.median(r.cpu for r in runs if r.tool.startswith("mdl")) / students
    projected2 = [r.projected(students) for r in mdl2]
    lines += [
        "",
        f"**Warm floor**: one process imports what mdl's kernel server imports ({warm_imports:.2f} CPU s, once), "
        f"then forks a child per notebook that executes every code cell of the A1 source notebook (answers and "
        f"every test), no sandbox: {floor_cpu:.2f} CPU s per notebook (the median child of each round, "
        f"{students} children per round, median over {len(warm)} round(s)). mdl spends {cpu2:.2f} CPU s per "
        f"submission with two kernels ({mdl_cpu:.2f} over both mdl runs), start-up included: "
        f"**{cpu2 / floor_cpu:.2f}x the warm floor** "
        f"(goal: at most {FLOOR_GOAL}x).",
        "",
        f"**Cold start** (not a floor for mdl, which imports once per class): the same cells in a fresh Python "
        f"process that imports numpy, sympy and matplotlib itself cost {cold:.2f} CPU s (median of {len(colds)}); "
        f"mdl's CPU per submission is {cpu2 / cold:.2f}x that.",
        "",
        f"**{PROJECTED_CLASS} submissions with `mdl grade --jobs 2`**: {minutes_with_spread(projected2)} projected: "
        f"the median, and in brackets each round's projection, as the machine's load varied (goal: under 3); "
        f"{wall2 * PROJECTED_CLASS / 60:.1f} minutes at this run's wall time per submission, start-up included "
        "in each.",
        "",
        f"Every run, in seconds for the whole class (wall / CPU; then the wall time of the class of {SMALL_CLASS}):",
        "",
    ]
    for tool in TOOLS:
        lines.append(f"- {tool}: " + ", ".join(f"{r.wall:.1f} / {r.cpu:.1f} ({r.small_wall:.1f})"
                                               for r in runs if r.tool == tool))
    lines.append("- warm floor (CPU of the import, then median / min / max of the children): " + ", ".join(
        f"{w.imports:.2f} then {w.per_notebook:.2f} / {min(w.children):.2f} / {max(w.children):.2f}" for w in warm))
    lines.append("- cold start (one notebook, CPU): " + ", ".join(f"{c:.2f}" for c in colds))
    return "\n".join(lines) + "\n"


def uptime() -> str:
    """The `uptime` line (the machine is shared: its load says how much the wall times mean)."""
    done = subprocess.run(["uptime"], capture_output=True, text=True)
    return done.stdout.strip() or f"load average {os.getloadavg()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 students, 1 round")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "grade_throughput.md"))
    args = parser.parse_args()
    students_n, rounds = (8, 1) if args.quick else (args.students, args.rounds)
    if students_n <= SMALL_CLASS or rounds < 1:
        raise SystemExit(f"--students must be above {SMALL_CLASS} and --rounds at least 1")

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
    load_start, uptime_start = os.getloadavg()[0], uptime()
    runs: list[Run] = []
    warm: list[WarmFloor] = []
    colds: list[float] = []
    for round_index in range(rounds):
        order = TOOLS[round_index % len(TOOLS):] + TOOLS[: round_index % len(TOOLS)]
        for tool in order:
            tag = f"{round_index}-{tool.replace(' ', '').replace('-', '')}"
            run = grade_with(tool, class_dir, students, work, course, zip_path, tag)
            run.small_wall = grade_with(tool, small_dir, small_students, work, course, zip_path, tag + "-small").wall
            runs.append(run)
            print(f"round {round_index + 1}: {tool:20} wall {run.wall:7.1f} s  CPU {run.cpu:7.1f} s  "
                  f"({run.wall / students_n:.2f} / {run.cpu / students_n:.2f} per submission; "
                  f"{run.projected(students_n) / 60:.1f} min projected for {PROJECTED_CLASS})", flush=True)
        colds.append(cold_start_seconds(work, str(round_index)))
        warm.append(warm_floor(work, students_n))
        print(f"round {round_index + 1}: warm floor {warm[-1].per_notebook:.2f} CPU s per notebook (import once "
              f"{warm[-1].imports:.2f}); cold start {colds[-1]:.2f} CPU s", flush=True)
    text = report(runs, warm, colds, students_n, rounds, (load_start, os.getloadavg()[0]), (uptime_start, uptime()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text)
    print(f"written to {args.out}; scratch folder {work}")


if __name__ == "__main__":
    main()

"""One capstone submission graded phase by phase, in a checkout given on the command line.

    python benchmarks/capstone_phases.py CHECKOUT NOTEBOOK [--gradings 2]

Run by ``capstone_profile.py`` with ``PYTHONPATH`` set to CHECKOUT (``baseline_checkout.checkout_env``),
so that it times that checkout's grader: today's path or this one.  It grades NOTEBOOK with
``autograder.grade.grade_submission`` ``--gradings`` times in one process (the first pays for the
kernel server, the imports and the caches; the next ones are what each submission of a class
costs a worker) and prints one JSON line: per grading, the phases in order with their wall seconds
and the CPU seconds of the whole process tree (this process, the kernels, the question children),
read from a cgroup made for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


GRADER_OWN = "grader's own work (notebook, records)"


class TreeCpu:
    """CPU seconds of this process and everything it starts (cgroup v2 cpu.stat, or v1 cpuacct), root only."""

    def __init__(self) -> None:
        name = f"mdl-capstone-phases-{os.getpid()}"
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpuacct")
        if (v2 / "cgroup.controllers").is_file():
            self.path, self.v2 = v2 / name, True
        elif (v1 / "cpuacct.usage").is_file():
            self.path, self.v2 = v1 / name, False
        else:
            raise SystemExit("no cgroup to count CPU in (needs cgroup v2, or v1's cpuacct, writable: run as root)")
        self.path.mkdir()
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        if self.v2:
            stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        parent = self.path.parent / "cgroup.procs"
        try:
            parent.write_text(str(os.getpid()))  # leave the group, so that it can be removed
            self.path.rmdir()
        except OSError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout", type=Path)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--gradings", type=int, default=2)
    args = parser.parse_args()
    cpu = TreeCpu()
    marks: list[tuple[str, float, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter(), cpu.seconds()))

    try:
        mark("start")
        import grading_config
        from autograder import grade

        if Path(grading_config.__file__).resolve().parent != args.checkout.resolve():
            raise SystemExit(f"grading_config comes from {grading_config.__file__}, not from {args.checkout}")
        bundle = grade.Bundle.load(grading_config.assignment("capstone"))
        mark("grader start (imports, bundle)")
        start_kernel, run_cells = grade.NotebookRunner._start, grade.NotebookRunner.run
        # Where each question's checks run in a child: one child per question before issue 23, one per
        # phase (visible, then hidden) since, in autograder.scoring; a question's phases add up.
        try:
            from autograder import scoring

            host, attr = scoring, "_run_phase_in_child"
        except ImportError:
            host, attr = grade, "_run_question_in_child"
        run_question = getattr(host, attr)

        def timed_start(self):  # type: ignore[no-untyped-def]
            mark("(before the kernel)")
            result = start_kernel(self)
            mark("kernel start")
            return result

        def timed_cells(self, cells):  # type: ignore[no-untyped-def]
            mark("(before the cells)")
            result = run_cells(self, cells)
            mark("student's cells")
            return result

        def timed_question(test_file, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = run_question(test_file, *args, **kwargs)
            mark(Path(test_file.path).stem)
            return result

        grade.NotebookRunner._start, grade.NotebookRunner.run = timed_start, timed_cells
        setattr(host, attr, timed_question)
        limits = grading_config.assignment("capstone").limits
        gradings = []
        for k in range(args.gradings):
            first = len(marks)
            outcome = grade.grade_submission(grade.Submission(f"profiled{k}", args.notebook), bundle, limits=limits)
            mark("end")
            phases: dict[str, dict[str, float]] = {}
            for (_, wall0, cpu0), (name, wall1, cpu1) in zip(marks[first - 1 :], marks[first:]):
                key = GRADER_OWN if name.startswith("(") or name == "end" else name
                phase = phases.setdefault(key, {"wall": 0.0, "cpu": 0.0})
                phase["wall"] += wall1 - wall0
                phase["cpu"] += cpu1 - cpu0
            gradings.append({"status": outcome.status, "score": sum(outcome.scores.values()), "phases": phases})
        (_, wall0, cpu0), (_, wall1, cpu1) = marks[0], marks[1]
        start = {"wall": wall1 - wall0, "cpu": cpu1 - cpu0}
        print(json.dumps({"checkout": str(args.checkout), "grader_start": start, "gradings": gradings}))
    finally:
        cpu.remove()


if __name__ == "__main__":
    sys.exit(main())

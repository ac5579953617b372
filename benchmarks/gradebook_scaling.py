"""What a gradebook costs per submission as the class grows: `mdl grade` of N tiny notebooks.

    .venv/bin/python benchmarks/gradebook_scaling.py [--sizes 300 1200] [--rounds 3]
                                                      [--checkout DIR] [--out FILE]

Each submission is a notebook with no cells (graded `wrong-assignment` without starting a kernel),
so what is measured is the grader's own bookkeeping per submission: intake, one record, its
results.json and feedback page, and the gradebook. Before issue 25, grades.csv was rewritten after
every finished submission, so the cost per submission grew with the class (1,200 took 50 s where
300 took 18 s); now each record is written once and the gradebook at the end (and at most every
few seconds meanwhile), so seconds per submission should stay flat.

``--checkout DIR`` grades with another checkout's code (e.g. a worktree of an older commit) using
this venv's Python (PYTHONPATH=DIR:DIR/student), to compare the two in one run. Prints a table of
wall seconds (median of the rounds, and the spread) and seconds per submission for each size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMPTY = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def make_class(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"student{i:05d}.ipynb").write_text(json.dumps(EMPTY))


def grade_once(checkout: Path, folder: Path, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=f"{checkout}:{checkout / 'student'}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1", str(folder), "--out", str(out),
                           "--jobs", "2", "--force"], cwd=checkout, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mdl grade failed in {checkout}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", type=Path, action="append", default=[],
                        help="another checkout to compare (may repeat); this one is always measured")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    checkouts = [ROOT, *args.checkout]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = Path(tmp) / f"class{n}"
            make_class(folder, n)
            times: dict[Path, list[float]] = {c: [] for c in checkouts}
            for r in range(args.rounds):
                for c in (checkouts if r % 2 == 0 else checkouts[::-1]):  # alternate the order
                    out = Path(tmp) / f"out-{n}-{r}-{checkouts.index(c)}"
                    times[c].append(grade_once(c, folder, out))
                    shutil.rmtree(out, ignore_errors=True)
            for c in checkouts:
                med = statistics.median(times[c])
                rows.append((str(c), n, med, min(times[c]), max(times[c]), med / n))
    load = os.getloadavg()
    lines = [f"# Gradebook cost per submission ({args.rounds} rounds, --jobs 2, load average at the end "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})", "",
             "| code | notebooks | wall s (median) | min-max | ms per notebook |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {c} | {n} | {med:.1f} | {lo:.1f}-{hi:.1f} | {per * 1000:.1f} |" for c, n, med, lo, hi, per in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

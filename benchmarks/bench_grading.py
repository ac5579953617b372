"""How long grading takes: one A1 submission serially, a class in a pool, and `mdl build`.

Run: .venv/bin/python benchmarks/bench_grading.py [--repeats 5] [--class-size 16]
Prints medians (and the spread), and the pool's speed-up over serial grading.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading_config import PATHS, assignment  # noqa: E402

from autograder.batch import grade_batch  # noqa: E402
from autograder.grade import Bundle, Submission, grade_submission  # noqa: E402


def time_serial(student: str, repeats: int) -> list[float]:
    bundle = Bundle.load(assignment("a1"))
    path = PATHS.examples / "a1" / f"{student}.ipynb"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        outcome = grade_submission(Submission(student, path), bundle)
        times.append(time.perf_counter() - start)
        assert outcome.status == "ok", outcome.messages
    return times


def time_class(size: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for k in range(size):
            shutil.copy(PATHS.examples / "a1" / "full_marks_alt.ipynb", subs / f"student{k:03d}.ipynb")
        start = time.perf_counter()
        grade_batch(assignment("a1"), subs, Path(tmp) / "out", jobs=jobs, echo=lambda s: None, progress=False)
        return time.perf_counter() - start


def time_build(repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "mdl"), "build", "--check"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--class-size", type=int, default=16)
    args = parser.parse_args()
    for student in ("full_marks_alt", "blank"):
        t = time_serial(student, args.repeats)
        print(f"grade one A1 submission serially ({student}): median {statistics.median(t):.2f} s "
              f"(min {min(t):.2f}, max {max(t):.2f}, n={len(t)})")
    serial = time_class(args.class_size, jobs=1)
    pooled = time_class(args.class_size, jobs=2)
    print(f"class of {args.class_size}: serial {serial:.1f} s ({serial / args.class_size:.2f} s each), "
          f"pool of 2 {pooled:.1f} s ({pooled / args.class_size:.2f} s each), speed-up x{serial / pooled:.2f}")
    b = time_build(max(1, args.repeats // 2))
    print(f"mdl build --check (every assignment, one nbgrader process): median {statistics.median(b):.1f} s (n={len(b)})")


if __name__ == "__main__":
    main()

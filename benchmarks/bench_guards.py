"""How long the guards against explosive input take: what the unit tests only bound by a deadline.

Run: .venv/bin/python benchmarks/bench_guards.py [--repeats 6] [--no-kernel]

1. Typed answers whose evaluation would explode (tests/test_safe_sympy.py, the explosive
   numbers): `parse_answer_text` builds each unevaluated.
2. srepr text from the kernel: `Pow(Integer(9), Integer(387420489))` and an Integral of 14
   Piecewise (which sympy's constructor would fold into 2**14 pieces).
3. A kernel that prints 100 MB (tests/test_sandbox.py, huge output): the cell's wall time,
   kernel start excluded, and how much output was kept and dropped.

Each line gives the first call apart (sympy's first-use imports and caches, or the kernel's
first large write), then the median and the worst of the other calls.

The tests assert only that none of these hangs (a deadline of 30 to 60 s, far above these
numbers, so that two shared cores never make them flake); this script prints the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdl_student.safe_sympy import parse_answer_text, parse_srepr  # noqa: E402

EXPLOSIVE_TEXTS = ("9**9**9", "(10**999)**999 * (10**999)**999", "factorial(10**60)", "sqrt(9**9**9)",
                   "2**(10**6/3)", "(10**100*x)**(10**6)")
PIECES = 14


def piecewise_integral(pieces: int) -> str:
    """An Integral of a sum of Piecewise (as tests/test_safe_sympy.py builds it)."""
    terms = ", ".join(f"Piecewise(ExprCondPair(Integer({k}), StrictLessThan(Symbol('a'), Integer({k}))), "
                      f"ExprCondPair(Integer({k + 1}), true))" for k in range(pieces))
    return f"Integral(Add({terms}), Tuple(Symbol('a'), Integer(0), Integer(1)))"


def timings(action: Callable[[], object], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def line(label: str, seconds: list[float]) -> str:
    """The first call apart (it pays sympy's first-use imports and caches), then the median and worst of the rest."""
    rest = seconds[1:] or seconds
    return (f"  {label:44} first {1000 * seconds[0]:8.1f} ms, then median {1000 * statistics.median(rest):8.1f} ms"
            f"   worst {1000 * max(rest):8.1f} ms   (n={len(rest)})")


def bench_parsing(repeats: int) -> None:
    print("typed answers, built unevaluated (parse_answer_text):")
    for text in EXPLOSIVE_TEXTS:
        print(line(text, timings(lambda: parse_answer_text(text), repeats)))
    print("srepr text from the kernel (parse_srepr):")
    print(line("Pow(Integer(9), Integer(387420489))",
               timings(lambda: parse_srepr("Pow(Integer(9), Integer(387420489))"), repeats)))
    text = piecewise_integral(PIECES)
    print(line(f"Integral of {PIECES} Piecewise ({len(text)} characters)", timings(lambda: parse_srepr(text), repeats)))


def bench_huge_output(repeats: int) -> None:
    from autograder.sandbox import Kernel, isolation
    from grading_config import LIMITS, PATHS

    limits = dataclasses.replace(LIMITS, seconds_per_cell=30.0)
    print(f"a cell printing 100 MB in a sandboxed kernel ({isolation().mechanism}; cell limit 30 s):")
    seconds, kept, dropped = [], 0, 0
    with Kernel({"a1.ipynb": PATHS.release / "a1" / "a1.ipynb"}, slot=0, limits=limits) as kernel:
        for _ in range(repeats):
            started = time.perf_counter()
            reply = kernel.run_cell("print('x' * (100 * 2**20))", 30)
            seconds.append(time.perf_counter() - started)
            if not reply["ok"]:
                raise SystemExit(f"the cell failed: {reply.get('error')}")
            kept, dropped = len(reply["output"]), reply["output_dropped"]
    print(line("print('x' * (100 * 2**20))", seconds))
    print(f"  output kept {kept / 1024:.0f} KB (limit {limits.max_output_kb} KB), dropped {dropped / 2**20:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6, help="calls per case, the first included")
    parser.add_argument("--no-kernel", action="store_true", help="skip the sandboxed kernel (parsing only)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    bench_parsing(args.repeats)
    if not args.no_kernel:
        bench_huge_output(args.repeats)


if __name__ == "__main__":
    main()

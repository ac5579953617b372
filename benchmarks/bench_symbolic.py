"""How long one symbolic comparison takes, and what the time limit does.

Run: .venv/bin/python benchmarks/bench_symbolic.py [--repeats 3] [--timeout 5]

1. Every case of the verdict table in tests/test_checks_symbolic.py, timed
   one `assert_equivalent` call at a time: median, 90th percentile and worst,
   split by verdict (a right answer runs the algebra to confirm; a wrong one
   usually stops at the first differing point).
2. The cost of the fork that isolates the algebra: a bare fork round trip,
   a trivial comparison that takes the structural fast path, and one that
   forks.
3. The pathological cases of the same test file under several time limits:
   how long each takes against its limit.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sympy as sp  # noqa: E402

from mdl_student.checks import CheckFailure, _run_with_deadline, assert_equivalent  # noqa: E402


def load_table() -> object:
    spec = importlib.util.spec_from_file_location(
        "symbolic_table", ROOT / "tests" / "test_checks_symbolic.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def timed(answer: object, expected: object, **kwargs: object) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        assert_equivalent(answer, expected, **kwargs)
        outcome = "pass"
    except CheckFailure as exc:
        outcome = "undecided" if "could not decide" in str(exc) else "fail"
    return time.perf_counter() - start, outcome


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"n={len(times):3d}  median {1000 * statistics.median(times):7.1f} ms  "
            f"p90 {1000 * p90:7.1f} ms  worst {1000 * ordered[-1]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    table = load_table()

    print(f"1. verdict table ({len(table.CASES)} cases, best of {args.repeats} runs each)")
    by_verdict: dict[bool, list[float]] = {True: [], False: []}
    slowest: list[tuple[float, str]] = []
    wrong = []
    for case_id, answer, expected, kwargs, equivalent in table.CASES:
        runs = [timed(answer, expected, timeout=args.timeout, **kwargs) for _ in range(args.repeats)]
        best = min(t for t, _ in runs)
        outcome = runs[0][1]
        if (outcome == "pass") != equivalent:
            wrong.append(case_id)
        by_verdict[equivalent].append(best)
        slowest.append((best, case_id))
    print("   all cases:      ", summary(by_verdict[True] + by_verdict[False]))
    print("   equivalent:     ", summary(by_verdict[True]))
    print("   not equivalent: ", summary(by_verdict[False]))
    print("   slowest:", ", ".join(f"{cid} {1000 * t:.0f} ms" for t, cid in sorted(slowest)[-5:]))
    print("   wrong verdicts:", wrong or "none")

    print("\n2. fast path versus fork")

    def nothing(emit: object) -> None:
        emit({"status": "equal", "final": True})  # type: ignore[operator]

    bare = []
    for _ in range(50):
        start = time.perf_counter()
        _run_with_deadline(nothing, (), 5.0)
        bare.append(time.perf_counter() - start)
    print(f"   bare fork, one message, kill:  median {1e3 * statistics.median(bare):8.1f} ms")
    x = sp.Symbol("x")
    same = [timed(x**2 + 1, x**2 + 1)[0] for _ in range(50)]
    forked = [timed(x * (x + 1), x**2 + x)[0] for _ in range(50)]
    print(f"   structurally equal (no fork): median {1e6 * statistics.median(same):8.0f} us")
    print(f"   x*(x+1) vs x**2+x (forks):    median {1e3 * statistics.median(forked):8.1f} ms")

    print("\n3. pathological cases against the time limit")
    for limit in (0.5, 1.0, 2.0, args.timeout):
        cells = []
        for case_id, answer, expected in table.PATHOLOGICAL:
            elapsed, outcome = timed(answer, expected, timeout=limit)
            cells.append(f"{case_id} {elapsed:5.2f}s ({outcome})")
        print(f"   limit {limit:4.1f}s: " + "; ".join(cells))


if __name__ == "__main__":
    main()

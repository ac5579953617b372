"""The algebra's verdict on a symbolic answer: is the difference provably zero, or a nonzero constant?

Runs in the forked child of `deadline._run_with_deadline`, after the sampling stage.  The
rewrites are chosen by what the difference contains; in the child an alarm stops the algebra
when its share of the time is spent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import mdl_student.checks.deadline as deadline  # its flag is read at call time, through the module
from mdl_student.checks.sampling import _Unit, _short_expr


class _OutOfTime(BaseException):
    """The algebra's share of the time is spent (a BaseException: sympy's own handlers let it through)."""


def _algebra_within(unit: _Unit, until: float) -> tuple[str, str]:
    """`_algebra_stage`, stopped at `until` (an alarm in the forked child; between units elsewhere)."""
    remaining = until - time.monotonic()
    if remaining <= 0:
        return "unknown", ""
    if not deadline._IN_FORKED_CHILD or remaining == math.inf:  # the caller's process: its alarms are not ours to touch
        return _algebra_stage(unit)
    import signal

    def out_of_time(signum: int, frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        return _algebra_stage(unit)
    except _OutOfTime:
        return "unknown", ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _algebra_stage(unit: _Unit) -> tuple[str, str]:
    """Try to prove d = a - e zero or a nonzero constant; (verdict, d as text).

    The steps are chosen by what d contains, cheapest and most likely first:
    sympy's simplify tries everything and is slow on expressions it cannot
    reduce, while a targeted rewrite (Piecewise for Abs/Max, exp for
    hyperbolic functions, expand_log for logs) usually settles it at once.
    ``d.equals(0)`` can take many seconds and is tried only when the numeric
    stage could not give an opinion.
    """
    import sympy as sp

    d = unit.a - unit.e
    floats = bool(d.atoms(sp.Float))
    # Expanding or simplifying (x + 1)**1000000 never finishes: leave such
    # answers to the numeric stage.
    if any(p.exp.is_Number and abs(p.exp) > 200 for p in d.atoms(sp.Pow)):
        return "unknown", ""
    trig = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc,
            sp.sinh, sp.cosh, sp.tanh, sp.coth, sp.sech, sp.csch)
    steps: list[Callable[[Any], Any]] = [
        lambda z: z,
        sp.expand,
        lambda z: sp.cancel(sp.together(z)),
    ]
    if d.has(sp.Abs, sp.Piecewise, sp.Max, sp.Min, sp.Heaviside, sp.sign):
        steps.append(lambda z: sp.simplify(sp.piecewise_fold(z.rewrite(sp.Piecewise))))
    if d.has(*trig):
        steps.append(sp.trigsimp)
    if d.has(*trig, sp.exp):
        steps.append(lambda z: sp.simplify(z.rewrite(sp.exp)))
    if d.has(sp.log):
        steps += [lambda z: sp.simplify(sp.expand_log(z, force=False)),
                  lambda z: sp.logcombine(z, force=False)]
    steps.append(sp.simplify)
    if unit.numeric not in ("equal", "agreed"):
        steps.append(lambda z: z.equals(0))
    for step in steps:
        try:
            r = step(d)
        except Exception:  # a step that does not apply to this expression
            continue
        if r is True or (isinstance(r, sp.Basic) and r == 0):
            return "equal", "0"
        if r is False:
            return ("unknown" if floats else "different"), ""
        if isinstance(r, sp.Expr) and r.is_number and r.is_zero is False:
            # A nonzero constant difference; with decimals in the answer it is
            # rounding, which the numeric stage judges.
            return ("unknown" if floats else "different"), _short_expr(r)
    return "unknown", ""

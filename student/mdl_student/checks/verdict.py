"""Deciding a symbolic comparison, in the forked child: units judged by sampling, then by the algebra.

`_decide` splits the comparison into units (matrix entries, tuple items, set elements, or one
pair of expressions), emits a provisional verdict after the numeric stage, and a final one after
the algebra and any confirmation, so that a deadline in the algebra still leaves the parent the
numeric verdict.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from mdl_student.checks.algebra import _algebra_within
from mdl_student.checks.expressions import _canonicalize, _check_kind, _free_symbols
from mdl_student.checks.messages import CheckFailure
from mdl_student.checks.sampling import _Sampler, _Unit, _agree, _confirm, _numeric_stage, _short_expr
from mdl_student.tolerances import TOLERANCES

# When the algebra cannot prove two expressions equal, agreement at the first `samples` points is not
# enough (an answer fitted through a few points agrees there): it takes this many times more fresh
# points, and no piecewise construct (Abs, Max, Piecewise ...) that the expected answer lacks, since two
# functions that agree on every point of a range may part where a piece changes, outside it.
_CONFIRMING_FACTOR = 4
_ALGEBRA_SHARE = 0.6  # of the comparison's time limit


def _decide(answer: Any, expected: Any, options: dict[str, Any],
            emit: Callable[[dict[str, Any]], None]) -> None:
    """Child process: numeric stage, provisional verdict, algebra, final verdict."""
    answer, expected = _canonicalize(answer, expected, options["declared"])
    symbols = sorted({*_free_symbols(answer), *_free_symbols(expected)}, key=lambda s: s.name)
    sampler = _Sampler(symbols, options["domain"], options["samples"])
    rtol = options["rtol"]

    units, early = _make_units(answer, expected, sampler, rtol)
    if early is not None:
        emit({**early, "final": True})
        return
    for unit in units:
        _numeric_stage(unit, sampler, rtol)
        if unit.numeric == "different":
            emit({"status": "different", "final": True, **unit.detail})
            return
        if unit.numeric == "equal":
            unit.numeric = "agreed"  # a handful of points is evidence, not yet a verdict
    emit(_assemble(units))
    # Units that only the algebra can decide first (all the time they need), then the others: for
    # these the algebra gets part of the time, so that what it cannot settle is left time to be
    # confirmed at many more points.
    algebra_until = time.monotonic() + _ALGEBRA_SHARE * options.get("timeout", TOLERANCES.symbolic_timeout_s)
    for unit in sorted(units, key=lambda u: u.numeric == "agreed"):
        until = algebra_until if unit.numeric == "agreed" else math.inf
        unit.algebra, unit.detail["difference"] = _algebra_within(unit, until)
        emit(_assemble(units))
    confirming: _Sampler | None = None
    for unit in units:
        if unit.numeric == "agreed" and unit.algebra in ("unknown", "different"):
            confirming = confirming or _Sampler(symbols, options["domain"], _CONFIRMING_FACTOR * options["samples"],
                                                far=True)
            _confirm(unit, confirming, rtol)
            if unit.numeric == "different":
                emit({"status": "different", "final": True, **unit.detail})
                return
            emit(_assemble(units))
    emit({**_assemble(units), "final": True})


def _make_units(answer: Any, expected: Any, sampler: "_Sampler",
                rtol: float) -> tuple[list[_Unit], dict[str, Any] | None]:
    """Split the comparison into scalar units (or decide it structurally)."""
    import sympy as sp

    if isinstance(expected, sp.MatrixBase):
        rows, cols = expected.shape
        return [_Unit(f"entry ({i}, {j})", answer[i, j], expected[i, j])
                for i in range(rows) for j in range(cols)], None
    if isinstance(expected, sp.Equality):
        return [_Unit("", answer.lhs - answer.rhs, expected.lhs - expected.rhs,
                      equation=True)], None
    if isinstance(expected, sp.Tuple):
        units: list[_Unit] = []
        for i, (a, e) in enumerate(zip(answer, expected)):
            try:
                _check_kind(a, e, "it")
            except CheckFailure as exc:  # a matrix of the wrong shape, ...
                return [], {"status": "different", "kind": "structure",
                            "where": f"item {i}", "reason": str(exc)[3:]}
            if isinstance(e, sp.Expr):
                units.append(_Unit(f"item {i}", a, e))
            else:
                sub, early = _make_units(a, e, sampler, rtol)
                if early is not None:
                    return [], early
                for u in sub:
                    u.where = f"item {i}" + (f", {u.where}" if u.where else "")
                units += sub
        return units, None
    if isinstance(expected, sp.FiniteSet):
        return _pair_set_elements(answer, expected, sampler, rtol)
    if isinstance(expected, sp.Expr):
        return [_Unit("", answer, expected)], None
    # Conditions, inequalities, other sets: by canonical form only.
    same = answer == expected
    if not same and hasattr(answer, "canonical") and hasattr(expected, "canonical"):
        with contextlib.suppress(Exception):
            same = answer.canonical == expected.canonical
    if not same and isinstance(expected, sp.Set):
        with contextlib.suppress(Exception):
            same = bool(answer.symmetric_difference(expected).is_empty)
    if same:
        return [], {"status": "equal"}
    return [], {"status": "different", "kind": "form"}


def _pair_set_elements(answer: Any, expected: Any, sampler: "_Sampler",
                       rtol: float) -> tuple[list[_Unit], dict[str, Any] | None]:
    """Match the elements of two finite sets by their values at the points."""
    a_items, e_items = list(answer), list(expected)
    a_vals = [sampler.values(v) for v in a_items]
    e_vals = [sampler.values(v) for v in e_items]

    def matches(av: list[Any], ev: list[Any]) -> bool | None:
        pairs = [(x, y) for x, y in zip(av, ev) if x is not None and y is not None]
        if not pairs:
            return None
        return all(_agree(x, y, rtol) for x, y in pairs)

    units: list[_Unit] = []
    for i, a in enumerate(a_items):
        found = [j for j, ev in enumerate(e_vals) if matches(a_vals[i], ev) is not False]
        if not found:
            return [], {"status": "different", "kind": "set-extra", "element": _short_expr(a)}
        # Prefer the same element, then one that agreed numerically, then one
        # that could not be evaluated (left to the algebra).
        found.sort(key=lambda j: (e_items[j] != a, matches(a_vals[i], e_vals[j]) is not True))
        units.append(_Unit(f"element {_short_expr(a)}", a, e_items[found[0]]))
    for j, e in enumerate(e_items):
        if not any(matches(av, e_vals[j]) is not False for av in a_vals):
            missing = sum(1 for ev in e_vals
                          if not any(matches(av, ev) is not False for av in a_vals))
            return [], {"status": "different", "kind": "set-missing",
                        "element": _short_expr(e), "count": str(missing)}
    return units, None


def _assemble(units: list[_Unit]) -> dict[str, Any]:
    """Combine the units' verdicts (algebra not yet run counts as unknown)."""
    undecided: dict[str, Any] | None = None
    for unit in units:
        algebra = unit.algebra or "unknown"
        if unit.numeric in ("equal", "agreed") and algebra == "different":
            undecided = undecided or {"status": "undecided", "reason": "disagree",
                                      "where": unit.where}
        elif algebra == "equal" or unit.numeric == "equal":  # proved, or confirmed at many points
            continue
        elif algebra == "different":
            return {"status": "different", "kind": "algebra", "where": unit.where,
                    "equation": unit.equation, "difference": unit.detail.get("difference", "")}
        else:
            reason = "pieces" if unit.detail.get("pieces") else "unknown"
            undecided = undecided or {"status": "undecided", "reason": reason, "where": unit.where,
                                      "pieces": unit.detail.get("pieces", "")}
    return undecided or {"status": "equal"}

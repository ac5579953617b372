"""The numeric opinion on a symbolic answer: its values at random exact points, and confirmation at more.

A comparison is split into units (one pair of scalar expressions each).  Each unit is evaluated
with 30 digits at points drawn afresh from the operating system's entropy; a unit that agreed
there and that the algebra could not settle is confirmed at many more points, unless the answer
has pieces (Abs, Max, Piecewise ...) whose changes of form the points never cross.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any


class _Unit:
    """One pair of scalar expressions to compare, with where it sits."""

    def __init__(self, where: str, a: Any, e: Any, equation: bool = False):
        self.where = where  # "" or "entry (1, 0)", "element 2", ...
        self.a = a
        self.e = e
        self.equation = equation  # compare lhs-rhs up to sign
        self.numeric = "unknown"  # "equal" | "different" | "unknown"
        self.algebra: str | None = None  # "equal" | "different" | "unknown"
        self.detail: dict[str, Any] = {}


class _Sampler:
    """Random rational points, the same for every unit of one comparison.

    Drawn afresh for every comparison from the operating system's entropy (``secrets``), never
    from a seed: this module is importable by anyone, and an answer fitted to known points (a
    polynomial through them, or ``sin(1000*pi*x)``, zero on a grid of thousandths) must not pass.
    Real coordinates are exact rationals with a random denominator of 10**6 to 10**9.  With
    ``far``, every other point (of symbols without a declared domain) is drawn at magnitudes up
    to 10**7, and integers up to 10**6: agreement must hold beyond the usual small range too.
    """

    def __init__(self, symbols: list[Any], domain: dict[str, tuple[float, float]], n: int,
                 *, far: bool = False):
        import secrets

        import sympy as sp

        self.symbols = symbols
        self.needed = n if symbols else 1
        rng = secrets.SystemRandom()
        self.points: list[dict[Any, Any]] = []
        for i in range(3 * self.needed):
            wide = far and i % 2 == 1
            self.points.append({s: self._draw(s, domain.get(s.name), rng, sp, wide) for s in symbols})

    @staticmethod
    def _draw(s: Any, bounds: tuple[float, float] | None, rng: Any, sp: Any, far: bool = False) -> Any:
        if s.is_integer:
            top = 10**6 if far else 9
            lo, hi = bounds if bounds else (
                (1, top) if s.is_positive else (0, top) if s.is_nonnegative else
                (-top, -1) if s.is_negative else (-top, top))
            for _ in range(100):
                k = rng.randint(math.ceil(lo), math.floor(hi))
                if (s.is_even and k % 2) or (s.is_odd and not k % 2) or (k == 0 and s.is_nonzero):
                    continue
                return sp.Integer(k)
            return sp.Integer(math.ceil(lo))
        q = rng.randrange(10**6, 10**9)  # the denominator: unpredictable, so no grid of zeros fits it
        if bounds is None and far:
            decade = rng.randrange(0, 7)
            sign = (1 if (s.is_positive or s.is_nonnegative) else -1 if (s.is_negative or s.is_nonpositive)
                    else rng.choice((-1, 1)))
            return sign * sp.Rational(rng.randrange(10**decade * q, 10 ** (decade + 1) * q), q)
        if bounds is None:
            bounds = ((0.1, 5.0) if (s.is_positive or s.is_nonnegative) else
                      (-5.0, -0.1) if (s.is_negative or s.is_nonpositive) else (-5.0, 5.0))
        lo, hi = sp.Rational(str(bounds[0])), sp.Rational(str(bounds[1]))
        for _ in range(100):
            value = lo + (hi - lo) * sp.Rational(rng.randrange(1, q), q)
            if value != 0:
                return value
        return (lo + hi) / 2

    def values(self, expr: Any) -> list[Any]:
        """The value at each point (None where undefined), up to `needed` valid."""
        if _has_undefined_function(expr):
            return [None] * len(self.points)
        out: list[Any] = []
        valid = 0
        for point in self.points:
            if valid >= self.needed:
                break
            v = _evaluate(expr, point)
            out.append(v)
            valid += v is not None
        return out

    def pairs(self, a: Any, e: Any) -> list[tuple[int, Any, Any]]:
        """(point index, a's value, e's value) at up to `needed` points where
        both are defined."""
        if _has_undefined_function(a) or _has_undefined_function(e):
            return []
        out = []
        for i, point in enumerate(self.points):
            if len(out) >= self.needed:
                break
            ve = _evaluate(e, point)
            va = _evaluate(a, point) if ve is not None else None
            if va is not None:
                out.append((i, va, ve))
        return out


def _has_undefined_function(expr: Any) -> bool:
    # f(x) has no value at a point, and evalf can be very slow finding that out.
    from sympy.core.function import AppliedUndef

    return bool(expr.atoms(AppliedUndef))


# Working precisions, in decimal digits, at which a value is computed until two in a row agree.
_PRECISIONS = (30, 45, 90, 180, 360)
# Two evaluations at successive precisions that agree this closely give a value to trust (the
# comparisons use a relative tolerance of about 1e-8: this is a wide margin below it).
_STABLE_RTOL = 1e-15
_STABLE_ATOL = 1e-25


def _evaluate(expr: Any, point: dict[Any, Any]) -> Any:
    """expr at point as an mpmath complex, computed reliably, or None where undefined or unreliable.

    A value is trusted only when evaluations at two successive working precisions agree (to about
    15 digits): a form that cancels (``1 - s`` with ``s`` within 1e-9000 of 1, as log-odds forms
    do far from the origin) gives a different number at every precision, and raising the
    precision until they agree either finds the true value or runs out of digits.  A point where
    the digits run out says nothing, so it is skipped like a point where the expression is
    undefined: no verdict, and no message, ever rests on a value that was not computed reliably.
    """
    previous = _evaluate_at_precision(expr, point, _PRECISIONS[0])
    if previous is None:
        return None
    for digits in _PRECISIONS[1:]:
        current = _evaluate_at_precision(expr, point, digits)
        if current is None:
            return None
        if abs(current - previous) <= _STABLE_RTOL * max(abs(current), abs(previous)) + _STABLE_ATOL:
            return current
        previous = current
    return None  # the precision is exhausted: this point cannot be evaluated reliably


def _evaluate_at_precision(expr: Any, point: dict[Any, Any], digits: int) -> Any:
    """expr at point as an mpmath complex with `digits` digits of working precision, or None if undefined."""
    import mpmath
    import sympy as sp

    try:
        # evalf with subs substitutes numerically (never computing, say, an
        # exact rational to the millionth power) and resolves Piecewise
        # conditions, Max, Heaviside and unevaluated integrals.
        v = expr.evalf(digits, subs=point)
        if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            return None
        re, im = v.as_real_imag()
        re, im = sp.Float(re, digits), sp.Float(im, digits)
        if not (re.is_Float and im.is_Float):
            return None
        return mpmath.mpc(re._mpf_, im._mpf_)
    except Exception:  # evaluation failed at this point: treat as undefined
        return None


def _agree(x: Any, y: Any, rtol: float) -> bool:
    return abs(x - y) <= rtol * max(abs(x), abs(y)) + 1e-20


def _fmt_value(v: Any) -> str:
    import mpmath

    if v.imag == 0:
        return mpmath.nstr(v.real, 8)
    return mpmath.nstr(v, 8)


def _fmt_point(point: dict[Any, Any]) -> str:
    return ", ".join(f"{s} = {float(v):g}" for s, v in sorted(point.items(), key=lambda kv: kv[0].name))


def _numeric_stage(unit: _Unit, sampler: _Sampler, rtol: float) -> None:
    """Compare the unit at the sample points; fill unit.numeric and detail."""
    pairs = sampler.pairs(unit.a, unit.e)
    if unit.equation and pairs:
        # lhs - rhs may match the expected one up to sign: pick the sign that
        # agrees at the first point.
        _, x, y = pairs[0]
        if not _agree(x, y, rtol) and _agree(x, -y, rtol):
            unit.e = -unit.e
            pairs = [(i, va, -ve) for i, va, ve in pairs]
    differing = [(i, x, y) for i, x, y in pairs if not _agree(x, y, rtol)]
    if differing:
        i, x, y = differing[0]
        unit.numeric = "different"
        unit.detail = {"kind": "point", "where": unit.where, "equation": unit.equation,
                       "point": _fmt_point(sampler.points[i]), "got": _fmt_value(x),
                       "want": _fmt_value(y), "hint": _symbolic_hint(pairs, rtol)}
        return
    unit.numeric = "equal" if len(pairs) >= sampler.needed else "unknown"
    unit.detail = {"where": unit.where, "equation": unit.equation}


def _symbolic_hint(pairs: list[tuple[int, Any, Any]], rtol: float) -> str:
    """Visible-only: is the answer a constant multiple or shift of the expected?"""
    import mpmath

    if len(pairs) < 2:
        return ""
    with contextlib.suppress(ZeroDivisionError, ValueError, TypeError):
        ratios = [x / y for _, x, y in pairs]
        if all(_agree(r, ratios[0], 1e-6) for r in ratios):
            r = ratios[0]
            if _agree(r, mpmath.mpc(-1), 1e-9):
                return "it is the negative of the expected one (a sign error?)"
            return f"it is {_fmt_simple(r)} times the expected one"
        shifts = [x - y for _, x, y in pairs]
        if all(_agree(s, shifts[0], 1e-6) for s in shifts):
            return f"it differs from the expected one by the constant {_fmt_simple(shifts[0])}"
    return ""


def _fmt_simple(v: Any) -> str:
    """A number as a small fraction when it is one (2, -1/2), else 8 digits."""
    import fractions

    if v.imag == 0:
        guess = fractions.Fraction(float(v.real)).limit_denominator(100)
        if abs(float(v.real) - guess) <= 1e-9 * max(1.0, abs(float(guess))):
            return str(guess)
    return _fmt_value(v)


def _short_expr(e: Any, limit: int = 80) -> str:
    text = str(e)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- confirmation at more points ------------------------------------------------


def _pieces(expr: Any) -> set[Any]:
    """Subexpressions that make an expression piecewise: Abs, Max, Piecewise, floor, a condition ..."""
    import sympy as sp

    kinds = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.floor, sp.ceiling, sp.frac,
             sp.Mod, sp.DiracDelta, sp.KroneckerDelta, sp.re, sp.im, sp.arg, sp.conjugate,
             sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction)
    try:
        return set(expr.atoms(*kinds))
    except Exception:  # an object without atoms: nothing to say
        return set()


def _switches(piece: Any) -> list[Any] | None:
    """Where a piece changes form, as expressions that change sign there.

    None for pieces that change at infinitely many places or at single points (floor, Mod,
    DiracDelta ...), which no set of points can vouch for.
    """
    import itertools

    import sympy as sp

    if isinstance(piece, (sp.Abs, sp.sign, sp.Heaviside, sp.arg)):
        return [piece.args[0]]
    if isinstance(piece, (sp.Max, sp.Min)):
        return [a - b for a, b in itertools.combinations(piece.args, 2)]
    if isinstance(piece, sp.core.relational.Relational):
        return [piece.lhs - piece.rhs]
    if isinstance(piece, (sp.Piecewise, sp.logic.boolalg.BooleanFunction, sp.re, sp.im, sp.conjugate)):
        return []  # conditions are pieces of their own; re, im, conjugate do not change on the real line
    return None


def _seen_on_both_sides(switch: Any, points: list[dict[Any, Any]]) -> bool:
    signs: set[bool] = set()
    for point in points:
        v = _evaluate(switch, point)
        if v is not None and v.imag == 0 and v.real != 0:
            signs.add(v.real > 0)
            if len(signs) == 2:
                return True
    return False


def _confirm(unit: _Unit, sampler: "_Sampler", rtol: float) -> None:
    """A unit that agreed at the first points and that the algebra could not settle: many more points.

    Sets unit.numeric to "equal" (agreement at every new point), "different" (with the point), or
    leaves "agreed" (no verdict: too few points defined, or pieces of the answer that the expected
    answer lacks and whose changes of form the points do not see from both sides).
    """
    extra = _pieces(unit.a) - _pieces(unit.e)
    found = [_switches(piece) for piece in extra]
    _numeric_stage(unit, sampler, rtol)
    if unit.numeric == "unknown":
        unit.numeric = "agreed"
    if unit.numeric != "equal":
        return
    switches = [s for f in found if f is not None for s in f]
    if None in found or not all(_seen_on_both_sides(s, sampler.points) for s in switches):
        unit.numeric = "agreed"  # agreement on one side of a change the points never crossed proves nothing
        unit.detail["pieces"] = ", ".join(sorted({type(p).__name__ for p in extra}))

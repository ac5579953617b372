"""Reading a symbolic answer: as a sympy object of the kind expected, its symbols matched by name.

Text is parsed with `mdl_student.safe_sympy` (never ``eval``); lists, sets, tuples and arrays
become matrices, finite sets and Tuples as the expected answer suggests.  The cheap structural
checks (kind, matrix shape, tuple length) run here, before any fork.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mdl_student.checks.answers import _Unusable, _is_torch, _refuse_missing, _torch_to_numpy
from mdl_student.checks.messages import _a, _fail


def _declared_symbols(symbols: Any, assumptions: Mapping[Any, Mapping[str, bool]] | None) -> dict[str, Any]:
    import sympy as sp

    declared: dict[str, Any] = {}
    if symbols is not None:
        items = symbols.values() if isinstance(symbols, Mapping) else (
            [symbols] if isinstance(symbols, sp.Symbol) else symbols)
        for s in items:
            declared[s.name] = s
    for key, assumed in (assumptions or {}).items():
        label = key.name if isinstance(key, sp.Symbol) else str(key)
        declared[label] = sp.Symbol(label, **dict(assumed))
    return declared


def _domain_by_name(domain: Mapping[Any, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
    if not domain:
        return {}
    return {getattr(k, "name", str(k)): (float(lo), float(hi)) for k, (lo, hi) in domain.items()}


def _free_symbols(obj: Any) -> list[Any]:
    import sympy as sp

    return [s for s in getattr(obj, "free_symbols", ()) if type(s) is sp.Symbol]


def _coerce_leaf(x: Any, text_symbols: dict[str, Any]) -> Any:
    """One answer item as a sympy object (strings parsed safely)."""
    import sympy as sp

    from mdl_student.safe_sympy import parse_answer_text

    _refuse_missing(x)
    if isinstance(x, str):
        return parse_answer_text(x, text_symbols)
    if isinstance(x, (sp.Basic, sp.MatrixBase)):
        return x
    if isinstance(x, (bool, np.bool_)):
        return sp.true if x else sp.false
    if isinstance(x, (int, np.integer)):
        return sp.Integer(int(x))
    if isinstance(x, (float, np.floating)):
        return sp.Float(float(x))
    if isinstance(x, (complex, np.complexfloating)):
        return sp.Float(complex(x).real) + sp.Float(complex(x).imag) * sp.I
    import fractions

    if isinstance(x, fractions.Fraction):
        return sp.Rational(x.numerator, x.denominator)
    raise _Unusable(f"is {_a(type(x).__name__)}, but a sympy expression was expected")


def _coerce_symbolic(x: Any, expected: Any, text_symbols: dict[str, Any]) -> Any:
    """The answer as a sympy object of the kind `expected` suggests."""
    import sympy as sp

    if _is_torch(x):
        x = _torch_to_numpy(x)
    if isinstance(x, np.ndarray):
        x = x.item() if x.ndim == 0 else x.tolist()
    if isinstance(x, (set, frozenset)):
        return sp.FiniteSet(*[_coerce_leaf(v, text_symbols) for v in x])
    if isinstance(x, (list, tuple)):
        if isinstance(expected, sp.FiniteSet):
            return sp.FiniteSet(*[_coerce_symbolic(v, None, text_symbols) for v in x])
        if isinstance(expected, sp.Tuple) or (expected is None and isinstance(x, tuple)):
            # Item by item, each read as the kind its expected item suggests.
            hints = list(expected) if isinstance(expected, sp.Tuple) else []
            hints += [None] * (len(x) - len(hints))
            return sp.Tuple(*[_coerce_symbolic(v, h, text_symbols) for v, h in zip(x, hints)])

        def nested(v: Any) -> Any:
            return [nested(w) for w in v] if isinstance(v, (list, tuple)) else _coerce_leaf(v, text_symbols)

        items = [nested(v) for v in x]
        try:
            return sp.ImmutableMatrix(items)
        except Exception as exc:
            raise _Unusable(f"could not be read as a matrix ({exc})") from None
    obj = _coerce_leaf(x, text_symbols)
    if isinstance(obj, sp.Tuple) and isinstance(expected, sp.MatrixBase):
        try:  # a typed answer "[[1, 2], [3, 4]]" for a matrix question
            return sp.ImmutableMatrix([list(r) if isinstance(r, sp.Tuple) else r for r in obj])
        except Exception:
            return obj
    if isinstance(obj, sp.Tuple) and isinstance(expected, sp.FiniteSet):
        return sp.FiniteSet(*obj)
    return obj


def _kind_of(obj: Any) -> str:
    import sympy as sp

    if isinstance(obj, sp.MatrixBase):
        return "matrix"
    if isinstance(obj, sp.Equality):
        return "equation"
    if isinstance(obj, sp.FiniteSet):
        return "finite set"
    if isinstance(obj, sp.Set):
        return "set"
    if isinstance(obj, sp.Tuple):
        return "tuple"
    if isinstance(obj, sp.Expr):
        return "expression"
    if isinstance(obj, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)):
        return "condition"
    return type(obj).__name__


def _check_kind(answer: Any, expected: Any, name: str) -> None:
    """Cheap structural checks, done before any fork: kind, shape, length."""
    got, want = _kind_of(answer), _kind_of(expected)
    if got != want:
        hints = {
            ("equation", "expression"): " (give the expression only, e.g. the right-hand side)",
            ("expression", "equation"): " (write it as an equation, e.g. Eq(y, ...))",
            ("expression", "matrix"): " (build it with sympy.Matrix([[...], [...]]))",
        }
        raise _fail(f"{name} is {_a(got)}, but {_a(want)} was expected"
                    f"{hints.get((got, want), '')}")
    if got == "matrix" and answer.shape != expected.shape:
        r, c = answer.shape
        R, C = expected.shape
        hint = ": did you transpose?" if (r, c) == (C, R) else ""
        raise _fail(f"{name} is a {r}x{c} matrix, but the expected matrix is {R}x{C}{hint}")
    if got == "tuple" and len(answer) != len(expected):
        raise _fail(f"{name} has {len(answer)} items, but {len(expected)} were expected")


def _canonicalize(answer: Any, expected: Any, declared: dict[str, Any]) -> tuple[Any, Any]:
    """Replace every free symbol by the canonical symbol of the same name."""
    import sympy as sp

    canonical: dict[str, Any] = dict(declared)
    for s in _free_symbols(expected):
        canonical.setdefault(s.name, s)
    mapping = {}
    for obj in (answer, expected):
        for s in _free_symbols(obj):
            target = canonical.setdefault(s.name, sp.Symbol(s.name))
            if s != target:
                mapping[s] = target
    if not mapping:
        return answer, expected
    return answer.xreplace(mapping), expected.xreplace(mapping)

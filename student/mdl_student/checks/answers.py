"""Reading an answer: tensors, sympy numbers and nested lists as numpy arrays, or the reason why not.

A missing answer (None, the ``...`` placeholder, an `UnreadableAnswer`) is refused here with a
sentence a student can act on.  Torch and sympy stay unimported until such a value appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mdl_student.checks.messages import _a, _fail, is_concealed, _quote, _unreadable_reason


class _Unusable(Exception):
    """A value is not a number or array; the text says why (no name prefix)."""


class _Ragged(_Unusable):
    """A nested list/tuple whose items do not form a regular array."""


class _Unreadable(_Unusable):
    """The answer never reached the grader; the text is a whole sentence naming it."""


_KIND_WORDS = {
    "b": "boolean", "i": "signed integer", "u": "unsigned integer",
    "f": "floating point", "c": "complex", "O": "Python object",
    "U": "text", "S": "bytes", "M": "datetime", "m": "timedelta", "V": "raw bytes",
}


def _is_torch(x: Any) -> bool:
    # Checking the module name keeps torch unimported until a tensor appears.
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_sympy(x: Any) -> bool:
    return type(x).__module__.startswith("sympy")


def _torch_to_numpy(t: Any) -> np.ndarray:
    import torch

    t = t.detach()
    if t.is_complex():
        t = t.resolve_conj()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.to(torch.float32)  # numpy has no bfloat16
    return t.cpu().numpy()


def _sympy_to_python(x: Any) -> Any:
    """A sympy number or matrix as a Python number or nested list."""
    import sympy as sp

    if isinstance(x, sp.MatrixBase):
        return [[_sympy_to_python(v) for v in row] for row in x.tolist()]
    if isinstance(x, sp.logic.boolalg.BooleanAtom):
        return bool(x)
    if isinstance(x, sp.Basic):
        if x.free_symbols:
            names = "…" if is_concealed() else ", ".join(sorted(str(s) for s in x.free_symbols))
            raise _Unusable(f"still contains the symbol(s) {names}; a number was expected")
        if x.is_Integer:
            return int(x)
        try:
            value = complex(x.evalf())
        except (TypeError, ValueError):
            raise _Unusable(f"is the sympy object {_quote(x)}, which is not a number") from None
        return value.real if value.imag == 0 else value
    raise _Unusable(f"is {_a(type(x).__name__)}, not a number")


def _other_number(x: Any) -> Any:
    """A number of another type (``fractions.Fraction``, ``decimal.Decimal``, any ``numbers.Number``)
    as the Python int, float or complex it equals; other values unchanged.

    A Fraction with denominator 1 is an int, so that it is compared exactly where a count is asked.
    """
    import numbers

    if isinstance(x, (bool, int, float, complex, np.generic)) or not isinstance(x, numbers.Number):
        return x
    try:
        if isinstance(x, numbers.Rational) and x.denominator == 1:
            return int(x.numerator)
        if isinstance(x, numbers.Integral):
            return int(x)
        if isinstance(x, numbers.Real) or _is_decimal(x):
            return float(x)
        return complex(x)
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        raise _Unusable(f"is the number {_quote(x)} ({_a(type(x).__name__)}), which could not be read as a "
                        f"float") from None


def _is_decimal(x: Any) -> bool:
    import decimal

    return isinstance(x, decimal.Decimal)


def _normalize(x: Any) -> Any:
    """Replace tensors, sympy numbers and other number types by numpy/Python values, recursively."""
    if _is_torch(x):
        return _torch_to_numpy(x)
    if _is_sympy(x):
        return _sympy_to_python(x)
    if isinstance(x, (list, tuple)):
        return [_normalize(v) for v in x]
    if isinstance(x, np.ndarray) and x.dtype.kind == "O":
        return [_normalize(v) for v in x.tolist()] if x.ndim else _normalize(x.item())
    return _other_number(x)


def _refuse_missing(x: Any) -> None:
    """Raise, saying why, for an answer that is not there: None, the `...` placeholder, unreadable."""
    if x is None:
        raise _Unusable("is None: did you forget to return or assign a value?")
    if x is Ellipsis:
        raise _Unusable("is still the placeholder `...`")
    if _unreadable_reason(x):
        raise _Unreadable(_unreadable_reason(x))


def _as_array(x: Any) -> np.ndarray:
    """The value as a numeric numpy array, or _Unusable explaining why not.

    Integer-valued object arrays (Python ints beyond int64) are kept as
    object arrays so that big counts can be compared exactly.
    """
    _refuse_missing(x)
    if isinstance(x, (str, bytes)):
        raise _Unusable(f"is text ({_quote(x)}), but a number was expected")
    if isinstance(x, Mapping):
        raise _Unusable("is a dict, but a number or array was expected")
    x = _normalize(x)
    try:
        with np.errstate(all="ignore"):
            arr = np.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise _Ragged("is a nested list whose rows have different lengths") from None
        raise _Unusable(f"could not be read as an array ({exc})") from None
    except Exception as exc:  # e.g. a custom object whose __array__ raises
        raise _Unusable(f"could not be read as an array ({type(exc).__name__}: {exc})") from None
    kind = arr.dtype.kind
    if kind in "biufc":
        return arr
    if kind == "O":
        flat = arr.ravel()
        for index, v in enumerate(flat):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                if isinstance(v, (float, complex, np.floating, np.complexfloating)):
                    continue
                where = np.unravel_index(index, arr.shape) if arr.ndim else ()
                if isinstance(v, (list, tuple, np.ndarray)):
                    raise _Ragged("is a nested list whose rows have different lengths")
                if arr.ndim == 0:
                    raise _Unusable(f"is {_quote(v)} ({_a(type(v).__name__)}), not a number")
                raise _Unusable(
                    f"has {_quote(v)} ({_a(type(v).__name__)}) at index {tuple(int(i) for i in where)}, "
                    f"where a number was expected")
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
            return arr  # big Python ints: compared exactly
        return arr.astype(complex if any(isinstance(v, (complex, np.complexfloating))
                                         for v in flat) else float)
    if arr.ndim == 0 and kind == "O":
        raise _Unusable(f"is {_a(type(x).__name__)}, not a number or array")
    raise _Unusable(f"has {_KIND_WORDS.get(kind, kind)} entries, but numbers were expected"
                    if kind in "USMmV" else f"is {_a(type(x).__name__)}, not a number or array")


def _student_array(x: Any, name: str) -> np.ndarray:
    try:
        return _as_array(x)
    except _Unreadable as exc:
        raise _fail(str(exc)) from None
    except _Unusable as exc:
        raise _fail(f"{name} {exc}") from None


def _expected_array(x: Any) -> np.ndarray:
    try:
        return _as_array(x)
    except _Unusable as exc:
        # The expected value comes from the test: this is the test's bug.
        raise TypeError(f"the expected value {exc}") from None

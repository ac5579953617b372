"""Answer checks that every test cell imports.

Instructors' visible tests, the grader's hidden tests and students running the
visible tests in JupyterLab all call these functions.  Each check returns None
when the answer is right and raises `CheckFailure` (an AssertionError, so
otter and pytest count it as a failed test) with a message a student can act
on when it is not.

Four families:

- numbers and arrays: `assert_close`, `assert_exact` (integers: counts,
  shapes), `assert_shape`, `assert_dtype_kind`;
- sympy answers: `assert_equivalent` (algebra with a hard time limit, plus a
  numeric second opinion at random points) and `value_at` (an answer at a
  point); both match symbols by name, so symbols declared again, with or
  without assumptions, are the same symbols;
- gradients: `numerical_gradient`, `assert_gradient`,
  `assert_gradient_at_random_points`;
- student functions: `assert_function_matches`.

Hidden tests run inside `concealed()`: there, no message shows an expected
value (numbers, expressions or elements); shapes, indices, the point where
two expressions differ and a coarse relative error are still shown.

Default tolerances come from `mdl_student.tolerances.TOLERANCES`, the one place for
them.  Importing this module is cheap: numpy only; sympy and torch are
imported when a check first needs them.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from mdl_student.tolerances import TOLERANCES

__all__ = [
    "CheckFailure",
    "UnreadableAnswer",
    "assert_close",
    "assert_dtype_kind",
    "assert_equivalent",
    "assert_exact",
    "assert_function_matches",
    "assert_gradient",
    "assert_gradient_at_random_points",
    "assert_shape",
    "concealed",
    "is_concealed",
    "numerical_gradient",
    "value_at",
]


class CheckFailure(AssertionError):
    """An answer failed a check; the message says what to fix."""


class UnreadableAnswer:
    """What a test receives for an answer that exists but could not reach the grader.

    The grader's bridge puts one in place of a value the codec refused (an
    object array, an unknown type).  Any use of it, by a check or by a plain
    expression in a test (``len(x)``, ``x == 3``, ``x.shape``), fails with the
    reason, so the student reads why the answer could not be graded rather
    than "is None".
    """

    def __init__(self, name: str, reason: str) -> None:
        object.__setattr__(self, "_mdl_unreadable", f"`{name}` could not be read by the grader: {reason}")

    def __repr__(self) -> str:
        return f"<unreadable answer: {object.__getattribute__(self, '_mdl_unreadable')}>"

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # protocol probes (copy, numpy) see "no such attribute"
        raise CheckFailure(object.__getattribute__(self, "_mdl_unreadable"))

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise CheckFailure(object.__getattribute__(self, "_mdl_unreadable"))

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __bool__ = __len__ = __iter__ = __getitem__ = __contains__ = __call__ = _refuse
    __float__ = __int__ = __index__ = __complex__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = _refuse
    __hash__ = None  # type: ignore[assignment]


def _unreadable_reason(x: Any) -> str | None:
    """The reason an answer could not be read, when it is an `UnreadableAnswer`."""
    return object.__getattribute__(x, "_mdl_unreadable") if isinstance(x, UnreadableAnswer) else None


# ==========================================================================
# Concealment
# ==========================================================================

# A ContextVar rather than a global so that concurrent grading threads (or
# asyncio tasks) each have their own setting.
_CONCEALED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autograder_checks_concealed", default=False)


@contextlib.contextmanager
def concealed() -> Iterator[None]:
    """Inside this block, failure messages never reveal expected values.

    The grader wraps every hidden test case in ``with concealed():``.  Shapes,
    indices, the student's own value at a point, and a relative error rounded
    to one significant digit may still appear.
    """
    token = _CONCEALED.set(True)
    try:
        yield
    finally:
        _CONCEALED.reset(token)


def is_concealed() -> bool:
    """True inside `concealed()`."""
    return _CONCEALED.get()


def _fail(message: str) -> CheckFailure:
    return CheckFailure(message)


# ==========================================================================
# Turning answers into arrays
# ==========================================================================


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


def _quote(x: Any) -> str:
    """The student's value, cut short; inside `concealed()`, an ellipsis.

    A value a student function returned for a hidden call is what the student's code says about
    that call: text, symbol names or an expression could spell out the hidden inputs.
    """
    return "…" if is_concealed() else _short(x)


def _short(x: Any, limit: int = 60) -> str:
    """repr(x), cut to `limit` characters."""
    return _cut(repr(x), limit)


def _a(word: str) -> str:
    """The word with its indefinite article: "an object", "a list"."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _normalize(x: Any) -> Any:
    """Replace tensors and sympy numbers by numpy/Python values, recursively."""
    if _is_torch(x):
        return _torch_to_numpy(x)
    if _is_sympy(x):
        return _sympy_to_python(x)
    if isinstance(x, (list, tuple)):
        return [_normalize(v) for v in x]
    return x


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


# ==========================================================================
# Shapes
# ==========================================================================


def _fmt_shape(shape: tuple[Any, ...]) -> str:
    return "() (a single number)" if shape == () else str(tuple(shape))


def _shape_hint(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """A short diagnosis of the usual shape slips."""
    if want == () and got != ():
        if math.prod(got) == 1:
            return ("an array with one element where a single number was expected "
                    "(use float(...) or .item())")
        return "an array where a single number was expected"
    if got == () and want != ():
        return "a single number where an array was expected"
    if len(got) == 2 and len(want) == 2 and got == want[::-1]:
        return "did you transpose?"
    if len(want) == 1 and got == (want[0], 1):
        return "a column vector where a flat vector was expected (use .ravel() or .reshape(-1))"
    if len(want) == 1 and got == (1, want[0]):
        return "a row vector where a flat vector was expected (use .ravel() or .reshape(-1))"
    if len(got) == 1 and want == (got[0], 1):
        return "a flat vector where a column vector was expected (use .reshape(-1, 1))"
    if len(got) == 1 and want == (1, got[0]):
        return "a flat vector where a row vector was expected (use .reshape(1, -1))"
    if math.prod(got) == math.prod(want):
        return ("the right number of elements in a different arrangement "
                "(check reshape, axis order or a missing transpose)")
    if len(got) != len(want):
        return f"{len(got)} dimension(s) where {len(want)} were expected"
    return ""


def _shape_message(name: str, got: tuple[int, ...], want: tuple[int, ...]) -> str:
    hint = _shape_hint(got, want)
    return (f"{name} has shape {_fmt_shape(got)}, but the expected shape is "
            f"{_fmt_shape(want)}" + (f": {hint}" if hint else ""))


def assert_shape(actual: Any, shape: Sequence[int | None], *, name: str = "your answer") -> None:
    """Check that `actual` (array, tensor, nested list, number) has `shape`.

    An entry of None in `shape` matches any length, e.g. ``(None, 3)``.
    Arrays and tensors are not copied: only their ``.shape`` is read.
    `name` is how messages refer to the answer.
    """
    want = tuple(shape)
    if isinstance(actual, (np.ndarray, np.generic)) or _is_torch(actual):
        got = tuple(int(n) for n in actual.shape)
    else:
        got = _student_array(actual, name).shape
    matches = len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))
    if matches:
        return
    if any(w is None for w in want):
        raise _fail(f"{name} has shape {_fmt_shape(got)}, but a shape like "
                    f"{tuple('any' if w is None else w for w in want)} was expected")
    raise _fail(_shape_message(name, got, want))  # type: ignore[arg-type]


def assert_dtype_kind(actual: Any, kind: str) -> None:
    """Check the kind of number `actual` holds.

    `kind` is one or more numpy kind letters: ``"f"`` floating point, ``"i"``
    signed integer, ``"u"`` unsigned integer, ``"c"`` complex, ``"b"``
    boolean; ``"iu"`` accepts either integer kind.  Python numbers count as
    their numpy kind (float -> ``"f"``); tensors by their torch dtype.
    """
    if _is_torch(actual):
        import torch

        dtype = actual.dtype
        if dtype == torch.bool:
            got, label = "b", str(dtype)
        elif dtype.is_complex:
            got, label = "c", str(dtype)
        elif dtype.is_floating_point:
            got, label = "f", str(dtype)
        elif dtype == torch.uint8:
            got, label = "u", str(dtype)
        else:
            got, label = "i", str(dtype)
    else:
        arr = _student_array(actual, "your answer")
        got, label = arr.dtype.kind, str(arr.dtype)
        if got == "O":
            got, label = "i", "Python int"
    if got in kind:
        return
    wanted = " or ".join(f"{k!r} ({_KIND_WORDS.get(k, k)})" for k in kind)
    raise _fail(f"your answer has dtype {label} (kind {got!r}, {_KIND_WORDS.get(got, got)}), "
                f"but dtype kind {wanted} was expected")


# ==========================================================================
# Numeric comparison
# ==========================================================================


def _fmt_number(v: Any) -> str:
    if isinstance(v, (complex, np.complexfloating)):
        return f"{complex(v):.10g}".strip("()")
    if isinstance(v, (float, np.floating)):
        text = f"{float(v):.10g}"
        # 2.0 rather than 2, so that a float never reads as an integer.
        return text if any(c in text for c in ".ein") else text + ".0"
    return str(v)


def _coarse(err: float) -> str:
    """A relative error rounded to one significant digit (safe to conceal)."""
    if not math.isfinite(err):
        return "large"
    return f"~{err:.0e}"


def assert_close(actual: Any, expected: Any, rtol: float | None = None,
                 atol: float | None = None, *, equal_nan: bool = False,
                 name: str = "your answer") -> None:
    """Check that a numeric answer equals `expected` within a tolerance.

    Accepts Python numbers, numpy arrays and scalars, 0-d arrays, nested
    lists/tuples, torch tensors (detached and moved to the CPU; requires_grad
    is fine) and sympy numbers/matrices without symbols.  A tuple, list or dict
    whose items have different shapes (``(loss, grad)``, ``{"W": ..., "b":
    ...}``) is compared item by item.

    Rules, in order:

    1. the shape must match exactly (no broadcasting); the message shows both
       shapes and diagnoses transposes and column-vs-flat vectors;
    2. NaN never passes unless ``equal_nan``; an infinity equals only the
       same infinity;
    3. elementwise ``|actual - expected| <= atol + rtol * |expected|``
       (numpy ``isclose`` semantics; complex numbers by their modulus), with
       `rtol`/`atol` defaulting to ``mdl_student.tolerances.TOLERANCES``:
       rtol 1e-5 and atol 1e-6, so that an answer computed in float32
       passes, in whatever container it arrives;
    4. except that when both sides hold integers (or booleans) and no
       tolerance was passed, they must be exactly equal, so a count such as
       13432735556 is not accepted off by one.  An integer answer where a
       float is expected is fine (rule 3 applies).  A float answer where an
       exact integer is asked is judged by `assert_exact`, not here.

    A value that is not a number (text, None, an object) fails with a message,
    never a TypeError.  The failure message gives the first differing index,
    both values, and the largest absolute and relative errors; inside
    `concealed()` it gives the index and a relative error rounded to one
    digit, never the expected (or the student's) values.
    """
    _compare(actual, expected, rtol, atol, equal_nan, name)


def assert_exact(actual: Any, expected: Any, *, name: str = "your answer") -> None:
    """Check that an integer answer (a count, a shape) equals `expected` exactly.

    Python ints, numpy integers and sympy Integers are all accepted, and so are
    arrays, tuples and nested lists of them (a list of shapes); `expected`
    holds integers.  Shapes must match as in `assert_close`.  Each entry is
    compared as Python compares an int with a float, exactly: a float answer
    passes only where it holds the very integer expected (2.0 for 2), so a
    count beyond 2**53 computed in floating point fails, with a hint to use
    integer arithmetic.  Messages follow `assert_close` (nothing expected is
    shown inside `concealed()`).
    """
    got = _student_array(actual, name)
    want = _expected_array(expected)
    if want.dtype.kind not in "biuO":
        raise TypeError(f"assert_exact compares integers, but the expected value has dtype {want.dtype}")
    if got.shape != want.shape:
        raise _fail(_shape_message(name, got.shape, want.shape))
    pairs = zip(got.ravel().tolist(), want.ravel().tolist())
    bad = np.array([not bool(g == w) for g, w in pairs], dtype=bool).reshape(got.shape)
    if not bad.any():
        return
    try:
        _report_mismatch(got, want, bad, name, "exact")
    except CheckFailure as exc:
        if got.dtype.kind not in "fc":
            raise
        raise _fail(f"{exc}; an exact integer is asked, and a float holds integers exactly only "
                    f"up to 2**53 (about 9e15): compute with Python ints (e.g. math.comb, //)") from None


def _compare(actual: Any, expected: Any, rtol: float | None, atol: float | None,
             equal_nan: bool, name: str) -> None:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            raise _fail(f"{name} should be a dict with keys {sorted(map(str, expected))}, "
                        f"but it is {_a(type(actual).__name__)}")
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            parts = ([f"missing key(s) {missing}"] if missing else []) + (
                [f"unexpected key(s) {extra}"] if extra else [])
            raise _fail(f"{name} has {' and '.join(parts)}")
        for key in expected:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, f"{name}[{key!r}]")
        return
    try:
        want = _as_array(expected)
    except _Ragged:
        # A tuple of differently shaped things: compare item by item.
        if not isinstance(actual, (list, tuple)) and not _is_torch(actual):
            raise _fail(f"{name} should be a sequence of {len(expected)} items, "
                        f"but it is {_a(type(actual).__name__)}") from None
        if len(actual) != len(expected):
            raise _fail(f"{name} has {len(actual)} items, but {len(expected)} were expected") from None
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, f"{name}[{i}]")
        return
    except _Unusable as exc:
        raise TypeError(f"the expected value {exc}") from None
    got = _student_array(actual, name)
    _compare_arrays(got, want, rtol, atol, equal_nan, name)


def _compare_arrays(got: np.ndarray, want: np.ndarray, rtol: float | None,
                    atol: float | None, equal_nan: bool, name: str) -> None:
    if got.shape != want.shape:
        raise _fail(_shape_message(name, got.shape, want.shape))
    exact = (rtol is None and atol is None and got.dtype.kind in "biuO"
             and want.dtype.kind in "biuO")
    if exact:
        bad = np.asarray(got != want, dtype=bool)
        if bad.any():
            _report_mismatch(got, want, bad, name, "exact")
        return
    rtol = TOLERANCES.rtol if rtol is None else rtol
    atol = TOLERANCES.atol if atol is None else atol
    try:
        dtype = complex if "c" in (got.dtype.kind + want.dtype.kind) else float
        a = got.astype(dtype)
        e = want.astype(dtype)
    except OverflowError:
        raise _fail(f"{name} holds an integer too large to compare as a float") from None
    with np.errstate(all="ignore"):
        a_nan, e_nan = np.isnan(a), np.isnan(e)
        finite = np.isfinite(a) & np.isfinite(e)
        close = np.zeros(a.shape, dtype=bool)
        close[finite] = np.abs(a - e)[finite] <= atol + rtol * np.abs(e)[finite]
        # Infinities: equal only to the same infinity (never within a tolerance).
        inf_pair = ~finite & ~a_nan & ~e_nan
        close[inf_pair] = (a == e)[inf_pair]
        if equal_nan:
            close |= a_nan & e_nan
    bad = ~close
    if bad.any():
        _report_mismatch(a, e, bad, name, f"|yours - expected| <= {atol:g} + {rtol:g}*|expected|")


def _report_mismatch(a: np.ndarray, e: np.ndarray, bad: np.ndarray, name: str,
                     rule: str) -> None:
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    av, ev = a[index], e[index]
    count, total = int(bad.sum()), int(bad.size)
    where = f" at index {index}" if a.ndim else ""
    exact = rule == "exact"

    def numeric(arr: np.ndarray) -> np.ndarray:
        # Object arrays hold big Python ints; floats are close enough for errors.
        if arr.dtype.kind != "O":
            return arr
        try:
            return arr.astype(float)
        except OverflowError:  # beyond 1e308: no error sizes, the values still show
            return np.full(arr.shape, np.nan)

    a_num, e_num = numeric(a), numeric(e)
    with np.errstate(all="ignore"):
        diff = np.abs(a_num - e_num)[bad]
        finite = np.isfinite(diff)
        max_abs = float(diff[finite].max()) if finite.any() else math.inf
        rel = diff / np.abs(e_num)[bad]
        max_rel = float(np.nanmax(rel)) if np.isfinite(rel).any() else math.inf
        sym = diff / np.maximum(np.abs(a_num)[bad], np.abs(e_num)[bad])
        sym_err = float(np.nanmax(sym)) if np.isfinite(sym).any() else math.inf
    a_nan = a.dtype.kind in "fc" and bool(np.isnan(a[index]))
    e_nan = e.dtype.kind in "fc" and bool(np.isnan(e[index]))
    if is_concealed():
        if a_nan:
            raise _fail(f"{name} is NaN (not a number){where}")
        scope = f" in {count} of {total} elements, first" if a.ndim else ""
        error = "" if not math.isfinite(sym_err) else f" (relative error {_coarse(sym_err)})"
        raise _fail(f"{name} differs from the expected value{scope}{where}{error}")
    if a.ndim == 0:
        message = f"{name} is {_fmt_number(av)}, but the expected value is {_fmt_number(ev)}"
    else:
        message = (f"{name} differs from the expected value in {count} of {total} elements; "
                   f"first at index {index}: yours {_fmt_number(av)}, expected {_fmt_number(ev)}")
    if a_nan and e_nan:
        message += " (NaN is accepted only where a test passes equal_nan=True)"
    elif a_nan:
        message += " (NaN: an invalid operation such as 0/0, log of a negative or inf - inf?)"
    elif exact:
        message += " (integers are compared exactly)"
    elif math.isfinite(max_abs):
        message += f" (max abs error {max_abs:.3g}, max rel error {max_rel:.3g}; allowed: {rule})"
    hint = "" if exact else _value_hint(a_num, e_num)
    if hint:
        message += f"; {hint}"
    raise _fail(message)


def _fmt_ratio(r: float) -> str:
    """2 rather than 2.0000001; a small fraction when it is one, else 4 digits."""
    import fractions

    guess = fractions.Fraction(r).limit_denominator(100)
    if abs(r - guess) <= 1e-6 * max(1.0, abs(float(guess))):
        return str(guess)
    return f"{r:.4g}"


def _value_hint(a: np.ndarray, e: np.ndarray) -> str:
    """Visible-only diagnosis: a sign slip, a constant factor, a transpose."""
    with np.errstate(all="ignore"):
        if not (np.isfinite(a).all() and np.isfinite(e).all()) or a.size == 0 \
                or "c" in a.dtype.kind + e.dtype.kind:
            return ""
        if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and np.allclose(a, e.T) \
                and not np.allclose(a, e):
            return "it equals the transpose of the expected value"
        nonzero = np.abs(e) > 0
        if not nonzero.any() or not np.array_equal(nonzero, np.abs(a) > 0):
            return ""
        ratio = a[nonzero] / e[nonzero]
        r = ratio.flat[0]
        if np.allclose(ratio, r, rtol=1e-6, atol=0) and not np.isclose(r, 1):
            if np.isclose(r, -1):
                return "it is the negative of the expected value (a sign error?)"
            return f"it is about {_fmt_ratio(float(r))} times the expected value"
    return ""


# ==========================================================================
# Student functions
# ==========================================================================


def _describe_value(v: Any, reveal: bool) -> str:
    if _is_torch(v):
        return f"tensor of shape {tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}"
    if isinstance(v, (bool, int, float, complex, np.number)):
        return _short(v, 20) if reveal else type(v).__name__
    if isinstance(v, (list, tuple)):
        return f"{type(v).__name__} of {len(v)}"
    if callable(v):
        return "a function"
    return type(v).__name__


def _describe_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    reveal = not is_concealed()
    parts = [_describe_value(v, reveal) for v in args]
    parts += [f"{k}={_describe_value(v, reveal)}" for k, v in kwargs.items()]
    return ", ".join(parts) if parts else "no arguments"


def _copy_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    # Each function gets its own copy, so that a student function that
    # modifies its inputs in place cannot change what the reference sees.
    try:
        return copy.deepcopy(args), copy.deepcopy(kwargs)
    except Exception:  # e.g. a non-leaf tensor: pass the originals
        return args, kwargs


def assert_function_matches(student_fn: Callable[..., Any], reference_fn: Callable[..., Any],
                            make_inputs: Callable[[np.random.Generator], Any], *, n: int = 5,
                            seed: int = 0, rtol: float | None = None,
                            atol: float | None = None) -> None:
    """Call the student's function and the reference on `n` seeded inputs.

    ``make_inputs(rng)`` gets one ``np.random.default_rng(seed)`` shared by the
    trials (so each trial draws fresh inputs) and returns a tuple of
    positional arguments, a dict of keyword arguments, or a single argument.
    Each function receives its own deep copy of the inputs.  Results are
    compared with `assert_close` (tuples and dicts of results item by item).

    A failure names the trial and the shapes of its inputs (and, outside
    `concealed()`, scalar input values).  If the student's function raises,
    the message names the exception type and, outside `concealed()`, its text
    (inside, the text is dropped: it could echo hidden inputs).
    """
    rng = np.random.default_rng(seed)
    for trial in range(1, n + 1):
        inputs = make_inputs(rng)
        if isinstance(inputs, dict):
            args, kwargs = (), dict(inputs)
        elif isinstance(inputs, tuple):
            args, kwargs = inputs, {}
        else:
            args, kwargs = (inputs,), {}
        described = _describe_inputs(args, kwargs)
        ref_args, ref_kwargs = _copy_inputs(args, kwargs)
        expected = reference_fn(*ref_args, **ref_kwargs)
        stu_args, stu_kwargs = _copy_inputs(args, kwargs)
        try:
            result = student_fn(*stu_args, **stu_kwargs)
        except Exception as exc:
            if type(exc).__name__ == "StudentCodeError":
                # The grader's bridge already wrote a student-facing message
                # ("your function f raised ValueError: ...").
                raise _fail(f"trial {trial} of {n} (inputs: {described}): {exc}") from None
            text = "" if is_concealed() else f": {_cut(str(exc), 300)}"
            raise _fail(f"trial {trial} of {n} (inputs: {described}): your function raised "
                        f"{type(exc).__name__}{text}") from None
        try:
            _compare(result, expected, rtol, atol, False, "your function's result")
        except CheckFailure as exc:
            raise _fail(f"trial {trial} of {n} (inputs: {described}): {exc}") from None


# ==========================================================================
# Gradients
# ==========================================================================


def _call_float(f: Callable[..., Any], x: np.ndarray, scalar_input: bool, who: str) -> np.ndarray:
    arg: Any = float(x) if scalar_input else x.copy()
    try:
        out = f(arg)
    except Exception as exc:
        raise _fail(f"calling {who} raised {type(exc).__name__}: {_cut(str(exc), 200)}") from None
    arr = _student_array(out, f"the value of {who}")
    if arr.dtype.kind == "c":
        raise _fail(f"{who} returned complex numbers; finite differences need real values")
    return np.asarray(arr, dtype=np.float64)


def numerical_gradient(f: Callable[..., Any], x: Any, h: float | None = None) -> np.ndarray:
    """Central-difference derivative of `f` at `x`, in float64.

    ``(f(x + h e_j) - f(x - h e_j)) / (2 h)`` for every coordinate ``j`` of
    `x`.  `f` is called with a float64 array of x's shape (a Python float when
    `x` is a scalar) and must not rely on keeping it.

    - If `f` returns a scalar (a number or a 0-d array/tensor), the result is
      the gradient, with the shape of `x`.
    - If `f` returns an array, the result is the Jacobian in "numerator
      layout": shape ``(f(x).size, x.size)``, with ``J[i, j] = d f_i / d x_j``
      over the flattened (C order) output and input.

    `h` defaults to ``TOLERANCES.gradient_h``.
    """
    h = TOLERANCES.gradient_h if h is None else float(h)
    scalar_input = np.ndim(x) == 0 and not isinstance(x, np.ndarray) and not _is_torch(x)
    x0 = np.array(_expected_array(x), dtype=np.float64)
    flat_size = x0.size
    grad: np.ndarray | None = None
    out_shape: tuple[int, ...] | None = None
    for j in range(flat_size):
        xp, xm = x0.copy(), x0.copy()
        xp.flat[j] += h
        xm.flat[j] -= h
        fp = _call_float(f, xp, scalar_input, "the function")
        fm = _call_float(f, xm, scalar_input, "the function")
        if out_shape is None:
            out_shape = fp.shape
            grad = np.zeros(x0.shape if fp.ndim == 0 else (fp.size, flat_size))
        if fp.shape != out_shape or fm.shape != out_shape:
            raise _fail("the function returned values of different shapes at nearby points")
        assert grad is not None
        if fp.ndim == 0:
            grad.flat[j] = (fp - fm) / (2 * h)
        else:
            grad[:, j] = (fp - fm).ravel() / (2 * h)
    if grad is None:  # x has no elements
        return np.zeros(x0.shape)
    return grad


def _gradient_error(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a)) + np.max(np.abs(b))))


def assert_gradient(f: Callable[..., Any], grad_f: Callable[..., Any], x: Any, *,
                    h: float | None = None, rtol: float | None = None,
                    name: str = "your gradient") -> None:
    """Check ``grad_f(x)`` against central differences of `f` at `x`.

    The layout is that of `numerical_gradient`: for a scalar `f`, ``grad_f(x)``
    has x's shape; for a vector-valued `f`, ``grad_f(x)`` is the Jacobian of
    shape ``(f(x).size, x.size)``, row ``i`` holding the derivatives of output
    ``i``.  (An `f` returning shape ``(1,)`` may have a gradient of x's shape.)

    The relative error is one number for the whole array::

        max_j |a_j - n_j| / max(1e-8, max_j |a_j| + max_j |n_j|)

    where ``a`` is ``grad_f(x)`` and ``n`` the finite-difference estimate (the
    CS231n error with the maxima taken over the whole array, so that a
    coordinate whose true derivative is 0 does not divide noise by noise).  It
    must not exceed `rtol` (default ``TOLERANCES.gradient_rtol``; `h` defaults
    to ``TOLERANCES.gradient_h``).
    """
    rtol = TOLERANCES.gradient_rtol if rtol is None else rtol
    numeric = numerical_gradient(f, x, h)
    x_arr = _expected_array(x)
    arg = float(x_arr) if np.ndim(x) == 0 and not isinstance(x, np.ndarray) and not _is_torch(x) \
        else np.array(x_arr, dtype=np.float64)
    try:
        result = grad_f(arg)
    except Exception as exc:
        raise _fail(f"computing {name} raised {type(exc).__name__}: {_cut(str(exc), 200)}") from None
    analytic = np.asarray(_student_array(result, name))
    if analytic.dtype.kind == "c":
        raise _fail(f"{name} has complex entries; a real gradient was expected")
    analytic = analytic.astype(np.float64)
    if analytic.shape != numeric.shape:
        if numeric.ndim == 2 and numeric.shape[0] == 1 and analytic.shape == x_arr.shape:
            analytic = analytic.reshape(numeric.shape)  # f returned shape (1,)
        elif numeric.ndim == 2 and analytic.shape == numeric.shape[::-1]:
            raise _fail(f"{name} has shape {analytic.shape}, but the Jacobian should have shape "
                        f"{numeric.shape} = (outputs, inputs): it looks transposed "
                        f"(row i should hold the derivatives of output i)")
        else:
            layout = ("the shape of x" if numeric.shape == x_arr.shape else
                      "(number of outputs, number of inputs)")
            raise _fail(_shape_message(name, analytic.shape, numeric.shape) +
                        f" (the gradient layout is {layout})")
    if not np.isfinite(analytic).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(analytic))[0])
        raise _fail(f"{name} has a non-finite value (NaN or inf) at index {bad}")
    error = _gradient_error(analytic, numeric)
    if error <= rtol:
        return
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(analytic - numeric))),
                                                     analytic.shape)) if analytic.ndim else ()
    where = f" at index {index}" if analytic.ndim else ""
    if is_concealed():
        raise _fail(f"{name} does not match finite differences: relative error "
                    f"{_coarse(error)} (allowed {rtol:g}), largest difference{where}")
    message = (f"{name} does not match finite differences: relative error {error:.2e} "
               f"(allowed {rtol:g}); largest difference{where}: yours "
               f"{_fmt_number(analytic[index])}, finite differences {_fmt_number(numeric[index])}")
    if analytic.ndim == 2 and analytic.shape[0] == analytic.shape[1] \
            and _gradient_error(analytic.T, numeric) <= rtol:
        message += ("; your Jacobian is the transpose of the right one "
                    "(row i should hold the derivatives of output i)")
    else:
        hint = _value_hint(analytic, numeric)
        if hint:
            message += "; " + hint.replace("the expected value", "the finite-difference value")
    raise _fail(message)


def assert_gradient_at_random_points(f: Callable[..., Any], grad_f: Callable[..., Any],
                                     shape: int | Sequence[int], *, n: int = 5, seed: int = 0,
                                     kink_margin: float = 1e-3, kinks: Sequence[float] = (0.0,),
                                     scale: float = 1.0, h: float | None = None,
                                     rtol: float | None = None, name: str = "your gradient") -> None:
    """`assert_gradient` at `n` random points that stay away from kinks.

    Points are ``scale * standard_normal(shape)`` from
    ``np.random.default_rng(seed)``.  For piecewise functions such as ReLU,
    leaky ReLU, Abs or hinge losses, whose kinks lie where a coordinate equals
    one of `kinks` (default: 0), every coordinate that falls within
    `kink_margin` of a kink is redrawn, so ``|x_i - k| > kink_margin`` for
    every coordinate ``i`` and kink ``k``.  `kink_margin` must exceed the
    finite-difference step `h`, so that no central difference straddles a
    kink.  (The rule is about the coordinates of x; a function with kinks
    elsewhere, such as a ReLU network, needs its own choice of points with
    `assert_gradient`.)
    """
    step = TOLERANCES.gradient_h if h is None else h
    if kink_margin <= step:
        raise ValueError(f"kink_margin ({kink_margin:g}) must exceed the finite-difference "
                         f"step h ({step:g})")
    rng = np.random.default_rng(seed)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    for trial in range(1, n + 1):
        x = scale * rng.standard_normal(shape)
        for _ in range(1000):
            near = np.zeros(shape, dtype=bool)
            for k in kinks:
                near |= np.abs(x - k) <= kink_margin
            if not near.any():
                break
            x[near] = scale * rng.standard_normal(int(near.sum()))
        else:
            raise ValueError("could not draw a point away from the kinks; "
                             "increase scale or decrease kink_margin")
        try:
            assert_gradient(f, grad_f, x, h=h, rtol=rtol, name=name)
        except CheckFailure as exc:
            raise _fail(f"at random point {trial} of {n} (seed {seed}): {exc}") from None


# ==========================================================================
# Symbolic equivalence
# ==========================================================================
#
# How a verdict is reached (see assert_equivalent's docstring for the rules):
# the parent process does the cheap work (reading the answer, checking that
# it is the right kind of object and shape, structural equality); everything
# that can explode (evaluation, simplification) runs in a forked child with a
# hard deadline.  SIGALRM cannot interrupt big-integer arithmetic in C, and
# sympy can spend minutes or gigabytes in a single call; a forked child can
# be killed.  A fork costs about 4 ms with sympy loaded (20 ms with torch),
# so every non-trivial comparison forks.  The child sends a provisional
# verdict after the numeric stage and a final one after the algebra, so that
# a timeout in the algebra still leaves the numeric verdict to the parent.


def assert_equivalent(answer: Any, expected: Any, *, symbols: Any = None,
                      assumptions: Mapping[Any, Mapping[str, bool]] | None = None,
                      domain: Mapping[Any, tuple[float, float]] | None = None,
                      timeout: float | None = None, samples: int | None = None,
                      name: str = "your answer") -> None:
    """Check that a sympy answer is mathematically equivalent to `expected`.

    `answer` may be a sympy expression, Matrix, equation (``Eq``), finite set,
    Tuple, a Python number, a numpy array or nested list (for a Matrix), a
    Python set or list (for a FiniteSet), a tuple (for a Tuple), or text such
    as ``"x**2*exp(x)"`` (read with `mdl_student.safe_sympy.parse_answer_text`,
    never ``eval``).  `expected` may be any of the same.  `name` is how
    messages refer to the answer.

    Symbols are matched by name: every free symbol of both sides is replaced
    by one symbol per name, carrying the declared assumptions: from
    `assumptions` (``{"x": {"positive": True}}``) first, then `symbols`
    (Symbols, or a dict name -> Symbol), then the expected's own symbol of
    that name; otherwise a plain ``Symbol(name)``.  So an identity such as
    ``log(x*y) == log(x) + log(y)`` passes only when x and y are declared
    positive, whatever assumptions the student gave their own symbols.

    What is compared:

    - expressions: see the verdict rules below;
    - matrices: shape first (message with both shapes), then every entry;
    - equations: ``lhs - rhs`` of the answer must equal ``lhs - rhs`` of the
      expected equation or its negative (sides may be swapped; an equation
      multiplied by a constant is *not* accepted);
    - finite sets: as sets of equivalence classes (each element of either set
      must be equivalent to some element of the other);
    - Tuples: item by item;
    - inequalities, boolean conditions and other sets: by canonical form only.

    Verdict rules for one pair of expressions (difference ``d = a - e``):

    1. numeric second opinion: both are evaluated with 30 significant digits
       at `samples` points (default ``TOLERANCES.symbolic_samples``) where
       both are defined, out of 3 * `samples` candidates drawn afresh for
       every comparison from the operating system's entropy (never from a
       seed: nobody can know the points in advance) from `domain` (name or
       symbol -> (low, high)) or, by assumptions, from (0.1, 5) for
       positive/nonnegative, (-5, -0.1) for negative/nonpositive, 1..9 or
       -9..9 for integers and (-5, 5) otherwise, as exact rationals with a
       random denominator of 10**6 to 10**9.
       They agree at a point if ``|va - ve| <= rtol * max(|va|, |ve|) +
       1e-20`` with ``rtol = TOLERANCES.symbolic_sample_rtol``.  An
       expression with an undefined function ``f(x)``, or defined at too few
       points, gets no numeric opinion;
    2. if they differ at any point: fail, naming the point and the values
       ("at x = 0.3 yours gives 1.2, the expected one 0.8");
    3. otherwise the algebra tries, in order: ``d == 0``, expand, cancel;
       then, by what ``d`` contains, Piecewise folding (Abs, Max, Piecewise,
       Heaviside), trigsimp, rewriting in exp (trigonometric, hyperbolic,
       exp), expand_log and logcombine (without force, so the assumptions
       decide); then simplify, and ``d.equals(0)`` when the numeric stage had
       no opinion.  It proves "equal" when a step gives 0 and "different"
       when a step gives a nonzero constant.  (A power with an exponent above
       200, such as ``(x + 1)**1000000``, is never expanded: the algebra
       declares itself inconclusive at once);
    4. algebra equal -> pass.  The algebra gets 60% of the time; when it is
       inconclusive or out of time and the numbers agreed, the answer is
       confirmed at 4 * `samples` more fresh points (every other one, for a
       symbol without a declared domain, far out: magnitudes up to 1e7,
       integers up to 1e6) -> pass if they all agree (a few points alone
       never pass: a polynomial through them agrees there).  An answer
       built from pieces the expected one lacks (Abs, Max, Piecewise,
       floor, a condition ...) is not confirmed by points at all (it may
       agree on every point of a range and differ outside it): "could not
       decide".  Algebra proves different while numeric agreed -> fail,
       "could not decide" (a disagreement); no numeric opinion -> the
       algebra alone decides, and if it cannot: fail, "could not decide".

    The whole comparison gets `timeout` seconds (default
    ``TOLERANCES.symbolic_timeout_s``) in a forked child process (address
    space capped at 2 GiB above the parent's) that is killed when the time is
    up, so no input can hang the check; only answers that are structurally
    identical to the expected one skip the fork.  On platforms without
    ``fork`` (Windows) it runs in-process without a hard limit.  Answers
    containing decimals (Floats) are compared numerically with the same
    tolerance and get a hint to use exact fractions.
    """
    from mdl_student.safe_sympy import UnsafeExpression

    timeout = TOLERANCES.symbolic_timeout_s if timeout is None else float(timeout)
    samples = TOLERANCES.symbolic_samples if samples is None else int(samples)
    declared = _declared_symbols(symbols, assumptions)
    text_symbols = dict(declared)
    try:
        expected_obj = _coerce_symbolic(expected, None, text_symbols)
    except (_Unusable, UnsafeExpression) as exc:
        raise TypeError(f"the expected answer {exc}") from None
    try:
        for s in _free_symbols(expected_obj):
            text_symbols.setdefault(s.name, s)
    except RecursionError:
        pass
    try:
        answer_obj = _coerce_symbolic(answer, expected_obj, text_symbols)
    except UnsafeExpression as exc:
        raise _fail(f"{exc}".replace("your answer", name, 1)) from None
    except _Unreadable as exc:
        raise _fail(str(exc)) from None
    except _Unusable as exc:
        raise _fail(f"{name} {exc}") from None
    _check_kind(answer_obj, expected_obj, name)

    # Fast path: identical after matching symbols by name (no fork needed).
    if answer_obj is expected_obj:
        return
    try:
        a_c, e_c = _canonicalize(answer_obj, expected_obj, declared)
        if a_c == e_c:
            return
    except RecursionError:
        pass  # very deep expressions: the child has a larger recursion limit

    options = {"declared": declared, "domain": _domain_by_name(domain),
               "samples": samples, "rtol": TOLERANCES.symbolic_sample_rtol, "timeout": timeout}
    verdict, ended = _run_with_deadline(_decide, (answer_obj, expected_obj, options), timeout)
    try:
        extra = sorted({s.name for s in _free_symbols(answer_obj)}
                       - {s.name for s in _free_symbols(expected_obj)})
    except RecursionError:
        extra = []
    _raise_for_verdict(verdict, ended, name, timeout, answer_obj, extra)


def value_at(answer: Any, point: Mapping[str, Any], *, name: str = "your answer") -> Any:
    """A sympy answer with each symbol replaced by its value in `point` (keyed by NAME).

    Symbols are matched by name, as in `assert_equivalent`, so the answer may
    use the notebook's symbols or symbols the student declared again, with or
    without assumptions.  `answer` may be anything `assert_equivalent` reads
    (an expression, a Matrix or nested list, a Python or sympy number, text);
    `point` maps names to numbers (``{"a": 2, "b": sympy.Rational(1, 3)}``),
    substituted exactly.  Returns a sympy number or matrix, to compare with
    `assert_close` or `assert_exact`.  Fails with a message when the answer is
    not an expression, or uses a symbol that `point` does not name (a typo in
    a symbol name?); the message lists the names it may use.
    """
    import sympy as sp

    from mdl_student.safe_sympy import UnsafeExpression

    names = {str(key): sp.Symbol(str(key)) for key in point}
    try:
        obj = _coerce_symbolic(answer, None, dict(names))
    except UnsafeExpression as exc:
        raise _fail(f"{exc}".replace("your answer", name, 1)) from None
    except _Unreadable as exc:
        raise _fail(str(exc)) from None
    except _Unusable as exc:
        raise _fail(f"{name} {exc}") from None
    if not isinstance(obj, (sp.Expr, sp.MatrixBase)):
        raise _fail(f"{name} is {_a(_kind_of(obj))}, but an expression or a matrix was expected")
    symbols = getattr(obj, "free_symbols", set())
    unknown = sorted({str(s) for s in symbols} - set(names))
    if unknown:
        raise _fail(f"{name} uses {', '.join(unknown)}, which the question does not define "
                    f"(a typo in a symbol name?); use only {', '.join(sorted(names))}")
    values = {str(key): sp.sympify(value) for key, value in point.items()}
    return obj.xreplace({s: values[str(s)] for s in symbols})


# -- preparing the two sides -------------------------------------------------


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


# -- running with a deadline -------------------------------------------------


def _run_with_deadline(work: Callable[..., None], args: tuple[Any, ...],
                       timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run ``work(*args, emit)`` in a forked child, killed after `timeout` s.

    Returns (last message the child emitted, how it ended: "final", "timeout"
    or "crashed").  Messages are small dicts of strings; a message with
    ``final=True`` ends the wait.
    """
    if not hasattr(os, "fork"):
        return _run_inline(work, args)
    from multiprocessing.connection import Connection

    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # e.g. a process limit: decide here, without a hard limit
        os.close(read_fd)
        os.close(write_fd)
        return _run_inline(work, args)
    if pid == 0:  # the child: never return into the caller's code
        try:
            global _IN_FORKED_CHILD
            _IN_FORKED_CHILD = True
            _die_with_parent()
            os.close(read_fd)
            _limit_child_resources()
            conn = Connection(write_fd, readable=False)
            work(*args, conn.send)
        except BaseException:
            pass
        finally:
            os._exit(0)
    os.close(write_fd)
    conn = Connection(read_fd, writable=False)
    last: dict[str, Any] | None = None
    ended = "timeout"
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not conn.poll(remaining):
                break
            try:
                message = conn.recv()
            except (EOFError, OSError):
                ended = "crashed"
                break
            last = message
            if message.get("final"):
                ended = "final"
                break
    finally:
        conn.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)  # SIGKILL: nothing the child runs can ignore it
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if ended == "crashed" and last is None and sys.platform == "darwin":
        # macOS system libraries may refuse to run in a forked child; fall
        # back to running here rather than failing every comparison.
        return _run_inline(work, args)
    return last, ended


def _run_inline(work: Callable[..., None], args: tuple[Any, ...]) -> tuple[dict[str, Any] | None, str]:
    messages: list[dict[str, Any]] = []
    try:
        work(*args, messages.append)
    except RecursionError:
        return (messages[-1] if messages else None), "crashed"
    return (messages[-1] if messages else None), (
        "final" if messages and messages[-1].get("final") else "crashed")


_IN_FORKED_CHILD = False  # True in the child of _run_with_deadline: it may use SIGALRM for itself


def _die_with_parent() -> None:
    """The child ends when its parent does (killed at a deadline, say), never running on alone."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        parent = os.getppid()
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(0)


def _limit_child_resources() -> None:
    """Give the child room for deep trees but cap its memory growth."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + 2 * 1024**3
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError, ImportError):
        pass  # no /proc (macOS) or not permitted: the deadline still applies


# -- the child's work ----------------------------------------------------------


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


# When the algebra cannot prove two expressions equal, agreement at the first `samples` points is not
# enough (an answer fitted through a few points agrees there): it takes this many times more fresh
# points, and no piecewise construct (Abs, Max, Piecewise ...) that the expected answer lacks, since two
# functions that agree on every point of a range may part where a piece changes, outside it.
_CONFIRMING_FACTOR = 4
_ALGEBRA_SHARE = 0.6  # of the comparison's time limit


class _OutOfTime(BaseException):
    """The algebra's share of the time is spent (a BaseException: sympy's own handlers let it through)."""


def _algebra_within(unit: _Unit, until: float) -> tuple[str, str]:
    """`_algebra_stage`, stopped at `until` (an alarm in the forked child; between units elsewhere)."""
    remaining = until - time.monotonic()
    if remaining <= 0:
        return "unknown", ""
    if not _IN_FORKED_CHILD or remaining == math.inf:  # the caller's process: its alarms are not ours to touch
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


def _short_expr(e: Any, limit: int = 80) -> str:
    text = str(e)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _evaluate(expr: Any, point: dict[Any, Any]) -> Any:
    """expr at point as an mpmath complex with 30 digits, or None if undefined."""
    import mpmath
    import sympy as sp

    try:
        # evalf with subs substitutes numerically (never computing, say, an
        # exact rational to the millionth power) and resolves Piecewise
        # conditions, Max, Heaviside and unevaluated integrals.
        v = expr.evalf(30, subs=point)
        if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            return None
        re, im = v.as_real_imag()
        re, im = sp.Float(re, 30), sp.Float(im, 30)
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


# -- turning the verdict into a message ---------------------------------------


def _raise_for_verdict(verdict: dict[str, Any] | None, ended: str, name: str, timeout: float,
                       answer: Any, extra: list[str]) -> None:
    import sympy as sp

    if verdict is not None and verdict["status"] == "equal":
        return  # final, or provisional (numeric agreement) when time ran out
    hidden = is_concealed()
    if verdict is None or verdict["status"] == "undecided":
        reason = {
            "timeout": (f"the algebra did not finish within {timeout:g} s" if verdict else
                        f"neither the algebra nor the checks at random points finished "
                        f"within {timeout:g} s"),
            "crashed": "the check ran out of memory or recursion depth",
            "final": "checking at random points was inconclusive and the algebra "
                     "found no proof either way",
        }[ended]
        if verdict is not None and verdict.get("reason") == "disagree":
            reason = "the algebra and the checks at random points disagree"
        if verdict is not None and verdict.get("reason") == "pieces":
            reason = (f"the algebra found no proof, and checks at random points cannot vouch for the "
                      f"pieces of your answer ({verdict['pieces']}), which may change form away from "
                      f"the points")
        where = f" ({verdict['where']})" if verdict and verdict.get("where") else ""
        raise _fail(f"could not decide whether {name}{where} is equivalent to the expected "
                    f"answer: {reason}. Try writing your answer in a simpler form.")
    kind = verdict.get("kind")
    where = f" ({verdict['where']})" if verdict.get("where") else ""
    what = "equation" if verdict.get("equation") else "answer"
    subject = f"{name}{where}"
    if kind == "point" and not verdict["point"]:  # no symbols: two numbers
        message = f"{subject} is not equal to the expected {what}: yours is {verdict['got']}"
        if not hidden:
            message += f", the expected value is {verdict['want']}"
    elif kind == "point":
        side = " (as lhs - rhs)" if verdict.get("equation") else ""
        message = (f"{subject} is not equivalent to the expected {what}: at "
                   f"{verdict['point']} yours{side} gives {verdict['got']}")
        if not hidden:
            message += f", the expected one {verdict['want']}"
            if verdict.get("hint"):
                message += f"; {verdict['hint']}"
    elif kind == "algebra":
        message = f"{subject} is not equivalent to the expected {what}"
        if verdict.get("difference") and not hidden:
            message += f": the difference simplifies to {verdict['difference']}"
        elif verdict.get("difference"):
            message += ": the difference simplifies to a nonzero constant"
        else:
            message += ": the algebra shows that they differ"
    elif kind == "set-extra":
        message = (f"{name} contains {verdict['element']}, which is not equivalent to "
                   f"any element of the expected set")
    elif kind == "set-missing":
        message = (f"{name} is missing {verdict['count']} element(s) of the expected set"
                   + ("" if hidden else f", for example {verdict['element']}"))
    elif kind == "structure":
        message = f"{subject} {verdict['reason']}"
    else:
        message = (f"{name} is not equivalent to the expected {_kind_of(answer)} "
                   f"(conditions, inequalities and sets other than finite sets are compared "
                   f"by their form)")
    floats = sorted(answer.atoms(sp.Float), key=str) if hasattr(answer, "atoms") else []
    if floats:
        message += (f". Your answer contains the decimal number {float(floats[0]):.10g}: "
                    f"symbolic answers "
                    f"should be exact (write 1/3 or Rational(1, 3), not 0.333)")
    if extra and not hidden:
        message += (f". Note that {name} uses {', '.join(extra)}, which the expected answer "
                    f"does not (a typo in a symbol name?)")
    raise _fail(message)

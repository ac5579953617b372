"""Numeric checks: numbers, arrays and tensors against an expected value, and student functions.

`assert_close` (within a tolerance, item by item for tuples and dicts), `assert_exact` (integers:
counts, shapes), `assert_shape`, `assert_dtype_kind`, and `assert_function_matches` (the student's
function against a reference on seeded inputs).  Default tolerances come from
`mdl_student.tolerances.TOLERANCES`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mdl_student.checks.answers import (
    _KIND_WORDS, _Ragged, _Unusable, _as_array, _expected_array, _is_torch, _student_array)
from mdl_student.i18n import _
from mdl_student.checks.messages import (
    CheckFailure, _a, _coarse, _cut, _fail, _fmt_number, _fmt_shape, is_concealed, _shape_message, _short,
    _value_hint)
from mdl_student.tolerances import TOLERANCES


# -- shapes and kinds of number --------------------------------------------------


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


# -- values --------------------------------------------------------------------


def assert_close(actual: Any, expected: Any, rtol: float | None = None,
                 atol: float | None = None, *, equal_nan: bool = False,
                 input_scale: float | None = None, name: str = "your answer") -> None:
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
       13432735556 is not accepted off by one.
    5. `input_scale` (the largest magnitude of the numbers the answer was
       computed from, e.g. ``np.abs(logits).max()``) multiplies the absolute
       tolerance by ``max(1, input_scale)``: float32 rounds each input by
       about 6e-8 of its size, so an entropy computed stably in float32 from
       logits of several hundred is off by about 1e-4 however small the
       entropy is, which no fixed atol of 1e-6 allows.  An integer answer where a
       float is expected is fine (rule 3 applies).  A float answer where an
       exact integer is asked is judged by `assert_exact`, not here.

    A value that is not a number (text, None, an object) fails with a message,
    never a TypeError.  The failure message gives the first differing index,
    both values, and the largest absolute and relative errors; inside
    `concealed()` it gives the index and a relative error rounded to one
    digit, never the expected (or the student's) values.
    """
    _compare(actual, expected, rtol, atol, equal_nan, name, _scale_of(input_scale))


def _scale_of(input_scale: Any) -> float:
    """The factor on atol for inputs of this magnitude: at least 1 (a tolerance is never tightened)."""
    if input_scale is None:
        return 1.0
    try:
        scale = float(input_scale)
    except (TypeError, ValueError):
        raise TypeError(f"input_scale should be a number, got {type(input_scale).__name__}") from None
    return scale if math.isfinite(scale) and scale > 1.0 else 1.0


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
             equal_nan: bool, name: str, scale: float = 1.0) -> None:
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
            _compare(actual[key], expected[key], rtol, atol, equal_nan, f"{name}[{key!r}]", scale)
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
            _compare(a, e, rtol, atol, equal_nan, f"{name}[{i}]", scale)
        return
    except _Unusable as exc:
        raise TypeError(f"the expected value {exc}") from None
    got = _student_array(actual, name)
    _compare_arrays(got, want, rtol, atol, equal_nan, name, scale)


def _compare_arrays(got: np.ndarray, want: np.ndarray, rtol: float | None,
                    atol: float | None, equal_nan: bool, name: str, scale: float = 1.0) -> None:
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
    atol = (TOLERANCES.atol if atol is None else atol) * scale
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
    where = _(" at index {index}").format(index=index) if a.ndim else ""
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
            raise _fail(_("{name} is NaN (not a number){where}").format(name=name, where=where))
        scope = _(" in {count} of {total} elements, first").format(count=count, total=total) if a.ndim else ""
        error = "" if not math.isfinite(sym_err) else _(" (relative error {error})").format(error=_coarse(sym_err))
        raise _fail(_("{name} differs from the expected value{scope}{where}{error}").format(
            name=name, scope=scope, where=where, error=error))
    if a.ndim == 0:
        message = _("{name} is {yours}, but the expected value is {expected}").format(
            name=name, yours=_fmt_number(av), expected=_fmt_number(ev))
    else:
        message = _("{name} differs from the expected value in {count} of {total} elements; "
                    "first at index {index}: yours {yours}, expected {expected}").format(
            name=name, count=count, total=total, index=index, yours=_fmt_number(av), expected=_fmt_number(ev))
    if a_nan and e_nan:
        message += _(" (NaN is accepted only where a test passes equal_nan=True)")
    elif a_nan:
        message += _(" (NaN: an invalid operation such as 0/0, log of a negative or inf - inf?)")
    elif exact:
        message += _(" (integers are compared exactly)")
    elif math.isfinite(max_abs):
        message += _(" (max abs error {abs_error}, max rel error {rel_error}; allowed: {rule})").format(
            abs_error=f"{max_abs:.3g}", rel_error=f"{max_rel:.3g}", rule=rule)
    hint = "" if exact else _value_hint(a_num, e_num)
    if hint:
        message += f"; {hint}"
    raise _fail(message)


# -- student functions -----------------------------------------------------------


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


def _largest_magnitude(value: Any, _depth: int = 0) -> float:
    """The largest finite magnitude among the numbers in `value` (arrays, tensors, numbers, containers); 0 if none."""
    if _depth > 20 or isinstance(value, (bool, np.bool_, str, bytes)) or callable(value) and not _is_torch(value):
        return 0.0
    if isinstance(value, Mapping):
        return max((_largest_magnitude(v, _depth + 1) for v in value.values()), default=0.0)
    if isinstance(value, (list, tuple)):
        return max((_largest_magnitude(v, _depth + 1) for v in value), default=0.0)
    try:
        arr = np.asarray(value.detach().cpu().double().numpy() if _is_torch(value) else value)
    except Exception:  # not numbers: nothing to scale by
        return 0.0
    if arr.dtype.kind not in "iufc" or arr.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        magnitudes = np.abs(arr.astype(complex if arr.dtype.kind == "c" else float))
    finite = magnitudes[np.isfinite(magnitudes)]
    return float(finite.max()) if finite.size else 0.0


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
                            atol: float | None = None, input_scale: float | str | None = "auto") -> None:
    """Call the student's function and the reference on `n` seeded inputs.

    ``make_inputs(rng)`` gets one ``np.random.default_rng(seed)`` shared by the
    trials (so each trial draws fresh inputs) and returns a tuple of
    positional arguments, a dict of keyword arguments, or a single argument.
    Each function receives its own deep copy of the inputs.  Results are
    compared with `assert_close` (tuples and dicts of results item by item).

    `input_scale` is passed on to `assert_close`.  By default (``"auto"``, and
    only where no `atol` is given) it is the largest magnitude among each
    trial's numeric inputs, so the absolute tolerance grows with the inputs as
    float32's rounding does: a stable float32 answer on inputs of several
    hundred passes, and a slip (a wrong formula, a missing term) still fails.
    Pass a number to fix it, or None for the plain tolerances.

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
        scale = _largest_magnitude((args, kwargs)) if input_scale == "auto" and atol is None else (
            None if input_scale == "auto" else input_scale)
        try:
            _compare(result, expected, rtol, atol, False, "your function's result", _scale_of(scale))
        except CheckFailure as exc:
            raise _fail(f"trial {trial} of {n} (inputs: {described}): {exc}") from None

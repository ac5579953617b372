"""Gradient checks: a student's gradient or Jacobian against central differences of the function.

`assert_gradient` (at one point) and `assert_gradient_at_random_points` (at seeded points kept
away from kinks), both against `_central_differences` (float64).  The finite differences are private
to the checks, not a student tool: a question may ask students to write them (A2), and nothing in
the student package may answer a question.  The step and the
tolerance default to `mdl_student.tolerances.TOLERANCES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mdl_student.checks.answers import _expected_array, _is_torch, _student_array
from mdl_student.checks.messages import (
    CheckFailure, _coarse, _cut, _fail, _fmt_number, is_concealed, _shape_message, _value_hint)
from mdl_student.tolerances import TOLERANCES


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


def _central_differences(f: Callable[..., Any], x: Any, h: float | None = None) -> np.ndarray:
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

    The layout is that of the finite differences: for a scalar `f`, ``grad_f(x)``
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
    numeric = _central_differences(f, x, h)
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

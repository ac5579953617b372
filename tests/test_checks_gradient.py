"""Finite-difference gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

from mdl_student.checks import (
    CheckFailure,
    assert_gradient,
    assert_gradient_at_random_points,
    concealed,
)
from mdl_student.checks.gradient import _central_differences  # private to the checks: the course's own tests use it

RNG = np.random.default_rng(0)
X = RNG.standard_normal(5)
A = RNG.standard_normal((5, 5))  # not symmetric
B = RNG.standard_normal((3, 5))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def softmax_jacobian(z):
    s = softmax(z)
    return np.diag(s) - np.outer(s, s)


def quadratic_form(v):
    return v @ A @ v


def tanh_layer(v):
    return A @ np.tanh(v)


def tanh_layer_jacobian(v):
    return A * (1 - np.tanh(v) ** 2)  # J[i, j] = A[i, j] * tanh'(v_j)


def relu_sum(v):
    return np.maximum(v, 0.0).sum()


def test_numerical_gradient_layouts():
    assert _central_differences(lambda v: (v**2).sum(), np.ones((2, 3))).shape == (2, 3)
    jacobian = _central_differences(lambda v: B @ v, X)
    assert jacobian.shape == (3, 5)  # (outputs, inputs)
    np.testing.assert_allclose(jacobian, B, rtol=1e-7, atol=1e-8)
    assert _central_differences(lambda s: s**3, 2.0) == pytest.approx(12.0, rel=1e-8)


@pytest.mark.parametrize(
    "f, grad_f, x",
    [
        (lambda v: np.sin(v).sum(), np.cos, X),
        (quadratic_form, lambda v: (A + A.T) @ v, X),
        (softmax, softmax_jacobian, X),
        (tanh_layer, tanh_layer_jacobian, X),
        (lambda v: B @ v, lambda v: B, X),
        (lambda s: s**3, lambda s: 3 * s**2, 1.5),
    ],
    ids=["sin", "xAx", "softmax-jacobian", "tanh-layer-jacobian", "linear-jacobian", "scalar"],
)
def test_correct_gradients_pass(f, grad_f, x):
    assert_gradient(f, grad_f, x)


def test_gradient_off_by_a_factor_two_fails_with_a_hint():
    with pytest.raises(CheckFailure) as info:
        assert_gradient(quadratic_form, lambda v: 2 * (A + A.T) @ v, X)
    message = str(info.value)
    assert "relative error 3.33e-01" in message  # |2g - g| / (2|g| + |g|) = 1/3
    assert "2 times" in message


def test_unsymmetrised_quadratic_form_gradient_fails():
    with pytest.raises(CheckFailure, match="does not match finite differences"):
        assert_gradient(quadratic_form, lambda v: 2 * A @ v, X)


def test_transposed_square_jacobian_fails_and_says_so():
    with pytest.raises(CheckFailure, match="transpose"):
        assert_gradient(tanh_layer, lambda v: tanh_layer_jacobian(v).T, X)


def test_transposed_rectangular_jacobian_fails_on_shape():
    with pytest.raises(CheckFailure, match=r"\(3, 5\) = \(outputs, inputs\)"):
        assert_gradient(lambda v: B @ v, lambda v: B.T, X)


def test_relative_error_is_over_the_whole_array():
    # One coordinate has true derivative 0: finite-difference noise there must
    # not be divided by itself.
    f = lambda v: v[0] ** 2 + 0.0 * v[1]  # noqa: E731
    assert_gradient(f, lambda v: np.array([2 * v[0], 0.0]), np.array([1.3, 0.7]))


def test_relu_passes_at_points_away_from_the_kink():
    assert_gradient_at_random_points(relu_sum, lambda v: (v > 0).astype(float), (4, 3), n=5)


def test_wrong_relu_gradient_fails_at_a_named_random_point():
    with pytest.raises(CheckFailure, match="random point 1 of 5"):
        assert_gradient_at_random_points(relu_sum, lambda v: (v < 0).astype(float), (4, 3))


def test_kink_margin_must_exceed_the_step():
    with pytest.raises(ValueError, match="kink_margin"):
        assert_gradient_at_random_points(relu_sum, lambda v: (v > 0).astype(float), 3,
                                         kink_margin=1e-7)


def test_points_avoid_every_listed_kink():
    seen = []

    def hinge(v):
        seen.append(v.copy())
        return np.maximum(0.0, 1.0 - v).sum()

    assert_gradient_at_random_points(hinge, lambda v: -(v < 1.0).astype(float), 20, n=3,
                                     kinks=(1.0,), kink_margin=0.05)
    # Every evaluation point, x +- h included, stays clear of the kink at 1.
    assert all(np.all(np.abs(v - 1.0) > 0.05 - 1e-5) for v in seen)


def test_concealed_gradient_message_shows_no_values():
    with concealed(), pytest.raises(CheckFailure) as info:
        assert_gradient(quadratic_form, lambda v: 2 * A @ v, X)
    message = str(info.value)
    numeric = _central_differences(quadratic_form, X)
    assert all(f"{v:.4f}"[:6] not in message for v in numeric)
    assert "index" in message


def test_gradient_that_raises_or_has_nan_fails_with_a_message():
    def broken(v):
        raise ZeroDivisionError("oops")

    with pytest.raises(CheckFailure, match="ZeroDivisionError"):
        assert_gradient(quadratic_form, broken, X)
    with pytest.raises(CheckFailure, match="NaN"):
        assert_gradient(quadratic_form, lambda v: np.full(5, np.nan), X)
    with pytest.raises(CheckFailure, match="shape"):
        assert_gradient(quadratic_form, lambda v: np.zeros(4), X)


def test_the_student_package_offers_no_finite_differences_that_answer_a_question():
    """A2 q6 asked students to write a finite-difference Jacobian, and one import from the package answered
    it (issue 21): the checks keep their central differences private."""
    import mdl_student
    import mdl_student.checks as checks

    assert "numerical_gradient" not in dir(checks) and "numerical_gradient" not in checks.__all__
    assert not [name for name in checks.__all__ if "gradient" in name and not name.startswith("assert_")]
    assert "numerical_gradient" not in (mdl_student.__doc__ or "") + (checks.__doc__ or "")

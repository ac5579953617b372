"""A2's sentences, checked a second way (issue 19): each test re-derives one statement the notebook makes.

The notebook's expected values are checked inside its hidden tests (sympy differentiates the definitions,
mpmath computes the saturated softmax with 80 digits); these are the facts stated in its prose.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp


def test_the_penalised_determinant_is_a_sum_of_squares_plus_12_lambda():
    """Q5's model answer: det H = 4 [(x1-x2)^2 + (x1-x3)^2 + (x2-x3)^2] + 12 lambda, so H > 0 for lambda > 0."""
    phi0, phi1, lam = sp.symbols("phi0 phi1 lambda")
    xs, ys = sp.symbols("x1:4"), sp.symbols("y1:4")
    loss = sum((phi0 + phi1 * x - y) ** 2 for x, y in zip(xs, ys)) + lam * phi1**2
    hessian = sp.hessian(loss, (phi0, phi1))
    squares = sum((xs[i] - xs[j]) ** 2 for i in range(3) for j in range(i + 1, 3))
    assert sp.expand(hessian.det() - (4 * squares + 12 * lam)) == 0
    # without the penalty, equal inputs x = c give a singular Hessian whose null direction is (-c, 1)
    c = sp.Symbol("c")
    singular = hessian.subs({lam: 0, xs[0]: c, xs[1]: c, xs[2]: c})
    assert singular.det() == 0 and sp.simplify(singular * sp.Matrix([-c, 1])) == sp.zeros(2, 1)


def test_a_symmetric_2x2_matrix_is_positive_definite_exactly_when_trace_and_determinant_are_positive():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b, d = rng.normal(size=3)
        matrix = np.array([[a, b], [b, d]])
        by_eigenvalues = bool(np.all(np.linalg.eigvalsh(matrix) > 0))
        assert by_eigenvalues == (np.trace(matrix) > 0 and np.linalg.det(matrix) > 0)


def test_the_torch_jacobian_has_one_row_per_output():
    """Section 4: PyTorch's torch.autograd.functional.jacobian uses the course's layout (rows = outputs)."""
    import torch

    omega = torch.tensor([[1.0, 2.0, -1.0], [0.0, 3.0, 4.0]], dtype=torch.float64)
    beta = torch.tensor([0.5, -1.0], dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda h: beta + omega @ h, torch.zeros(3, dtype=torch.float64))
    assert jacobian.shape == (2, 3) and torch.equal(jacobian, omega)


def test_float64_spacing_statements():
    """Section 2: just below 1 the floats are 2^-53 apart; section 4: near 1e8 they are about 1.5e-8 apart."""
    assert np.spacing(np.nextafter(1.0, 0.0)) == 2.0**-53
    assert 1.4e-8 < np.spacing(1e8) < 1.6e-8
    assert 1.0 - 1e-42 == 1.0 and 1e-42 != 0.0


def test_the_saturated_softmax_of_the_predict_cell():
    """Section 2's 'predict, then try': at z = (-3, 100, 5), s_2 is stored as 1.0 and 1 - s_2 is about 5.5e-42."""
    z = np.array([-3.0, 100.0, 5.0])
    s = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert s[1] == 1.0
    one_minus = mpmath.exp(-103) + mpmath.exp(-95)
    assert abs(float(one_minus) / 5.5e-42 - 1) < 0.01
    assert abs((s[0] + s[2]) / float(one_minus) - 1) < 1e-12  # the sum of the others keeps its digits


def test_finite_difference_quotients_of_a_cubic_are_exact_polynomials_in_the_step():
    """Q6's visible tests: for x^3, central = 3x^2 + h^2 and forward = 3x^2 + 3xh + h^2 exactly."""
    x, h = sp.symbols("x h")
    cube = lambda t: t**3
    assert sp.expand((cube(x + h) - cube(x - h)) / (2 * h) - (3 * x**2 + h**2)) == 0
    assert sp.expand((cube(x + h) - cube(x)) / h - (3 * x**2 + 3 * x * h + h**2)) == 0


def test_a_scaled_step_keeps_the_digits_a_fixed_step_loses_at_large_coordinates():
    """Section 4 and Q6's third hidden case: at |x| >= 1e5 a fixed step of 1e-5 misses 3x^2 by more than 1e-8."""
    for x in (1e5, 1e6, 1e7, 1e8):
        fixed, scaled = 1e-5, 1e-5 * (1 + x)
        fixed_error = abs(((x + fixed) ** 3 - (x - fixed) ** 3) / (2 * fixed) / (3 * x**2) - 1)
        scaled_error = abs(((x + scaled) ** 3 - (x - scaled) ** 3) / (2 * scaled) / (3 * x**2) - 1)
        assert fixed_error > 1e-7 and scaled_error < 1e-9

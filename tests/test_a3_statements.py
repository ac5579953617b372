"""A3's sentences, checked a second way (issue 19): each test re-derives one statement the notebook makes.

The notebook's expected values are checked inside its hidden tests (sympy differentiates and solves the
definitions, mpmath computes densities and log-sum-exps); these are the facts stated in its prose and in the
model answer of its manual question.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp


def test_float64_limits_behind_the_sigmoid_and_logsumexp_traps():
    """Sections 1 and 5: e^715 overflows (float64 ends near 1.8e308), sigma(-715) ~ 3.0e-311 is representable
    (floats go down to about 5e-324); exp overflows past 709.78 and underflows to 0 below about -745.1."""
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(715.0)) and np.isinf(np.exp(709.79)) and np.isfinite(np.exp(709.78))
    assert 1.79e308 < np.finfo(float).max < 1.799e308 and np.nextafter(0.0, 1.0) == 2.0**-1074  # about 4.9e-324
    assert float(1 / (1 + mpmath.exp(715))) == pytest.approx(3.0e-311, rel=0.02)
    assert np.exp(-745.1) > 0 and np.exp(-745.2) == 0


def test_q1_promises_sigmoid_accuracy_where_its_tests_look():
    """Q1 promises relative accuracy 1e-9 for |z| <= 715, and its visible tests use z = +-715: the bound covers
    them, and a stable float64 sigmoid (exp(z) / (1 + exp(z)) on the left) meets it there, while 1e-9 of the
    value is still above float64's subnormal spacing (past about z = -723 no float64 formula can)."""
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).parents[1] / "source" / "a3" / "a3.ipynb").read_text())["cells"]
    prompt = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "markdown" and "### Q1" in "".join(c["source"])
                  and "lang:es" not in c.get("metadata", {}).get("tags", []))
    bound = float(prompt.split("$|z| \\le ")[1].split("$")[0])
    assert bound >= 715.0
    for z in (-bound, -712.0, -700.0, -40.0):
        exact = 1 / (1 + mpmath.exp(-mpmath.mpf(z)))
        stable = np.exp(z) / (1 + np.exp(z))
        assert abs(stable - float(exact)) <= 1e-9 * float(exact)
    assert 1e-9 * float(1 / (1 + mpmath.exp(bound))) > 2.0**-1074


def test_naive_binary_cross_entropy_fails_as_the_notebook_says():
    """Section 5: for f = 40 the sigmoid rounds to 1 (log(1 - 1) = -inf); for f = 1000, 0 * log 0 is nan."""
    assert 1 / (1 + np.exp(-40.0)) == 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = 1 / (1 + np.exp(-1000.0))
        assert np.isnan((1 - 1.0) * np.log(1 - lam))


def test_q4_model_answer_numbers():
    """Q4: at f = -10, y = 1 the squared error's slope is about -9.1e-5 and the cross-entropy's about -1."""
    s = 1 / (1 + math.exp(10.0))
    assert s == pytest.approx(4.54e-5, rel=1e-3)
    f = sp.Symbol("f")
    sig = 1 / (1 + sp.exp(-f))
    squared = sp.diff((sig - 1) ** 2, f).subs(f, -10)
    cross_entropy = sp.diff(-sp.log(sig), f).subs(f, -10)
    assert float(squared) == pytest.approx(-9.08e-5, rel=1e-3)
    assert float(cross_entropy) == pytest.approx(-1.0, abs=1e-4)
    assert sp.simplify(sp.diff((sig - 1) ** 2, f) - 2 * (sig - 1) * sig * (1 - sig)) == 0


def test_the_best_constant_poisson_rate_is_the_mean_count():
    """Q5 and the text after it: exp(f_star) is the mean of the counts."""
    f = sp.Symbol("f", real=True)
    counts = sp.symbols("y1:4", positive=True, integer=True)
    total = sum(sp.exp(f) - c * f + sp.log(sp.factorial(c)) for c in counts)
    (solution,) = sp.solve(sp.diff(total, f), f)
    assert sp.simplify(sp.exp(solution) - sum(counts) / 3) == 0


def test_von_mises_facts():
    """Section 6: dI0/dkappa = I1, and near its minimum the NLL is -kappa + kappa d^2 / 2 + log(2 pi I0(kappa)):
    least squares with weight kappa / 2, where the normal distribution has 1 / (2 sigma^2)."""
    kappa = sp.Symbol("kappa", positive=True)
    d = sp.Symbol("d", real=True)
    assert sp.diff(sp.besseli(0, kappa), kappa) == sp.besseli(1, kappa)
    nll = -kappa * sp.cos(d) + sp.log(2 * sp.pi * sp.besseli(0, kappa))
    quadratic = sp.series(nll, d, 0, 3).removeO()
    assert sp.expand(quadratic - (-kappa + kappa * d**2 / 2 + sp.log(2 * sp.pi * sp.besseli(0, kappa)))) == 0
    # the density integrates to 1 with I0 as the normaliser
    assert float(mpmath.quad(lambda t: mpmath.exp(2.5 * mpmath.cos(t)), [-mpmath.pi, mpmath.pi])
                 / (2 * mpmath.pi * mpmath.besseli(0, 2.5))) == pytest.approx(1.0, rel=1e-12)

"""A6's statements, checked a second way (issue 19): the numbers its text quotes are what the
instructor's solution and an independent simulation give.

The solution's functions are taken from source/a6/a6.ipynb (the cells named below), so these tests
follow the notebook as it changes.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grading_config import PATHS

SOURCE = PATHS.source / "a6" / "a6.ipynb"


def run_cells(*cell_ids: str) -> dict[str, Any]:
    """Execute the named code cells of the A6 source notebook, in order, in one namespace."""
    cells = {c["id"]: "".join(c["source"]) for c in json.loads(SOURCE.read_text())["cells"] if c["cell_type"] == "code"}
    namespace: dict[str, Any] = {}
    for cell_id in cell_ids:
        exec(compile(cells[cell_id], f"a6:{cell_id}", "exec"), namespace)
    return namespace


def test_a_single_he_network_of_width_100_has_the_quoted_gain_percentiles_after_50_layers():
    # "median about 0.28, 5th and 95th percentiles about 0.02 and 3.9". Given h_(k-1), the layer factor
    # g_k / g_(k-1) is (2 / D) times a sum of D independent squared half-normals, independent of the past, so the
    # gain after 50 layers is a product of 50 independent draws of that factor (no matrices needed).
    rng = np.random.default_rng(2024)
    width, layers, networks = 100, 50, 200_000
    pool = np.concatenate([np.log(2.0 / width * (np.maximum(rng.standard_normal((50_000, width)), 0.0) ** 2).sum(axis=1))
                           for _ in range(8)])
    log_gain = pool[rng.integers(0, pool.size, size=(networks, layers))].sum(axis=1)
    p5, median, p95 = np.exp(np.percentile(log_gain, [5, 50, 95]))
    assert 0.26 < median < 0.30 and 0.018 < p5 < 0.021 and 3.7 < p95 < 4.1, (p5, median, p95)
    assert np.exp(log_gain).mean() == pytest.approx(1.0, abs=0.1)  # only the average is near 1


def test_the_base_rate_logistic_regression_and_the_trained_network_give_the_quoted_losses_on_the_disc_data():
    ns = run_cells("setup_imports", "setup_disc_data", "logistic_gradient_answer", "logistic_hessian_answer",
                   "logistic_loss_answer", "train_mlp_answer")
    X, y = ns["X_disc"], ns["y_disc"]
    assert int(y.sum()) == 28 and X.shape[1] == 128  # "28 of the 128 points are inside the disc"
    rate = y.mean()
    base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert round(base, 3) == 0.525  # "predicting the base rate everywhere gives 0.525"
    phi = np.zeros(3)
    for _ in range(30):  # Newton's method, as the notebook's plot does
        phi -= np.linalg.solve(ns["logistic_hessian"](phi, X, y), ns["logistic_gradient"](phi, X, y))
    assert round(ns["logistic_loss"](phi, X, y) / 128, 3) == 0.522  # "logistic regression reaches 0.522 here"
    loss = ns["mean_cross_entropy"](ns["train_mlp"](X, y), X, y)
    assert 0.02 <= loss <= 0.05  # "a correct network reaches about 0.02 to 0.05"


def test_the_counts_of_udl_problem_4_11_and_the_growth_at_variance_2_2_over_d():
    ns = run_cells("setup_imports", "setup_depth_symbols", "depth_counts_answer", "setup_gain_symbols", "expected_gain_answer")
    D, K = ns["D"], ns["K"]
    assert ns["params_shallow"].subs(D, 95) == 286 and ns["params_deep"].subs({D: 5, K: 10}) == 286
    assert ns["regions_shallow"].subs(D, 95) == 96 and ns["regions_deep"].subs({D: 5, K: 10}) == 60_466_176
    gain = ns["expected_gain"]
    sigma = ns["sigma_Omega"]
    assert gain.subs({D: 100, K: 50, sigma: sp.sqrt(sp.Rational(2, 100))}) == 1
    assert gain.subs({D: 100, K: 50, sigma: sp.sqrt(sp.Rational(1, 100))}) == sp.Rational(1, 2 ** 50)
    assert round(float(gain.subs({D: 100, K: 50, sigma: sp.sqrt(sp.Rational(22, 1000))}))) == 117  # "about 117"

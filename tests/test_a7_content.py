"""A7's statements, checked a second way (issue 19): what the notebook's text says about its own numbers,
its derivation and the capstone's model is true of the instructor's solution.

The solution's functions are taken from source/a7/a7.ipynb (the cells named below), so these tests
follow the notebook as it changes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grading_config import PATHS

SOURCE = PATHS.source / "a7" / "a7.ipynb"


def run_cells(*cell_ids: str) -> dict[str, Any]:
    """Execute the named code cells of the A7 source notebook, in order, in one namespace."""
    cells = {c["id"]: "".join(c["source"]) for c in json.loads(SOURCE.read_text())["cells"] if c["cell_type"] == "code"}
    namespace: dict[str, Any] = {}
    for cell_id in cell_ids:
        exec(compile(cells[cell_id], f"a7:{cell_id}", "exec"), namespace)
    return namespace


def test_the_unscaled_attention_matrix_of_udl_12_1_is_nearly_one_hot_and_scaling_softens_the_flattest_column_most():
    ns = run_cells("setup_imports", "setup_udl_12_1", "attention_udl_answer", "attention_udl_scaled_answer")
    top, top_scaled = np.max(ns["attention_udl"], axis=0), np.max(ns["attention_udl_scaled"], axis=0)
    assert np.all(top > 0.98), top  # "every column is nearly one-hot"
    drop = top - top_scaled
    assert np.all(drop > 0)  # "dividing the scores by sqrt(Dq) = 2 makes every column softer"
    # "the drop is largest where the gap was smallest": the column with the smallest top weight drops the most
    assert np.argmax(drop) == np.argmin(top) and np.argmin(drop) == np.argmax(top)


def test_the_dot_product_variance_matches_a_simulation_and_is_d_q_only_for_zero_mean_unit_entries():
    ns = run_cells("setup_imports", "setup_variance_symbols", "dot_product_variance_answer")
    variance = ns["dot_product_variance"]
    symbols = {s.name: s for s in variance.free_symbols}
    rng = np.random.default_rng(0)
    for D, mk, mq, sk, sq in [(8, 0.0, 0.0, 1.0, 1.0), (5, 1.0, -2.0, 0.5, 1.5), (3, 0.7, 0.0, 2.0, 0.3)]:
        k = mk + sk * rng.normal(size=(400_000, D))
        q = mq + sq * rng.normal(size=(400_000, D))
        simulated = np.var(np.sum(k * q, axis=1))
        exact = float(variance.subs({symbols["D_q"]: D, symbols["mu_k"]: mk, symbols["mu_q"]: mq,
                                     symbols["sigma_k"]: sk, symbols["sigma_q"]: sq}))
        assert simulated == pytest.approx(exact, rel=0.02)
    at_standard = variance.subs({symbols["mu_k"]: 0, symbols["mu_q"]: 0, symbols["sigma_k"]: 1, symbols["sigma_q"]: 1})
    assert sp.simplify(at_standard - symbols["D_q"]) == 0


def test_a_one_hot_softmax_has_a_zero_jacobian():
    # "when a is one-hot, one of the two factors is 0 for every entry" of J = diag(a) - a a^T
    a = np.array([0.0, 1.0, 0.0, 0.0])
    assert np.all(np.diag(a) - np.outer(a, a) == 0)


def test_the_float32_logsumexp_form_of_the_entropy_loses_the_second_digit_where_the_log_softmax_form_does_not():
    rng = np.random.default_rng(4)
    logits = rng.uniform(-800, 800, size=(50, 1)) + rng.uniform(0.5, 4.0, size=(50, 1)) * rng.normal(size=(50, 9))
    exact = np.array([-(np.exp(z - z.max()) / np.exp(z - z.max()).sum() * np.log(np.exp(z - z.max()) / np.exp(z - z.max()).sum()))
                      .sum() for z in logits])
    z32 = logits.astype(np.float32)
    log_p = z32 - z32.max(axis=-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=-1, keepdims=True))
    by_log_softmax = -np.sum(np.exp(log_p) * log_p, axis=-1)
    lse = z32.max(axis=-1, keepdims=True) + np.log(np.exp(z32 - z32.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True))
    by_logsumexp = lse[:, 0] - (np.exp(z32 - lse) * z32).sum(axis=-1)
    tolerance = 1e-6 + 5e-7 * np.abs(logits).max()  # the hidden tests' tolerance at these logits
    assert np.abs(by_log_softmax - exact).max() < tolerance / 10
    assert np.abs(by_logsumexp - exact).max() > 1e-2


@pytest.mark.slow
def test_layer_0_of_the_capstones_model_is_the_notebooks_causal_self_attention_head_by_head():
    pytest.importorskip("transformers")
    ns = run_cells("setup_imports", "causal_attention_answer", "demo_capstone_model")
    assert ns["gap"] < 1e-6  # float32 weights, float64 arithmetic in the notebook's function
    # changing the last token leaves every earlier position's logits exactly as they were
    assert (ns["logits_changed"][:-1] - ns["logits"][:-1]).abs().max().item() == 0.0
    assert (ns["logits_changed"][-1] - ns["logits"][-1]).abs().max().item() > 1e-3


@pytest.mark.slow
def test_the_kl_points_of_the_visible_test_are_where_sympys_own_integrals_are_defined():
    ns = run_cells("setup_imports", "setup_kl_symbols")
    mu_1, mu_2, sigma_1, sigma_2, x = (ns[name] for name in ["mu_1", "mu_2", "sigma_1", "sigma_2", "x"])
    log_p = -sp.log(sigma_1 * sp.sqrt(2 * sp.pi)) - (x - mu_1) ** 2 / (2 * sigma_1 ** 2)
    log_q = -sp.log(sigma_2 * sp.sqrt(2 * sp.pi)) - (x - mu_2) ** 2 / (2 * sigma_2 ** 2)
    density_p = sp.exp(-(x - mu_1) ** 2 / (2 * sigma_1 ** 2)) / sp.sqrt(2 * sp.pi * sigma_1 ** 2)
    density_q = sp.exp(-(x - mu_2) ** 2 / (2 * sigma_2 ** 2)) / sp.sqrt(2 * sp.pi * sigma_2 ** 2)
    # two ways a student lets sympy integrate: the log-densities expanded (a short result), and the densities
    # themselves (a long result with erf that is 0/0 where mu_1 = 0, mu_2 = 0 or mu_1 = mu_2)
    expanded = sp.integrate(sp.expand(log_p - log_q) * sp.exp(log_p), (x, -sp.oo, sp.oo))
    raw = sp.integrate(density_p * (sp.log(density_p) - sp.log(density_q)), (x, -sp.oo, sp.oo))
    for values in [(sp.Rational(1, 2), 2, -1, 3), (1, 2, 3, sp.Rational(1, 2)), (-1, sp.Rational(1, 2), 2, 1)]:
        point = dict(zip([mu_1, sigma_1, mu_2, sigma_2], values))
        closed = math.log(float(values[3] / values[1])) + (values[1] ** 2 + (values[0] - values[2]) ** 2) / (2 * values[3] ** 2) - 0.5
        for integral in [expanded, raw]:
            assert float(sp.N(integral.subs(point), 30)) == pytest.approx(float(closed), rel=1e-12)
    assert sp.N(raw.subs({mu_1: 1, sigma_1: 1, mu_2: 0, sigma_2: 1})) is sp.nan  # why the points avoid mu_2 = 0

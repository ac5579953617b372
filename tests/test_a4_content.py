"""A4's tests, checked against the forms the fairness standard says must pass (issue 21): the test cells of
source/a4/a4.ipynb run here on answers written in those forms.

`mdl validate a4` checks the same with its generated students; these tests keep it in the quick suite.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grading_config import PATHS

SOURCE = PATHS.source / "a4" / "a4.ipynb"


def cell_source(cell_id: str) -> str:
    """The source of one code cell of the A4 source notebook, by its nbgrader grade_id."""
    cells = json.loads(SOURCE.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell_id)


def run_test_cell(cell_id: str, answers: dict[str, Any]) -> None:
    """Run a whole test cell (visible part and every hidden case, one after the other) against `answers`."""
    exec(compile(cell_source(cell_id), f"a4:{cell_id}", "exec"), dict(answers))


def float32_line_search(f, a, d, tol=1e-6):
    """Golden sections with every number in float32: a correct answer that the prompt does not forbid."""
    a, d, tol = np.float32(a), np.float32(d), np.float32(tol)
    golden = np.float32((math.sqrt(5.0) - 1.0) / 2.0)
    b, c = d - golden * (d - a), a + golden * (d - a)
    f_b, f_c = f(b), f(c)
    while d - a > tol:
        if f_b < f_c:
            d, c, f_c = c, b, f_b
            b = d - golden * (d - a)
            f_b = f(b)
        else:
            a, b, f_b = b, c, f_c
            c = a + golden * (d - a)
            f_c = f(c)
    return (a + d) / np.float32(2)


def test_a_line_search_in_float32_finds_every_minimiser_that_q3s_tests_ask_for():
    # the tests' functions compute in float64 whatever float they receive: a float32 f(x) on a flat minimum would
    # move the minimiser by sqrt(6e-8) ~ 2.5e-4, more than the 1e-5 asked, whatever the search did
    run_test_cell("q3_line_search", {"line_search": float32_line_search})


def test_q3s_tests_still_refuse_a_search_with_a_fixed_number_of_steps():
    def ten_steps(f, a, d, tol=1e-6):
        for _ in range(10):
            b, c = a + (d - a) / 3, d - (d - a) / 3
            a, d = (a, c) if f(b) < f(c) else (b, d)
        return (a + d) / 2

    with pytest.raises(AssertionError, match="loop until the bracket is shorter than tol"):
        run_test_cell("q3_line_search", {"line_search": ten_steps})


def test_q1s_visible_test_reads_every_container_and_redeclared_symbols_and_names_the_slips():
    phi0, phi1, x1, x2, x3, y1, y2, y3 = sp.symbols("phi0 phi1 x1 x2 x3 y1 y2 y3", real=True)
    residuals = [phi0 + phi1 * xi - yi for xi, yi in [(x1, y1), (x2, y2), (x3, y3)]]
    d0, d1 = sum(2 * r for r in residuals), sum(2 * r * xi for r, xi in zip(residuals, [x1, x2, x3]))
    for form in [sp.Matrix([d0, d1]), sp.Matrix([[d0, d1]]), [d0, d1], (sp.expand(d0), sp.factor(d1))]:
        run_test_cell("q1_gradient_derivation", {"grad_L": form})
    for wrong, message in [(sp.Matrix([d0 / 2, d1 / 2]), "factor 2"), (sp.Matrix([-d0, -d1]), "wrong sign"),
                           (sp.Matrix([d0, d0]), "carries a factor x_i")]:
        with pytest.raises(AssertionError, match=message):
            run_test_cell("q1_gradient_derivation", {"grad_L": wrong})


@pytest.mark.timeout(120)  # before the fix, the tests' search looped for ever on a float32 bracket
def test_q4s_tests_search_in_float64_when_max_step_and_phi0_come_in_float32():
    # the tests pass their own golden search; a student who hands it a float32 max_step (here: phi0 and max_step
    # rounded to float32, the path computed in float64 and returned in float32) must not make it bracket in float32
    def gd_line_search(loss, grad, phi0, n_steps, max_step, search):
        phi = np.array(np.asarray(phi0, dtype=np.float32), dtype=float)
        path = [phi.copy()]
        for _ in range(n_steps):
            g = np.asarray(grad(phi), dtype=float)
            step = search(lambda s: loss(phi - s * g), 0.0, np.float32(max_step))
            phi = phi - step * g
            path.append(phi.copy())
        return np.array(path, dtype=np.float32)

    run_test_cell("q4_gd_line_search", {"gd_line_search": gd_line_search})

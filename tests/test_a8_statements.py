"""A8's statements about the DPO loss, checked a second way (issue 19).

The notebook says, after Q8, that DPO's Taylor polynomial at initialisation is smallest at h = 2/beta,
that the capstone's IPO loss is smallest at h = 1/(2 beta) (four times closer to 0), and that the DPO
loss itself has no minimum.  Here: the Taylor polynomial by sympy's own series, the IPO minimiser from
the capstone's reference `ipo_loss` (rlhf_capstone/losses.py) by gradient descent in torch, and the
sentences of the source notebook that state them.
"""

from __future__ import annotations

import json

import pytest
import sympy as sp

from grading_config import PATHS


def _source_text() -> str:
    notebook = json.loads((PATHS.source / "a8" / "a8.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")


def test_the_taylor_polynomial_of_the_dpo_loss_is_smallest_at_two_over_beta():
    h, beta = sp.symbols("h beta", positive=True)
    taylor = sp.series(-sp.log(1 / (1 + sp.exp(-beta * h))), h, 0, 3).removeO()
    assert sp.simplify(taylor - (sp.log(2) - beta * h / 2 + beta**2 * h**2 / 8)) == 0
    assert sp.solve(sp.diff(taylor, h), h) == [2 / beta]
    # the loss itself keeps falling: its slope -beta sigma(-beta h) is negative for every h
    slope = sp.diff(-sp.log(1 / (1 + sp.exp(-beta * h))), h)
    assert sp.simplify(slope + beta / (1 + sp.exp(beta * h))) == 0


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_the_capstones_ipo_loss_is_smallest_at_one_over_two_beta(beta):
    torch = pytest.importorskip("torch")
    from rlhf_capstone.losses import ipo_loss

    h = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # the policy's chosen log-prob; the others 0
    optimiser = torch.optim.SGD([h], lr=0.25)
    for _ in range(200):  # a parabola with curvature 2: plain gradient descent converges geometrically
        optimiser.zero_grad()
        loss, _, _ = ipo_loss(h, torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                              torch.zeros(1, dtype=torch.float64), beta)
        loss.backward()
        optimiser.step()
    argmin = float(h.detach())
    assert argmin == pytest.approx(1 / (2 * beta), rel=1e-9)
    assert (2 / beta) / argmin == pytest.approx(4.0, rel=1e-9)


def test_the_notebook_states_both_minimisers_and_their_ratio():
    text = _source_text()
    assert r"h = 2/\beta" in text and r"h = 1/(2\beta)" in text
    assert "four times closer" in text
    # the sentence issue 19 found wrong is gone
    assert "that Q6's Taylor polynomial hinted at" not in text and "IPO keeps that shape" not in text

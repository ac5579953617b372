"""The beta sweep and its reward-versus-KL frontier.

In the DPO paper's controlled-sentiment experiment (Rafailov et al. 2023,
figure 2, left) each trained policy is a point: x = its KL to the reference,
y = its expected reward.  A smaller beta lets the policy move further from the
reference; a good method reaches more reward for the same KL.  Here each
(beta, seed) is a point, from metrics that ``evaluate.py`` measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def plot_frontier(rows: Iterable[Mapping], path: str | Path, reward: str = "sampled_reward") -> Path:
    """Scatter reward against KL, one panel per task, one colour per beta; SFT points in grey.

    ``rows`` are evaluation records (``task``, ``beta``, ``seed``, ``metrics``);
    a record whose ``stage`` is ``"sft"`` is the reference itself (KL 0).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: CI and the grader draw to files
    import matplotlib.pyplot as plt

    rows = list(rows)
    tasks = sorted({r["task"] for r in rows})
    betas = sorted({r["beta"] for r in rows if r.get("stage") != "sft"})
    colours = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for r in rows:
            if r["task"] == task and r.get("stage") == "sft":
                ax.scatter(r["metrics"]["kl"], r["metrics"][reward], color="grey", marker="x")
        for i, beta in enumerate(betas):
            points = [r for r in rows if r["task"] == task and r.get("stage") != "sft" and r["beta"] == beta]
            ax.scatter(
                [p["metrics"]["kl"] for p in points],
                [p["metrics"][reward] for p in points],
                color=colours(i / max(1, len(betas) - 1)),
                label=f"beta = {beta:g}",
            )
        ax.set_title(f"{task}: reward vs KL (x = SFT reference)")
        ax.set_xlabel("KL(policy || reference) per completion (nats)")
        ax.set_ylabel(reward.replace("_", " "))
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""Plots: feature-score bar charts and score histories (matplotlib, no display needed)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .stats import ranking_order


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_scores(
    scores: np.ndarray,
    names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    k: int | None = 20,
    title: str | None = None,
    highlight: Sequence[str] = (),
) -> None:
    """Horizontal bar chart of the top-``k`` features (best at the top)."""
    plt = _pyplot()
    scores = np.asarray(scores, dtype=np.float64)
    order = ranking_order(scores)[: (k or len(scores))]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.4))
    colors = ["#d95f02" if names[i] in highlight else "#1b9e77" for i in order]
    ax.barh(range(len(order)), scores[order], color=colors)
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("score")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_series(
    series: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    *,
    xlabel: str = "sample",
    ylabel: str = "",
    title: str | None = None,
) -> None:
    """Line plot of named series sharing an x axis (e.g. predicted vs true depth)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for label, values in series.items():
        ax.plot(np.asarray(values), label=label, linewidth=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

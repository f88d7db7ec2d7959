"""Plots of attributions (matplotlib, imported only when a plot is made; no display needed).

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` when ``path`` is
None (a notebook shows it), and writes the file (PNG, SVG or PDF by extension) and
returns None when ``path`` is given.

* :func:`ranking_bar`: the global ranking, each feature's score beside the spread of
  its per-step trace (``Attribution.plot`` draws it);
* :func:`window_heatmap`: one window's per-step trace, time x feature;
* :func:`window_beeswarm`: per-window attributions across many windows, one row of
  dots per feature coloured by the feature's value (as SHAP's beeswarm);
* :func:`ranking_over_time`: how a stream's ranking moved (rank of each top feature
  at each snapshot of the running scores);
* :func:`plot_scores`, :func:`plot_series`: a bare score bar chart, and named series
  over a shared x axis.

Typical use::

    res = actif.Explainer(model).attribute(X)
    res.plot("ranking.png")
    ex = actif.Explainer(model)
    window_heatmap(ex.trace_of(X[:1])[0], model.feature_names, "window.png", trace=ex.trace)
    window_beeswarm(ex.trace_of(X).mean(axis=1), model.feature_names, "windows.png",
                    feature_values=X.mean(axis=1))
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from .stats import ranking_order

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


class Attribution(Protocol):
    """What the plots read of an :class:`actif.result.Attribution` (named here, not
    imported: results import the plots, never the other way round)."""

    scores: Any
    feature_names: list[str]
    stats: Any
    trace: str
    aggregation: str

_BAR = "#1b9e77"
_HIGHLIGHT = "#d95f02"
_SPREAD = "#7570b3"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'actif[lab]'") from None
    # A bare Figure (not pyplot's): nothing global is touched or kept alive.
    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, path: str | os.PathLike[str] | None) -> Figure | None:
    if path is None:
        return fig
    fig.savefig(path, dpi=130)
    return None


def _trace_words(trace: str) -> str:
    from .labels import trace_label

    return trace_label(trace)


def _value_words(trace: str) -> str:
    from .labels import step_value_label

    return step_value_label(trace)


# --------------------------------------------------------------------------- ranking


def ranking_bar(
    result: Attribution,
    path: str | os.PathLike[str] | None = None,
    *,
    k: int | None = 20,
    title: str | None = None,
    highlight: Sequence[str] = (),
) -> Figure | None:
    """The top-``k`` features of an :class:`~actif.result.Attribution`, best at the top.

    Left: the score (what it is depends on the aggregation; the axis says). Right: the
    spread behind it, the per-step |trace| of each feature as mean ± std over every
    step the statistics saw (the whisker stops at 0: the trace is never negative).
    Features named in ``highlight`` are drawn in another colour."""
    from .labels import SCORE_AXIS_LABELS

    scores = np.asarray(result.scores, np.float64)
    names = result.feature_names
    order = ranking_order(scores)[: (k or len(scores))]
    mean = np.asarray(result.stats.mean, np.float64)[order]
    std = np.asarray(result.stats.std, np.float64)[order]
    fig = _figure(9.0, 0.26 * len(order) + 1.6)
    ax_score, ax_spread = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.1, 1.0]})
    y = np.arange(len(order))
    colors = [_HIGHLIGHT if names[i] in highlight else _BAR for i in order]
    ax_score.barh(y, scores[order], color=colors, height=0.7)
    ax_score.set_yticks(y, [names[i] for i in order], fontsize=8)
    ax_score.invert_yaxis()
    ax_score.set_xlabel(SCORE_AXIS_LABELS.get(result.aggregation, f"{result.aggregation} score"), fontsize=8)
    ax_score.grid(axis="x", alpha=0.3)
    ax_spread.errorbar(mean, y, xerr=[np.minimum(std, mean), std], fmt="o", color=_SPREAD, ms=3.5,
                       elinewidth=1.0, capsize=2)
    ax_spread.set_xlabel(f"per-step {_value_words(result.trace)}: mean ± std", fontsize=8)
    ax_spread.set_xlim(left=0)
    ax_spread.grid(axis="x", alpha=0.3)
    ax_spread.tick_params(labelleft=False)
    shown = f"top {len(order)} of {len(scores)} features" if len(order) < len(scores) else f"{len(scores)} features"
    fig.suptitle(title or f"Feature ranking ({shown}): {result.method}", fontsize=10)
    return _finish(fig, path)


def plot_scores(
    scores: np.ndarray,
    names: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    *,
    k: int | None = 20,
    title: str | None = None,
    highlight: Sequence[str] = (),
    xlabel: str = "score",
) -> Figure | None:
    """Horizontal bar chart of the top-``k`` of any per-feature scores (best at the top)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = ranking_order(scores)[: (k or len(scores))]
    fig = _figure(7.0, 0.26 * len(order) + 1.4)
    ax = fig.subplots()
    colors = [_HIGHLIGHT if names[i] in highlight else _BAR for i in order]
    ax.barh(range(len(order)), scores[order], color=colors, height=0.7)
    ax.set_yticks(range(len(order)), [names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _finish(fig, path)


# --------------------------------------------------------------------------- windows


def window_heatmap(
    values: np.ndarray,
    feature_names: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    *,
    trace: str = "weighted",
    k: int | None = 20,
    order: Sequence[int] | None = None,
    title: str | None = None,
    step_ms: float | None = None,
) -> Figure | None:
    """One window's per-step trace as a time x feature heatmap.

    ``values`` (T, I), e.g. ``Explainer(m).trace_of(X[:1])[0]``. Rows are the ``k``
    features with the largest total over the window (or ``order``, a list of feature
    indices, e.g. the global ranking), the top row first; columns are time steps, the
    newest on the right (``step_ms`` labels them in ms before the window's end)."""
    v = np.asarray(values, np.float64)
    if v.ndim != 2 or v.shape[1] != len(feature_names):
        raise ValueError(f"values must be (T, {len(feature_names)}), got {v.shape}")
    rows = np.asarray(order if order is not None else ranking_order(v.sum(axis=0)))[: (k or v.shape[1])]
    T = v.shape[0]
    fig = _figure(max(5.0, 0.32 * T + 3.6), 0.24 * len(rows) + 1.6)
    ax = fig.subplots()
    im = ax.imshow(v[:, rows].T, aspect="auto", cmap="magma", interpolation="nearest", vmin=0.0)
    ax.set_yticks(range(len(rows)), [feature_names[i] for i in rows], fontsize=8)
    if step_ms:
        ticks = np.arange(T)
        ax.set_xticks(ticks, [f"{(t - T + 1) * step_ms:.0f}" for t in ticks], fontsize=7)
        ax.set_xlabel("time before the window's last sample (ms)", fontsize=8)
    else:
        ax.set_xticks(np.arange(T), [str(t) for t in range(T)], fontsize=7)
        ax.set_xlabel("time step in the window (0 = oldest)", fontsize=8)
    bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
    bar.set_label(f"{_value_words(trace)} at that step", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(title or f"One window, step by step: {_trace_words(trace)}", fontsize=10)
    return _finish(fig, path)


def _swarm_offsets(x: np.ndarray, width: float, bins: int = 80) -> np.ndarray:
    """Vertical offsets in [-width, width] that spread points sharing an x bin, so a row
    of dots shows the density (the busiest bin uses the full width). Points take their
    slots in a fixed random order: ordered by x, the slots would draw chevrons."""
    if x.size == 0:
        return np.zeros(0)
    lo, hi = float(x.min()), float(x.max())
    idx = np.zeros(x.size, int) if hi <= lo else np.minimum(((x - lo) / (hi - lo) * bins).astype(int), bins - 1)
    offsets = np.zeros(x.size)
    counts = np.bincount(idx, minlength=bins)
    scale = width / max(1.0, (counts.max() - 1) / 2.0)
    seen = np.zeros(bins, int)
    for p in np.random.default_rng(0).permutation(x.size):
        b = idx[p]
        n = seen[b]
        seen[b] += 1
        offsets[p] = (n + 1) // 2 * (1 if n % 2 else -1) * scale  # 0, +1, -1, +2, -2 ...
    return offsets


def window_beeswarm(
    per_window: np.ndarray,
    feature_names: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    *,
    feature_values: np.ndarray | None = None,
    k: int | None = 15,
    order: Sequence[int] | None = None,
    xlabel: str = "per-window attribution",
    title: str | None = None,
    method: str | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> Figure | None:
    """Per-window attributions (N, I) across windows, one row of dots per feature (the
    ``k`` with the largest mean, or ``order``), each dot one window, as SHAP's beeswarm.

    ``feature_values`` (N, I), e.g. each window's mean input, colours each dot by where
    the feature's value lies among all windows (its percentile: blue low, red high).
    Say what the numbers are with ``xlabel``, and how they were computed with ``method``
    (e.g. ``Attribution.method``; it goes into the title). At most ``max_points`` windows are drawn
    (a fixed random subset, ``seed``)."""
    a = np.asarray(per_window, np.float64)
    if a.ndim != 2 or a.shape[1] != len(feature_names):
        raise ValueError(f"per_window must be (N, {len(feature_names)}), got {a.shape}")
    fv = None if feature_values is None else np.asarray(feature_values, np.float64)
    if fv is not None and fv.shape != a.shape:
        raise ValueError(f"feature_values must have the shape of per_window {a.shape}, got {fv.shape}")
    if a.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(a.shape[0], max_points, replace=False))
        a = a[keep]
        fv = None if fv is None else fv[keep]
    rows = np.asarray(order if order is not None else ranking_order(a.mean(axis=0) if len(a) else np.zeros(a.shape[1])))
    rows = rows[: (k or a.shape[1])]
    fig = _figure(8.0, 0.34 * len(rows) + 1.6)
    ax = fig.subplots()
    scatter = None
    for r, j in enumerate(rows):
        x = a[:, j]
        y = r + _swarm_offsets(x, 0.38)
        if fv is None:
            ax.scatter(x, y, s=5, color=_SPREAD, alpha=0.6, linewidths=0)
        else:
            col = fv[:, j]
            pct = np.argsort(np.argsort(col, kind="stable"), kind="stable") / max(1, len(col) - 1)
            scatter = ax.scatter(x, y, s=5, c=pct, cmap="coolwarm", vmin=0, vmax=1, alpha=0.8, linewidths=0)
    ax.set_yticks(range(len(rows)), [feature_names[j] for j in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if a.size and a.min() < 0:  # signed attributions: mark zero
        ax.axvline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, shrink=0.8, pad=0.02, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"], fontsize=8)
        bar.set_label("feature value (percentile over windows)", fontsize=8)
    ax.set_title(title or f"Per-window attributions, {len(a)} windows" + (f": {method}" if method else ""), fontsize=10)
    return _finish(fig, path)


# --------------------------------------------------------------------------- streams


def ranking_over_time(
    history: np.ndarray,
    feature_names: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    *,
    x: np.ndarray | None = None,
    xlabel: str = "windows streamed",
    k: int = 8,
    title: str | None = None,
    method: str | None = None,
) -> Figure | None:
    """How a stream's ranking moved: ``history`` (S, I) holds the running scores at S
    snapshots (e.g. ``st.scores()`` every 50 updates), ``x`` (S,) where each was taken.
    One line per feature in the final top ``k``: its rank (1 = most important) at each
    snapshot; ranks below ``2k`` run off the bottom. ``method`` (e.g.
    ``Attribution.method``) goes into the title."""
    h = np.asarray(history, np.float64)
    if h.ndim != 2 or h.shape[1] != len(feature_names) or h.shape[0] == 0:
        raise ValueError(f"history must be (S >= 1, {len(feature_names)}), got {h.shape}")
    xs = np.arange(1, h.shape[0] + 1) if x is None else np.asarray(x, np.float64)
    if xs.shape != (h.shape[0],):
        raise ValueError(f"x must have one value per snapshot ({h.shape[0]}), got shape {xs.shape}")
    ranks = np.empty(h.shape, int)
    for s in range(h.shape[0]):
        ranks[s, ranking_order(h[s])] = np.arange(1, h.shape[1] + 1)
    final = ranking_order(h[-1])[: min(k, h.shape[1])]
    depth = min(h.shape[1], 2 * len(final))
    fig = _figure(8.5, 0.3 * depth + 1.8)
    ax = fig.subplots()
    from matplotlib import colormaps

    colors = colormaps["tab10" if len(final) <= 10 else "tab20"]
    for n, j in enumerate(final):
        ax.plot(xs, ranks[:, j], lw=1.6, color=colors(n % colors.N), drawstyle="steps-post")
        ax.annotate(feature_names[j], (1.0, ranks[-1, j]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8, color=colors(n % colors.N))
    ax.set_ylim(depth + 0.5, 0.5)
    ax.set_yticks(range(1, depth + 1))
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("rank (1 = most important)", fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"Ranking over time, final top {len(final)}" + (f": {method}" if method else ""), fontsize=10)
    return _finish(fig, path)


def plot_series(
    series: dict[str, np.ndarray],
    path: str | os.PathLike[str] | None = None,
    *,
    x: np.ndarray | None = None,
    xlabel: str = "sample",
    ylabel: str = "",
    title: str | None = None,
    styles: dict[str, dict[str, Any]] | None = None,
) -> Figure | None:
    """Line plot of named series sharing an x axis (e.g. predicted vs true depth);
    ``styles`` maps a series name to matplotlib line options."""
    fig = _figure(8.5, 3.4)
    ax = fig.subplots()
    for label, values in series.items():
        v = np.asarray(values)
        ax.plot(np.arange(len(v)) if x is None else x, v, label=label, **{"linewidth": 1.0, **(styles or {}).get(label, {})})
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


__all__ = ["plot_scores", "plot_series", "ranking_bar", "ranking_over_time", "window_beeswarm", "window_heatmap"]

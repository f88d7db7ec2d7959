"""The result of an attribution: feature scores, their ranking and the statistics behind
them, in the forms people use (lists, JSON, CSV, pandas, notebooks, plots)."""

from __future__ import annotations

import csv
import html
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .labels import SCORE_AXIS_LABELS, method_label
from .stats import RunningStats, rank, ranking_order


class Score(float):
    """A score as a float that prints without float noise (six significant digits):
    ``0.9999999986`` prints as ``1.0``. Its value, comparisons and JSON are exact."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(float(f"{float(self):.6g}"))

    __str__ = __repr__


@dataclass
class Attribution:
    """Feature scores with their ranking and the statistics behind them.

    ``scores`` (I,) per feature (higher = more important; what the number is depends on
    ``aggregation``, see :data:`SCORE_AXIS_LABELS`); ``stats`` the running statistics of
    the per-step trace they were computed from (``stats.mean``, ``stats.std``);
    ``predictions`` (N, O) when the attribution ran the model. ``to_pandas()`` gives one
    row per feature; in a notebook the object shows itself as a table.
    """

    scores: np.ndarray
    feature_names: list[str]
    stats: RunningStats
    trace: str
    aggregation: str
    predictions: np.ndarray | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    # the attribution methods (gradient, integrated, occlusion) are signed: the scores
    # come from |A|, these statistics of A itself say each feature's direction
    signed_stats: RunningStats | None = None

    @property
    def signed_mean(self) -> np.ndarray | None:
        """Per feature, the mean signed attribution per step (positive: the feature
        pushes the target output up); ``None`` for the forward-only traces."""
        return None if self.signed_stats is None else self.signed_stats.mean

    @property
    def order(self) -> np.ndarray:
        """Feature indices, most important first (ties by index)."""
        return ranking_order(self.scores)

    @property
    def ranking(self) -> list[str]:
        """Feature names, most important first."""
        return rank(self.scores, self.feature_names)

    @property
    def method(self) -> str:
        """How the scores were computed, in words (used in titles)."""
        return method_label(self.trace, self.aggregation)

    def top_k(self, k: int = 10) -> list[tuple[str, float]]:
        """``[(feature, score), ...]`` for the ``k`` best features, best first (scores are
        exact floats that print with six significant digits, see :class:`Score`)."""
        return [(self.feature_names[i], Score(self.scores[i])) for i in self.order[: max(0, int(k))]]

    def to_pandas(self):
        """A ``pandas.DataFrame`` with one row per feature, best first: ``rank``,
        ``feature``, ``score``, ``mean`` and ``std`` (of the per-step |trace|), and
        ``signed_mean`` (the direction of each feature's effect) when the method gives one.
        Needs pandas (``pip install 'actif[lab]'``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Attribution.to_pandas needs pandas: pip install 'actif[lab]'") from None
        order = self.order
        columns: dict[str, Any] = {
            "rank": np.arange(1, len(order) + 1),
            "feature": [self.feature_names[i] for i in order],
            "score": np.asarray(self.scores, np.float64)[order],
            "mean": np.asarray(self.stats.mean, np.float64)[order],
            "std": np.asarray(self.stats.std, np.float64)[order],
        }
        signed = self._signed_mean()
        if signed is not None:
            columns["signed_mean"] = signed[order]
        frame = pd.DataFrame(columns)
        frame.attrs.update(trace=self.trace, aggregation=self.aggregation, count=self.stats.count)
        return frame

    def _signed_mean(self) -> np.ndarray | None:
        value = self.signed_mean
        return None if value is None else np.asarray(value, np.float64)

    def _rows(self, k: int) -> list[tuple[int, str, float]]:
        return [(r + 1, self.feature_names[i], float(self.scores[i])) for r, i in enumerate(self.order[:k])]

    def __repr__(self) -> str:
        n = len(self.feature_names)
        k = min(n, 10)
        rows = self._rows(k)
        width = max([len(name) for _, name, _ in rows] + [7])
        lines = [f"Attribution({n} features, {self.stats.count:g} trace rows; {self.method})"]
        lines += [f"  {r:>3}. {name:<{width}}  {score:.4f}" for r, name, score in rows]
        if n > k:
            lines.append(f"  ... {n - k} more (res.to_pandas() or res.ranking for all)")
        if self.skipped:
            lines.append(f"  skipped: {dict(self.skipped)}")
        return "\n".join(lines)

    def _repr_html_(self, k: int = 20) -> str:
        n = len(self.feature_names)
        mean, std = self.stats.mean, self.stats.std
        signed = self._signed_mean()
        head = ["#", "feature", "score", "mean |trace|", "std"] + (["signed mean"] if signed is not None else [])
        body = []
        for r, i in enumerate(self.order[:k], start=1):
            cells = [str(r), html.escape(self.feature_names[i]), f"{self.scores[i]:.4g}", f"{mean[i]:.4g}", f"{std[i]:.4g}"]
            if signed is not None:
                cells.append(f"{signed[i]:+.4g}")
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        more = f"<p>... {n - k} more features (<code>.to_pandas()</code> for all)</p>" if n > k else ""
        return (
            f"<div><p><b>Attribution</b>: {n} features, {self.stats.count:g} trace rows; "
            f"{html.escape(self.method)}</p><table><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(body)
            + f"</tbody></table>{more}</div>"
        )

    def to_dict(self) -> dict[str, Any]:
        mean, std = self.stats.mean, self.stats.std  # each read computes the whole vector
        signed = self.signed_mean
        return {
            "trace": self.trace,
            "aggregation": self.aggregation,
            "count": self.stats.count,
            "ranking": self.ranking,
            "features": [
                {
                    "name": self.feature_names[i],
                    "rank": r + 1,
                    "score": float(self.scores[i]),
                    "mean": float(mean[i]),
                    "std": float(std[i]),
                    **({} if signed is None else {"signed_mean": float(signed[i])}),
                }
                for r, i in enumerate(self.order)
            ],
            "skipped": dict(self.skipped),
        }

    def save_json(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")

    def save_csv(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            signed = self.signed_stats is not None
            writer.writerow(["rank", "feature", "score", "mean", "std"] + (["signed_mean"] if signed else []))
            for row in self.to_dict()["features"]:
                writer.writerow(
                    [row["rank"], row["name"], f"{row['score']:.6g}", f"{row['mean']:.6g}", f"{row['std']:.6g}"]
                    + ([f"{row['signed_mean']:.6g}"] if signed else [])
                )

    def plot(self, path: str | os.PathLike[str] | None = None, k: int | None = 20, title: str | None = None):
        """Bar chart of the top-k features' scores beside the spread of their per-step
        trace (:func:`actif.plots.ranking_bar`); written to ``path`` (PNG, SVG or PDF)
        when given, else returned as a matplotlib Figure. Needs matplotlib (the lab extra)."""
        from .plots import ranking_bar

        return ranking_bar(self, path, k=k, title=title)


__all__ = ["SCORE_AXIS_LABELS", "Attribution", "Score", "method_label"]

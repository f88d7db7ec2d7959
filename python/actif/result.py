"""The result of an attribution: feature scores, their ranking and the statistics behind
them, in the forms people use (lists, JSON, CSV, plots)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import RunningStats, rank, ranking_order


@dataclass
class Attribution:
    """Feature scores with their ranking and the statistics behind them."""

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

    def top_k(self, k: int = 10) -> list[tuple[str, float]]:
        return [(self.feature_names[i], float(self.scores[i])) for i in self.order[: max(0, int(k))]]

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

    def plot(self, path: str | os.PathLike[str], k: int | None = 20, title: str | None = None) -> None:
        """Write a horizontal bar chart of the top-k features (PNG, SVG or PDF)."""
        from .plots import plot_scores

        plot_scores(self.scores, self.feature_names, path, k=k, title=title or f"DeepACTIF ({self.trace}, {self.aggregation})")


__all__ = ["Attribution"]

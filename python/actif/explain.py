"""Explainers: DeepACTIF attribution in the same pass as the forward.

:class:`Explainer` attributes a set of windows at once; :class:`StreamingExplainer`
keeps constant-memory statistics while windows or samples arrive one at a time.
Both feed every time step's trace (see :mod:`actif.traces`) into a
:class:`~actif.stats.RunningStats` and score features from its mean and spread, so
streaming the same windows gives the same statistics as one batch call.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import InvalidInputError
from .model import Model
from .stats import (
    DEFAULT_AGGREGATION,
    SCORE_METHODS,
    RunningStats,
    ranking_order,
    scores,
    scores_from_moments,
)
from .traces import DEFAULT_TRACE, check_trace

ON_INVALID = ("raise", "skip")


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

    @property
    def order(self) -> np.ndarray:
        """Feature indices, most important first (ties by index)."""
        return ranking_order(self.scores)

    @property
    def ranking(self) -> list[str]:
        """Feature names, most important first."""
        return [self.feature_names[i] for i in self.order]

    def top_k(self, k: int = 10) -> list[tuple[str, float]]:
        return [(self.feature_names[i], float(self.scores[i])) for i in self.order[: max(0, int(k))]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "aggregation": self.aggregation,
            "count": self.stats.count,
            "ranking": self.ranking,
            "features": [
                {
                    "name": name,
                    "rank": int(r) + 1,
                    "score": float(self.scores[i]),
                    "mean": float(self.stats.mean[i]),
                    "std": float(self.stats.std[i]),
                }
                for r, i in enumerate(self.order)
                for name in [self.feature_names[i]]
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
            writer.writerow(["rank", "feature", "score", "mean", "std"])
            for row in self.to_dict()["features"]:
                writer.writerow([row["rank"], row["name"], f"{row['score']:.6g}", f"{row['mean']:.6g}", f"{row['std']:.6g}"])

    def plot(self, path: str | os.PathLike[str], k: int | None = 20, title: str | None = None) -> None:
        """Write a horizontal bar chart of the top-k features (PNG, SVG or PDF)."""
        from .plots import plot_scores

        plot_scores(self.scores, self.feature_names, path, k=k, title=title or f"DeepACTIF ({self.trace}, {self.aggregation})")


def _check_aggregation(method: str) -> str:
    if method not in SCORE_METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {SCORE_METHODS}")
    return method


class Explainer:
    """Attribute a model's predictions on a set of windows to its input features.

    ``trace``: how hidden activity maps to features (:data:`actif.traces.TRACES`);
    ``aggregation``: the score (:data:`actif.stats.SCORE_METHODS`).
    """

    def __init__(
        self,
        model: Model,
        trace: str = DEFAULT_TRACE,
        aggregation: str = DEFAULT_AGGREGATION,
        *,
        batch_size: int = 4096,
    ):
        if not isinstance(model, Model):
            raise TypeError("Explainer takes an actif.Model (see actif.load / actif.random_model)")
        self.model = model
        self.trace = check_trace(trace, model.spec)
        self.aggregation = _check_aggregation(aggregation)
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.batch_size = int(batch_size)

    def attribute(
        self,
        X: Any,
        *,
        stats: RunningStats | None = None,
        progress: bool | Callable[[int, int], None] = False,
    ) -> Attribution:
        """Scores over all windows ``X`` (N, T, I). Statistics accumulate into ``stats``
        when given (so several calls can build one attribution), else a fresh object.
        The whole input is checked before any statistics change."""
        Xc = self.model.check_windows(X)
        rs = stats if stats is not None else RunningStats(self.model.input_size)
        if rs.n_features != self.model.input_size:
            raise ValueError(f"stats has {rs.n_features} features, the model takes {self.model.input_size}")
        n = Xc.shape[0]
        preds = np.empty((n, self.model.output_size), np.float32)
        staged = rs.copy()  # a failure half-way must not leave rs half-updated
        report = _progress_callback(progress, n, "attributing")
        for start in range(0, n, self.batch_size):
            chunk = Xc[start : start + self.batch_size]
            preds[start : start + len(chunk)] = self.model.backend.forward_stats(chunk, staged._impl, self.trace)
            report(min(start + self.batch_size, n))
        rs._impl = staged._impl
        return Attribution(scores(rs, self.aggregation), self.model.feature_names, rs, self.trace, self.aggregation, preds)

    def trace_of(self, X: Any) -> np.ndarray:
        """The per-step trace (N, T, I), for plots over time."""
        res = self.model.backend.forward(self.model.check_windows(X), trace=self.trace)
        return res.trace

    def attribute_windows(self, X: Any) -> np.ndarray:
        """Per-window scores (N, I): each window scored from the statistics of its own
        T steps (Captum-like per-sample attributions)."""
        tr = np.asarray(self.trace_of(X), dtype=np.float64)
        mu, sigma = tr.mean(axis=1), tr.std(axis=1)
        return np.stack([scores_from_moments(m, s, self.aggregation) for m, s in zip(mu, sigma)]) if len(tr) else np.zeros((0, tr.shape[-1]))


class StreamingExplainer:
    """Constant-memory attribution of a live stream.

    Window mode (``stateful=False``): ``update`` takes one window (T, I) or a batch
    (N, T, I), each run from a zero state, exactly as the model was trained.
    Stateful mode (``stateful=True``): ``update`` takes one sample (I,) or several
    consecutive samples (M, I) of a single stream; the LSTM state is carried.

    ``half_life`` (in trace rows, i.e. time steps) makes the statistics forget
    exponentially, to follow drift. ``on_invalid="skip"`` drops windows or samples with
    NaN/Inf or out-of-range values instead of raising, and counts them in
    :attr:`skipped`; invalid rows never touch the model state or the statistics.
    """

    def __init__(
        self,
        model: Model,
        trace: str = DEFAULT_TRACE,
        aggregation: str = DEFAULT_AGGREGATION,
        *,
        stateful: bool = False,
        half_life: float | None = None,
        on_invalid: str = "raise",
    ):
        if not isinstance(model, Model):
            raise TypeError("StreamingExplainer takes an actif.Model")
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        self.model = model
        self.trace = check_trace(trace, model.spec)
        self.aggregation = _check_aggregation(aggregation)
        self.stateful = bool(stateful)
        self.on_invalid = on_invalid
        self._stats = RunningStats(model.input_size, half_life)
        self._state = model.new_state(1) if self.stateful else None
        self.skipped: Counter[str] = Counter()
        self.n_updates = 0  # accepted windows (window mode) or samples (stateful mode)

    # ------------------------------------------------------------------ feeding
    def update(self, x: Any) -> np.ndarray | None:
        """Feed data; return predictions: (O,) for one window/sample, (N, O) for a batch.

        Under ``on_invalid="skip"`` rejected rows give NaN predictions and are counted
        in :attr:`skipped` (``None`` is returned if the whole input is unusable)."""
        return self._update_stateful(x) if self.stateful else self._update_windows(x)

    def _update_windows(self, x: Any) -> np.ndarray | None:
        arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
        single = arr.ndim == 2
        try:
            if arr.ndim == 0 or arr.size == 0:
                raise InvalidInputError(f"empty input {arr.shape}: nothing to stream")
            X = self.model.check_windows(arr[None] if single else arr, what="window" if single else "windows")
        except ValueError as exc:
            X = self._salvage(arr[None] if single else arr, exc, ndim=3)
            if X is None:
                return None
            keep, X = X
            y = np.full((len(keep), self.model.output_size), np.nan, np.float32)
            if X.shape[0]:
                y[keep] = self.model.backend.forward_stats(X, self._stats._impl, self.trace)
                self.n_updates += int(X.shape[0])
            return y[0] if single else y
        y = self.model.backend.forward_stats(X, self._stats._impl, self.trace)
        self.n_updates += int(X.shape[0])
        return y[0] if single else y

    def _update_stateful(self, x: Any) -> np.ndarray | None:
        arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
        single = arr.ndim == 1
        try:
            if arr.ndim == 0 or arr.size == 0:
                raise InvalidInputError(f"empty input {arr.shape}: nothing to stream")
            xs = self.model.check_samples(arr, what="sample" if single else "samples")
        except ValueError as exc:
            got = self._salvage(arr[None] if single else arr, exc, ndim=2)
            if got is None:
                return None
            keep, xs = got
            y = np.full((len(keep), self.model.output_size), np.nan, np.float32)
            rows = np.flatnonzero(keep)
            for r, sample in zip(rows, xs):
                y[r] = self.model.backend.step_stats(sample[None], self._state, self._stats._impl, self.trace)[0]
            self.n_updates += len(rows)
            return y[0] if single else y
        y = np.empty((xs.shape[0], self.model.output_size), np.float32)
        for r in range(xs.shape[0]):
            y[r] = self.model.backend.step_stats(xs[r : r + 1], self._state, self._stats._impl, self.trace)[0]
        self.n_updates += xs.shape[0]
        return y[0] if single else y

    def _salvage(self, arr: np.ndarray, exc: ValueError, ndim: int):
        """Under the skip policy, keep the valid rows of a rejected input."""
        if self.on_invalid == "raise":
            raise exc
        if arr.ndim != ndim or arr.dtype.kind not in "fiu" or arr.shape[-1] != self.model.input_size or arr.size == 0 or (ndim == 3 and arr.shape[1] == 0):
            self.skipped[_reason(exc)] += max(1, arr.shape[0] if arr.ndim >= 1 else 1)
            return None
        flat = np.asarray(arr, dtype=np.float64).reshape(arr.shape[0], -1)
        limit = self.model.max_abs
        with np.errstate(invalid="ignore"):
            good = np.isfinite(flat).all(axis=1) if limit is None else (np.abs(flat) <= limit).all(axis=1)
        n_bad = int((~good).sum())
        if n_bad:
            bad_flat = flat[~good]
            n_nan = int((~np.isfinite(bad_flat)).any(axis=1).sum())
            if n_nan:
                self.skipped["non_finite"] += n_nan
            if n_bad - n_nan:
                self.skipped["out_of_range"] += n_bad - n_nan
        kept = np.ascontiguousarray(arr[good], dtype=np.float32)
        return good, kept

    # ------------------------------------------------------------------ reading
    @property
    def stats(self) -> RunningStats:
        return self._stats

    @property
    def state(self):
        """The carried LSTM state (stateful mode), else ``None``."""
        return self._state

    def scores(self) -> np.ndarray:
        return scores(self._stats, self.aggregation)

    def ranking(self) -> list[str]:
        names = self.model.feature_names
        return [names[i] for i in ranking_order(self.scores())]

    def top_k(self, k: int = 10) -> list[tuple[str, float]]:
        s = self.scores()
        names = self.model.feature_names
        return [(names[i], float(s[i])) for i in ranking_order(s)[:k]]

    def result(self) -> Attribution:
        return Attribution(self.scores(), self.model.feature_names, self._stats.copy(), self.trace, self.aggregation, skipped=dict(self.skipped))

    def reset(self) -> None:
        """Forget statistics, state and skip counts."""
        self._stats.reset()
        if self.stateful:
            self._state = self.model.new_state(1)
        self.skipped.clear()
        self.n_updates = 0


def _reason(exc: Exception) -> str:
    msg = str(exc)
    if "NaN" in msg or "Inf" in msg:
        return "non_finite"
    if "max_abs" in msg:
        return "out_of_range"
    if "empty" in msg:
        return "empty"
    if "dtype" in msg:
        return "bad_dtype"
    return "bad_shape"


def _progress_callback(progress: bool | Callable[[int, int], None], total: int, label: str) -> Callable[[int], None]:
    if callable(progress):
        return lambda done: progress(done, total)
    if not progress or total == 0:
        return lambda done: None
    from .progress import ProgressBar

    bar = ProgressBar(total, label)
    return bar.update_to


def explain_iter(explainer: StreamingExplainer, chunks: Iterable[Any]) -> Iterable[np.ndarray | None]:
    """Feed an iterable of windows/samples; yield each update's predictions."""
    for chunk in chunks:
        yield explainer.update(chunk)


__all__: Sequence[str] = ["Attribution", "Explainer", "StreamingExplainer", "explain_iter"]

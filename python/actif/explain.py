"""Explainers: DeepACTIF attribution in the same pass as the forward.

:class:`Explainer` attributes a set of windows at once; :class:`StreamingExplainer`
keeps constant-memory statistics while windows or samples arrive one at a time.
Both feed every time step's trace (see :mod:`actif.traces`) into a
:class:`~actif.stats.RunningStats` and score features from its mean and spread, so
streaming the same windows gives the same statistics as one batch call.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import checkpoint as ck
from .errors import CheckpointMismatchError, InvalidInputError
from .model import Model, any_window_length_refusal
from .result import Attribution
from .stats import (
    DEFAULT_AGGREGATION,
    RunningStats,
    check_aggregation,
    rank,
    scores,
    scores_from_moments,
)
from .traces import DEFAULT_TRACE, check_trace
from .validation import ON_INVALID, rejected_rows, rejected_value_error, to_float32

_STORED = object()  # restore(): "keep what the checkpoint says"


class Explainer:
    """Attribute a model's predictions on a set of windows to its input features.

    ``trace``: how hidden activity maps to features (:data:`actif.traces.TRACES`);
    ``aggregation``: the score (:data:`actif.stats.SCORE_METHODS`).

    Windows must have the model's length (``model.window``, its training length):
    others raise :class:`ValueError`. ``any_window_length=True`` accepts any length for
    models whose pooling reads any length the same way, ``last`` and ``mean``
    (:data:`actif.model.LENGTH_FREE_POOLINGS`); for ``max`` pooling it is refused,
    because the maximum grows with the window length.
    """

    def __init__(
        self,
        model: Model,
        trace: str = DEFAULT_TRACE,
        aggregation: str = DEFAULT_AGGREGATION,
        *,
        batch_size: int = 4096,
        any_window_length: bool = False,
    ):
        if not isinstance(model, Model):
            raise TypeError("Explainer takes an actif.Model (see actif.load / actif.random_model)")
        _check_length_option(model, any_window_length)
        self.any_window_length = bool(any_window_length)
        self.model = model
        self.trace = check_trace(trace, model.spec)
        self.aggregation = check_aggregation(aggregation)
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
        Xc = self._windows(X)
        rs = stats if stats is not None else RunningStats(self.model.input_size)
        if rs.n_features != self.model.input_size:
            raise ValueError(f"stats has {rs.n_features} features, the model takes {self.model.input_size}")
        n = Xc.shape[0]
        preds = np.empty((n, self.model.output_size), np.float32)
        report = _progress_callback(progress, n, "attributing")
        # rs.staged() holds rs's lock, serialising threads attributing into one
        # RunningStats (each call lands whole, none is lost), and feeds a private copy
        # that replaces rs only at the end: a failure half-way leaves rs as it was.
        with rs.staged() as staged:
            for start in range(0, n, self.batch_size):
                chunk = Xc[start : start + self.batch_size]
                preds[start : start + len(chunk)] = self.model.backend.forward_stats(chunk, staged, self.trace)
                report(min(start + self.batch_size, n))
        return Attribution(scores(rs, self.aggregation), self.model.feature_names, rs, self.trace, self.aggregation, preds)

    def trace_of(self, X: Any) -> np.ndarray:
        """The per-step trace (N, T, I), for plots over time."""
        res = self.model.backend.forward(self._windows(X), trace=self.trace)
        return res.trace

    def attribute_windows(self, X: Any) -> np.ndarray:
        """Per-window scores (N, I): each window scored from the statistics of its own
        T steps (Captum-like per-sample attributions)."""
        tr = np.asarray(self.trace_of(X), dtype=np.float64)
        mu, sigma = tr.mean(axis=1), tr.std(axis=1)
        return np.stack([scores_from_moments(m, s, self.aggregation) for m, s in zip(mu, sigma)]) if len(tr) else np.zeros((0, tr.shape[-1]))

    def _windows(self, X: Any) -> np.ndarray:
        Xc = self.model.check_windows(X)
        self.model.check_window_length(Xc.shape[1], self.any_window_length)
        return Xc


class StreamingExplainer:
    """Constant-memory attribution of a live stream.

    Window mode (``stateful=False``): ``update`` takes one window (T, I) or a batch
    (N, T, I), each run from a zero state, exactly as the model was trained.
    Stateful mode (``stateful=True``): ``update`` takes one sample (I,) or several
    consecutive samples (M, I) of a single stream; the LSTM state is carried.

    ``half_life`` (in trace rows, i.e. time steps) makes the statistics forget
    exponentially, to follow drift.

    Window mode takes windows of the model's length (``model.window``); others are
    invalid input (``bad_shape``) unless ``any_window_length=True``, which only models
    with ``last`` or ``mean`` pooling accept (see :class:`Explainer`).

    Invalid input (NaN/Inf, ``|x| > model.input_limit``, wrong shape or dtype, empty
    batches): with ``on_invalid="raise"`` the call raises :class:`ValueError` and
    changes nothing; with ``on_invalid="skip"`` the bad windows (samples) are dropped,
    get NaN predictions, and are counted in :attr:`skipped` by reason (``non_finite``,
    ``out_of_range``, ``bad_shape``, ``bad_dtype``, ``empty``). Counts are in windows
    (samples); an input that cannot be read as rows at all counts as one, an empty
    batch as one. Either way a rejected row never touches the state or the statistics.

    Checkpoints: :meth:`checkpoint` writes the state, statistics, counters and options
    atomically; with ``checkpoint_every=N`` and ``checkpoint_path`` this happens after
    every N accepted windows (samples). :meth:`restore` resumes from such a file.

    Threads: one explainer serves one stream. ``update`` (or ``reset``) from a second
    thread while one is running raises :class:`RuntimeError` and changes nothing;
    readers (:meth:`scores`, :meth:`result`, :meth:`checkpoint`) from any thread wait
    for the running update and see a consistent state. Independent explainers run in
    parallel (the native forward releases the GIL).
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
        checkpoint_every: int | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        any_window_length: bool = False,
    ):
        if not isinstance(model, Model):
            raise TypeError("StreamingExplainer takes an actif.Model")
        _check_length_option(model, any_window_length)
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        if checkpoint_every is not None:
            if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1:
                raise ValueError(f"checkpoint_every must be a positive integer or None, got {checkpoint_every!r}")
            if checkpoint_path is None:
                raise ValueError("checkpoint_every needs a checkpoint_path to write to")
        self.model = model
        self.trace = check_trace(trace, model.spec)
        self.aggregation = check_aggregation(aggregation)
        self.stateful = bool(stateful)
        self.any_window_length = bool(any_window_length)
        # window mode: the one length the hot path may pass straight to the backend
        self._window_length = None if self.any_window_length else model.window
        self.on_invalid = on_invalid
        self.checkpoint_every = None if checkpoint_every is None else int(checkpoint_every)
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        self._stats = RunningStats(model.input_size, half_life)
        self._state = model.new_state(1) if self.stateful else None
        self.skipped: Counter[str] = Counter()
        self.n_updates = 0  # accepted windows (window mode) or samples (stateful mode)
        # Taken without blocking for the whole of update/reset: a second writer is refused.
        self._writer = threading.Lock()
        # Serialises checkpoint files, so an older snapshot never overwrites a newer one.
        self._checkpoint_lock = threading.Lock()
        self._checkpointed_at = 0
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ feeding
    def update(self, x: Any) -> np.ndarray | None:
        """Feed data; return predictions: (O,) for one window/sample, (N, O) for a batch.

        Under ``on_invalid="skip"`` rejected rows give NaN predictions and are counted
        in :attr:`skipped` (``None`` is returned if the whole input is unusable)."""
        # (the hot path of stateful streaming: plain acquire/release, no context manager)
        if not self._writer.acquire(blocking=False):
            raise _concurrent_use("update")
        try:
            with self._stats.accumulator() as acc:  # readers in other threads wait for a whole update
                # Hot path: plain float32 windows or samples in a single native call that
                # applies the input rule; None (nothing done) sends anything else through
                # the general path, an int (nothing done) is the first rejected value.
                y = None
                if type(x) is np.ndarray:
                    backend = self.model.backend
                    if self.stateful:
                        y = backend.try_step_stats(x, self._state, acc, self.trace, self.model.input_limit)
                    elif self._window_length is None or (x.ndim in (2, 3) and x.shape[-2] == self._window_length):
                        y = backend.try_forward_stats(x, acc, self.trace, self.model.input_limit)
                if y is None:
                    y = self._feed(x)
                elif isinstance(y, int):
                    if self.on_invalid == "raise":  # named from the native scan's index: no rescan
                        raise self._rejected_at(x, y)
                    y = self._feed(x)  # skip: the general path finds every rejected row
                else:
                    self.n_updates += 1 if x.ndim == (1 if self.stateful else 2) else x.shape[0]
            if self.checkpoint_every is not None and self.n_updates - self._checkpointed_at >= self.checkpoint_every:
                self._auto_checkpoint()
            return y
        finally:
            self._writer.release()

    @contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        if not self._writer.acquire(blocking=False):
            raise _concurrent_use(what)
        try:
            yield
        finally:
            self._writer.release()

    def _rejected_at(self, x: np.ndarray, flat: int) -> InvalidInputError:
        """The error for the value the hot path rejected at flat index ``flat`` of ``x``,
        worded as the general path words it."""
        row_rank = 1 if self.stateful else 2
        batch = x[None] if x.ndim == row_rank else x
        what = "samples" if self.stateful else "windows"
        return rejected_value_error(flat, batch, what, self.model.feature_names, self.model.input_limit)

    def _feed(self, x: Any) -> np.ndarray | None:
        """The general path: conversion, validation, skip policy."""
        row_rank = 1 if self.stateful else 2  # rank of one sample / one window
        try:
            arr = x if isinstance(x, np.ndarray) else np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged nested sequences
            err = InvalidInputError(f"input is not a rectangular array ({exc}); nothing was changed")
            return self._refuse(err, "bad_shape", 1)
        single = arr.ndim == row_rank
        batch = arr[None] if single else arr
        try:
            if self.stateful:
                rows = self.model.check_samples(batch, what="samples", allow_empty=False)
            else:
                if batch.ndim == 3 and batch.shape[1] > 0:  # before the values: no row of it may be fed
                    self.model.check_window_length(batch.shape[1], self.any_window_length, what="input")
                rows = self.model.check_windows(batch, what="windows", allow_empty=False)
        except InvalidInputError as exc:
            if self.on_invalid == "raise":
                raise
            if exc.reason not in ("non_finite", "out_of_range"):  # no row can be used
                units = batch.shape[0] if exc.reason != "empty" and batch.ndim == row_rank + 1 else 1
                return self._refuse(exc, exc.reason, units)
            # a value was rejected: drop the rows that hold one, feed the others
            rejected, non_finite = rejected_rows(batch, self.model.input_limit)
            for reason, mask in (("non_finite", non_finite), ("out_of_range", rejected & ~non_finite)):
                if mask.any():
                    self.skipped[reason] += int(mask.sum())
            keep = ~rejected
            y_kept = self._run(to_float32(batch[keep])) if keep.any() else None
            y = np.full((batch.shape[0], self.model.output_size), np.nan, np.float32 if y_kept is None else y_kept.dtype)
            if y_kept is not None:
                y[keep] = y_kept
            return y[0] if single else y
        y = self._run(rows)
        return y[0] if single else y

    def _refuse(self, exc: InvalidInputError, reason: str, units: int) -> None:
        if self.on_invalid == "raise":
            raise exc
        self.skipped[reason] += units
        return None

    def _run(self, rows: np.ndarray) -> np.ndarray:
        """Feed validated float32 rows: windows (N, T, I) or consecutive samples (M, I)
        (one backend call either way)."""
        backend = self.model.backend
        with self._stats.accumulator() as acc:  # re-entrant: update() already holds it
            if not self.stateful:
                y = backend.forward_stats(rows, acc, self.trace)
            else:
                y = backend.run_stats(rows, self._state, acc, self.trace)
        self.n_updates += int(rows.shape[0])
        return y

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
        return rank(self.scores(), self.model.feature_names)

    def top_k(self, k: int = 10) -> list[tuple[str, float]]:
        return self.result().top_k(k)

    def result(self) -> Attribution:
        with self._stats.accumulator():  # statistics and skip counts of one moment
            stats, skipped = self._stats.copy(), dict(self.skipped)
        return Attribution(scores(stats, self.aggregation), self.model.feature_names, stats, self.trace, self.aggregation, skipped=skipped)

    def reset(self) -> None:
        """Forget statistics, state and skip counts."""
        with self._exclusive("reset"), self._stats.accumulator():
            self._stats.reset()
            if self.stateful:
                self._state = self.model.new_state(1)
            self.skipped.clear()
            self.n_updates = 0
            self._checkpointed_at = 0

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, path: str | os.PathLike[str] | None = None) -> str:
        """Write state, statistics, counters and options atomically to ``path``
        (default: ``checkpoint_path``); returns the path. Safe from any thread."""
        target = os.fspath(path) if path is not None else self.checkpoint_path
        if target is None:
            raise ValueError("checkpoint() needs a path (or construct with checkpoint_path=...)")
        if self._fingerprint is None:
            self._fingerprint = ck.model_fingerprint(self.model.spec)
        with self._checkpoint_lock:
            with self._stats.accumulator():  # one consistent snapshot
                state = self._state
                data = ck.encode(
                    model_sha256=self._fingerprint,
                    input_size=self.model.input_size,
                    options=self._options(),
                    n_updates=self.n_updates,
                    skipped=dict(self.skipped),
                    stats_blob=self._stats.to_bytes(),
                    state_steps=None if state is None else state.steps,
                    state_arrays={} if state is None else ck.state_arrays(state),
                )
                n_updates = self.n_updates
            ck.write_atomic(target, data)
            if target == self.checkpoint_path:
                self._checkpointed_at = n_updates
        return target

    def _auto_checkpoint(self) -> None:
        try:
            self.checkpoint()
        except OSError as exc:
            # The update itself succeeded and stands: a full disk must not look like a
            # rejected sample. Say so loudly; the next update tries again.
            warnings.warn(f"checkpoint to {self.checkpoint_path!r} failed: {exc}", RuntimeWarning, stacklevel=3)

    def _options(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "aggregation": self.aggregation,
            "stateful": self.stateful,
            "half_life": self._stats.half_life,
            "on_invalid": self.on_invalid,
            "checkpoint_every": self.checkpoint_every,
        }

    @classmethod
    def restore(
        cls,
        path: str | os.PathLike[str],
        model: Model,
        *,
        checkpoint_every: Any = _STORED,
        checkpoint_path: Any = _STORED,
        any_window_length: bool = False,
    ) -> StreamingExplainer:
        """Resume from a checkpoint written by :meth:`checkpoint` for this ``model``.

        Malformed files raise :class:`~actif.errors.ModelFormatError`; a checkpoint of
        another model raises its subclass :class:`~actif.errors.CheckpointMismatchError`.
        By default the restored explainer keeps checkpointing every
        as many updates as before, to ``path``. ``any_window_length`` is not stored in
        the checkpoint: pass it again when the stream needs it."""
        if not isinstance(model, Model):
            raise TypeError("restore takes an actif.Model")
        data = ck.read_file(path)
        where = os.fspath(path)
        if data.input_size != model.input_size:
            raise CheckpointMismatchError(
                f"checkpoint {where!r} is for a model with {data.input_size} input features; "
                f"this model has {model.input_size}"
            )
        fingerprint = ck.model_fingerprint(model.spec)
        if data.model_sha256 != fingerprint:
            raise CheckpointMismatchError(f"checkpoint {where!r} was written for a different model (weights or structure differ)")
        opts = data.options
        every = opts["checkpoint_every"] if checkpoint_every is _STORED else checkpoint_every
        if checkpoint_path is _STORED:
            checkpoint_path = where if every is not None else None
        out = cls(
            model, opts["trace"], opts["aggregation"], stateful=opts["stateful"], half_life=opts["half_life"],
            on_invalid=opts["on_invalid"], checkpoint_every=every, checkpoint_path=checkpoint_path,
            any_window_length=any_window_length,
        )
        if out.stateful:
            out._state = ck.load_state(model.new_state(1), data.state_arrays, data.state_steps or 0)
        out._stats = data.stats
        out.skipped = Counter(data.skipped)
        out.n_updates = out._checkpointed_at = data.n_updates
        out._fingerprint = fingerprint
        return out


def _check_length_option(model: Model, any_window_length: bool) -> None:
    refusal = any_window_length_refusal(model.spec.pooling) if any_window_length else None
    if refusal is not None:
        raise ValueError(refusal)


def _concurrent_use(what: str) -> RuntimeError:
    return RuntimeError(
        f"StreamingExplainer.{what}() called while another thread is updating this explainer; "
        "one explainer serves one stream: give each thread its own explainer (merge their "
        "statistics with RunningStats.merge) or serialise the calls. Nothing was changed."
    )


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

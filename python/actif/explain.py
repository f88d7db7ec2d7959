"""Explainers: DeepACTIF attribution in the same pass as the forward.

:class:`Explainer` attributes a set of windows at once; :class:`StreamingExplainer`
keeps constant-memory statistics while windows or samples arrive one at a time.
Both feed every time step's trace (see :mod:`actif.traces`) into a
:class:`~actif.stats.RunningStats` and score features from its mean and spread, so
streaming the same windows gives the same statistics as one batch call.

The attribution methods ``gradient``, ``deeplift``, ``integrated``, ``occlusion`` and ``lrp``
(:mod:`actif.attribution`) are ``trace=`` options too: they attribute one output
(``target``) with a sign; ``|A|`` of every step feeds the same statistics, and a second
statistics object of the signed ``A`` gives :attr:`Attribution.signed_mean`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import checkpoint as ck
from .attribution import (
    DEFAULT_IG_METHOD,
    DEFAULT_N_STEPS,
    MAX_N_STEPS,
    METHODS,
    MethodOptions,
    StepAttribution,
    check_baseline_values,
    completeness_error,
)
from .errors import CheckpointMismatchError, InvalidInputError, ModelFormatError
from .model import Model, any_window_length_refusal
from .result import Attribution
from .stats import (
    DEFAULT_AGGREGATION,
    RunningStats,
    check_aggregation,
    rank,
    scores,
)
from .traces import DEFAULT_TRACE, check_trace
from .validation import ON_INVALID, rejected_rows, rejected_value_error, to_float32

_STORED = object()  # restore(): "keep what the checkpoint says"


class Explainer:
    """Attribute a model's predictions on a set of windows to its input features.

    ``trace``: how hidden activity maps to features (:data:`actif.traces.TRACES`);
    ``aggregation``: the score (:data:`actif.stats.SCORE_METHODS`).

    The attribution methods (``trace="gradient" | "deeplift" | "integrated" | "occlusion" | "lrp"``) take
    ``target`` (the output attributed: an index, or one per window), ``baseline`` (raw
    input space: a scalar, (I,), (T, I) or (N, T, I); default: the training means the
    model normalises with, :func:`actif.attribution.default_baseline`; ``gradient``
    and ``lrp`` use none), and for ``integrated`` ``n_steps`` and ``ig_method`` (as
    Captum's IntegratedGradients). The forward-only traces depend on no output and take no target or baseline.

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
        target: Any = 0,
        baseline: Any = None,
        n_steps: int = DEFAULT_N_STEPS,
        ig_method: str = DEFAULT_IG_METHOD,
        any_window_length: bool = False,
    ):
        if not isinstance(model, Model):
            raise TypeError("Explainer takes an actif.Model (see actif.load / actif.random_model)")
        _check_length_option(model, any_window_length)
        self.any_window_length = bool(any_window_length)
        self.model = model
        self.trace = check_trace(trace, model.spec)
        self.aggregation = check_aggregation(aggregation)
        self.method = _method_options(model, self.trace, target, baseline, n_steps, ig_method)
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.batch_size = int(batch_size)

    def attribute(
        self,
        X: Any,
        *,
        stats: RunningStats | None = None,
        progress: bool | Callable[[int, int], None] = False,
        signed_stats: RunningStats | None = None,
    ) -> Attribution:
        """Scores over all windows ``X`` (N, T, I). Statistics accumulate into ``stats``
        when given (so several calls can build one attribution), else a fresh object;
        likewise ``signed_stats`` for the signed methods' :attr:`Attribution.signed_mean`.
        The whole input is checked before any statistics change."""
        Xc = self._windows(X)
        rs = stats if stats is not None else RunningStats(self.model.input_size)
        if rs.n_features != self.model.input_size:
            raise ValueError(f"stats has {rs.n_features} features, the model takes {self.model.input_size}")
        if self.method is not None:
            return self._attribute_with_method(Xc, rs, stats is None, signed_stats, progress)
        n = Xc.shape[0]
        preds = np.empty((n, self.model.output_size), np.float32)
        report = _progress_callback(progress, n, "attributing")
        with _landing(rs, stats is None) as acc:
            for start in range(0, n, self.batch_size):
                chunk = Xc[start : start + self.batch_size]
                preds[start : start + len(chunk)] = self.model.backend.forward_stats(chunk, acc, self.trace)
                report(min(start + self.batch_size, n))
        return Attribution(scores(rs, self.aggregation), self.model.feature_names, rs, self.trace, self.aggregation, preds)

    def _attribute_with_method(
        self, Xc: np.ndarray, rs: RunningStats, rs_fresh: bool, signed_stats: RunningStats | None,
        progress: bool | Callable[[int, int], None],
    ) -> Attribution:
        """:meth:`attribute` for the signed methods: |A| of every step into ``rs``, A
        into the signed statistics; both land whole or not at all."""
        method = self.method
        assert method is not None
        n, n_in = Xc.shape[0], self.model.input_size
        signed = signed_stats if signed_stats is not None else RunningStats(n_in, rs.half_life)
        if signed.n_features != n_in:
            raise ValueError(f"signed_stats has {signed.n_features} features, the model takes {n_in}")
        targets = _per_window(method.target, n, "target", 1)
        baseline = _per_window(method.baseline, n, "baseline", 3)
        preds = np.empty((n, self.model.output_size), np.float32)
        report = _progress_callback(progress, n, "attributing")
        # A caller's signed statistics take this call's A rows at the end, merged inside
        # rs's landing, so the two land together; fresh ones are fed directly.
        call_signed = signed if signed_stats is None else RunningStats(n_in, signed.half_life)
        with _landing(rs, rs_fresh) as acc, call_signed.accumulator() as signed_acc:
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                rows = slice(start, stop)
                preds[rows] = method.run_stats(
                    self.model.backend, Xc[rows], acc, signed_acc,
                    target=_rows_of(targets, 1, rows), baseline=_rows_of(baseline, 3, rows),
                )
                report(stop)
            if call_signed is not signed:
                signed.merge(call_signed)
        return Attribution(
            scores(rs, self.aggregation), self.model.feature_names, rs, self.trace, self.aggregation, preds,
            signed_stats=signed,
        )

    def trace_of(self, X: Any) -> np.ndarray:
        """The per-step values (N, T, I) the statistics take, for plots over time: the
        trace, or ``|A|`` for the attribution methods."""
        if self.method is not None:
            return np.abs(self.attribute_steps(X))
        res = self.model.backend.forward(self._windows(X), trace=self.trace)
        return res.trace

    def attribute_steps(self, X: Any, target: Any = None, baseline: Any = None, *, return_convergence_delta: bool = False):
        """Per-step attributions (N, T, I) of windows ``X``, Captum-shaped.

        For the methods: signed attributions of output ``target`` (default: the
        explainer's) to the raw inputs from ``baseline`` (default: the explainer's),
        as Captum's InputXGradient / IntegratedGradients / FeatureAblation give them on
        the equivalent PyTorch module. For the forward-only traces: the trace itself
        (non-negative; no target or baseline). With ``return_convergence_delta`` also
        the integrated-gradients completeness error (N,) (``None`` for the others)."""
        res = self._try_attribute_steps(X, target) if self.method is not None and baseline is None else None
        if res is not None:
            values, delta = res.values, res.delta
        elif self.method is None:
            Xc = self._windows(X)
            _refuse_method_options(self.trace, target, baseline)
            values, delta = self.model.backend.forward(Xc, trace=self.trace).trace, None
        else:
            Xc = self._windows(X)
            if baseline is not None:
                baseline = check_baseline_values(baseline, self.model.spec, self.model.input_limit)
            res = self.method.run(self.model.backend, Xc, target=target, baseline=baseline)
            values, delta = res.values, res.delta
        return (values, delta) if return_convergence_delta else values

    def _try_attribute_steps(self, X: Any, target: Any) -> StepAttribution | None:
        """The per-call hot path of :meth:`attribute_steps` (a device explaining each
        window as it comes): plain float32 windows of the model's length and one output
        index in range go to the backend's single native call, which applies the input
        rule itself; ``None`` (nothing done) sends anything else through the general path."""
        model, method = self.model, self.method
        assert method is not None
        index = method.target if target is None else target
        if type(X) is not np.ndarray or X.ndim != 3 or X.shape[1] != model.window:
            return None
        if type(index) is not int or not 0 <= index < model.output_size:
            return None
        got = model.backend.try_attribute(X, method, index, model.input_limit)
        if isinstance(got, int):  # named from the native scan's index, as the general path names it
            raise rejected_value_error(got, X, "X", model.feature_names, model.input_limit)
        return got

    def attribute_windows(self, X: Any, target: Any = None, baseline: Any = None) -> np.ndarray:
        """Per-window attributions (N, I): :meth:`attribute_steps` summed over time (what
        summing a Captum attribution of an (N, T, I) input over its time axis gives)."""
        return np.asarray(self.attribute_steps(X, target, baseline), dtype=np.float64).sum(axis=1)

    def _windows(self, X: Any) -> np.ndarray:
        Xc = self.model.check_windows(X)
        self.model.check_window_length(Xc.shape[1], self.any_window_length)
        return Xc


# Integrated gradients should add up: Sundararajan et al. (2017) advise raising the step
# count until the attributions sum to within 5 % of y(x) - y(baseline).
COMPLETENESS_TOLERANCE = 0.05
DEFAULT_MAX_STEPS = 256


@dataclass(frozen=True)
class NodeCount:
    """What :func:`choose_n_steps` found: ``n_steps`` to use, its completeness ``error``
    (:func:`actif.attribution.completeness_error` over the windows), whether that is
    within the tolerance (``converged``), and the error of every count tried."""

    n_steps: int
    error: float
    converged: bool
    errors: dict[int, float]


def node_ladder(max_steps: int, ig_method: str = DEFAULT_IG_METHOD) -> list[int]:
    """The counts :func:`choose_n_steps` tries, about 1.5x apart: 1, 2, 3, 4, 6, 8, 12,
    ... up to ``max_steps`` (which always ends it; the Riemann rules start at 2)."""
    first = 1 if ig_method == "gausslegendre" else 2
    counts = {c * 2**k for c in (1, 3) for k in range(max_steps.bit_length()) if first <= c * 2**k < max_steps}
    return sorted(counts) + [max_steps]


def choose_n_steps(
    model: Model,
    X: Any,
    *,
    target: Any = 0,
    baseline: Any = None,
    ig_method: str = DEFAULT_IG_METHOD,
    tolerance: float = COMPLETENESS_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
    any_window_length: bool = False,
) -> NodeCount:
    """The fewest integrated-gradients nodes whose attributions of windows ``X`` add up.

    Integrated gradients approximate an integral; how many nodes it takes depends on
    how sharply the model bends between the baseline and the input. Counts of
    :func:`node_ladder` are tried in turn on ``X`` (a sample of the windows to be
    explained, e.g. training windows, before deployment), each one's completeness error
    (:func:`actif.attribution.completeness_error`) measured; the
    answer is the smaller of the first two consecutive counts both within ``tolerance``
    (one count alone can land its nodes luckily), else ``max_steps`` with
    ``converged=False``. ``target``, ``baseline`` and ``ig_method`` as for
    :class:`Explainer`. Use the count as ``Explainer(..., n_steps=choice.n_steps)``."""
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < np.inf):
        raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or not 1 <= max_steps <= MAX_N_STEPS:
        raise ValueError(f"max_steps must be an integer in [1, {MAX_N_STEPS}], got {max_steps!r}")
    Xc = model.check_windows(X)
    if Xc.shape[0] == 0:
        raise ValueError("choose_n_steps needs at least one window")
    errors: dict[int, float] = {}
    ladder = node_ladder(int(max_steps), ig_method)
    for k, n in enumerate(ladder):
        explainer = Explainer(model, "integrated", target=target, baseline=baseline, n_steps=n, ig_method=ig_method,
                              any_window_length=any_window_length)
        errors[n] = completeness_error(*explainer.attribute_steps(Xc, return_convergence_delta=True))
        within = errors[n] <= tolerance
        if within and k > 0 and errors[ladder[k - 1]] <= tolerance:
            return NodeCount(ladder[k - 1], errors[ladder[k - 1]], True, errors)
        if within and n == ladder[-1]:
            return NodeCount(n, errors[n], True, errors)
    return NodeCount(ladder[-1], errors[ladder[-1]], False, errors)


class StreamingExplainer:
    """Constant-memory attribution of a live stream.

    Window mode (``stateful=False``): ``update`` takes one window (T, I) or a batch
    (N, T, I), each run from a zero state, exactly as the model was trained.
    Stateful mode (``stateful=True``): ``update`` takes one sample (I,) or several
    consecutive samples (M, I) of a single stream; the LSTM state is carried.

    ``half_life`` (in trace rows, i.e. time steps) makes the statistics forget
    exponentially, to follow drift.

    The attribution methods (``trace="gradient" | "deeplift" | "integrated" | "occlusion" | "lrp"``, with
    ``target``, ``baseline``, ``n_steps``, ``ig_method`` as for :class:`Explainer`; one
    int target) in window mode attribute each window and feed its |A| rows, exactly as
    :meth:`Explainer.attribute` does (streaming equals batch). In stateful mode each
    sample's prediction is attributed to the last ``model.window`` samples (fewer at
    the start of the stream), starting from the LSTM state the stream carried into the
    oldest of them: the gradient is truncated there, and occlusion, integrated
    gradients and deeplift's baseline window replace or interpolate only those samples,
    from that same state. The
    |A| rows of that window (one per sample in it) feed the statistics, so a sample is
    counted once for each of the up to ``window`` predictions it helps make. The
    explainer keeps the last ``window`` raw samples and the states carried into them
    (memory O(window x hidden)); a baseline there is a scalar or (I,).

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
        target: int = 0,
        baseline: Any = None,
        n_steps: int = DEFAULT_N_STEPS,
        ig_method: str = DEFAULT_IG_METHOD,
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
        self.method = _method_options(model, self.trace, target, baseline, n_steps, ig_method)
        if self.method is not None:
            if np.ndim(self.method.target) != 0:
                raise ValueError("a stream attributes one output: target must be one int")
            rank = -1 if self.method.baseline is None else self.method.baseline.ndim
            if rank > (1 if self.stateful else 2):
                raise ValueError(
                    "a stream's baseline is a scalar or one value per feature (I,)"
                    + ("" if self.stateful else ", or per step and feature (T, I) in window mode")
                )
        self.any_window_length = bool(any_window_length)
        # window mode: the one length the hot path may pass straight to the backend
        self._window_length = None if self.any_window_length else model.window
        self.on_invalid = on_invalid
        self.checkpoint_every = None if checkpoint_every is None else int(checkpoint_every)
        self.checkpoint_path = None if checkpoint_path is None else os.fspath(checkpoint_path)
        self._stats = RunningStats(model.input_size, half_life)
        self._state = model.new_state(1) if self.stateful else None
        # the signed methods: statistics of A itself (for the direction), and in stateful
        # mode the last window's raw samples with the states carried into them
        self._signed = RunningStats(model.input_size, half_life) if self.method is not None else None
        self._history = model.backend.new_history() if self.method is not None and self.stateful else None
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
                    window_fits = self._window_length is None or (x.ndim in (2, 3) and x.shape[-2] == self._window_length)
                    if self.method is not None:
                        limit = self.model.input_limit
                        with self._signed.accumulator() as signed_acc:
                            if self.stateful:
                                y = backend.try_step_attribute_stats(x, self._state, self._history, self.method, acc,
                                                                     signed_acc, limit)
                            elif window_fits:
                                y = backend.try_attribute_stats(x, self.method, acc, signed_acc, limit)
                    elif self.stateful:
                        y = backend.try_step_stats(x, self._state, acc, self.trace, self.model.input_limit)
                    elif window_fits:
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
        (one backend call either way; the attribution methods: see :meth:`_run_method`)."""
        backend = self.model.backend
        with self._stats.accumulator() as acc:  # re-entrant: update() already holds it
            if self.method is not None:
                y = self._run_method(rows, acc)
            elif not self.stateful:
                y = backend.forward_stats(rows, acc, self.trace)
            else:
                y = backend.run_stats(rows, self._state, acc, self.trace)
        self.n_updates += int(rows.shape[0])
        return y

    def _run_method(self, rows: np.ndarray, impl: Any) -> np.ndarray:
        """The signed methods: windows (N, T, I) attributed and fed; or consecutive
        samples (M, I) each stepped and attributed over the last window of the stream."""
        method, backend = self.method, self.model.backend
        assert method is not None and self._signed is not None
        with self._signed.accumulator() as signed_acc:
            if not self.stateful:
                return method.run_stats(backend, rows, impl, signed_acc)
            return backend.step_attribute_stats(rows, self._state, self._history, method, impl, signed_acc)

    # ------------------------------------------------------------------ reading
    @property
    def stats(self) -> RunningStats:
        return self._stats

    @property
    def signed_stats(self) -> RunningStats | None:
        """Statistics of the signed attributions (the methods only), else ``None``."""
        return self._signed

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
            signed = None if self._signed is None else self._signed.copy()
        return Attribution(
            scores(stats, self.aggregation), self.model.feature_names, stats, self.trace, self.aggregation,
            skipped=skipped, signed_stats=signed,
        )

    def reset(self) -> None:
        """Forget statistics, state and skip counts."""
        with self._exclusive("reset"), self._stats.accumulator():
            self._stats.reset()
            if self._signed is not None:
                self._signed.reset()
            if self._history is not None:
                self._history.reset()
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
                    signed_blob=None if self._signed is None else self._signed.to_bytes(),
                    recent_arrays=self._recent_arrays() if self.method is not None and self.stateful else None,
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
            "method": None if self.method is None else {
                "target": int(self.method.target),
                "baseline": None if self.method.baseline is None else self.method.baseline.tolist(),
                "n_steps": self.method.n_steps,
                "ig_method": self.method.ig_method,
            },
        }

    def _recent_arrays(self) -> dict[str, np.ndarray]:
        """The stateful methods' last samples and the states carried into them, oldest
        first: ``recent.x`` (K, I), ``recent.h.k`` and ``recent.c.k`` (K, H_k)."""
        x, h, c = self._history.held()
        arrays = {"recent.x": x}
        for k in range(self.model.num_layers):
            arrays[f"recent.h.{k}"], arrays[f"recent.c.{k}"] = h[k], c[k]
        return arrays

    def _restore_recent(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the stateful methods' recent samples from checkpoint arrays, checked."""
        expected = self._recent_arrays()  # empty arrays of the right names and widths
        if set(arrays) != set(expected):
            raise CheckpointMismatchError(f"checkpoint recent samples hold {sorted(arrays)}, this model needs {sorted(expected)}")
        count = arrays["recent.x"].shape[0]
        for name, want in expected.items():
            got = arrays[name]
            if got.ndim != 2 or got.shape != (count, want.shape[1]) or count > self.model.window:
                raise CheckpointMismatchError(f"checkpoint recent array {name} has shape {got.shape}")
            if not np.all(np.isfinite(got)):
                raise ModelFormatError(f"checkpoint recent array {name} holds NaN or Inf")
        layers = range(self.model.num_layers)
        self._history.assign(
            arrays["recent.x"], [arrays[f"recent.h.{k}"] for k in layers], [arrays[f"recent.c.{k}"] for k in layers],
            self._state,
        )

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
        method = opts["method"] or {}
        out = cls(
            model, opts["trace"], opts["aggregation"], stateful=opts["stateful"], half_life=opts["half_life"],
            on_invalid=opts["on_invalid"], checkpoint_every=every, checkpoint_path=checkpoint_path,
            any_window_length=any_window_length, **method,
        )
        if out.stateful:
            out._state = ck.load_state(model.new_state(1), data.state_arrays, data.state_steps or 0)
            if out.method is not None:
                out._restore_recent(data.recent_arrays)
        out._stats = data.stats
        if out.method is not None:
            out._signed = data.signed_stats
        out.skipped = Counter(data.skipped)
        out.n_updates = out._checkpointed_at = data.n_updates
        out._fingerprint = fingerprint
        return out


def _method_options(model: Model, trace: str, target: Any, baseline: Any, n_steps: int, ig_method: str) -> MethodOptions | None:
    """The checked options of an attribution-method trace; ``None`` for a forward trace
    (which depends on no output: a target or baseline there is a mistake, refused)."""
    if trace in METHODS:
        return MethodOptions.checked(model.spec, trace, target, baseline, n_steps, ig_method, model.input_limit)
    _refuse_method_options(trace, None if isinstance(target, (int, np.integer)) and target == 0 else target, baseline)
    return None


def _refuse_method_options(trace: str, target: Any, baseline: Any) -> None:
    if target is not None or baseline is not None:
        raise ValueError(
            f"the {trace!r} trace depends on no output and takes no target or baseline; "
            f"the attribution methods {METHODS} do"
        )


def _landing(stats: RunningStats, fresh: bool) -> Any:
    """Where one :meth:`Explainer.attribute` call feeds its statistics. A caller's
    ``stats`` are staged: the lock serialises threads attributing into one object (each
    call lands whole, none is lost) and a private copy replaces it only at the end, so a
    failure half-way leaves it as it was. Statistics the call made itself are fed
    directly: on a failure nobody holds them."""
    return stats.accumulator() if fresh else stats.staged()


def _per_window(option: Any, n: int, what: str, rank: int) -> Any:
    """A per-window option (a target array, an (N, T, I) baseline) checked against the N
    windows; anything shared by all windows as is."""
    if _shared(option, rank):
        return option
    if len(option) != n:
        raise ValueError(f"{what} holds {len(option)} rows for {n} windows")
    return option


def _rows_of(option: Any, rank: int, rows: slice) -> Any:
    """The rows of a per-window option for a chunk of windows."""
    return option if _shared(option, rank) else option[rows]


def _shared(option: Any, rank: int) -> bool:
    """Whether an option holds one value for all windows rather than one per window: a
    per-window target is (N,) (rank 1), a per-window baseline (N, T, I) with N > 1 (rank 3)."""
    if option is None or type(option) is int:  # the common case, decided without array checks
        return True
    return np.ndim(option) != rank or (rank == 3 and np.shape(option)[0] == 1)


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

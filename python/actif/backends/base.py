"""The one contract every backend implements.

A backend is built from a validated :class:`~actif.model_spec.ModelSpec` and offers:

* ``forward(X, activations, trace)``: N windows of T steps, each from a zero state,
  returning predictions, optionally every layer's h, c and gates, and optionally the
  per-step trace (N, T, I) of the first layer (see :mod:`actif.traces`);
* ``forward_stats(X, stats, trace)``: the same pass feeding the trace straight into a
  running-statistics object (backends with a fused native path override it);
* ``step(x, state, trace)``: the stateful mode, one new sample per stream, the state
  carried in a stream state made by ``new_state(batch)``;
* ``attribute(X, method, ...)``: signed per-step attributions of one output (gradient x
  input, integrated gradients, occlusion; :mod:`actif.attribution`), with a generic
  default built on ``forward`` and ``step`` that native backends may override;
* for stateful mode's methods, ``new_history()`` (a stream's last T samples and their
  start states: :class:`SampleHistory`, or the core's on cpp) and
  ``step_attribute_stats``; ``forward_from(X, state)`` lets the generic attribution run
  a window from carried states in one engine call (numba) instead of stepping;
* the ``try_*`` hot paths: one native call for input that needs no conversion (cpp).

Stream states share one interface whatever the backend: ``batch``, ``steps``,
``copy()``, ``reset()``, read access to ``h`` and ``c`` (lists of (B, H_l) arrays, one
per layer) and ``ring`` ((B, window, H_top); window 0 for ``last`` pooling), and
``assign(h, c, ring, steps)`` to load a saved state (checked before anything changes).
The cpp backend's state is the core's native ``Stream``; the others use
:class:`StreamState` below.

Inputs reaching a backend are already validated (shape, dtype float32, the input rule)
by the model layer; backends never mutate a state unless the call succeeds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..attribution import LayerTape, MethodOptions, StepAttribution, attribute_with_engine, lstm_backward
from ..model_spec import LSTMLayer, ModelSpec


@dataclass
class LayerActivations:
    """One LSTM layer's activations for N windows of T steps."""

    h: np.ndarray  # (N, T, H)
    c: np.ndarray  # (N, T, H)
    gates: np.ndarray  # (N, T, 4H): post-nonlinearity i, f, g, o


@dataclass
class Activations:
    """Activations of every LSTM layer; ``h``, ``c`` and ``gates`` are the top layer's
    (like ``torch.nn.LSTM``'s output). Traces read ``layers[0]``."""

    layers: list[LayerActivations]

    @property
    def h(self) -> np.ndarray:
        return self.layers[-1].h

    @property
    def c(self) -> np.ndarray:
        return self.layers[-1].c

    @property
    def gates(self) -> np.ndarray:
        return self.layers[-1].gates


@dataclass
class ForwardResult:
    y: np.ndarray  # (N, O)
    activations: Activations | None = None
    trace: np.ndarray | None = None  # (N, T, I)


@dataclass
class StreamState:
    """State of B independent streams in stateful mode.

    ``h[l]``, ``c[l]``: (B, H_l) per layer. ``ring``: the last ``window`` top-layer
    hidden states per stream (B, window, H_top), which mean/max pooling read; for
    ``last`` pooling it is unused and has window 0. ``steps``: samples taken so far.
    """

    h: list[np.ndarray]
    c: list[np.ndarray]
    ring: np.ndarray
    steps: int = 0
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))

    @classmethod
    def zeros(cls, spec: ModelSpec, batch: int, dtype: np.dtype | type = np.float32) -> StreamState:
        dt = np.dtype(dtype)
        ring_len = 0 if spec.pooling == "last" else int(spec.window)
        return cls(
            h=[np.zeros((batch, n), dt) for n in spec.hidden_sizes],
            c=[np.zeros((batch, n), dt) for n in spec.hidden_sizes],
            ring=np.zeros((batch, ring_len, spec.hidden_sizes[-1]), dt),
            steps=0,
            dtype=dt,
        )

    @property
    def batch(self) -> int:
        return int(self.h[0].shape[0])

    def copy(self) -> StreamState:
        return StreamState(
            [a.copy() for a in self.h], [a.copy() for a in self.c], self.ring.copy(), self.steps, self.dtype
        )

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> StreamState:
        return self.copy()

    def reset(self) -> None:
        """Back to the zero state, as if no sample had been seen."""
        for a in (*self.h, *self.c, self.ring):
            a[...] = 0
        self.steps = 0

    def assign(self, h: list[np.ndarray], c: list[np.ndarray], ring: np.ndarray, steps: int) -> None:
        """Replace the state (a checkpoint restore): one h and c per layer and the ring,
        each of this state's size and finite; checked before anything changes."""
        if len(h) != len(self.h) or len(c) != len(self.c):
            raise ValueError(f"state needs one h and one c per LSTM layer ({len(self.h)})")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps!r}")
        pairs = [(f"h.{k}", a, d) for k, (a, d) in enumerate(zip(h, self.h))]
        pairs += [(f"c.{k}", a, d) for k, (a, d) in enumerate(zip(c, self.c))] + [("ring", ring, self.ring)]
        for name, src, dst in pairs:
            src = np.asarray(src)
            if src.size != dst.size:
                raise ValueError(f"state {name} holds {src.size} values, expected {dst.size}")
            if not np.all(np.isfinite(src)):
                raise ValueError(f"state {name} holds NaN or Inf")
        for _, src, dst in pairs:
            dst[...] = np.asarray(src).reshape(dst.shape)  # cast to this state's dtype
        self.steps = int(steps)

    def pooled_after(self, top_h: np.ndarray, pooling: str) -> np.ndarray:
        """Pooled features once the new top-layer hidden state ``top_h`` (B, H) joins the
        ring, read without writing it: the state is unchanged until :meth:`commit`."""
        window = self.ring.shape[1]
        if pooling == "last" or window == 0:
            return top_h
        slot, filled = self.steps % window, min(self.steps + 1, window)
        kept = [rows for rows in (self.ring[:, :slot], self.ring[:, slot + 1 : filled]) if rows.shape[1]]  # views
        if pooling == "max":
            out = top_h
            for rows in kept:
                out = np.maximum(out, rows.max(axis=1))
        else:
            out = (top_h + sum(rows.sum(axis=1) for rows in kept)) / filled
        return out.astype(top_h.dtype, copy=False)

    def commit(self, h: list[np.ndarray], c: list[np.ndarray]) -> None:
        """Take one step's new state in place (call only once nothing can fail); the new
        top-layer h takes the ring slot :meth:`pooled_after` read it into."""
        for k in range(len(h)):
            self.h[k][...] = h[k]
            self.c[k][...] = c[k]
        window = self.ring.shape[1]
        if window:
            self.ring[:, self.steps % window] = h[-1]
        self.steps += 1


class SampleHistory:
    """Stateful mode's attribution methods: a stream's last ``window`` samples and the
    state carried into each, oldest first, so that the current prediction can be
    attributed to the samples that made it, re-run from the state the oldest started
    from (held constant). O(T·H) per stream. The cpp backend keeps the same in the core
    (``_core.StreamHistory``, as the C API's streams do) behind this interface:
    ``length``, ``reset()``, ``held()`` and ``assign(x, h, c, state)``."""

    def __init__(self, spec: ModelSpec):
        self._spec = spec
        self._held: deque[tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]] = deque(maxlen=spec.window)

    @property
    def length(self) -> int:
        return len(self._held)

    def reset(self) -> None:
        self._held.clear()

    def held(self) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """What a checkpoint keeps: the samples x (K, I) and, per layer, the states
        carried into them, h and c (K, H_l)."""
        x = np.array([x for x, _, _ in self._held], np.float32).reshape(-1, self._spec.input_size)
        sizes = list(enumerate(self._spec.hidden_sizes))
        h = [np.array([hs[k][0] for _, hs, _ in self._held]).reshape(-1, hidden) for k, hidden in sizes]
        c = [np.array([cs[k][0] for _, _, cs in self._held]).reshape(-1, hidden) for k, hidden in sizes]
        return x, h, c

    def assign(self, x: np.ndarray, h: list[np.ndarray], c: list[np.ndarray], state: Any) -> None:
        """Hold the samples x (K, I) with the states carried into them (checked by the
        caller), in ``state``'s dtype; ``state`` is the stream's after the last of them."""
        dtype = state.h[0].dtype
        self._held.clear()
        for r in range(x.shape[0]):
            self._held.append((
                x[r].astype(np.float32),
                [layer[r : r + 1].astype(dtype) for layer in h],
                [layer[r : r + 1].astype(dtype) for layer in c],
            ))

    def window_with(self, x: np.ndarray, state: Any) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], tuple]:
        """The window (1, L, I) sample x (I,) ends if ``state`` takes it next, the state
        that window starts from (per layer (h0, c0)), and the entry :meth:`commit`
        holds once the step succeeded."""
        entry = (x.copy(), [h.copy() for h in state.h], [c.copy() for c in state.c])
        recent = [*self._held, entry][-self._spec.window :]
        _, h0, c0 = recent[0]
        return np.stack([sample for sample, _, _ in recent])[None], list(zip(h0, c0)), entry

    def commit(self, entry: tuple) -> None:
        self._held.append(entry)


class Backend:
    """Base class; see the module docstring for the contract."""

    name = "base"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None):
        self.spec = spec
        self.num_threads = num_threads
        self._spec_casts: dict[np.dtype, ModelSpec] = {}

    def spec_in(self, dtype: Any) -> ModelSpec:
        """The spec with every array in ``dtype``, cast on first use and kept: a backend
        holds the weights it was built with, and the generic attribution path asks for
        them on every call (a cast copies every array and the metadata)."""
        key = np.dtype(dtype)
        if key not in self._spec_casts:
            self._spec_casts[key] = self.spec.astype(key)
        return self._spec_casts[key]

    def forward(self, X: np.ndarray, *, activations: bool = False, trace: str | None = None) -> ForwardResult:
        raise NotImplementedError

    def forward_stats(self, X: np.ndarray, stats, trace: str) -> np.ndarray:
        """Forward and feed every step's trace (N*T rows) into ``stats``; return y."""
        res = self.forward(X, trace=trace)
        assert res.trace is not None
        stats.update(res.trace.reshape(-1, res.trace.shape[-1]))
        return res.y

    def new_state(self, batch: int = 1) -> StreamState:
        return StreamState.zeros(self.spec, batch, np.float32)

    def forward_from(self, X: np.ndarray, state) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None:
        """Windows X (N, T, I) each from a given state (per layer (h0, c0), (N, H_l)), pooling
        over the T steps given: y (N, O) and every layer's h and c sequences (N, T, H_l);
        or ``None`` when the engine cannot start a window from a state (then the generic
        attribution steps it through the window). An engine whose window kernel takes a
        starting state runs it once instead."""
        return None

    def step(
        self, x: np.ndarray, state: StreamState, *, trace: str | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Advance every stream by one sample; return (y (B, O), trace (B, I) or None)."""
        raise NotImplementedError

    def step_stats(self, x: np.ndarray, state: StreamState, stats, trace: str) -> np.ndarray:
        """Step and feed the new samples' trace rows into ``stats``; return y (B, O)."""
        y, tr = self.step(x, state, trace=trace)
        assert tr is not None
        stats.update(tr)
        return y

    def run_stats(self, x: np.ndarray, state: StreamState, stats, trace: str) -> np.ndarray:
        """M consecutive samples x (M, I) of one stream: M steps, each feeding its trace
        row into ``stats`` (as M ``step_stats`` calls do); return y (M, O). The cpp
        backend runs them in one native call."""
        y = np.empty((x.shape[0], self.spec.output_size), np.float32)
        for r in range(x.shape[0]):
            y[r] = self.step_stats(x[r : r + 1], state, stats, trace)[0]
        return y

    # The streaming hot path: a backend may run an input that needs no conversion in one
    # native call, applying the input rule itself. It returns y; or the flat index (int)
    # of the first rejected value (nothing done; the caller builds the error from it
    # without scanning again); or ``None``: not handled, nothing done, and the caller
    # takes the general path (conversion, validation, messages, skip policy).
    def try_forward_stats(self, x: np.ndarray, stats, trace: str, limit: float | None) -> np.ndarray | int | None:
        return None

    def try_step_stats(self, x: np.ndarray, state: StreamState, stats, trace: str, limit: float | None) -> np.ndarray | int | None:
        return None

    def try_attribute(self, x: np.ndarray, options: MethodOptions, target: int, limit: float | None) -> StepAttribution | int | None:
        """The per-call hot path of :meth:`attribute` (``Explainer.attribute_steps``) for
        windows ``x`` (an ndarray (N, T, I), in any dtype or layout: the engine takes only
        what needs no conversion), ``options`` with output ``target`` (an index in range)
        and the options' baseline: the attributions; the flat index of the first value breaking the input rule
        (nothing done); or ``None`` (nothing done, the general path runs). Only a native
        backend takes it."""
        return None

    def try_attribute_stats(self, x: np.ndarray, options: MethodOptions, abs_stats, signed_stats, limit: float | None) -> np.ndarray | int | None:
        """The streaming hot path of :meth:`attribute_stats` (window mode), as
        :meth:`try_forward_stats` is of :meth:`forward_stats`: y; the flat index of the
        first value breaking the input rule (nothing done); or ``None`` (nothing done,
        the general path runs). ``options``: the explainer's
        :class:`~actif.attribution.MethodOptions`. Only a native backend takes it."""
        return None

    def new_history(self) -> SampleHistory:
        """An empty :class:`SampleHistory` for one stream of this backend."""
        return SampleHistory(self.spec)

    def step_attribute_stats(self, x: np.ndarray, state: Any, history: Any, options: MethodOptions, abs_stats, signed_stats) -> np.ndarray:
        """Stateful mode's methods: M consecutive samples x (M, I) of one stream, each
        stepped and the prediction it gives attributed to the last ``window`` samples,
        re-run from the state the oldest of them started from (``history`` holds them).
        |A| rows feed ``abs_stats``, A rows ``signed_stats``; returns y (M, O). Nothing
        of a sample is kept unless its attribution succeeded."""
        y = np.empty((x.shape[0], self.spec.output_size), np.float32)
        for r in range(x.shape[0]):
            sample = x[r : r + 1]
            window, start, entry = history.window_with(sample[0], state)
            res = options.run(self, window, initial_state=start)
            y[r] = self.step(sample, state)[0][0]  # advances the stream: commit nothing before
            history.commit(entry)
            abs_stats.update(np.abs(res.values[0]))
            signed_stats.update(res.values[0])
        return y

    def try_step_attribute_stats(
        self, x: np.ndarray, state: Any, history: Any, options: MethodOptions, abs_stats, signed_stats, limit: float | None
    ) -> np.ndarray | int | None:
        """The stateful hot path of :meth:`step_attribute_stats`, as
        :meth:`try_step_stats` is of :meth:`step_stats`. Only a native backend takes it."""
        return None

    def attribute(
        self,
        X: np.ndarray,
        method: str,
        *,
        target=0,
        baseline=None,
        n_steps: int = 50,
        ig_method: str = "gausslegendre",
        initial_state=None,
        internal_batch_size: int | None = None,
    ):
        """Signed attributions of output ``target`` to every step and raw input feature
        of the windows X (N, T, I): a :class:`~actif.attribution.StepAttribution`.

        ``method``: ``gradient``, ``deeplift``, ``integrated``, ``occlusion`` or ``lrp`` (see
        :mod:`actif.attribution`). This default works for every engine: activations from
        :meth:`forward` (or from :meth:`step` when ``initial_state`` is given), the reverse
        pass in NumPy, occlusion through the engine; a native backend overrides it."""
        return attribute_with_engine(
            self, X, method, target=target, baseline=baseline, n_steps=n_steps, ig_method=ig_method,
            initial_state=initial_state, internal_batch_size=internal_batch_size,
        )

    def lstm_backward(self, layer: LSTMLayer, tape: LayerTape, dh_out: np.ndarray) -> np.ndarray:
        """One LSTM layer's reverse pass in float64 (see
        :func:`actif.attribution.lstm_backward`, the NumPy reference this default is),
        used by the generic :meth:`attribute`; a JIT engine brings a compiled one."""
        return lstm_backward(layer, tape, dh_out)

    def attribute_stats(
        self, X: np.ndarray, method: str, abs_stats, signed_stats, *, target=0, baseline=None, n_steps: int = 50,
        ig_method: str = "gausslegendre",
    ) -> np.ndarray:
        """:meth:`attribute` feeding every step's |A| row into ``abs_stats`` and its A row
        into ``signed_stats`` (either may be ``None``); returns y (N, O). A native
        backend fuses the two (no (N, T, I) array crosses into Python)."""
        res = self.attribute(X, method, target=target, baseline=baseline, n_steps=n_steps, ig_method=ig_method)
        rows = res.values.reshape(-1, res.values.shape[-1])
        if signed_stats is not None:
            signed_stats.update(rows)
        if abs_stats is not None:
            abs_stats.update(np.abs(rows))
        return res.y

    def close(self) -> None:
        """Release engine resources (sessions, interpreters); the default has none."""

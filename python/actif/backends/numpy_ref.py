"""The NumPy reference backend: plain, readable, float64-capable.

This is the oracle for every other backend: the parity tests run it in float64 and
compare each engine's predictions, activations, traces and statistics against it.
The equations themselves live in :mod:`actif.reference`, line by line
(docs/architecture.md, "Backends").
"""

from __future__ import annotations

import numpy as np

from ..model_spec import ModelSpec
from ..reference import apply_activation, apply_head, lstm_cell, normalise_input, pool
from ..traces import TraceRouting, compute_trace
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState

__all__ = ["NumpyBackend", "apply_activation", "apply_head", "lstm_cell", "normalise_input", "pool"]


class NumpyBackend(Backend):
    """Reference backend; ``dtype=np.float64`` (default) for the oracle."""

    name = "numpy"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None, dtype=np.float64):
        super().__init__(spec, num_threads)
        self.dtype = np.dtype(dtype)
        self._spec = spec.astype(self.dtype)
        self._routing = TraceRouting.of(self._spec)

    def forward(self, X: np.ndarray, *, activations: bool = False, trace: str | None = None) -> ForwardResult:
        spec = self._spec
        x = normalise_input(spec, np.asarray(X, dtype=self.dtype))
        n, t, _ = x.shape
        layer_in = x
        layers: list[LayerActivations] = []
        for layer in spec.lstm:
            hidden = layer.hidden_size
            zx = layer_in @ layer.w_ih.T + (layer.b_ih + layer.b_hh)
            h_seq = np.empty((n, t, hidden), self.dtype)
            c_seq = np.empty((n, t, hidden), self.dtype)
            g_seq = np.empty((n, t, 4 * hidden), self.dtype)
            h = np.zeros((n, hidden), self.dtype)
            c = np.zeros((n, hidden), self.dtype)
            for step in range(t):
                h, c, g = lstm_cell(zx[:, step] + h @ layer.w_hh.T, c)
                h_seq[:, step], c_seq[:, step], g_seq[:, step] = h, c, g
            layers.append(LayerActivations(h_seq, c_seq, g_seq))
            layer_in = h_seq
        y = apply_head(spec, pool(spec.pooling, layer_in)) if t else np.zeros((n, spec.output_size), self.dtype)
        tr = None
        if trace is not None:
            tr = compute_trace(trace, spec, x, layers[0].h, layers[0].gates, self._routing)
        return ForwardResult(y, Activations(layers) if activations else None, tr)

    def new_state(self, batch: int = 1) -> StreamState:
        return StreamState.zeros(self.spec, batch, self.dtype)

    def step(self, x: np.ndarray, state: StreamState, *, trace: str | None = None):
        spec = self._spec
        xin = normalise_input(spec, np.asarray(x, dtype=self.dtype))
        layer_in = xin
        new_h, new_c, first_gates = [], [], None
        for k, layer in enumerate(spec.lstm):
            z = layer_in @ layer.w_ih.T + (layer.b_ih + layer.b_hh) + state.h[k].astype(self.dtype) @ layer.w_hh.T
            h, c, g = lstm_cell(z, state.c[k].astype(self.dtype))
            new_h.append(h)
            new_c.append(c)
            if k == 0:
                first_gates = g
            layer_in = h
        pooled = state.pooled_after(layer_in, spec.pooling)
        y = apply_head(spec, pooled)
        tr = compute_trace(trace, spec, xin, new_h[0], first_gates, self._routing) if trace is not None else None
        # commit only now: nothing above can leave the state half-updated
        state.commit(new_h, new_c)
        return y, tr

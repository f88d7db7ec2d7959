"""Shared base of the backends that run an exported graph in another engine
(onnxruntime, TFLite).

The engine computes the predictions and every LSTM layer's hidden sequence h; it does
not expose cell states or gates. Those are recomputed here in NumPy (float32), exactly
as the engine's own LSTM defines them:

* gates_t = act(W_ih x_t + W_hh h_{t-1} + b) needs only the layer's input and the
  engine's h (see :func:`actif.traces.layer_gates_from_hidden`);
* c_t = f_t * c_{t-1} + i_t * g_t then follows from the gates with no further weights
  (:func:`actif.traces.cell_from_gates`).

So ``activations`` and every trace come from the engine's h, not from a second forward.

Stateful mode runs two more graphs the subclass builds: a one-step graph with every
layer's (h, c) in and out, and the head on pooled features. The ring of recent hidden
states that mean/max pooling reads is kept and pooled here (a max or mean over at most
``window`` stored vectors), since the exported graph pools over its own window only.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import numpy as np

from ..errors import ModelFormatError
from ..model_spec import ModelSpec
from ..traces import (
    TraceRouting,
    cell_from_gates,
    compute_trace,
    layer_gates_from_hidden,
    lstm_gates,
)
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState
from .numpy_ref import normalise_input


class ExportedGraphBackend(Backend):
    """Subclasses implement :meth:`run_windows`, :meth:`run_step` and :meth:`run_head`."""

    def __init__(self, spec: ModelSpec, num_threads: int | None = None):
        super().__init__(spec, num_threads)
        self._spec32 = spec.astype(np.float32)
        self._routing = TraceRouting.of(self._spec32)
        # one intra-op thread unless asked: these engines are peers in benchmarks, and
        # an edge device runs other work beside the model
        self.threads = int(num_threads) if num_threads else 1

    @property
    def hidden_names(self) -> list[str]:
        """The exported graphs' hidden-sequence outputs, one per LSTM layer."""
        return [f"hidden_{k}" for k in range(self.spec.num_layers)]

    @staticmethod
    def window_model(model_path: str | os.PathLike[str] | None, export: Callable[[], bytes]) -> bytes:
        """The bytes of the file at ``model_path``, else of the spec exported in memory."""
        if model_path is None:
            return export()
        with open(os.fspath(model_path), "rb") as fh:
            return fh.read()

    def check_outputs(self, have: Iterable[str], model_path: str | os.PathLike[str] | None) -> None:
        missing = sorted({"y", *self.hidden_names} - set(have))
        if missing:
            raise ModelFormatError(
                f"{model_path}: the {self.name} graph lacks outputs {missing}; run files written by "
                "'actif export' (to run another ONNX file, import it with actif.load())"
            )

    def check_exported_from_this_model(
        self, model_path: str | os.PathLike[str] | None, fingerprint: str | None, widths: dict[str, object]
    ) -> None:
        """Refuse, at load, an engine file (``model_path``) that was not exported from this
        model: its input/output widths must match, and the fingerprint ``actif export``
        embeds must be this model's. Otherwise predictions would come from one model and
        attribution from another, or fail later with the engine's own errors."""
        if model_path is None:
            return
        from ..interchange import exported_fingerprint

        want = {"x": self.spec.input_size, "y": self.spec.output_size}
        want.update({name: h for name, h in zip(self.hidden_names, self.spec.hidden_sizes)})
        wrong = {n: w for n, w in widths.items() if isinstance(w, (int, np.integer)) and n in want and int(w) != want[n]}
        if wrong:
            raise ModelFormatError(
                f"{model_path}: the {self.name} graph does not fit this model (last-axis sizes {wrong}, "
                f"the model has {dict((n, want[n]) for n in wrong)}); it was exported from another model"
            )
        if fingerprint is None:
            raise ModelFormatError(
                f"{model_path}: carries no actif model fingerprint, so nothing shows it was exported from this "
                "model; export it again with 'actif export'"
            )
        if fingerprint != exported_fingerprint(self.spec):
            raise ModelFormatError(
                f"{model_path} was exported from another model (its fingerprint differs from this model's); "
                "export this model with 'actif export', or load the model the file came from"
            )

    # ------------------------------------------------------------------ engine calls
    def run_windows(self, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Predictions (N, O) and every layer's hidden sequence (N, T, H_k) for windows
        (N, T, I), each window from a zero state."""
        raise NotImplementedError

    def run_step(self, x: np.ndarray, h: list[np.ndarray], c: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """One step of every stream: new (h, c) per layer from samples x (B, I)."""
        raise NotImplementedError

    def run_head(self, pooled: np.ndarray) -> np.ndarray:
        """Predictions (B, O) from pooled top-layer features (B, H_top)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ contract
    def forward(self, X: np.ndarray, *, activations: bool = False, trace: str | None = None) -> ForwardResult:
        spec = self._spec32
        n, t, _ = X.shape
        if n == 0:  # engines differ on empty batches; the answer is known
            hidden = [np.zeros((0, t, h), np.float32) for h in spec.hidden_sizes]
            y = np.zeros((0, spec.output_size), np.float32)
        else:
            y, hidden = self.run_windows(X)
        if not activations and trace is None:  # a plain predict needs nothing more
            return ForwardResult(y, None, None)
        x_norm = normalise_input(spec, X)
        layers: list[LayerActivations] = []
        if activations:
            layer_in = x_norm
            for layer, h in zip(spec.lstm, hidden):
                gates = layer_gates_from_hidden(layer, layer_in, h)
                layers.append(LayerActivations(h, cell_from_gates(gates), gates))
                layer_in = h
        tr = None
        if trace is not None:
            gates0 = None
            if trace == "gates":
                gates0 = layers[0].gates if layers else layer_gates_from_hidden(spec.lstm[0], x_norm, hidden[0])
            tr = compute_trace(trace, spec, x_norm, hidden[0], gates0, self._routing)
        return ForwardResult(y, Activations(layers) if activations else None, tr)

    def step(self, x: np.ndarray, state: StreamState, *, trace: str | None = None):
        spec = self._spec32
        new_h, new_c = self.run_step(x, state.h, state.c)
        pooled = state.pooled_after(new_h[-1], spec.pooling)
        y = self.run_head(np.ascontiguousarray(pooled, np.float32))
        tr = None
        if trace is not None:
            x_norm = normalise_input(spec, x)
            gates0 = lstm_gates(spec.lstm[0], x_norm, state.h[0]) if trace == "gates" else None
            tr = compute_trace(trace, spec, x_norm, new_h[0], gates0, self._routing)
        # commit only now: an engine error above leaves the state as it was
        state.commit(new_h, new_c)
        return y, tr

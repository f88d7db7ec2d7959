"""The model's equations in plain NumPy: the float64 reference every engine is checked
against (docs/architecture.md, "Backends").

Clarity beats speed here; every step follows the equations line by line. The numpy
backend (:mod:`actif.backends.numpy_ref`) runs these; the importers verify an imported
model with :func:`forward_outputs` (this module imports no backend, so importers and
backends never import each other).
"""

from __future__ import annotations

import numpy as np

from .model_spec import ModelSpec
from .traces import activate_gates, sigmoid


def apply_activation(name: str, v: np.ndarray) -> np.ndarray:
    if name == "identity":
        return v
    if name == "relu":
        return np.maximum(v, 0)
    if name == "elu":
        return np.where(v > 0, v, np.expm1(np.minimum(v, 0)))
    if name == "tanh":
        return np.tanh(v)
    if name == "sigmoid":
        return sigmoid(v)
    raise ValueError(f"unknown activation {name!r}")


def normalise_input(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    if spec.input_scale is None:
        return x
    return x * spec.input_scale.astype(x.dtype) + spec.input_shift.astype(x.dtype)  # type: ignore[union-attr]


def pool(pooling: str, h: np.ndarray) -> np.ndarray:
    """Pool a hidden sequence (N, T, H) over time."""
    if pooling == "last":
        return h[:, -1]
    if pooling == "mean":
        return h.mean(axis=1)
    if pooling == "max":
        return h.max(axis=1)
    raise ValueError(f"unknown pooling {pooling!r}")


def apply_head(spec: ModelSpec, pooled: np.ndarray) -> np.ndarray:
    """Folded-BatchNorm affine and dense layers on pooled features (N, H) -> (N, O)."""
    dt = pooled.dtype
    v = pooled
    if spec.post_scale is not None:
        v = v * spec.post_scale.astype(dt) + spec.post_shift.astype(dt)  # type: ignore[union-attr]
    for layer in spec.dense:
        v = apply_activation(layer.activation, v @ layer.weight.T.astype(dt) + layer.bias.astype(dt))
    return v


def lstm_cell(z: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LSTM step from pre-activations z (B, 4H): returns (h, c, gates)."""
    gates = activate_gates(z)
    hidden = c_prev.shape[-1]
    i, f, g, o = (gates[..., k * hidden : (k + 1) * hidden] for k in range(4))
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c, gates


def forward_outputs(spec: ModelSpec, X: np.ndarray) -> np.ndarray:
    """Predictions (N, O) for windows X (N, T, I), each from a zero state, computed in
    the spec's dtype (use ``spec.astype(np.float64)`` for the reference)."""
    dt = spec.lstm[0].w_ih.dtype
    layer_in = normalise_input(spec, np.asarray(X, dtype=dt))
    n, t, _ = layer_in.shape
    for layer in spec.lstm:
        zx = layer_in @ layer.w_ih.T + (layer.b_ih + layer.b_hh)
        h = np.zeros((n, layer.hidden_size), dt)
        c = np.zeros((n, layer.hidden_size), dt)
        h_seq = np.empty((n, t, layer.hidden_size), dt)
        for step in range(t):
            h, c, _ = lstm_cell(zx[:, step] + h @ layer.w_hh.T, c)
            h_seq[:, step] = h
        layer_in = h_seq
    return apply_head(spec, pool(spec.pooling, layer_in)) if t else np.zeros((n, spec.output_size), dt)

"""Traces: how hidden activity maps back to one non-negative value per input feature.

DeepACTIF aggregates, per input feature, statistics of a per-step activation value.
Hidden units are not input features, so a *trace* says how to read a per-feature value
``a_t`` (length I) off each time step. All traces read the first LSTM layer (the one
that sees the inputs) and the *normalised* input ``x_t`` (after the model's input
affine, i.e. what the LSTM actually sees):

``input``     ``a_t = |x_t|``
``weighted``  ``a_t = |x_t| * (U^T |h_t|)``, ``U[k, j] = sum_gates |W_ih[gate*H + k, j]|``:
              hidden activity routed back through the input weights.
``gates``     ``a_t = |x_t| * (|W_ih|^T |gates_t|)`` with the 4H post-nonlinearity gates.
``paper``     ``a_t[j] = |h_t[j]|`` for ``j < I``: hidden unit j read as feature j, as
              the published reference code does. Unprincipled (hidden units are not
              ordered like the inputs); kept only to reproduce it. Needs ``H >= I``.

The functions here are the float64 NumPy reference; native backends compute the same
quantities in their own pass and are checked against these in the parity tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model_spec import LSTMLayer, ModelSpec

# Forward-only traces are computed here, in the forward pass; the attribution methods
# (gradient, deeplift, integrated, occlusion, lrp) attribute one chosen output and live in
# :mod:`actif.attribution`. Both are ``trace=`` options of the explainers.
FORWARD_TRACES = ("input", "weighted", "gates", "paper")
METHODS = ("gradient", "deeplift", "integrated", "occlusion", "lrp")  # actif.attribution implements them
TRACES = FORWARD_TRACES + METHODS
DEFAULT_TRACE = "weighted"


def check_trace(name: str | None, spec: ModelSpec | None = None, *, forward_only: bool = False) -> str | None:
    """Validate a trace name (``None`` means: no trace) against a model. With
    ``forward_only`` the attribution methods are refused (a forward pass computes only
    the forward-only traces)."""
    if name is None:
        return None
    if name not in TRACES:
        raise ValueError(f"unknown trace {name!r}; choose one of {TRACES}")
    if forward_only and name in METHODS:
        raise ValueError(
            f"{name!r} attributes one chosen output and is not computed by a forward pass: use "
            f"actif.Explainer(model, trace={name!r}).attribute_steps(X) (forward traces: {FORWARD_TRACES})"
        )
    if name == "paper" and spec is not None and spec.hidden_size < spec.input_size:
        raise ValueError(
            f"the 'paper' trace reads hidden unit j as feature j and needs hidden_size >= "
            f"input_size, but this model has H={spec.hidden_size} < I={spec.input_size}"
        )
    return name


def weighted_routing(w_ih: np.ndarray) -> np.ndarray:
    """``U`` (H, I): for hidden unit k and input j, ``sum_g |W_ih[g*H + k, j]|``."""
    four_h, n_in = w_ih.shape
    hidden = four_h // 4
    return np.abs(w_ih).reshape(4, hidden, n_in).sum(axis=0)


@dataclass(frozen=True)
class TraceRouting:
    """The weight matrices the traces route through, derived once per model (a
    streaming backend computes a trace per sample): ``weighted`` is ``U`` (H, I),
    ``gates`` is ``|W_ih|`` (4H, I), both in the first layer's dtype."""

    weighted: np.ndarray
    gates: np.ndarray

    @classmethod
    def of(cls, spec: ModelSpec) -> TraceRouting:
        w_ih = spec.lstm[0].w_ih
        return cls(weighted_routing(w_ih), np.abs(w_ih))


def compute_trace(
    name: str,
    spec: ModelSpec,
    x_norm: np.ndarray,
    h0: np.ndarray,
    gates0: np.ndarray | None = None,
    routing: TraceRouting | None = None,
) -> np.ndarray:
    """The per-step trace (..., I) from the normalised input (..., I) and the first
    layer's h (..., H) and gates (..., 4H); leading axes are kept (windows, steps).
    ``routing``: :meth:`TraceRouting.of` ``spec``, when the caller keeps one."""
    dtype = np.result_type(x_norm.dtype, h0.dtype)
    ax = np.abs(x_norm)
    if name == "input":
        return ax.astype(dtype, copy=True)
    if name in ("weighted", "gates"):
        routing = routing if routing is not None else TraceRouting.of(spec)
    if name == "weighted":
        return ax * (np.abs(h0) @ routing.weighted.astype(dtype, copy=False))
    if name == "gates":
        if gates0 is None:
            raise ValueError("the 'gates' trace needs the first layer's gates")
        return ax * (np.abs(gates0) @ routing.gates.astype(dtype, copy=False))
    if name == "paper":
        check_trace(name, spec)
        return np.abs(h0[..., : spec.input_size]).astype(dtype, copy=True)
    raise ValueError(f"unknown forward trace {name!r}; choose one of {FORWARD_TRACES}")


def layer_gates_from_hidden(layer: LSTMLayer, x_in: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Gates (N, T, 4H) of any LSTM layer from its input (N, T, I) and hidden sequence
    (N, T, H): step t's pre-activation needs only x_t and h_{t-1} (zero at t = 0)."""
    n, _, hidden = h.shape
    dtype = np.result_type(x_in.dtype, h.dtype, np.float32)
    h_prev = np.concatenate([np.zeros((n, 1, hidden), dtype), h[:, :-1]], axis=1)
    return lstm_gates(layer, x_in, h_prev)


def lstm_gates(layer: LSTMLayer, x_in: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
    """Post-nonlinearity gates (..., 4H) from the layer input (..., I) and h_{t-1} (..., H)."""
    dtype = np.result_type(x_in.dtype, h_prev.dtype, np.float32)
    z = x_in @ layer.w_ih.T.astype(dtype) + h_prev @ layer.w_hh.T.astype(dtype)
    z += (layer.b_ih + layer.b_hh).astype(dtype)
    return activate_gates(z)


def cell_from_gates(gates: np.ndarray) -> np.ndarray:
    """The cell sequence (N, T, H) from the gates (N, T, 4H): ``c_t = f*c_{t-1} + i*g``
    from a zero state. Exact given the gates: no weights involved."""
    n, t, four_h = gates.shape
    hidden = four_h // 4
    c = np.empty((n, t, hidden), gates.dtype)
    prev = np.zeros((n, hidden), gates.dtype)
    for step in range(t):
        g = gates[:, step]
        prev = g[:, hidden : 2 * hidden] * prev + g[:, :hidden] * g[:, 2 * hidden : 3 * hidden]
        c[:, step] = prev
    return c


def activate_gates(z: np.ndarray) -> np.ndarray:
    """Apply sigmoid to the i, f, o blocks and tanh to the g block of (..., 4H)."""
    hidden = z.shape[-1] // 4
    out = np.empty_like(z)
    out[..., : 2 * hidden] = sigmoid(z[..., : 2 * hidden])
    out[..., 2 * hidden : 3 * hidden] = np.tanh(z[..., 2 * hidden : 3 * hidden])
    out[..., 3 * hidden :] = sigmoid(z[..., 3 * hidden :])
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) is exact-enough and never overflows, unlike 1/(1+exp(-z))
    return 0.5 * (1.0 + np.tanh(0.5 * z))

"""Attributions of one chosen output: gradient x input, integrated gradients, occlusion.

Unlike the forward-only traces (:mod:`actif.traces`), these methods attribute one
output ``y[target]`` of the model to its *raw* inputs (what the user passes in, before
the input affine), with a sign, one value per window, time step and feature (N, T, I),
so they compare directly with Captum on the equivalent PyTorch module
(:func:`actif.interchange.torch_module.torch_module_from_spec`):

``gradient``    gradient x input (Captum ``InputXGradient``):
                ``A = x * dy/dx``, from one reverse pass.
``deeplift``    DeepLIFT's rescale rule as Captum's ``DeepLift`` applies it to the
                equivalent PyTorch module, from a ``baseline``:
                ``A = (x - b) * m``, where ``m`` is the gradient of ``y`` at ``x`` with
                the derivative of each dense-layer activation replaced by its secant
                ``(f(z) - f(z_b)) / (z - z_b)`` between the pre-activations of ``x`` and
                of the baseline window (the derivative where they differ by less than
                1e-10). Captum hooks nonlinear *modules*; the LSTM cell's sigmoid and
                tanh are inside ``nn.LSTM`` and the temporal pooling is a tensor
                operation, so both are passed by their gradient at ``x``. One forward of
                the baseline window and one reverse pass: about the cost of ``gradient``.
``integrated``  integrated gradients (Captum ``IntegratedGradients``) from a ``baseline``
                with ``n_steps`` nodes of the quadrature ``ig_method`` (:func:`ig_nodes`):
                ``A = (x - b) * sum_k w_k * dy/dx(b + a_k (x - b))``. Its completeness
                error ``delta = sum(A) - (y(x) - y(b))`` is reported.
``occlusion``   feature ablation (Captum ``FeatureAblation`` with one group per input
                feature across time): feature j replaced by its baseline over the whole
                window, ``A[:, t, j] = y(x) - y(x with feature j at baseline)`` for every
                step t (Captum gives a group's value to every element of the group).
``lrp``         layer-wise relevance propagation for LSTMs (Arras et al. 2017, "Explaining
                recurrent neural network predictions in sentiment analysis"): the output
                ``y[target]`` is handed back as relevance, layer by layer, with the epsilon
                rule ``R_in = a_in * W^T (R_out / (z + eps sign z))`` (:data:`LRP_EPSILON`)
                on every weighted sum; the LSTM's multiplicative gates act as weights:
                ``h = o * tanh(c)`` gives c all of h's relevance, ``c = f c_prev + i g``
                splits it between ``f c_prev`` and ``i g`` in proportion, and ``i g``'s
                share goes to the cell input g, whose weighted sum ``W_ig x + W_hg h_prev``
                passes it on to the input and the previous hidden state. Dense
                activations, the post affine and the input affine pass relevance as it
                is; max and last pooling route it to the step they read, mean pooling by
                the epsilon rule. Relevance is measured from the normalised zero (the
                training means: a feature at its mean gets none); no baseline, no
                Captum equivalent (Captum's LRP has no rule for ``nn.LSTM``). One
                reverse pass through a quarter of the LSTM weights.

The default baseline is :func:`default_baseline`: the raw input the model normalises to
zero (its training means). A per-window attribution (N, I) is the sum over time of the
per-step one, as summing Captum's attribution over the time axis gives.

This module holds the float64 NumPy reference (:func:`input_gradient`, the oracle the
tests check against finite differences and Captum) and the generic implementation every
backend inherits (:func:`attribute_with_engine`): the engine's own forward gives the
activations, the reverse pass runs here in NumPy, and occlusion runs the engine itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from . import constants
from .model_spec import LSTMLayer, ModelSpec
from .reference import apply_activation, lstm_cell, normalise_input, pool
from .traces import METHODS, lstm_gates

# ``backend`` arguments below are :class:`actif.backends.base.Backend` objects; this module
# sits below the backends (they call into it), so it does not import them.
Backend = Any
IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
DEFAULT_N_STEPS = 50
DEFAULT_IG_METHOD = "gausslegendre"
MAX_N_STEPS = constants.MAX_INTEGRAL_STEPS
# Forward rows (windows, interpolation points or ablated copies) per engine call when the
# caller gives no internal_batch_size: bounds the memory of the activations kept. A few
# hundred rows stay in cache; larger calls were slower per row on every engine we tried.
DEFAULT_ROWS_PER_CALL = 256

InitialState = Sequence[tuple[np.ndarray, np.ndarray]]
# The methods that take no baseline (a ``baseline`` given to them is not used)
NO_BASELINE = ("gradient", "lrp")


@dataclass
class StepAttribution:
    """Signed attributions of one output to every window, step and raw input feature.

    ``y``: the predictions (N, O) for the inputs; ``values``: (N, T, I); ``delta``: the
    integrated-gradients completeness error per window (N,), ``None`` for the others."""

    y: np.ndarray
    values: np.ndarray
    delta: np.ndarray | None = None

    @property
    def per_window(self) -> np.ndarray:
        """(N, I): each window's attribution summed over its time steps."""
        return self.values.sum(axis=1)


# ------------------------------------------------------------------ options


def check_method(name: str) -> str:
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {name!r}; choose one of {METHODS}")
    return name


def default_baseline(spec: ModelSpec) -> np.ndarray:
    """The baseline (I,) in raw input space: the raw value the input affine maps to 0
    (``-shift / scale``: the training means the model normalises with); zeros when the
    model has no input affine. A feature with scale 0 ignores its input: baseline 0."""
    n_in = spec.input_size
    if spec.input_scale is None or spec.input_shift is None:
        return np.zeros(n_in)
    scale = spec.input_scale.astype(np.float64)
    shift = spec.input_shift.astype(np.float64)
    out = np.zeros(n_in)
    used = scale != 0
    out[used] = -shift[used] / scale[used]
    return out


def ig_nodes(n_steps: int = DEFAULT_N_STEPS, method: str = DEFAULT_IG_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``alphas`` in [0, 1] and weights of the integrated-gradients quadrature,
    as Captum's ``IntegratedGradients(method=...)`` defines them: Gauss-Legendre on
    [0, 1], or a Riemann sum (left, right, middle, trapezoid; these need n_steps >= 2).
    The arrays are read-only and shared between calls."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or not 1 <= n_steps <= MAX_N_STEPS:
        raise ValueError(f"n_steps must be an integer in [1, {MAX_N_STEPS}], got {n_steps!r}")
    if method not in IG_METHODS:
        raise ValueError(f"unknown ig_method {method!r}; choose one of {IG_METHODS}")
    if method != "gausslegendre" and n_steps < 2:
        raise ValueError(f"the {method} rule needs n_steps >= 2, got {int(n_steps)}")
    return _quadrature(int(n_steps), method)


@functools.lru_cache(maxsize=32)
def _quadrature(n: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ig_nodes` once per rule: Gauss-Legendre of 50 nodes takes NumPy about a
    millisecond (an eigenvalue problem), more than a native attribution of a window."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        alphas, weights = 0.5 * (1.0 + nodes), 0.5 * weights
    else:
        weights = np.full(n, 1.0 / n)
        if method == "riemann_trapezoid":
            weights[0] /= 2
            weights[-1] /= 2
            alphas = np.linspace(0.0, 1.0, n)
        else:
            lo, hi = {"riemann_left": (0.0, 1.0 - 1.0 / n), "riemann_right": (1.0 / n, 1.0),
                      "riemann_middle": (0.5 / n, 1.0 - 0.5 / n)}[method]
            alphas = np.linspace(lo, hi, n)
    alphas.flags.writeable = False
    weights.flags.writeable = False
    return alphas, weights


def completeness_error(values: np.ndarray, delta: np.ndarray) -> float:
    """How far integrated gradients' attributions ``values`` (N, T, I) are from adding
    up, over all windows: ``sum |delta| / sum |y(x) - y(baseline)|``, with ``delta`` (N,)
    their completeness error ``sum(A) - (y(x) - y(baseline))`` per window; 0 when no
    window's output moves from the baseline's."""
    delta = np.asarray(delta, np.float64)
    change = np.abs(np.asarray(values, np.float64).sum(axis=(1, 2)) - delta).sum()  # sum of |y(x) - y(baseline)|
    return float(np.abs(delta).sum() / change) if change > 0 else 0.0


def check_target(target: Any, n_outputs: int, n_rows: int) -> np.ndarray:
    """``target`` (an output index, or one per window) as an int array (n_rows,)."""
    if type(target) is int and 0 <= target < n_outputs:  # the common case, per call of a device's loop
        return np.full(n_rows, target, np.int64)
    arr = np.asarray(target)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise ValueError(f"target must be an output index (int) or one index per window, got {target!r}")
    if arr.ndim == 1 and arr.shape[0] != n_rows:
        raise ValueError(f"target holds {arr.shape[0]} indices for {n_rows} windows")
    if arr.size and (arr.min() < 0 or arr.max() >= n_outputs):
        bad = int(arr.min() if arr.min() < 0 else arr.max())
        raise ValueError(f"target {bad} is out of range: the model has {n_outputs} output(s), indices 0..{n_outputs - 1}")
    return np.broadcast_to(arr.astype(np.int64), (n_rows,))


def check_baseline(baseline: Any, spec: ModelSpec, shape: tuple[int, int, int]) -> np.ndarray:
    """The baseline as a float64 array broadcastable to the windows' ``shape`` (N, T, I):
    ``None`` gives :func:`default_baseline`; else a scalar, (I,), (T, I) or (N, T, I)."""
    if baseline is None:
        return default_baseline(spec)
    arr = check_baseline_values(baseline, spec)
    try:
        np.broadcast_shapes(arr.shape, shape)
    except ValueError:
        raise ValueError(f"baseline of shape {arr.shape} does not broadcast to the windows' shape {shape}") from None
    return arr


def check_initial_state(initial_state: InitialState | None, spec: ModelSpec, n_rows: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """One ``(h0, c0)`` per LSTM layer, each (N, H_k) (or (H_k,)/(1, H_k), shared), finite."""
    if initial_state is None:
        return None
    if len(initial_state) != spec.num_layers:
        raise ValueError(f"initial_state needs one (h0, c0) per LSTM layer ({spec.num_layers}), got {len(initial_state)}")
    out = []
    for k, pair in enumerate(initial_state):
        if len(pair) != 2:
            raise ValueError(f"initial_state[{k}] must be a pair (h0, c0)")
        hidden = spec.hidden_sizes[k]
        arrays = []
        for what, a in zip(("h0", "c0"), pair):
            a = np.asarray(a, dtype=np.float64)
            try:
                a = np.broadcast_to(a, (n_rows, hidden))
            except ValueError:
                raise ValueError(f"initial_state[{k}] {what} has shape {a.shape}, expected ({n_rows}, {hidden})") from None
            if not np.all(np.isfinite(a)):
                raise ValueError(f"initial_state[{k}] {what} holds NaN or Inf")
            arrays.append(a)
        out.append((arrays[0], arrays[1]))
    return out


@dataclass(frozen=True, eq=False)
class MethodOptions:
    """An attribution method with its options, checked once against a model (what the
    explainers hold): ``target`` an output index (or one per window), ``baseline``
    ``None`` (the default baseline) or a raw-space array (scalar, (I,), (T, I) or
    (N, T, I)), ``n_steps`` and ``ig_method`` for ``integrated``."""

    method: str
    target: Any = 0
    baseline: np.ndarray | None = None
    n_steps: int = DEFAULT_N_STEPS
    ig_method: str = DEFAULT_IG_METHOD

    @classmethod
    def checked(
        cls, spec: ModelSpec, method: str, target: Any = 0, baseline: Any = None, n_steps: int = DEFAULT_N_STEPS,
        ig_method: str = DEFAULT_IG_METHOD, limit: float | None = None,
    ) -> MethodOptions:
        check_method(method)
        ig_nodes(n_steps, ig_method)  # checks both
        if baseline is None and method not in NO_BASELINE and limit is not None and np.abs(default_baseline(spec)).max(initial=0) > limit:
            raise ValueError(
                f"the model's default baseline (-input_shift / input_scale) reaches |value| "
                f"{np.abs(default_baseline(spec)).max():.3g}, beyond its input limit {limit:g}: pass baseline="
            )
        return cls(method, check_target_index(target, spec.output_size), check_baseline_values(baseline, spec, limit),
                   int(n_steps), ig_method)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MethodOptions):
            return NotImplemented
        same_arrays = all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in ((self.baseline, other.baseline), (np.asarray(self.target), np.asarray(other.target)))
        )
        return same_arrays and (self.method, self.n_steps, self.ig_method) == (other.method, other.n_steps, other.ig_method)

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def run(
        self, backend: Backend, X: np.ndarray, *, target: Any = None, baseline: Any = None,
        initial_state: InitialState | None = None, internal_batch_size: int | None = None,
    ) -> StepAttribution:
        """``backend.attribute`` with these options; ``target``/``baseline`` override them."""
        return backend.attribute(
            X, self.method, target=self.target if target is None else target,
            baseline=self.baseline if baseline is None else baseline, n_steps=self.n_steps, ig_method=self.ig_method,
            initial_state=initial_state, internal_batch_size=internal_batch_size,
        )

    def run_stats(
        self, backend: Backend, X: np.ndarray, abs_stats: Any, signed_stats: Any, *, target: Any = None, baseline: Any = None,
    ) -> np.ndarray:
        """``backend.attribute_stats`` with these options: every step's |A| row into
        ``abs_stats`` and A row into ``signed_stats`` (statistics implementations, either
        may be ``None``); returns y. ``target``/``baseline`` override the options'."""
        return backend.attribute_stats(
            X, self.method, abs_stats, signed_stats, target=self.target if target is None else target,
            baseline=self.baseline if baseline is None else baseline, n_steps=self.n_steps, ig_method=self.ig_method,
        )


def check_target_index(target: Any, n_outputs: int) -> Any:
    """An output index (int) or a 1-D array of them, each in range; the windows they
    pair with are counted when the attribution runs (:func:`check_target`)."""
    arr = np.asarray(target)
    check_target(arr, n_outputs, arr.shape[0] if arr.ndim == 1 else 1)
    return int(arr) if arr.ndim == 0 else arr.astype(np.int64)


def check_baseline_values(baseline: Any, spec: ModelSpec, limit: float | None = None) -> np.ndarray | None:
    """A user baseline as float64 (scalar, (I,), (T, I) or (N, T, I)), finite and within
    the model's input limit (a baseline is an input); ``None`` stays ``None``."""
    if baseline is None:
        return None
    arr = np.asarray(baseline)
    n_in = spec.input_size
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"baseline must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim > 3 or (arr.ndim and arr.shape[-1] != n_in):
        raise ValueError(f"baseline must be a scalar or have shape (I,), (T, I) or (N, T, I) with I = {n_in}, got {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("baseline holds NaN or Inf")
    if limit is not None and arr.size and np.abs(arr).max() > limit:
        raise ValueError(f"baseline holds |value| {np.abs(arr).max():.3g} beyond the model's input limit {limit:g}")
    return arr


# ------------------------------------------------------------------ the reverse pass


@dataclass
class LayerTape:
    """What the reverse pass needs of one LSTM layer: h, c (N, T, H), the
    post-nonlinearity gates (N, T, 4H), the cell state carried in, c0 (N, H), and the
    hidden state carried in, h0 (N, H; ``None``: zeros)."""

    h: np.ndarray
    c: np.ndarray
    gates: np.ndarray
    c0: np.ndarray
    h0: np.ndarray | None = None

    def h_prev(self) -> np.ndarray:
        """The hidden state each step starts from (N, T, H)."""
        return starting_states(np.zeros_like(self.h[:, 0]) if self.h0 is None else self.h0, self.h)

    def c_prev(self) -> np.ndarray:
        """The cell state each step starts from (N, T, H)."""
        return starting_states(self.c0, self.c)


def starting_states(initial: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The state each step of ``seq`` (N, T, H) starts from: ``initial`` ((N, H) or
    broadcastable), then ``seq`` shifted by one step."""
    first = np.broadcast_to(initial, seq[:, 0].shape)
    return np.concatenate([first[:, None, :], seq[:, :-1]], axis=1)


def _activation_grad(name: str, pre: np.ndarray, out: np.ndarray) -> np.ndarray | float:
    if name == "identity":
        return 1.0
    if name == "relu":
        return (pre > 0).astype(pre.dtype)  # 0 at 0, as autograd
    if name == "elu":
        return np.where(pre > 0, 1.0, np.exp(np.minimum(pre, 0)))
    if name == "tanh":
        return 1.0 - out * out
    if name == "sigmoid":
        return out * (1.0 - out)
    raise ValueError(f"unknown activation {name!r}")


def _post_affine(spec: ModelSpec, pooled: np.ndarray) -> np.ndarray:
    """The folded-BatchNorm affine on the pooled features (the head's input)."""
    return pooled if spec.post_scale is None else pooled * spec.post_scale + spec.post_shift


def _head_forward(spec: ModelSpec, pooled: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Post affine and dense layers (float64), keeping each layer's (pre, out)."""
    v = _post_affine(spec, pooled)
    tape = []
    for layer in spec.dense:
        pre = v @ layer.weight.T + layer.bias
        v = apply_activation(layer.activation, pre)
        tape.append((pre, v))
    return v, tape


# DeepLIFT's rescale rule falls back to the derivative where the pre-activations of the
# input and of the baseline differ by less than this (Captum's DeepLift default eps).
RESCALE_EPS = constants.DEEPLIFT_RESCALE_EPS


def _rescale_multiplier(name: str, pre: np.ndarray, out: np.ndarray, pre_ref: np.ndarray, out_ref: np.ndarray) -> np.ndarray | float:
    """DeepLIFT's rescale rule for one activation: ``(f(z) - f(z_b)) / (z - z_b)``, the
    derivative at ``z`` where ``|z - z_b| < RESCALE_EPS`` (as Captum's ``nonlinear``),
    in float64 (the head runs in float64 here whatever the engine)."""
    if name == "identity":
        return 1.0
    d_in = pre - pre_ref
    close = np.abs(d_in) < RESCALE_EPS
    secant = (out - out_ref) / np.where(close, 1.0, d_in)
    return np.where(close, _activation_grad(name, pre, out), secant)


def _head_backward(
    spec: ModelSpec, tape: list[tuple[np.ndarray, np.ndarray]], seed: np.ndarray,
    reference: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """d y_seed / d pooled (N, H_top) from the seed (N, O) on the outputs. With
    ``reference`` (the baseline's head tape), DeepLIFT's rescale multipliers replace the
    activations' derivatives."""
    g = seed
    for k in range(len(spec.dense) - 1, -1, -1):
        layer, (pre, out) = spec.dense[k], tape[k]
        if reference is None:
            factor = _activation_grad(layer.activation, pre, out)
        else:
            factor = _rescale_multiplier(layer.activation, pre, out, *reference[k])
        g = (g * factor) @ layer.weight
    if spec.post_scale is not None:
        g = g * spec.post_scale
    return g


def _pool_backward(pooling: str, h_top: np.ndarray, g_pooled: np.ndarray) -> np.ndarray:
    """Spread the gradient on the pooled features over the hidden sequence (N, T, H)."""
    n, t, hidden = h_top.shape
    dh = np.zeros((n, t, hidden))
    if pooling == "last":
        dh[:, -1] = g_pooled
    elif pooling == "mean":
        dh[:] = g_pooled[:, None, :] / t
    elif pooling == "max":  # to the step holding the maximum, as autograd routes it
        where = h_top.argmax(axis=1)  # (N, H)
        np.put_along_axis(dh, where[:, None, :], g_pooled[:, None, :], axis=1)
    else:
        raise ValueError(f"unknown pooling {pooling!r}")
    return dh


def lstm_backward(layer: LSTMLayer, tape: LayerTape, dh_out: np.ndarray) -> np.ndarray:
    """Backpropagation through time of one layer: from the gradient on its hidden
    sequence (N, T, H) to the gradient on its input sequence (N, T, I_k). The gradient
    is not carried into the initial state (it is truncated there). This is the float64
    reference; an engine may bring a compiled one (``Backend.lstm_backward``)."""
    n, t, hidden = tape.h.shape
    w_hh = np.asarray(layer.w_hh, np.float64)
    # time-major copies: every step below reads and writes contiguous (N, .) blocks
    gates_tm = np.ascontiguousarray(tape.gates.transpose(1, 0, 2), dtype=np.float64)
    c_tm = np.ascontiguousarray(tape.c.transpose(1, 0, 2), dtype=np.float64)
    dh_tm = np.ascontiguousarray(dh_out.transpose(1, 0, 2))
    tanh_c_tm = np.tanh(c_tm)
    dz = np.empty((t, n, 4 * hidden))
    dh_next = np.zeros((n, hidden))
    dc_next = np.zeros((n, hidden))
    for step in range(t - 1, -1, -1):
        gates = gates_tm[step]
        i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
        tanh_c = tanh_c_tm[step]
        dh = dh_tm[step] + dh_next
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        c_prev = c_tm[step - 1] if step else tape.c0
        dz_t = dz[step]
        dz_t[:, :hidden] = dc * g * i * (1.0 - i)
        dz_t[:, hidden : 2 * hidden] = dc * c_prev * f * (1.0 - f)
        dz_t[:, 2 * hidden : 3 * hidden] = dc * i * (1.0 - g * g)
        dz_t[:, 3 * hidden :] = dh * tanh_c * o * (1.0 - o)
        dc_next = dc * f
        dh_next = dz_t @ w_hh
    return (dz @ np.asarray(layer.w_ih, np.float64)).transpose(1, 0, 2)


def head_tape(spec64: ModelSpec, tapes: list[LayerTape]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each dense layer's (pre-activation, output) (float64) for windows whose LSTM
    tapes are ``tapes``: the reference DeepLIFT compares against, from the baseline's."""
    return _head_forward(spec64, pool(spec64.pooling, tapes[-1].h))[1]


def reverse_pass(
    spec64: ModelSpec, tapes: list[LayerTape], target: np.ndarray, layer_backward: Callable[..., np.ndarray] | None = None,
    reference: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y (N, O), dy[target]/dx_raw (N, T, I))`` in float64 from every layer's tape.

    ``spec64``: the model in float64. The head is re-run from the pooled top-layer h
    (it is small), then the gradient flows back through the pooling, each LSTM layer
    (top to bottom, with ``layer_backward``, default :func:`lstm_backward`) and the
    input affine. With ``reference`` (:func:`head_tape` of the baseline windows), the
    dense activations pass DeepLIFT's rescale multipliers instead of their derivatives."""
    layer_backward = layer_backward or lstm_backward
    h_top = tapes[-1].h
    y, tape = _head_forward(spec64, pool(spec64.pooling, h_top))
    seed = np.zeros_like(y)
    seed[np.arange(y.shape[0]), target] = 1.0
    g = _pool_backward(spec64.pooling, h_top, _head_backward(spec64, tape, seed, reference))
    for layer, tape in zip(reversed(spec64.lstm), reversed(tapes)):
        g = layer_backward(layer, tape, g)
    if spec64.input_scale is not None:
        g = g * spec64.input_scale
    return y, g


# LRP's epsilon: the stabiliser added (with z's sign) to every denominator z. Tiny values
# give the bare rule, which lets units whose weighted sum nearly cancels amplify noise
# (constants.json says how 0.1 was chosen).
LRP_EPSILON = constants.LRP_EPSILON


def _stabilised(z: np.ndarray, eps: float) -> np.ndarray:
    """``z + eps * sign(z)``: never closer to zero than eps."""
    return z + np.copysign(eps, z)


def _lrp_layer(layer: LSTMLayer, tape: LayerTape, layer_in: np.ndarray, relevance_h: np.ndarray, eps: float) -> np.ndarray:
    """One LSTM layer's relevance, from its hidden sequence (N, T, H) to its input
    sequence (N, T, I_k), by the gate-as-weight rules (module docstring). What would
    flow into the initial state is dropped (truncated there, as the gradient is)."""
    n, t, hidden = tape.h.shape
    cell = slice(2 * hidden, 3 * hidden)  # the cell input g's rows of the packed i, f, g, o
    w_ig, w_hg = layer.w_ih[cell], layer.w_hh[cell]
    # time-major (T, N, .) copies: the loop below reads and writes contiguous blocks
    h_prev = np.ascontiguousarray(tape.h_prev().transpose(1, 0, 2))
    c_prev = tape.c_prev().transpose(1, 0, 2)
    gates = tape.gates.transpose(1, 0, 2)
    i, f, g = (gates[..., k * hidden : (k + 1) * hidden] for k in range(3))
    z_g = layer_in.transpose(1, 0, 2) @ w_ig.T + h_prev @ w_hg.T + (layer.b_ih + layer.b_hh)[cell]
    per_c = 1.0 / _stabilised(tape.c.transpose(1, 0, 2), eps)
    to_c_prev = f * c_prev * per_c  # c's relevance passed on to c_prev, per unit of it
    to_z_g = i * g * per_c / _stabilised(z_g, eps)  # ... and to z_g, divided by z_g: the share W takes
    r_h = relevance_h.transpose(1, 0, 2)
    share = np.empty((t, n, hidden), z_g.dtype)
    carry_c = np.zeros((n, hidden), z_g.dtype)
    carry_h = np.zeros((n, hidden), z_g.dtype)
    for step in range(t - 1, -1, -1):
        r_c = r_h[step] + carry_h + carry_c
        carry_c = to_c_prev[step] * r_c
        share[step] = to_z_g[step] * r_c
        carry_h = h_prev[step] * (share[step] @ w_hg)
    return layer_in * (share @ w_ig).transpose(1, 0, 2)


def lrp_pass(spec: ModelSpec, tapes: list[LayerTape], target: np.ndarray, x_norm: np.ndarray, eps: float = LRP_EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """``(y (N, O), relevance (N, T, I))``: LRP of ``y[target]`` (module docstring) from
    every layer's tape and the normalised input ``x_norm`` (N, T, I), computed in the
    dtype of ``spec`` and the tapes (float64 for the reference)."""
    h_top = tapes[-1].h
    pooled = pool(spec.pooling, h_top)
    y, tape = _head_forward(spec, pooled)
    rows = np.arange(y.shape[0])
    relevance = np.zeros_like(y)
    relevance[rows, target] = y[rows, target]
    for k in range(len(spec.dense) - 1, -1, -1):  # dense layers: epsilon rule, activations pass
        a_in = tape[k - 1][1] if k else _post_affine(spec, pooled)
        relevance = a_in * ((relevance / _stabilised(tape[k][0], eps)) @ spec.dense[k].weight)
    if spec.pooling == "mean":  # a weighted sum over steps: the epsilon rule
        r_h = (h_top / h_top.shape[1]) * (relevance / _stabilised(pooled, eps))[:, None, :]
    else:  # the step each pooled unit reads gets all of its relevance
        r_h = _pool_backward(spec.pooling, h_top, relevance)
    inputs = [x_norm] + [tp.h for tp in tapes[:-1]]
    for layer, tp, layer_in in zip(reversed(spec.lstm), reversed(tapes), reversed(inputs)):
        r_h = _lrp_layer(layer, tp, layer_in, r_h, eps)
    return y, r_h


def lrp_relevance(
    spec: ModelSpec, X_raw: np.ndarray, target: Any = 0, initial_state: InitialState | None = None, eps: float = LRP_EPSILON
) -> tuple[np.ndarray, np.ndarray]:
    """The float64 reference of ``lrp``: ``(y (N, O), relevance (N, T, I))`` for windows
    ``X_raw`` (N, T, I), from a zero state or ``initial_state``."""
    spec64 = spec.astype(np.float64)
    X = np.asarray(X_raw, np.float64)
    if X.ndim != 3 or X.shape[-1] != spec.input_size or X.shape[1] < 1:
        raise ValueError(f"X_raw must have shape (N, T, {spec.input_size}) with T >= 1, got {X.shape}")
    targets = check_target(target, spec.output_size, X.shape[0])
    return lrp_pass(spec64, forward_tapes(spec64, X, initial_state), targets, normalise_input(spec64, X), eps)


def forward_tapes(spec64: ModelSpec, X: np.ndarray, initial_state: InitialState | None = None) -> list[LayerTape]:
    """The float64 forward of windows X (N, T, I) (raw), from ``initial_state`` (one
    (h0, c0) per layer) or zeros, keeping every layer's tape."""
    x = normalise_input(spec64, np.asarray(X, np.float64))
    n, t, _ = x.shape
    state = check_initial_state(initial_state, spec64, n)
    tapes = []
    layer_in = x
    for k, layer in enumerate(spec64.lstm):
        hidden = layer.hidden_size
        zx = layer_in @ layer.w_ih.T + (layer.b_ih + layer.b_hh)
        h_seq, c_seq, g_seq = np.empty((n, t, hidden)), np.empty((n, t, hidden)), np.empty((n, t, 4 * hidden))
        h0 = np.zeros((n, hidden)) if state is None else state[k][0]
        c0 = np.zeros((n, hidden)) if state is None else state[k][1]
        h, c = h0, c0
        for step in range(t):
            h, c, g = lstm_cell(zx[:, step] + h @ layer.w_hh.T, c)
            h_seq[:, step], c_seq[:, step], g_seq[:, step] = h, c, g
        tapes.append(LayerTape(h_seq, c_seq, g_seq, np.array(c0), np.array(h0)))
        layer_in = h_seq
    return tapes


def input_gradient(
    spec: ModelSpec, X_raw: np.ndarray, target: Any = 0, initial_state: InitialState | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The float64 reference: ``(y (N, O), dy[target]/dx_raw (N, T, I))`` for windows
    ``X_raw`` (N, T, I) in raw input space, from a zero state or ``initial_state`` (one
    ``(h0 (N, H), c0 (N, H))`` per layer; the gradient is truncated there). Max pooling
    routes the gradient to the step holding the maximum, as autograd does."""
    spec64 = spec.astype(np.float64)
    X = np.asarray(X_raw, np.float64)
    if X.ndim != 3 or X.shape[-1] != spec.input_size or X.shape[1] < 1:
        raise ValueError(f"X_raw must have shape (N, T, {spec.input_size}) with T >= 1, got {X.shape}")
    targets = check_target(target, spec.output_size, X.shape[0])
    return reverse_pass(spec64, forward_tapes(spec64, X, initial_state), targets)


# ------------------------------------------------------------------ any engine


def check_request(
    spec: ModelSpec, X: np.ndarray, method: str, target: Any, initial_state: InitialState | None,
    internal_batch_size: int | None,
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]] | None]:
    """The checks every :meth:`Backend.attribute` makes before any work, for windows X
    (N, T, I): returns the targets (N,) and the initial state (or ``None``)."""
    check_method(method)
    n, t, _ = X.shape
    targets = check_target(target, spec.output_size, n)
    state = check_initial_state(initial_state, spec, n)
    if internal_batch_size is not None and (
        isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, (int, np.integer)) or internal_batch_size < 1
    ):
        raise ValueError(f"internal_batch_size must be a positive integer or None, got {internal_batch_size!r}")
    if state is not None and spec.pooling != "last" and t > spec.window:
        raise ValueError(
            f"from an initial state, {spec.pooling} pooling covers at most the model's window "
            f"({spec.window} steps), as in stateful streaming; got windows of {t} steps"
        )
    return targets, state


def attribute_with_engine(
    backend: Backend,
    X: np.ndarray,
    method: str,
    *,
    target: Any = 0,
    baseline: Any = None,
    n_steps: int = DEFAULT_N_STEPS,
    ig_method: str = DEFAULT_IG_METHOD,
    initial_state: InitialState | None = None,
    internal_batch_size: int | None = None,
) -> StepAttribution:
    """The generic implementation of :meth:`actif.backends.base.Backend.attribute`.

    Activations come from the engine's own forward (from ``initial_state``: the engine
    stepped through the window), the reverse pass runs in float64 NumPy, occlusion runs
    the engine on the ablated copies. All n_steps interpolation points (all I+1 ablated
    copies) of a window go through the engine together; ``internal_batch_size`` caps the
    rows of one engine call (default :data:`DEFAULT_ROWS_PER_CALL`)."""
    spec = backend.spec
    targets, state = check_request(spec, X, method, target, initial_state, internal_batch_size)
    engine = _Engine(backend, internal_batch_size)
    n, t, n_in = X.shape
    if n == 0:  # nothing to attribute; engines differ on empty batches
        empty = np.zeros((0, spec.output_size), engine.dtype), np.zeros((0, t, n_in), engine.dtype)
        return StepAttribution(*empty, np.zeros(0) if method == "integrated" else None)
    if method == "gradient":
        y, grad = engine.gradient(X, targets, state)
        return StepAttribution(engine.out(y), engine.out(grad * X))
    if method == "lrp":
        y, relevance = engine.relevance(X, targets, state)
        return StepAttribution(engine.out(y), engine.out(relevance))
    checked = check_baseline(baseline, spec, X.shape)
    base = np.broadcast_to(checked, X.shape)
    if method == "deeplift":
        # one baseline window for all when it does not vary over windows (then, from the
        # zero state, every window's reference is the same and its forward runs once)
        per_window = checked.ndim == 3 and checked.shape[0] > 1
        reference = base if per_window else np.broadcast_to(checked, (1, *X.shape[1:]))
        y, multipliers = engine.gradient(X, targets, state, reference=reference)
        return StepAttribution(engine.out(y), engine.out(multipliers * (X - base)))
    if method == "integrated":
        alphas, weights = ig_nodes(n_steps, ig_method)
        return _integrated(engine, X, base, targets, state, alphas, weights)
    return _occlusion(engine, X, base, targets, state)


class _Engine:
    """One backend's forward, in slices of at most ``rows`` windows, from zero or from
    given states; results in float64."""

    def __init__(self, backend: Backend, rows: int | None):
        self.backend = backend
        self.rows = rows
        self.spec64 = backend.spec_in(np.float64)
        # the engine's input dtype: float64 for the NumPy reference, else float32
        self.dtype = np.dtype(getattr(backend, "dtype", np.float32))

    def out(self, a: np.ndarray) -> np.ndarray:
        return a.astype(self.dtype, copy=False)

    def slices(self, total: int) -> list[slice]:
        """Row ranges of at most ``rows`` (default :data:`DEFAULT_ROWS_PER_CALL`): one
        engine call each."""
        step = self.rows if self.rows is not None else DEFAULT_ROWS_PER_CALL
        return [slice(s, min(s + step, total)) for s in range(0, total, step)]

    def _input(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(X, dtype=self.dtype)

    def _state_rows(self, state, rows: slice | np.ndarray):
        return None if state is None else [(h[rows], c[rows]) for h, c in state]

    def tapes(self, X: np.ndarray, state, dtype: Any = np.float64) -> tuple[np.ndarray, list[LayerTape]]:
        """Predictions (float64) and per-layer tapes of one engine run (no slicing). The
        tapes are in ``dtype`` from the zero state, in float64 from a given state."""
        n = X.shape[0]
        if state is None:
            res = self.backend.forward(self._input(X), activations=True)
            assert res.activations is not None
            tapes = [
                LayerTape(np.asarray(la.h, dtype), np.asarray(la.c, dtype), np.asarray(la.gates, dtype),
                          np.zeros((n, la.h.shape[-1]), dtype))
                for la in res.activations.layers
            ]
            return np.asarray(res.y, np.float64), tapes
        y, hs, cs = self._step_through(X, state)
        tapes = []
        layer_in = X if self.spec64.input_scale is None else X * self.spec64.input_scale + self.spec64.input_shift
        for layer, h, c, (h0, c0) in zip(self.spec64.lstm, hs, cs, state):
            tapes.append(LayerTape(h, c, lstm_gates(layer, layer_in, starting_states(h0, h)), np.asarray(c0), np.asarray(h0)))
            layer_in = h
        return y, tapes

    def predict(self, X: np.ndarray, state) -> np.ndarray:
        out = []
        for s in self.slices(X.shape[0]):
            if state is None:
                out.append(np.asarray(self.backend.forward(self._input(X[s])).y, np.float64))
            else:
                out.append(self._step_through(X[s], self._state_rows(state, s))[0])
        return np.concatenate(out) if out else np.zeros((0, self.spec64.output_size))

    def _step_through(self, X: np.ndarray, state) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """The engine run through windows X from ``state`` (in one call when it has
        :meth:`~actif.backends.base.Backend.forward_from`, else stepped): y at the last
        step and every layer's h and c sequences (float64). The stream's pooling window
        is the model's, so mean/max pooling covers the T <= window steps given."""
        whole = self.backend.forward_from(self._input(X), state)
        if whole is not None:  # the engine's window kernel from these states, in one run
            y, hs, cs = whole
            return np.asarray(y, np.float64), [np.asarray(h, np.float64) for h in hs], [np.asarray(c, np.float64) for c in cs]
        n, t, _ = X.shape
        stream = self.backend.new_state(n)
        _load_stream(stream, state)
        hs = [np.empty((n, t, hk)) for hk in self.spec64.hidden_sizes]
        cs = [np.empty((n, t, hk)) for hk in self.spec64.hidden_sizes]
        y = np.zeros((n, self.spec64.output_size))
        for step in range(t):
            y, _ = self.backend.step(self._input(X[:, step]), stream)
            for k in range(len(hs)):
                hs[k][:, step] = stream.h[k]
                cs[k][:, step] = stream.c[k]
        return np.asarray(y, np.float64), hs, cs

    def relevance(self, X: np.ndarray, targets: np.ndarray, state) -> tuple[np.ndarray, np.ndarray]:
        """y (N, O) and the LRP relevance of y[target] (N, T, I), in slices. From the
        zero state the relevance is computed in the engine's own dtype (float32 rounding
        stays far below the epsilon rule's own approximation; the tests hold it to the
        float64 reference); from a given state in float64."""
        spec = self.spec64 if state is not None or self.dtype == np.float64 else self.backend.spec_in(self.dtype)
        ys, out = [], []
        for s in self.slices(X.shape[0]):
            y_engine, tapes = self.tapes(X[s], self._state_rows(state, s), self.dtype)
            x_norm = normalise_input(spec, np.asarray(X[s], spec.lstm[0].w_ih.dtype))
            out.append(lrp_pass(spec, tapes, targets[s], x_norm)[1])
            ys.append(y_engine)
        return np.concatenate(ys), np.concatenate(out)

    def gradient(self, X: np.ndarray, targets: np.ndarray, state, reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """y (N, O) and d y[target] / d x_raw (N, T, I), in slices. With ``reference``
        (baseline windows run from the same state: X's shape, or one window for all),
        DeepLIFT's multipliers instead of the gradient."""
        shared = None  # from the zero state one baseline window has one head: run it once
        if reference is not None and state is None and reference.shape[0] == 1:
            shared = head_tape(self.spec64, self.tapes(reference, None)[1])  # (1, .) rows broadcast over a slice
        elif reference is not None:
            reference = np.broadcast_to(reference, X.shape)
        ys, grads = [], []
        for s in self.slices(X.shape[0]):
            rows = self._state_rows(state, s)
            head_ref = shared
            if reference is not None and shared is None:
                head_ref = head_tape(self.spec64, self.tapes(reference[s], rows)[1])
            y_engine, tapes = self.tapes(X[s], rows)
            _, grad = reverse_pass(self.spec64, tapes, targets[s], self.backend.lstm_backward, head_ref)
            ys.append(y_engine)
            grads.append(grad)
        return np.concatenate(ys), np.concatenate(grads)


def _load_stream(stream: Any, state: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Put a fresh stream state at the given (h0, c0) per layer, empty ring, no steps
    (through ``assign``, the stream-state interface every backend's state has)."""
    stream.assign([h for h, _ in state], [c for _, c in state], np.zeros(np.shape(stream.ring)), 0)


def _integrated(engine: _Engine, X, base, targets, state, alphas, weights) -> StepAttribution:
    n, t, n_in = X.shape
    k = alphas.shape[0]
    values = np.empty((n, t, n_in))
    diff = X - base
    # windows per chunk: all k interpolation points of a window go through the engine together
    per_chunk = max(1, (engine.rows or DEFAULT_ROWS_PER_CALL) // k)
    for start in range(0, n, per_chunk):
        w = slice(start, min(start + per_chunk, n))
        m = w.stop - w.start
        points = (base[w][:, None] + alphas[None, :, None, None] * diff[w][:, None]).reshape(m * k, t, n_in)
        rows = np.repeat(np.arange(w.start, w.stop), k)  # window of each point
        _, grad = engine.gradient(points, targets[rows], engine._state_rows(state, rows))
        values[w] = diff[w] * np.tensordot(weights, grad.reshape(m, k, t, n_in), axes=([0], [1]))
    ends = engine.predict(np.concatenate([X, base]), None if state is None else [(np.concatenate([h, h]), np.concatenate([c, c])) for h, c in state])
    y, y_base = ends[:n], ends[n:]
    rows = np.arange(n)
    delta = values.reshape(n, -1).sum(axis=1) - (y[rows, targets] - y_base[rows, targets])
    return StepAttribution(engine.out(y), engine.out(values), delta)


def _occlusion(engine: _Engine, X, base, targets, state) -> StepAttribution:
    n, t, n_in = X.shape
    group = n_in + 1
    per_chunk = max(1, (engine.rows or DEFAULT_ROWS_PER_CALL) // group)
    y = np.empty((n, engine.spec64.output_size))
    effect = np.empty((n, n_in))
    for start in range(0, n, per_chunk):
        w = slice(start, min(start + per_chunk, n))
        m = w.stop - w.start
        # (m, I+1, T, I) in float64, copy 0 intact: the baseline is not rounded before the engine's own dtype
        copies = np.repeat(X[w][:, None].astype(np.float64), group, axis=1)
        for j in range(n_in):
            copies[:, j + 1, :, j] = base[w][:, :, j]
        rows = np.repeat(np.arange(w.start, w.stop), group)
        out = engine.predict(copies.reshape(m * group, t, n_in), engine._state_rows(state, rows)).reshape(m, group, -1)
        y[w] = out[:, 0]
        picked = out[np.arange(m), :, targets[w]]  # (m, I+1) of the target output
        effect[w] = picked[:, :1] - picked[:, 1:]
    values = np.ascontiguousarray(np.broadcast_to(effect[:, None, :], (n, t, n_in)), dtype=engine.dtype)  # a copy
    return StepAttribution(engine.out(y), values)


__all__ = [
    "DEFAULT_IG_METHOD",
    "DEFAULT_N_STEPS",
    "IG_METHODS",
    "LRP_EPSILON",
    "METHODS",
    "MethodOptions",
    "StepAttribution",
    "attribute_with_engine",
    "check_baseline",
    "check_method",
    "check_request",
    "check_target",
    "default_baseline",
    "ig_nodes",
    "input_gradient",
    "lrp_pass",
    "lrp_relevance",
    "lstm_backward",
    "reverse_pass",
]

"""The Numba backend: float32, JIT-compiled, for machines without the compiled core.

Same work plan as the C++ core (see ``cpp/include/actif/forward.hpp``), in Python:

* per LSTM layer, the input projections of all N*T steps are ONE matrix product
  ``(N*T, I) x (I, 4H)``;
* each time step adds the recurrent term as ONE batched product ``(N, H) x (H, 4H)``
  (both through BLAS, called from compiled code via SciPy's BLAS bindings);
* the gate nonlinearities and the cell update run in an ``@njit`` loop, split per
  gate block with a contiguous inner loop over hidden units so LLVM vectorises it.
  ``tanh`` is a rational approximation in plain arithmetic (``math.tanh`` calls libm
  per element and blocks vectorisation: llvmlite ships no vector math library);
* traces are matrix products plus elementwise operations on the stored activations.

Kernels are compiled on first use and cached on disk (``cache=True``), so only the
first process on a machine pays the compile time.
"""

from __future__ import annotations

import numpy as np

from ..model_spec import ModelSpec
from ..traces import weighted_routing
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState
from .numpy_ref import apply_activation

try:
    import numba
except ImportError as exc:  # reported through the registry with an install hint
    raise ImportError(f"numba is not installed ({exc})") from exc

MIN_NUMBA_VERSION = (0, 58)


def check_available() -> None:
    """Raise ImportError unless numba (new enough) and SciPy (its BLAS) are present."""
    version = tuple(int(part) for part in numba.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_NUMBA_VERSION:
        need = ".".join(map(str, MIN_NUMBA_VERSION))
        raise ImportError(f"numba {numba.__version__} is too old (need >= {need})")
    try:
        import scipy  # noqa: F401  numba's np.dot calls BLAS through SciPy
    except ImportError as exc:
        raise ImportError(f"numba needs SciPy for matrix products ({exc})") from exc


# error_model="numpy": no ZeroDivisionError checks, which would block vectorisation;
# fastmath "contract" only: a*b+c may become one FMA (rounds once; ~25% faster gate
# loops), no reassociation or NaN/Inf assumptions.
jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9 (tanh rounds to +-1 in float32 beyond): the
# rational fit of cpp/tools/fit_tanh.py that the C++ SIMD kernels use too, max abs
# error 3.8e-7 in float32. Plain arithmetic, so the loops around it vectorise.
TANH_CLAMP = np.float32(9.0)
TANH_P = tuple(
    np.float32(c)
    for c in (9.9999983525e-01, 1.2909966495e-01, 2.9107007702e-03, 9.1739581902e-06, -1.2500548570e-08, 1.7558732246e-11)
)
TANH_Q = tuple(np.float32(c) for c in (1.0, 4.6243231492e-01, 2.3722291140e-02, 2.2669582001e-04))
_P0, _P1, _P2, _P3, _P4, _P5 = TANH_P
_Q0, _Q1, _Q2, _Q3 = TANH_Q
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)  # float32 constants keep every kernel operation in float32


@numba.njit(inline="always", error_model="numpy")
def tanh_f32(x):
    x = min(max(x, -TANH_CLAMP), TANH_CLAMP)
    s = x * x
    p = ((((_P5 * s + _P4) * s + _P3) * s + _P2) * s + _P1) * s + _P0
    q = ((_Q3 * s + _Q2) * s + _Q1) * s + _Q0
    return min(max(x * p / q, -_ONE), _ONE)


@numba.njit(inline="always", error_model="numpy")
def sigmoid_f32(x):
    return _HALF + _HALF * tanh_f32(_HALF * x)


@jit
def lstm_cell_rows(z, zx, bias, c, h):
    """One step for every row: ``z`` (B, 4H) holds the recurrent term on entry and the
    post-nonlinearity gates on exit; ``zx`` (B, 4H) the input projection (rows may be
    strided); ``c`` (B, H) is updated in place and ``h`` (B, H) written."""
    rows, hidden = c.shape
    b_if, b_g, b_o = bias[: 2 * hidden], bias[2 * hidden : 3 * hidden], bias[3 * hidden :]
    for r in range(rows):
        # one zero-based loop per gate block over per-block views: LLVM vectorises these,
        # while loops with offset bounds or a branch on the block stay scalar
        z_if, z_g, z_o = z[r, : 2 * hidden], z[r, 2 * hidden : 3 * hidden], z[r, 3 * hidden :]
        x_if, x_g, x_o = zx[r, : 2 * hidden], zx[r, 2 * hidden : 3 * hidden], zx[r, 3 * hidden :]
        for k in range(2 * hidden):
            z_if[k] = sigmoid_f32(z_if[k] + x_if[k] + b_if[k])
        for k in range(hidden):
            z_g[k] = tanh_f32(z_g[k] + x_g[k] + b_g[k])
        for k in range(hidden):
            z_o[k] = sigmoid_f32(z_o[k] + x_o[k] + b_o[k])
        z_i, z_f = z_if[:hidden], z_if[hidden:]
        c_r, h_r = c[r], h[r]
        for j in range(hidden):
            c_j = z_f[j] * c_r[j] + z_i[j] * z_g[j]
            c_r[j] = c_j
            h_r[j] = z_o[j] * tanh_f32(c_j)


@jit
def copy_rows(src, dst):
    # an explicit loop: array slice assignment costs seconds of first-call compile time
    for r in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[r, j] = src[r, j]


@jit
def lstm_layer_windows(x_rows, n, w_ih_t, w_hh_t, bias, h_rows, c_rows, g_rows):
    """One LSTM layer over N windows of T steps, each from a zero state.

    Rows are time-major, step s of all N windows being rows ``s*N .. (s+1)*N``, so every
    per-step block is contiguous (strided blocks compile to loops that do not
    vectorise): ``x_rows`` (T*N, I) in, ``h_rows`` (T*N, H) out, and ``c_rows`` (T*N, H)
    and ``g_rows`` (T*N, 4H) out unless they have no rows (not wanted)."""
    rows = x_rows.shape[0]
    t = rows // n
    four_h = w_hh_t.shape[1]
    hidden = four_h // 4
    zx = np.empty((rows, four_h), np.float32)
    np.dot(x_rows, w_ih_t, zx)  # all N*T input projections in one product
    c = np.zeros((n, hidden), np.float32)
    scratch = np.zeros((n, four_h), np.float32)
    keep_c = c_rows.shape[0] > 0
    keep_g = g_rows.shape[0] > 0
    for s in range(t):
        lo, hi = s * n, (s + 1) * n
        z = g_rows[lo:hi] if keep_g else scratch  # the gates land in place
        if s > 0:
            np.dot(h_rows[lo - n : lo], w_hh_t, z)  # the recurrent term of all N windows at once
        elif keep_g:
            z[:, :] = 0.0  # h_{-1} = 0 (the scratch buffer starts zeroed)
        lstm_cell_rows(z, zx[lo:hi], bias, c, h_rows[lo:hi])
        if keep_c:
            copy_rows(c, c_rows[lo:hi])


@jit
def lstm_step_rows(x, w_ih_t, w_hh_t, bias, h_prev, c, z, h):
    """One stateful step of B streams: ``z`` (B, 4H) receives the gates, ``c`` (B, H)
    (a copy of the previous cell state) is updated, ``h`` (B, H) written."""
    zx = np.empty(z.shape, np.float32)
    np.dot(x, w_ih_t, zx)
    np.dot(h_prev, w_hh_t, z)
    lstm_cell_rows(z, zx, bias, c, h)


class NumbaBackend(Backend):
    """float32 LSTM forward, traces and stateful steps in Numba-compiled kernels."""

    name = "numba"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None):
        super().__init__(spec, num_threads)
        f32 = spec.astype(np.float32)
        self._spec = f32
        # weights transposed once, so every product reads contiguous (in, out) rows
        self._w_ih_t = [np.ascontiguousarray(l.w_ih.T) for l in f32.lstm]
        self._w_hh_t = [np.ascontiguousarray(l.w_hh.T) for l in f32.lstm]
        self._bias = [np.ascontiguousarray(l.b_ih + l.b_hh) for l in f32.lstm]
        self._dense_w_t = [np.ascontiguousarray(d.weight.T) for d in f32.dense]
        w_ih0 = f32.lstm[0].w_ih
        self._trace_route = np.ascontiguousarray(weighted_routing(w_ih0), np.float32)  # (H, I)
        self._trace_abs_w_ih = np.ascontiguousarray(np.abs(w_ih0), np.float32)  # (4H, I)

    # ------------------------------------------------------------------ pieces
    def _head(self, pooled: np.ndarray) -> np.ndarray:
        spec = self._spec
        v = pooled
        if spec.post_scale is not None:
            v = v * spec.post_scale + spec.post_shift
        for layer, w_t in zip(spec.dense, self._dense_w_t):
            v = apply_activation(layer.activation, v @ w_t + layer.bias)
        return np.ascontiguousarray(v, np.float32)

    def _trace(self, name: str, x_norm: np.ndarray, h0: np.ndarray, gates0: np.ndarray | None) -> np.ndarray:
        """Trace rows (..., I) from the normalised input and layer 0's h and gates
        (all with the same leading axes): matrix products and elementwise operations."""
        ax = np.abs(x_norm)
        if name == "input":
            return ax
        if name == "paper":
            return np.abs(h0[..., : self.spec.input_size])
        if name == "weighted":
            routed = np.abs(h0) @ self._trace_route
        else:
            assert gates0 is not None
            routed = np.abs(gates0) @ self._trace_abs_w_ih
        routed *= ax
        return routed

    # ------------------------------------------------------------------ window mode
    def _run_windows(self, X: np.ndarray, activations: bool, trace: str | None):
        """Predictions, per-layer (h, c, gates) and the trace, all time-major (T, N, .)."""
        spec = self._spec
        n, t, n_in = X.shape
        rows = t * n
        x_tm = np.empty((t, n, n_in), np.float32)
        x_tm[...] = X.transpose(1, 0, 2)
        if spec.input_scale is not None:
            x_tm *= spec.input_scale
            x_tm += spec.input_shift
        layer_in = x_tm.reshape(rows, n_in)
        layers = []
        for k, hidden in enumerate(spec.hidden_sizes):
            keep_g = activations or (k == 0 and trace == "gates")
            h_rows = np.empty((rows, hidden), np.float32)
            c_rows = np.empty((rows if activations else 0, hidden), np.float32)
            g_rows = np.empty((rows if keep_g else 0, 4 * hidden), np.float32)
            if rows:
                lstm_layer_windows(
                    layer_in, n, self._w_ih_t[k], self._w_hh_t[k], self._bias[k], h_rows, c_rows, g_rows
                )
            layers.append(
                (
                    h_rows.reshape(t, n, hidden),
                    c_rows.reshape(t if activations else 0, n, hidden),
                    g_rows.reshape(t if keep_g else 0, n, 4 * hidden),
                )
            )
            layer_in = h_rows
        top = layers[-1][0]
        if t == 0:
            y = np.zeros((n, spec.output_size), np.float32)
        elif spec.pooling == "last":
            y = self._head(top[-1])
        elif spec.pooling == "mean":
            y = self._head(top.mean(axis=0))
        else:
            y = self._head(top.max(axis=0))
        tr = self._trace(trace, x_tm, layers[0][0], layers[0][2]) if trace is not None else None
        return y, layers, tr

    def forward(self, X: np.ndarray, *, activations: bool = False, trace: str | None = None) -> ForwardResult:
        y, layers, tr = self._run_windows(X, activations, trace)
        acts = None
        if activations:
            acts = Activations([LayerActivations(*(window_major(a) for a in layer)) for layer in layers])
        return ForwardResult(y, acts, window_major(tr) if tr is not None else None)

    def forward_stats(self, X: np.ndarray, stats, trace: str) -> np.ndarray:
        y, _, tr = self._run_windows(X, False, trace)
        stats.update(tr.reshape(-1, tr.shape[-1]))  # row order does not matter to statistics
        return y

    # ------------------------------------------------------------------ stateful mode
    def step(self, x: np.ndarray, state: StreamState, *, trace: str | None = None):
        spec = self._spec
        batch = x.shape[0]
        self._check_state(state, batch)
        xin = np.ascontiguousarray(x, np.float32)  # compiled products need contiguous rows
        if spec.input_scale is not None:
            xin = xin * spec.input_scale + spec.input_shift
        layer_in = xin
        new_h, new_c, new_g = [], [], []
        for k, hidden in enumerate(spec.hidden_sizes):
            c = state.c[k].copy()  # new buffers throughout: the state is committed at the end
            h = np.empty((batch, hidden), np.float32)
            z = np.empty((batch, 4 * hidden), np.float32)
            h_prev = np.ascontiguousarray(state.h[k])
            lstm_step_rows(layer_in, self._w_ih_t[k], self._w_hh_t[k], self._bias[k], h_prev, c, z, h)
            new_h.append(h)
            new_c.append(c)
            new_g.append(z)
            layer_in = h
        if spec.pooling == "last":
            pooled = layer_in
        else:
            window = state.ring.shape[1]
            slot, filled = state.steps % window, min(state.steps + 1, window)
            pooled = pool_ring_with(state.ring, slot, filled, layer_in, spec.pooling == "max")
        y = self._head(pooled)
        tr = self._trace(trace, xin, new_h[0], new_g[0]) if trace is not None else None
        # commit only now: nothing above wrote to the state
        for k in range(spec.num_layers):
            state.h[k][...] = new_h[k]
            state.c[k][...] = new_c[k]
        if spec.pooling != "last":
            state.ring[:, state.steps % state.ring.shape[1]] = layer_in
        state.steps += 1
        return y, tr

    def _check_state(self, state: StreamState, batch: int) -> None:
        spec = self.spec
        if len(state.h) != spec.num_layers or len(state.c) != spec.num_layers:
            raise ValueError(f"state has {len(state.h)} layers, the model {spec.num_layers}")
        for k, hidden in enumerate(spec.hidden_sizes):
            for what, arr in (("h", state.h[k]), ("c", state.c[k])):
                if arr.shape != (batch, hidden) or arr.dtype != np.float32:
                    raise ValueError(
                        f"state.{what}[{k}] must be float32 ({batch}, {hidden}), got {arr.dtype} {arr.shape}"
                    )
        if spec.pooling != "last":
            want = (batch, int(spec.window), spec.hidden_sizes[-1])
            if state.ring.shape != want or state.ring.dtype != np.float32:
                raise ValueError(f"state.ring must be float32 {want}, got {state.ring.dtype} {state.ring.shape}")


def window_major(a: np.ndarray) -> np.ndarray:
    """(T, N, ...) time-major to contiguous (N, T, ...)."""
    return np.ascontiguousarray(a.swapaxes(0, 1))


def pool_ring_with(ring: np.ndarray, slot: int, filled: int, new_row: np.ndarray, use_max: bool) -> np.ndarray:
    """Mean or max over the ring's ``filled`` rows with row ``slot`` replaced by
    ``new_row``, without writing the ring (the state is committed only after success)."""
    rows = ring[:, :filled].copy()
    rows[:, slot] = new_row
    return rows.max(axis=1) if use_max else rows.mean(axis=1)


__all__ = ["NumbaBackend", "check_available", "lstm_cell_rows", "lstm_layer_windows", "tanh_f32"]

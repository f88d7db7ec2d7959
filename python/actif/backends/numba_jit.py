"""The Numba backend: float32, JIT-compiled, for machines without the compiled core.

The same work plan as the C++ core (``cpp/include/actif/forward.hpp``):

* per LSTM layer, the input projections of all N*T steps are one matrix product
  ``(N*T, I) x (I, 4H)`` (bias included), split over threads by rows;
* each time step adds the recurrent term as one batched product ``(N, H) x (H, 4H)``
  in place, then the gate nonlinearities and the cell update run over the N rows;
  the windows are split over threads in chunks that each run the whole recurrence,
  so threads meet once per layer, not once per step;
* traces are matrix products plus elementwise operations on the stored activations.

The products are this module's own kernel (:func:`gemm_rows`), not BLAS: every
output element is its bias (or the value it accumulates onto) plus one fused
multiply-add per k, in k order, whatever the number of rows or how they are split.
So a window gives bit-identical results alone or in a batch of 256 and on any number
of threads, as with the compiled core: streaming equals batch exactly. BLAS picks
kernels by matrix shape (its rows differ by several ulp between M=1, 16 and 256), and
its thread pool, whose threads wait for each other at every product, runs many
times slower when another process holds a core.

Loops are written to vectorise: contiguous inner loops over columns or hidden
units, time-major rows (step s of all N windows is the row block ``s*N .. s*N+N``)
so every per-step block is contiguous, one zero-based loop per gate block, and a
rational ``tanh`` in plain arithmetic (``math.tanh`` calls libm per element and
blocks vectorisation: llvmlite ships no vector math library).

Threads: the kernels release the GIL (``nogil``) and large calls run their chunks
on a small pool of Python threads, the calling thread taking the first chunk. No
``parallel=True`` builds: they would double the first-call compile time, and numba's
OpenMP workers keep spinning on the cores after every call.

Kernels compile on first use and are cached on disk (``cache=True``): only the first
process on a machine pays the compile time (seconds), later ones load it (~0.5 s).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import constants
from ..model_spec import ACTIVATIONS, ModelSpec
from ..traces import weighted_routing
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState

try:
    import numba
except ImportError as exc:  # reported through the registry with an install hint
    raise ImportError(f"numba is not installed ({exc})") from exc

MIN_NUMBA_VERSION = (0, 58)
# A thread gets at least this many multiply-adds of recurrence (~0.2 ms), so that a
# split pays for handing work to a pool thread and waiting for it.
MIN_MACS_PER_THREAD = 1 << 22


def check_available() -> None:
    """Raise ImportError unless numba is present and new enough."""
    version = tuple(int(part) for part in numba.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_NUMBA_VERSION:
        need = ".".join(map(str, MIN_NUMBA_VERSION))
        raise ImportError(f"numba {numba.__version__} is too old (need >= {need})")


# error_model="numpy": no ZeroDivisionError checks, which would block vectorisation.
# fastmath "contract" only: a*b + c may become one FMA (rounds once), no reassociation,
# so sums keep their written order and NaN/Inf keep their meaning.
_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
jit = numba.njit(**_OPTIONS)

# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9 (tanh rounds to +-1 in float32 beyond): the
# rational fit of cpp/tools/fit_tanh.py that the C++ SIMD kernels use too, max abs
# error 3.8e-7 in float32, its coefficients read from constants.json as the C++ build
# reads them. Plain arithmetic, so the loops around it vectorise. (Numba bakes these
# globals into its on-disk cache, which it invalidates on this file's changes only:
# after editing constants.json, clear the cache, NUMBA_CACHE_DIR or __pycache__.)
TANH_CLAMP = np.float32(constants.TANH_CLAMP)
TANH_P = tuple(np.float32(c) for c in constants.TANH_P)
TANH_Q = tuple(np.float32(c) for c in constants.TANH_Q)
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


# Rows of C computed together: their rows of C (8 x 4H floats) and the 4 rows of B in
# use stay in L1 while B streams past once per block instead of once per row.
GEMM_ROW_BLOCK = 8


@numba.njit(inline="always", error_model="numpy")
def four_from(row, q, abs_a):
    """``row[q:q+4]`` as four scalars, their absolute values if ``abs_a``."""
    v0, v1, v2, v3 = row[q], row[q + 1], row[q + 2], row[q + 3]
    if abs_a:
        return abs(v0), abs(v1), abs(v2), abs(v3)
    return v0, v1, v2, v3


@jit
def gemm_rows(a, b, init, c, abs_a):
    """``c = init + op(a) @ b`` for (M, K) ``a`` and (K, N) ``b``, where ``init`` is a
    bias (N,), or ``c`` itself when ``init`` is empty; ``op`` is ``abs`` if ``abs_a``.

    Each element gets one fused multiply-add per k, in k order: four k at a time per
    pass over a row of C (``c + a0*b0 + a1*b1 + ...`` contracts to that same chain),
    so the result does not depend on M, on the row blocking or on the caller's split.
    Rows go in pairs, so that each load of B feeds two rows of C (~20% faster).
    """
    m, k = a.shape
    n = b.shape[1]
    k4 = k - k % 4
    for r0 in range(0, m, GEMM_ROW_BLOCK):
        r1 = min(r0 + GEMM_ROW_BLOCK, m)
        if init.shape[0] > 0:
            for r in range(r0, r1):
                c_r = c[r]
                for j in range(n):
                    c_r[j] = init[j]
        for q in range(0, k4, 4):
            b0, b1, b2, b3 = b[q], b[q + 1], b[q + 2], b[q + 3]
            for r in range(r0, r1 - 1, 2):
                x0, x1, x2, x3 = four_from(a[r], q, abs_a)
                y0, y1, y2, y3 = four_from(a[r + 1], q, abs_a)
                c_x, c_y = c[r], c[r + 1]
                for j in range(n):
                    b0j, b1j, b2j, b3j = b0[j], b1[j], b2[j], b3[j]
                    c_x[j] = c_x[j] + x0 * b0j + x1 * b1j + x2 * b2j + x3 * b3j
                    c_y[j] = c_y[j] + y0 * b0j + y1 * b1j + y2 * b2j + y3 * b3j
            if (r1 - r0) % 2:  # the block's odd last row: the same chain per element
                x0, x1, x2, x3 = four_from(a[r1 - 1], q, abs_a)
                c_x = c[r1 - 1]
                for j in range(n):
                    c_x[j] = c_x[j] + x0 * b0[j] + x1 * b1[j] + x2 * b2[j] + x3 * b3[j]
        for q in range(k4, k):
            b_q = b[q]
            for r in range(r0, r1):
                a_q = abs(a[r, q]) if abs_a else a[r, q]
                c_r = c[r]
                for j in range(n):
                    c_r[j] = c_r[j] + a_q * b_q[j]


@jit
def lstm_cell_rows(z, c, h):
    """One step for B rows: ``z`` (B, 4H) holds the pre-activations on entry and the
    post-nonlinearity gates i, f, g, o on exit; ``c`` (B, H) is updated in place and
    ``h`` (B, H) written."""
    rows, hidden = c.shape
    for r in range(rows):
        # one zero-based loop per gate block over per-block views: LLVM vectorises these,
        # while loops with offset bounds or a branch on the block stay scalar
        z_if, z_g, z_o = z[r, : 2 * hidden], z[r, 2 * hidden : 3 * hidden], z[r, 3 * hidden :]
        for k in range(2 * hidden):
            z_if[k] = sigmoid_f32(z_if[k])
        for k in range(hidden):
            z_g[k] = tanh_f32(z_g[k])
        for k in range(hidden):
            z_o[k] = sigmoid_f32(z_o[k])
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
def lstm_recurrence(z, n, n0, n1, w_hh_t, h_init, c_init, h_rows, c_rows, g_rows):
    """Steps 0..T-1 of sequences ``n0 .. n1`` of an LSTM layer over N sequences.

    Rows are time-major: step s of all N sequences is the row block ``s*N .. s*N+N``,
    so every per-step block is contiguous (strided blocks compile to loops that do
    not vectorise). ``z`` (T*N, 4H) holds the input projections (bias included) and
    becomes the pre-activations; ``h_rows`` (T*N, H) is written, and ``c_rows``
    (T*N, H) and ``g_rows`` (T*N, 4H) unless they have no rows (not wanted). The
    state before step 0 is ``h_init``, ``c_init`` (N, H), or zero when they have no
    rows (window mode)."""
    t = z.shape[0] // n
    hidden = w_hh_t.shape[1] // 4
    has_init = h_init.shape[0] > 0
    c = c_init[n0:n1].copy() if has_init else np.zeros((n1 - n0, hidden), np.float32)
    onto_z = np.empty(0, np.float32)  # gemm_rows init: accumulate onto z
    for s in range(t):
        lo, hi = s * n + n0, s * n + n1
        z_s = z[lo:hi]
        if s > 0 or has_init:  # the recurrent term of all these sequences at once
            h_prev = h_rows[lo - n : hi - n] if s > 0 else h_init[n0:n1]
            gemm_rows(h_prev, w_hh_t, onto_z, z_s, False)  # one call site: it compiles once
        lstm_cell_rows(z_s, c, h_rows[lo:hi])
        if g_rows.shape[0] > 0:
            copy_rows(z_s, g_rows[lo:hi])
        if c_rows.shape[0] > 0:
            copy_rows(c, c_rows[lo:hi])


# activation codes for dense_rows: positions in model_spec.ACTIVATIONS
IDENTITY, RELU, ELU, TANH, SIGMOID = (ACTIVATIONS.index(a) for a in ("identity", "relu", "elu", "tanh", "sigmoid"))


@jit
def dense_rows(v, w_t, bias, out, activation):
    """A dense layer on B rows: ``out = act(bias + v @ w_t)``, ``activation`` a code
    above; the same definitions as the NumPy reference (libm tanh: small arrays)."""
    gemm_rows(v, w_t, bias, out, False)
    if activation == IDENTITY:
        return
    for r in range(out.shape[0]):
        o = out[r]
        for j in range(o.shape[0]):
            x = o[j]
            if activation == RELU:
                o[j] = max(x, 0)
            elif activation == ELU:
                o[j] = x if x > 0 else math.expm1(x)
            elif activation == TANH:
                o[j] = math.tanh(x)
            else:
                o[j] = _HALF * (_ONE + math.tanh(_HALF * x))


@jit
def pool_ring_rows(ring, slot, filled, new_rows, use_max, out):
    """Mean or max over the first ``filled`` ring rows of each stream, with row
    ``slot`` read from ``new_rows`` instead: pooling the state after a step without
    writing the ring (the state is committed only after success)."""
    for b in range(ring.shape[0]):
        o = out[b]
        first = new_rows[b] if slot == 0 else ring[b, 0]
        for j in range(o.shape[0]):
            o[j] = first[j]
        for s in range(1, filled):
            row = new_rows[b] if s == slot else ring[b, s]
            for j in range(o.shape[0]):
                o[j] = max(o[j], row[j]) if use_max else o[j] + row[j]
        if not use_max:
            inv = _ONE / np.float32(filled)
            for j in range(o.shape[0]):
                o[j] = o[j] * inv


@jit
def lstm_backward_rows(gates, tanh_c, c, c0, dh_out, w_hh, w_ih, n0, n1, dx):
    """The float64 reverse pass of one LSTM layer for windows n0..n1 (the equations of
    :func:`actif.attribution.lstm_backward`): gates (N, T, 4H), tanh_c, c and dh_out
    (N, T, H), c0 (N, H), w_hh (4H, H), w_ih (4H, I) -> dx (N, T, I). Windows go in
    blocks of GEMM_ROW_BLOCK, whose products with W are one :func:`gemm_rows` each
    (every element summed over the gate rows in order), so results do not depend on the
    batch, the block or the split."""
    t = gates.shape[1]
    hidden = gates.shape[2] // 4
    dz = np.empty((GEMM_ROW_BLOCK, 4 * hidden))
    dh_next = np.empty((GEMM_ROW_BLOCK, hidden))
    dc_next = np.empty((GEMM_ROW_BLOCK, hidden))
    zero_h, zero_in = np.zeros(hidden), np.zeros(w_ih.shape[1])  # gemm_rows init: sums from 0
    for b0 in range(n0, n1, GEMM_ROW_BLOCK):
        rows = min(GEMM_ROW_BLOCK, n1 - b0)
        dh_next[:] = 0.0
        dc_next[:] = 0.0
        for s in range(t - 1, -1, -1):
            for b in range(rows):
                r = b0 + b
                # one zero-based loop over row views, which LLVM vectorises
                g_rs, tc_rs, dho_rs = gates[r, s], tanh_c[r, s], dh_out[r, s]
                cp_rs = c[r, s - 1] if s > 0 else c0[r]
                gi, gf, gg, go = g_rs[:hidden], g_rs[hidden : 2 * hidden], g_rs[2 * hidden : 3 * hidden], g_rs[3 * hidden :]
                dz_b, dh_b, dc_b = dz[b], dh_next[b], dc_next[b]
                dz_i, dz_f, dz_g, dz_o = dz_b[:hidden], dz_b[hidden : 2 * hidden], dz_b[2 * hidden : 3 * hidden], dz_b[3 * hidden :]
                for j in range(hidden):
                    tc = tc_rs[j]
                    dh = dho_rs[j] + dh_b[j]
                    dc = dc_b[j] + dh * go[j] * (1.0 - tc * tc)
                    dz_i[j] = dc * gg[j] * gi[j] * (1.0 - gi[j])
                    dz_f[j] = dc * cp_rs[j] * gf[j] * (1.0 - gf[j])
                    dz_g[j] = dc * gi[j] * (1.0 - gg[j] * gg[j])
                    dz_o[j] = dh * tc * go[j] * (1.0 - go[j])
                    dc_b[j] = dc * gf[j]
            # dh for step s-1 and this step's input gradient: dz times W's rows
            gemm_rows(dz[:rows], w_hh, zero_h, dh_next[:rows], False)
            gemm_rows(dz[:rows], w_ih, zero_in, dx[b0 : b0 + rows, s], False)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def thread_pool() -> ThreadPoolExecutor:
    """The process's worker threads for split calls (one per core, made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="actif-numba")
        return _pool


def _forget_pool_after_fork() -> None:
    # a forked child inherits the pool object but not its threads (and maybe a held
    # lock): waiting on that pool would hang, so the child makes its own
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_split(task, chunks: int) -> None:
    """``task(part, chunks)`` for every part: part 0 on this thread, the others on the
    pool, all done (or the first error raised) on return."""
    if chunks == 1:
        task(0, 1)
        return
    futures = [thread_pool().submit(task, part, chunks) for part in range(1, chunks)]
    try:
        task(0, chunks)
    finally:
        for f in futures:
            f.result()


def split(total: int, part: int, chunks: int) -> tuple[int, int]:
    return total * part // chunks, total * (part + 1) // chunks


class NumbaBackend(Backend):
    """float32 LSTM forward, traces and stateful steps in Numba-compiled kernels.

    ``num_threads``: threads for large batches (default: one per core); results are
    identical for any thread count.
    """

    name = "numba"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None):
        super().__init__(spec, num_threads)
        f32 = spec.astype(np.float32)
        self._spec = f32
        # weights transposed once, so every product reads contiguous (in, out) rows
        self._w_ih_t = [np.ascontiguousarray(layer.w_ih.T) for layer in f32.lstm]
        self._w_hh_t = [np.ascontiguousarray(layer.w_hh.T) for layer in f32.lstm]
        self._bias = [np.ascontiguousarray(layer.b_ih + layer.b_hh) for layer in f32.lstm]
        self._dense = [(np.ascontiguousarray(d.weight.T), d.bias, ACTIVATIONS.index(d.activation)) for d in f32.dense]
        self._hidden = list(f32.hidden_sizes)
        w_ih0 = f32.lstm[0].w_ih
        self._trace_route = np.ascontiguousarray(weighted_routing(w_ih0), np.float32)  # (H, I)
        self._trace_abs_w_ih = np.ascontiguousarray(np.abs(w_ih0), np.float32)  # (4H, I)
        self._no_bias = np.zeros(f32.input_size, np.float32)  # the trace products have none
        self._threads = int(num_threads or os.cpu_count() or 1)  # cpu_count costs ~15 us a call
        # recurrence multiply-adds per sequence and step, to size the thread split
        self._macs_per_row = sum((layer.input_size + layer.hidden_size) * 4 * layer.hidden_size for layer in f32.lstm)

    # ------------------------------------------------------------------ pieces
    def _chunks(self, sequences: int, rows: int) -> int:
        return int(max(1, min(self._threads, sequences, rows * self._macs_per_row // MIN_MACS_PER_THREAD)))

    def _run_layer(self, k, x_rows, n, h_init, c_init, h_rows, c_rows, g_rows, chunks):
        """One layer over N sequences (see :func:`lstm_recurrence`): the input projection
        as one product split by rows, then the recurrence split by sequences."""
        rows = x_rows.shape[0]
        w_ih_t, w_hh_t, bias = self._w_ih_t[k], self._w_hh_t[k], self._bias[k]
        z = np.empty((rows, w_ih_t.shape[1]), np.float32)
        if chunks == 1:  # small calls: no task objects (batch-1 latency)
            gemm_rows(x_rows, w_ih_t, bias, z, False)
            lstm_recurrence(z, n, 0, n, w_hh_t, h_init, c_init, h_rows, c_rows, g_rows)
            return

        def project(part: int, chunks: int) -> None:
            r0, r1 = split(rows, part, chunks)
            gemm_rows(x_rows[r0:r1], w_ih_t, bias, z[r0:r1], False)

        def recur(part: int, chunks: int) -> None:
            n0, n1 = split(n, part, chunks)
            lstm_recurrence(z, n, n0, n1, w_hh_t, h_init, c_init, h_rows, c_rows, g_rows)

        run_split(project, chunks)
        run_split(recur, chunks)

    def _product(self, a, b, bias, out, abs_a, chunks):
        """``out = bias + op(a) @ b`` through :func:`gemm_rows`, rows split over threads."""
        if chunks == 1:
            gemm_rows(a, b, bias, out, abs_a)
            return out

        def rows_part(part: int, chunks: int) -> None:
            r0, r1 = split(a.shape[0], part, chunks)
            gemm_rows(a[r0:r1], b, bias, out[r0:r1], abs_a)

        run_split(rows_part, chunks)
        return out

    def _head(self, pooled: np.ndarray) -> np.ndarray:
        """Folded-BatchNorm affine and dense layers (small products: one thread)."""
        spec = self._spec
        v = np.ascontiguousarray(pooled, np.float32)
        if spec.post_scale is not None:
            v = v * spec.post_scale + spec.post_shift
        for w_t, bias, activation in self._dense:
            out = np.empty((v.shape[0], w_t.shape[1]), np.float32)
            dense_rows(v, w_t, bias, out, activation)
            v = out
        return v

    def _trace(self, name: str, x_norm: np.ndarray, h0: np.ndarray, gates0: np.ndarray, chunks: int) -> np.ndarray:
        """Trace rows (R, I) from the normalised input (R, I) and layer 0's h (R, H) and
        gates (R, 4H): matrix products and elementwise operations."""
        ax = np.abs(x_norm)
        if name == "input":
            return ax
        if name == "paper":
            return np.abs(h0[:, : self.spec.input_size])
        src, route = (h0, self._trace_route) if name == "weighted" else (gates0, self._trace_abs_w_ih)
        routed = self._product(src, route, self._no_bias, np.empty_like(ax), True, chunks)
        routed *= ax
        return routed

    # ------------------------------------------------------------------ window mode
    def _run_windows(self, X: np.ndarray, activations: bool, trace: str | None, initial=None):
        """Predictions, per-layer (h, c, gates) as time-major rows, and the trace rows;
        every window from the zero state, or from ``initial`` (per layer (h0, c0), (N, H))."""
        spec = self._spec
        n, t, n_in = X.shape
        rows = t * n
        x_tm = np.empty((t, n, n_in), np.float32)
        x_tm[...] = X.transpose(1, 0, 2)
        if spec.input_scale is not None:
            x_tm *= spec.input_scale
            x_tm += spec.input_shift
        x_rows = x_tm.reshape(rows, n_in)
        chunks = self._chunks(n, rows)
        layer_in = x_rows
        layers = []
        for k, hidden in enumerate(self._hidden):
            keep_g = activations or (k == 0 and trace == "gates")
            h_rows = np.empty((rows, hidden), np.float32)
            c_rows = np.empty((rows if activations else 0, hidden), np.float32)
            g_rows = np.empty((rows if keep_g else 0, 4 * hidden), np.float32)
            if rows:
                no_state = np.empty((0, hidden), np.float32)
                h_init, c_init = (no_state, no_state) if initial is None else initial[k]
                self._run_layer(k, layer_in, n, h_init, c_init, h_rows, c_rows, g_rows, chunks)
            layers.append((h_rows, c_rows, g_rows))
            layer_in = h_rows
        top = layer_in.reshape(t, n, self._hidden[-1])
        if t == 0:
            y = np.zeros((n, spec.output_size), np.float32)
        elif spec.pooling == "last":
            y = self._head(top[-1])
        elif spec.pooling == "mean":
            y = self._head(top.mean(axis=0))
        else:
            y = self._head(top.max(axis=0))
        tr = None
        if trace is not None:
            tr = self._trace(trace, x_rows, layers[0][0], layers[0][2], chunks)
        return y, layers, tr

    def forward(self, X: np.ndarray, *, activations: bool = False, trace: str | None = None) -> ForwardResult:
        y, layers, tr = self._run_windows(X, activations, trace)
        n, t = X.shape[:2]
        acts = None
        if activations:
            acts = Activations([LayerActivations(*(window_major(a, t, n) for a in layer)) for layer in layers])
        return ForwardResult(y, acts, window_major(tr, t, n) if tr is not None else None)

    def forward_from(self, X: np.ndarray, state):
        """Windows from given states in one kernel run (see :meth:`Backend.forward_from`)."""
        initial = [(np.ascontiguousarray(h, np.float32), np.ascontiguousarray(c, np.float32)) for h, c in state]
        y, layers, _ = self._run_windows(np.ascontiguousarray(X, np.float32), True, None, initial)
        n, t = X.shape[:2]
        return y, [window_major(h, t, n) for h, _, _ in layers], [window_major(c, t, n) for _, c, _ in layers]

    def forward_stats(self, X: np.ndarray, stats, trace: str) -> np.ndarray:
        y, _, tr = self._run_windows(X, False, trace)
        stats.update(tr)  # time-major rows: the order does not matter to statistics
        return y

    # ------------------------------------------------------------------ stateful mode
    def step(self, x: np.ndarray, state: StreamState, *, trace: str | None = None):
        """One step of B streams: the window kernel with T=1 from the carried state."""
        spec = self._spec
        batch = x.shape[0]
        self._check_state(state, batch)
        xin = np.array(x, np.float32)  # a contiguous copy: the kernels read whole rows
        if spec.input_scale is not None:
            xin *= spec.input_scale
            xin += spec.input_shift
        chunks = self._chunks(batch, batch)
        layer_in = xin
        new_h, new_c, new_g = [], [], []
        for k, hidden in enumerate(self._hidden):
            h = np.empty((batch, hidden), np.float32)  # new buffers: the state is committed at the end
            c = np.empty((batch, hidden), np.float32)
            g = np.empty((batch if k == 0 and trace == "gates" else 0, 4 * hidden), np.float32)
            h_prev = np.ascontiguousarray(state.h[k])
            c_prev = np.ascontiguousarray(state.c[k])
            self._run_layer(k, layer_in, batch, h_prev, c_prev, h, c, g, chunks)
            new_h.append(h)
            new_c.append(c)
            new_g.append(g)
            layer_in = h
        if spec.pooling == "last":
            pooled = layer_in
        else:
            window = state.ring.shape[1]
            pooled = np.empty_like(layer_in)
            pool_ring_rows(state.ring, state.steps % window, min(state.steps + 1, window), layer_in,
                           spec.pooling == "max", pooled)
        y = self._head(pooled)
        tr = self._trace(trace, xin, new_h[0], new_g[0], chunks) if trace is not None else None
        state.commit(new_h, new_c)  # only now: nothing above wrote to the state
        return y, tr

    def lstm_backward(self, layer, tape, dh_out):
        """The compiled reverse pass of one layer (:func:`lstm_backward_rows`), windows
        split over threads as the forward splits them."""
        n, t, hidden = tape.h.shape
        gates, c, c0, dh, w_hh, w_ih = (np.ascontiguousarray(a, np.float64) for a in (tape.gates, tape.c, tape.c0, dh_out, layer.w_hh, layer.w_ih))
        f64 = (gates, np.tanh(c), c, c0, dh, w_hh, w_ih)  # tanh as the reference takes it (NumPy's, vectorised)
        dx = np.empty((n, t, layer.input_size))
        chunks = self._chunks(n, t)

        def task(part: int, chunks: int) -> None:
            n0, n1 = split(n, part, chunks)
            lstm_backward_rows(*f64, n0, n1, dx)

        run_split(task, chunks)
        return dx

    def _check_state(self, state: StreamState, batch: int) -> None:
        spec = self._spec
        if len(state.h) != len(self._hidden) or len(state.c) != len(self._hidden):
            raise ValueError(f"state has {len(state.h)} layers, the model {len(self._hidden)}")
        for k, hidden in enumerate(self._hidden):
            for what, arr in (("h", state.h[k]), ("c", state.c[k])):
                if arr.shape != (batch, hidden) or arr.dtype != np.float32:
                    raise ValueError(
                        f"state.{what}[{k}] must be float32 ({batch}, {hidden}), got {arr.dtype} {arr.shape}"
                    )
        if spec.pooling != "last":
            want = (batch, int(spec.window), self._hidden[-1])
            if state.ring.shape != want or state.ring.dtype != np.float32:
                raise ValueError(f"state.ring must be float32 {want}, got {state.ring.dtype} {state.ring.shape}")


def window_major(rows: np.ndarray, t: int, n: int) -> np.ndarray:
    """Time-major rows (T*N, F) as a contiguous (N, T, F) array."""
    return np.ascontiguousarray(rows.reshape(t, n, rows.shape[1]).swapaxes(0, 1))


__all__ = ["NumbaBackend", "check_available", "gemm_rows", "lstm_cell_rows", "lstm_recurrence", "tanh_f32"]

"""The compiled C++ backend (``actif._core``): float32, threaded, fused attribution."""

from __future__ import annotations

import numpy as np

from ..model_spec import ModelSpec
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState

try:
    from .. import _core
except ImportError as exc:  # reported through the registry with an install hint
    raise ImportError(f"actif._core is not built ({exc})") from exc


def core_model(spec: ModelSpec) -> _core.Model:
    """Hand a spec's arrays to the native builder (it copies and transposes them)."""
    return _core.Model(
        spec.input_scale,
        spec.input_shift,
        [(l.w_ih, l.w_hh, l.b_ih, l.b_hh) for l in spec.lstm],
        spec.pooling,
        int(spec.window),
        spec.post_scale,
        spec.post_shift,
        [(d.weight, d.bias, d.activation) for d in spec.dense],
    )


class CppBackend(Backend):
    name = "cpp"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None):
        super().__init__(spec, num_threads)
        self._model = core_model(spec)
        self._threads = int(num_threads or 0)

    def forward(self, X, *, activations=False, trace=None):
        y, layers, tr = self._model.forward(X, activations, trace or "none", self._threads)
        acts = Activations([LayerActivations(*t) for t in layers]) if activations else None
        return ForwardResult(y, acts, tr)

    def forward_stats(self, X, stats, trace):
        if isinstance(stats, _core.RunningStats):
            return self._model.forward_stats(X, stats, trace, self._threads)
        return super().forward_stats(X, stats, trace)

    def try_forward_stats(self, x, stats, trace, limit):
        if not isinstance(stats, _core.RunningStats):
            return None
        return self._model.try_forward_stats(x, stats, trace, self._threads, _limit(limit))

    def try_step_stats(self, x, state: StreamState, stats, trace, limit):
        if not isinstance(stats, _core.RunningStats) or state.batch != 1:
            return None
        y = self._model.try_step_stats(x, state.h, state.c, state.ring, state.steps, trace, stats, _limit(limit))
        if y is not None:
            state.steps += 1
        return y

    def step(self, x, state: StreamState, *, trace=None):
        y, tr = self._model.step(x, state.h, state.c, state.ring, state.steps, trace or "none", None)
        state.steps += 1
        return y, tr

    def step_stats(self, x, state: StreamState, stats, trace):
        if not isinstance(stats, _core.RunningStats):
            return super().step_stats(x, state, stats, trace)
        y, _ = self._model.step(x, state.h, state.c, state.ring, state.steps, trace, stats)
        state.steps += 1
        return y


    # ------------------------------------------------------------------ attribution
    def attribute(
        self, X, method, *, target=0, baseline=None, n_steps=50, ig_method="gausslegendre", initial_state=None,
        internal_batch_size=None,
    ):
        """The native attributions (``_core.Model.attribute``): one reverse pass (or the
        batched ablations) in C++ on the model's kernels. Baselines of shape (T, I) or
        (N, T, I) take the generic path of :class:`Backend`. ``internal_batch_size`` is
        not needed here: the core bounds its memory by the windows in flight."""
        from ..attribution import StepAttribution, check_request, ig_nodes

        targets, state = check_request(self.spec, X, method, target, initial_state, internal_batch_size)
        base = self._native_baseline(baseline, X.shape)
        if base is None:
            return super().attribute(
                X, method, target=target, baseline=baseline, n_steps=n_steps, ig_method=ig_method,
                initial_state=initial_state, internal_batch_size=internal_batch_size,
            )
        if method == "integrated":
            ig_nodes(n_steps, ig_method)  # the same checks and messages as every backend
        X = np.ascontiguousarray(X, np.float32)
        n = X.shape[0]
        state32 = None if state is None else [(_f32(h), _f32(c)) for h, c in state]

        def run(rows, tgt):
            rows_state = None if state32 is None else [(h[rows], c[rows]) for h, c in state32]
            return self._model.attribute(
                X[rows], method, int(tgt), base, int(n_steps), ig_method, self._threads, rows_state
            )

        groups = np.unique(targets)
        if len(groups) <= 1:  # one target for all windows (or none at all)
            y, values, delta = run(slice(None), groups[0] if len(groups) else 0)
            return StepAttribution(y, values, delta)
        # One native call per target, results scattered back in window order.
        y = np.empty((n, self.spec.output_size), np.float32)
        values = np.empty(X.shape, np.float32)
        delta = np.empty(n, np.float32) if method == "integrated" else None
        for tgt in groups:
            rows = np.flatnonzero(targets == tgt)
            y[rows], values[rows], d = run(rows, tgt)
            if delta is not None:
                delta[rows] = d
        return StepAttribution(y, values, delta)

    def _native_baseline(self, baseline, shape) -> np.ndarray | None:
        """The baseline as the core takes it, (I,) float32; ``None`` when it varies over
        steps or windows (then the generic path runs)."""
        from ..attribution import check_baseline

        base = check_baseline(baseline, self.spec, shape)
        if base.ndim > 1:
            return None
        return np.ascontiguousarray(np.broadcast_to(base, (self.spec.input_size,)), np.float32)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32)


def _limit(limit: float | None) -> float:
    return -1.0 if limit is None else float(limit)


def isa() -> str:
    """The kernel set in use: ``scalar``, ``avx2`` or ``neon``."""
    return _core.isa()


def set_isa(name: str) -> None:
    """Pin the kernel set (``"scalar"`` forces the reference path; ``"auto"`` the best)."""
    _core.set_isa(name)  # an unknown or unsupported name raises ValueError


def supported_isas() -> list[str]:
    return list(_core.supported_isas())


__all__ = ["CppBackend", "core_model", "isa", "set_isa", "supported_isas"]

"""The compiled C++ backend (``actif._core``): float32, threaded, fused attribution."""

from __future__ import annotations

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

"""The compiled C++ backend (``actif._core``): float32, threaded, fused attribution.

Its stream state is the core's own ``Stream`` object (h, c, pooling ring, steps held
natively; see cpp/include/actif/stream.hpp), and its model applies the input rule
natively with the limit it derived when built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _native
from ..model_spec import ModelSpec
from ..validation import DEFAULT_MAX_ABS
from .base import Activations, Backend, ForwardResult, LayerActivations

_core = _native.load()
if _core is None:  # reported through the registry with an install hint
    raise ImportError("actif._core is not built")


def core_model(spec: ModelSpec, max_abs: float | None = DEFAULT_MAX_ABS) -> Any:
    """Hand a spec's arrays to the native builder (it copies and transposes them)."""
    return _native.native_model(spec, max_abs)


class CppBackend(Backend):
    name = "cpp"
    applies_input_rule = True  # Model passes max_abs; the native model derives the limit

    def __init__(self, spec: ModelSpec, num_threads: int | None = None, max_abs: float | None = DEFAULT_MAX_ABS):
        super().__init__(spec, num_threads)
        self._model = core_model(spec, max_abs)
        self._threads = int(num_threads or 0)
        self._limit = float(self._model.input_limit)

    @property
    def input_limit(self) -> float:
        """The input rule's bound the native model derived (min of max_abs and overflow bound)."""
        return self._limit

    def forward(self, X, *, activations=False, trace=None):
        y, layers, tr = self._model.forward(X, activations, trace or "none", self._threads)
        acts = Activations([LayerActivations(*t) for t in layers]) if activations else None
        return ForwardResult(y, acts, tr)

    def forward_stats(self, X, stats, trace):
        if _native.is_native_stats(stats):
            return self._model.forward_stats(X, stats, trace, self._threads)
        return super().forward_stats(X, stats, trace)

    def try_forward_stats(self, x, stats, trace, limit):
        if not _native.is_native_stats(stats) or not _same_limit(limit, self._limit):
            return None
        return self._model.try_forward_stats(x, stats, trace, self._threads)

    def new_state(self, batch: int = 1):
        return _core.Stream(self._model, batch)

    def try_step_stats(self, x, state, stats, trace, limit):
        if not _native.is_native_stats(stats) or not _same_limit(limit, self._limit):
            return None
        return _stream(state).try_run_stats(x, trace, stats)

    def step(self, x, state, *, trace=None):
        return _stream(state).step(x, trace or "none")

    def step_stats(self, x, state, stats, trace):
        if not _native.is_native_stats(stats):
            return super().step_stats(x, state, stats, trace)
        y, _ = _stream(state).step(x, trace, stats)
        return y

    def run_stats(self, x, state, stats, trace):
        if not _native.is_native_stats(stats):
            return super().run_stats(x, state, stats, trace)
        y, _ = _stream(state).run(np.ascontiguousarray(x[:, None, :]), trace, stats)  # one native call
        return y[:, 0]


def _stream(state: Any) -> Any:
    if not _native.is_native_stream(state):
        raise TypeError(f"the cpp backend steps its own stream states (Model.new_state), got {type(state).__name__}")
    return state


def _same_limit(limit: float | None, native: float) -> bool:
    """The hot path applies the native model's limit: only take it when the caller asks
    for that same limit."""
    return (math.inf if limit is None else float(limit)) == float(native)


def isa() -> str:
    """The kernel set in use: ``scalar``, ``avx2`` or ``neon``."""
    return str(_native.isa())


def set_isa(name: str) -> None:
    """Pin the kernel set (``"scalar"`` forces the reference path; ``"auto"`` the best)."""
    _native.set_isa(name)


def supported_isas() -> list[str]:
    return _native.supported_isas()


__all__ = ["CppBackend", "core_model", "isa", "set_isa", "supported_isas"]

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
from ..attribution import StepAttribution, check_baseline, check_request, ig_nodes
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
        self._default_base32: np.ndarray | None = None  # derived on first use, then reused
        self._hot_options: list[tuple[Any, np.ndarray | None]] = []  # _hot_baseline: (options, baseline), newest first

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

    # ------------------------------------------------------------------ attribution
    def attribute(
        self, X, method, *, target=0, baseline=None, n_steps=50, ig_method="gausslegendre", initial_state=None,
        internal_batch_size=None,
    ):
        """The native attributions (``_core.Model.attribute``): one reverse pass (or the
        batched ablations) in C++ on the model's kernels. Baselines of shape (T, I) or
        (N, T, I) take the generic path of :class:`Backend`. ``internal_batch_size`` is
        not needed here: the core bounds its memory by the windows in flight."""
        targets, state = check_request(self.spec, X, method, target, initial_state, internal_batch_size)
        base = self._default_base() if baseline is None else self._native_baseline(baseline, X.shape)
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

        groups = [target] if type(target) is int else np.unique(targets)  # check_request checked the int
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

    def attribute_stats(
        self, X, method, abs_stats, signed_stats, *, target=0, baseline=None, n_steps=50, ig_method="gausslegendre"
    ):
        """One native call (``_core.Model.attribute_stats``) when both statistics are the
        core's (or ``None``), the target is one index and the baseline one (I,) row;
        otherwise the generic path. The statistics get the same bytes either way."""
        native = all(s is None or _native.is_native_stats(s) for s in (abs_stats, signed_stats))
        # The per-update hot path of a device (one window per call): one output index and
        # the default baseline need no array checks, and the baseline is derived once.
        if native and baseline is None and type(target) is int and 0 <= target < self.spec.output_size:
            if method == "integrated":
                ig_nodes(n_steps, ig_method)  # the checks (the nodes are cached)
            return self._model.attribute_stats(
                X, method, target, self._default_base(), int(n_steps), ig_method, abs_stats, signed_stats,
                self._threads,
            )
        if native:
            targets, _ = check_request(self.spec, X, method, target, None, None)
            base = self._native_baseline(baseline, X.shape)
            native = base is not None and len(np.unique(targets)) <= 1
        if not native:
            return super().attribute_stats(
                X, method, abs_stats, signed_stats, target=target, baseline=baseline, n_steps=n_steps,
                ig_method=ig_method,
            )
        if method == "integrated":
            ig_nodes(n_steps, ig_method)
        tgt = int(targets[0]) if len(targets) else 0
        return self._model.attribute_stats(
            np.ascontiguousarray(X, np.float32), method, tgt, base, int(n_steps), ig_method, abs_stats, signed_stats,
            self._threads,
        )

    def try_attribute(self, x, options, target, limit):
        if not _same_limit(limit, self._limit):
            return None
        base = self._hot_baseline(options, x.shape[-2])
        if base is None:
            return None
        got = self._model.try_attribute(x, options.method, target, base, options.n_steps, options.ig_method, self._threads)
        return got if got is None or isinstance(got, int) else StepAttribution(*got)

    def try_attribute_stats(self, x, options, abs_stats, signed_stats, limit):
        if type(x) is not np.ndarray or x.ndim not in (2, 3) or type(options.target) is not int:
            return None
        if not _same_limit(limit, self._limit) or not all(s is None or _native.is_native_stats(s) for s in (abs_stats, signed_stats)):
            return None
        base = self._hot_baseline(options, x.shape[-2])
        if base is None:
            return None
        return self._model.try_attribute_stats(
            x, options.method, options.target, base, options.n_steps, options.ig_method, abs_stats, signed_stats,
            self._threads,
        )

    def new_history(self) -> NativeHistory:
        return NativeHistory(_core.StreamHistory(self._model, 1))

    def step_attribute_stats(self, x, state, history, options, abs_stats, signed_stats):
        got = self._step_attribute(_f32(x), state, history, options, abs_stats, signed_stats)
        if isinstance(got, int):  # validated rows: only a caller with another limit gets here
            raise ValueError("the cpp backend's stateful methods take samples within the model's input rule")
        return got

    def try_step_attribute_stats(self, x, state, history, options, abs_stats, signed_stats, limit):
        if type(x) is not np.ndarray or not _same_limit(limit, self._limit):
            return None
        return self._step_attribute(x, state, history, options, abs_stats, signed_stats)

    def _step_attribute(self, x, state, history, options, abs_stats, signed_stats):
        base = self._hot_baseline(options, 1)  # a stream's baseline is one sample's
        if base is None:  # a baseline varying over steps: stateful mode takes none (the explainer refuses it)
            raise ValueError("a stream's baseline is a scalar or one value per feature (I,)")
        return _native_history(history).step_attribute_stats(
            _stream(state), x, options.method, options.target, base, options.n_steps, options.ig_method, abs_stats,
            signed_stats, self._threads,
        )

    def _hot_baseline(self, options, steps: int) -> np.ndarray | None:
        """The hot paths' baseline as the core takes it, derived once per options (an
        explainer's; the last few are kept, so explainers taking turns on one model do not
        derive theirs again on every call), checked against windows of ``steps`` steps;
        ``None`` when it varies over steps (then the general path runs)."""
        for held, base in self._hot_options:
            if held is options:
                return base
        base = self._native_baseline(options.baseline, (1, steps, self.spec.input_size))
        self._hot_options = [(options, base)] + self._hot_options[: _HOT_OPTIONS_KEPT - 1]
        return base

    def _default_base(self) -> np.ndarray:
        """The default baseline as the core takes it, derived on first use, then reused."""
        if self._default_base32 is None:
            self._default_base32 = self._native_baseline(None, (1, 1, self.spec.input_size))
        return self._default_base32

    def _native_baseline(self, baseline, shape) -> np.ndarray | None:
        """The baseline as the core takes it, (I,) float32; ``None`` when it varies over
        steps or windows (then the generic path runs)."""
        base = check_baseline(baseline, self.spec, shape)
        if base.ndim > 1:
            return None
        return np.ascontiguousarray(np.broadcast_to(base, (self.spec.input_size,)), np.float32)


_HOT_OPTIONS_KEPT = 4  # explainers whose hot-path baseline a backend keeps


class NativeHistory:
    """A stream's :class:`~actif.backends.base.SampleHistory` held by the core
    (``_core.StreamHistory``): the same interface, arrays (K, I) and (K, H_l)."""

    def __init__(self, native: Any):
        self.native = native

    @property
    def length(self) -> int:
        return int(self.native.length)

    def reset(self) -> None:
        self.native.reset()

    def held(self):
        x, h, c = self.native.held()
        return x[:, 0], [a[:, 0] for a in h], [a[:, 0] for a in c]

    def assign(self, x, h, c, state) -> None:
        self.native.assign(_f32(x)[:, None], [_f32(a)[:, None] for a in h], [_f32(a)[:, None] for a in c], _stream(state))


def _native_history(history: Any) -> Any:
    if not isinstance(history, NativeHistory):
        raise TypeError(f"the cpp backend attributes streams with its own histories (new_history), got {type(history).__name__}")
    return history.native


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32)


def _stream(state: Any) -> Any:
    if not _native.is_native_stream(state):
        raise TypeError(f"the cpp backend steps its own stream states (Model.new_state), got {type(state).__name__}")
    return state


def _same_limit(limit: float | None, native: float) -> bool:
    """The hot path applies the native model's limit: only take it when the caller asks
    for that same limit."""
    return (math.inf if limit is None else float(limit)) == float(native)


def isa() -> str:
    """The kernel set in use: ``scalar``, ``avx2``, ``avx512`` or ``neon``."""
    return str(_native.isa())


def set_isa(name: str) -> None:
    """Pin the kernel set (``"scalar"`` forces the reference path; ``"auto"`` the best)."""
    _native.set_isa(name)


def supported_isas() -> list[str]:
    return _native.supported_isas()


__all__ = ["CppBackend", "core_model", "isa", "set_isa", "supported_isas"]

"""The one door to the compiled core, ``actif._core`` (no other module imports it).

The runtime works without it (the NumPy and Numba backends, the NumPy statistics);
:func:`load` says whether this machine has it. Everything else here is a typed,
Python-side view of the core's objects and functions: the stubs in ``_core.pyi``
describe them.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .constants import FLOAT32_BUDGET
from .errors import BackendUnavailableError

CORE_MISSING_HINT = (
    "the compiled core is missing: reinstall actif from source with a C++17 compiler "
    "(pip install --force-reinstall actif), or use backend='numba' or 'numpy'"
)


def load() -> ModuleType | None:
    """The core module, or ``None`` when it is not built (asked afresh on every call,
    so a test can hide the core as a machine without a compiler would)."""
    try:
        from . import _core
    except ImportError:
        return None
    return _core


def require() -> ModuleType:
    """The core module, or :class:`~actif.errors.BackendUnavailableError`."""
    core = load()
    if core is None:
        raise BackendUnavailableError(CORE_MISSING_HINT)
    return core


_CORE = load()  # the hot paths below bind once

# ------------------------------------------------------------------ the input rule


def first_invalid(arr: np.ndarray, limit: float | None) -> int:
    """Flat index of the first value of a C-contiguous float32 array breaking the input
    rule (NaN, Inf or ``|v| > limit`` compared in float32; ``None``: finiteness only),
    or -1. The native scan when the core is built, else NumPy (the same answer)."""
    if _CORE is not None:
        return int(_CORE.first_invalid(arr, -1.0 if limit is None else float(limit)))
    with np.errstate(over="ignore"):
        lim = np.float32(np.finfo(np.float32).max if limit is None else limit)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(arr) <= lim)
    return int(np.flatnonzero(bad)[0]) if bad.any() else -1


def overflow_safe_abs(spec: Any) -> float:
    """The model's overflow-safe input bound, derived by the core (the bound a native
    model applies); its NumPy twin :func:`overflow_safe_abs_numpy` without it."""
    layer = spec.lstm[0]
    if _CORE is None:
        return overflow_safe_abs_numpy(spec)
    return float(_CORE.overflow_safe_abs(layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh, spec.input_scale, spec.input_shift))


# Largest value any intermediate may reach (constants.json, as the core's kFloat32Budget).
_FLOAT32_BUDGET = FLOAT32_BUDGET


def overflow_safe_abs_numpy(spec: Any) -> float:
    """The NumPy twin of the core's overflow_safe_bound (cpp/src/model.cpp), used only
    when the core is not built; tests check that both agree."""
    layer = spec.lstm[0]
    a = np.abs(layer.w_ih.astype(np.float64))  # (4H, I)
    n_in = a.shape[1]
    scale = np.ones(n_in) if spec.input_scale is None else np.abs(spec.input_scale.astype(np.float64))
    shift = np.zeros(n_in) if spec.input_shift is None else np.abs(spec.input_shift.astype(np.float64))
    recurrent = np.abs(layer.w_hh.astype(np.float64)).sum(axis=1) + np.abs(layer.b_ih.astype(np.float64) + layer.b_hh)
    route = a.sum(axis=0)  # per input: bounds the weighted and gates traces' factor
    # each constraint: B * gain + fixed <= budget
    constraints = [
        (scale, shift),  # |x * scale + shift|
        (a @ scale, a @ shift + recurrent),  # |z| of the first layer
        (scale * route, shift * route),  # traces: |x_norm| * (routing of |h| or |gates|)
    ]
    bound = math.inf
    for gain, fixed in constraints:
        room = np.maximum(_FLOAT32_BUDGET - fixed, 0.0)
        with np.errstate(divide="ignore"):
            per = np.where(gain > 0, room / np.where(gain > 0, gain, 1.0), math.inf)
        bound = min(bound, float(per.min()))
    return min(bound, _FLOAT32_BUDGET)


# ------------------------------------------------------------------ objects


def native_model(spec: Any, max_abs: float | None) -> Any:
    """A ``_core.Model`` from a spec's arrays (the core copies and transposes them)."""
    core = require()
    return core.Model(
        spec.input_scale,
        spec.input_shift,
        [(layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh) for layer in spec.lstm],
        spec.pooling,
        int(spec.window),
        spec.post_scale,
        spec.post_shift,
        [(d.weight, d.bias, d.activation) for d in spec.dense],
        None if max_abs is None or math.isinf(max_abs) else float(max_abs),
    )


def stats_class() -> type | None:
    """``_core.RunningStats``, or ``None`` without the core."""
    core = load()
    return None if core is None else core.RunningStats


def is_native_stats(obj: Any) -> bool:
    return _CORE is not None and isinstance(obj, _CORE.RunningStats)


def is_native_stream(obj: Any) -> bool:
    return _CORE is not None and isinstance(obj, _CORE.Stream)


# ------------------------------------------------------------------ machine facts


def isa() -> str | None:
    """The kernel set in use (``scalar``, ``avx2``, ``avx512``, ``neon``), ``None`` without the core."""
    core = load()
    return None if core is None else str(core.isa())


def set_isa(name: str) -> None:
    require().set_isa(name)  # an unknown or unsupported name raises ValueError


def supported_isas() -> list[str]:
    core = load()
    return [] if core is None else list(core.supported_isas())


def default_num_threads() -> int:
    core = load()
    return 1 if core is None else int(core.default_num_threads())

"""Checks at the boundary: every array a user hands in is checked here, before any
backend or state sees it, so a rejected input changes nothing.

This runs on every streaming update, so the common case (a C-contiguous float32
array of the right shape) is a handful of attribute reads and one native scan.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import InvalidInputError

# Inputs beyond this magnitude are almost surely sensor garbage, and float32 products
# with the weights could overflow; the limit is a per-model setting (``max_abs``).
DEFAULT_MAX_ABS = 1e6

try:
    from ._core import first_invalid as _native_first_invalid
except ImportError:  # no compiled core: NumPy does the scan
    _native_first_invalid = None


def first_invalid(arr: np.ndarray, max_abs: float | None) -> int:
    """Flat index of the first NaN, Inf or out-of-range value of a float32 C-contiguous
    array, or -1 when all values are fine."""
    if _native_first_invalid is not None:
        return int(_native_first_invalid(arr, -1.0 if max_abs is None else float(max_abs)))
    mag = np.abs(arr)
    limit = np.finfo(np.float32).max if max_abs is None else max_abs
    if mag.max(initial=0.0) <= limit:  # NaN compares False, so it lands below
        return -1
    with np.errstate(invalid="ignore"):
        return int(np.flatnonzero(~(mag <= limit))[0])


def as_float32(
    x: Any,
    *,
    ndim: int | Sequence[int],
    n_features: int,
    what: str = "X",
    feature_names: Sequence[str] | None = None,
    max_abs: float | None = DEFAULT_MAX_ABS,
    allow_empty: bool = True,
) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 array, or raise :class:`InvalidInputError`.

    Copies only when the dtype or layout is wrong. ``ndim`` gives the accepted ranks;
    the last axis must be the model's ``n_features``.
    """
    arr = x if type(x) is np.ndarray else np.asarray(x)
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if arr.dtype.kind not in "fiu":
        raise InvalidInputError(f"{what} must hold real numbers (float or int), got dtype {arr.dtype}")
    if arr.ndim not in ranks:
        expect = " or ".join(_shape_hint(r, n_features) for r in ranks)
        raise InvalidInputError(f"{what} must have shape {expect}, got {arr.shape}")
    if arr.shape[-1] != n_features:
        raise InvalidInputError(f"{what} has {arr.shape[-1]} features on its last axis, the model takes {n_features}")
    if arr.ndim == 3 and arr.shape[1] == 0:
        raise InvalidInputError(f"{what} has windows of length 0")
    if arr.size == 0:
        if not allow_empty:
            raise InvalidInputError(f"{what} is empty")
        return np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
            # float64 values beyond float32's range would turn into Inf: name them as they are
            _raise_if_invalid(np.ascontiguousarray(np.clip(arr, -3e38, 3e38), np.float32), arr, what, feature_names, max_abs)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    _raise_if_invalid(arr, arr, what, feature_names, max_abs)
    return arr


def _raise_if_invalid(arr32: np.ndarray, original: np.ndarray, what: str, names: Sequence[str] | None, max_abs: float | None) -> None:
    flat = first_invalid(arr32, max_abs)
    if flat < 0:
        return
    where = tuple(int(v) for v in np.unravel_index(flat, original.shape))
    value = original[where]
    feat = where[-1]
    fname = f"'{names[feat]}' (index {feat})" if names is not None else f"index {feat}"
    axes = {3: ("window", "step"), 2: ("row",)}.get(original.ndim, ())
    loc = ", ".join(f"{a} {i}" for a, i in zip(axes, where[:-1]))
    loc = f"{loc}, feature {fname}" if loc else f"feature {fname}"
    if np.isnan(value):
        kind = "NaN"
    elif np.isinf(value):
        kind = "Inf"
    else:
        kind = f"|value| {abs(float(value)):.3g} > max_abs {max_abs:g}"
    raise InvalidInputError(f"{what} has {kind} at {loc}; nothing was changed", where)


def _shape_hint(rank: int, n_features: int) -> str:
    return {1: f"({n_features},)", 2: f"(M, {n_features})", 3: f"(N, T, {n_features})"}.get(rank, f"rank {rank}")

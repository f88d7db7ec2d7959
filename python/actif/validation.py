"""Checks at the boundary: every array a user hands in is checked here, before any
backend or state sees it, so a rejected input changes nothing.

This runs on every streaming update, so the common case (a C-contiguous float32
array of the right shape) is a handful of attribute reads and one native scan.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _native
from .constants import DEFAULT_MAX_ABS
from .errors import InvalidInputError

# DEFAULT_MAX_ABS (constants.json, as the core's kDefaultMaxAbs): inputs beyond it are
# almost surely sensor garbage; the limit is a per-model setting (``max_abs``).
_F32_MAX = float(np.finfo(np.float32).max)
# What a streaming explainer does with rejected input (see StreamingExplainer).
ON_INVALID = ("raise", "skip")


def first_invalid(arr: np.ndarray, max_abs: float | None) -> int:
    """Flat index of the first NaN, Inf or out-of-range value of a float32 C-contiguous
    array, or -1 when all values are fine. The limit is compared in float32, as the
    native scan does, so both give the same answer for any ``max_abs``."""
    return _native.first_invalid(arr, max_abs)


def invalid_values(arr32: np.ndarray, max_abs: float | None) -> np.ndarray:
    """Boolean mask of the values of a float32 array that are rejected: NaN, Inf, or
    beyond ``max_abs`` (compared in float32; ``None``: finiteness only)."""
    with np.errstate(over="ignore"):
        limit = np.float32(_F32_MAX if max_abs is None else max_abs)
    with np.errstate(invalid="ignore"):
        return ~(np.abs(arr32) <= limit)  # NaN compares False, so it is caught too


def to_float32(arr: np.ndarray) -> np.ndarray:
    """C-contiguous float32 copy (or ``arr`` itself when it already is one). Values
    beyond float32's range become Inf, which the value checks then reject."""
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(arr, dtype=np.float32)


def rejected_rows(arr: np.ndarray, max_abs: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per leading-axis row of a real-valued array: ``(rejected, non_finite)`` masks.

    A row is rejected when any of its values is (the same rule :func:`as_float32`
    applies); ``non_finite`` marks the rejected rows holding a NaN or Inf as given, the
    others are out of range (beyond ``max_abs`` or float32's range)."""
    rows = arr.shape[0]
    bad = invalid_values(to_float32(arr), max_abs).reshape(rows, -1).any(axis=1)
    if arr.dtype.kind == "f":
        non_finite = ~np.isfinite(arr.reshape(rows, -1)).all(axis=1)
    else:
        non_finite = np.zeros(rows, bool)
    return bad, bad & non_finite


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
        raise InvalidInputError(f"{what} must hold real numbers (float or int), got dtype {arr.dtype}", reason="bad_dtype")
    if arr.ndim not in ranks:
        expect = " or ".join(_shape_hint(r, n_features) for r in ranks)
        raise InvalidInputError(f"{what} must have shape {expect}, got {arr.shape}")
    if arr.shape[-1] != n_features:
        raise InvalidInputError(f"{what} has {arr.shape[-1]} features on its last axis, the model takes {n_features}")
    if arr.ndim == 3 and arr.shape[1] == 0:
        raise InvalidInputError(f"{what} has windows of length 0")
    if arr.size == 0:
        if not allow_empty:
            raise InvalidInputError(f"{what} is empty: nothing to do", reason="empty")
        return np.ascontiguousarray(arr, dtype=np.float32)
    arr32 = to_float32(arr)
    # the error names the value as given (a float64 1e300 is out of range, not "Inf")
    _raise_if_invalid(arr32, arr, what, feature_names, max_abs)
    return arr32


def _raise_if_invalid(arr32: np.ndarray, original: np.ndarray, what: str, names: Sequence[str] | None, max_abs: float | None) -> None:
    flat = first_invalid(arr32, max_abs)
    if flat >= 0:
        raise rejected_value_error(flat, original, what, names, max_abs)


def rejected_value_error(
    flat: int, original: np.ndarray, what: str, names: Sequence[str] | None, max_abs: float | None
) -> InvalidInputError:
    """The error for the value at flat index ``flat`` of ``original`` (found by the input
    rule's scan, here or in the core): names the window/step/row and the feature."""
    where = tuple(int(v) for v in np.unravel_index(flat, original.shape))
    value = original[where]
    feat = where[-1]
    fname = f"'{names[feat]}' (index {feat})" if names is not None else f"index {feat}"
    axes = {3: ("window", "step"), 2: ("row",)}.get(original.ndim, ())
    loc = ", ".join(f"{a} {i}" for a, i in zip(axes, where[:-1]))
    loc = f"{loc}, feature {fname}" if loc else f"feature {fname}"
    reason = "non_finite"
    if np.isnan(value):
        kind = "NaN"
    elif np.isinf(value):
        kind = "Inf"
    else:
        reason = "out_of_range"
        if abs(float(value)) > _F32_MAX:
            kind = f"|value| {abs(float(value)):.3g} beyond float32's range (out of range)"
        else:
            kind = f"|value| {abs(float(value)):.3g} > max_abs {max_abs:g}"
    return InvalidInputError(f"{what} has {kind} at {loc}; nothing was changed", where, reason)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int when it is a positive integer (bool is not); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _shape_hint(rank: int, n_features: int) -> str:
    return {1: f"({n_features},)", 2: f"(M, {n_features})", 3: f"(N, T, {n_features})"}.get(rank, f"rank {rank}")

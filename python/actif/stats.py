"""Streaming per-feature statistics and the DeepACTIF scores.

:class:`RunningStats` keeps, per feature, a float64 count, mean and M2 (sum of squared
deviations), updated batch-wise (two-pass within the batch, then Chan et al.'s pairwise
merge), so memory is O(features) however long the stream. Partial states from threads,
files, devices or workers merge exactly with :meth:`RunningStats.merge`.

With ``half_life`` set, older samples are down-weighted exponentially: a sample
``half_life`` samples old counts half as much as the newest. ``count`` is then still
the number of samples seen and ``weight`` the effective sample weight.

The byte format (``to_bytes``), little-endian, version 1::

    0   8   magic b"ACTIFRS\\0"
    8   4   u32 version (1)
    12  4   u32 flags (bit 0: forgetting on)
    16  8   u64 n_features
    24  8   u64 count
    32  8   f64 weight
    40  8   f64 half_life (0 when off)
    48  8n  f64 mean[n]
        8n  f64 m2[n]
        4   u32 CRC-32 (zlib) of all preceding bytes

The compiled core (``actif._core``) and the NumPy implementation here write the same
bytes; either reads the other's.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from . import _native
from .constants import MAX_FEATURES
from .errors import BackendUnavailableError, ModelFormatError
from .validation import positive_int

MAGIC = b"ACTIFRS\x00"
STATS_VERSION = 1
_HEADER = struct.Struct("<8sIIQQdd")
_MAX_COUNT = (1 << 64) - 1  # the blob's u64 sample count
SCORE_METHODS = ("inverse", "mean", "meanstd", "pen")
# The default score is chosen by the faithfulness benchmarks (benchmarks/results/
# faithfulness_synthetic.md, deletion_insertion.md, faithfulness_retrain.md): "mean"
# recovers known relevant features far better than DeepACTIF's "inverse", which ranked
# about as well as a random ranking there. "inverse" stays available to reproduce the paper.
DEFAULT_AGGREGATION = "mean"


class NumpyRunningStats:
    """Float64 NumPy implementation (reference and fallback when no core is built)."""

    def __init__(self, n_features: int, half_life: float | None = None):
        self.n_features = int(n_features)
        self.half_life = float(half_life) if half_life else 0.0
        self.count = 0
        self.weight = 0.0
        self.mean = np.zeros(self.n_features)
        self.m2 = np.zeros(self.n_features)

    @property
    def decay(self) -> float:
        # C's pow(2, x), as running_stats.cpp computes it (exp2 can differ by an ulp)
        return 2.0 ** (-1.0 / self.half_life) if self.half_life else 1.0

    def update(self, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64)
        rows = a.shape[0]
        if rows == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, by value
            if self.half_life:
                lam = self.decay
                w = lam ** np.arange(rows - 1, -1, -1, dtype=np.float64)  # newest row weighs 1
                wb = float(w.sum())
                mb = (w @ a) / wb
                m2b = w @ (a - mb) ** 2
                self._merge_moments(lam**rows, rows, wb, mb, m2b)
            else:
                mb = a.mean(axis=0)
                m2b = ((a - mb) ** 2).sum(axis=0)
                self._merge_moments(1.0, rows, float(rows), mb, m2b)

    def _merge_moments(self, decay_a: float, count_b: int, wb: float, mb: np.ndarray, m2b: np.ndarray) -> None:
        """Chan et al.'s merge of batch moments into this state, after decaying its weight
        and M2 by ``decay_a``. Refuses (ValueError, nothing changed) when a moment would
        overflow float64 or the count 2^64: the rule of running_stats.cpp, same formulas."""
        if self.count + count_b > _MAX_COUNT:
            raise ValueError("statistics count would overflow 2^64 samples; statistics unchanged")
        wa = self.weight * decay_a
        w = wa + wb
        if w == 0.0:
            self.count += count_b
            return
        with np.errstate(over="ignore", invalid="ignore"):
            delta = mb - self.mean
            mean = self.mean + delta * (wb / w)
            m2 = self.m2 * decay_a + (m2b + delta * delta * (wa * wb / w))
        bad = ~(np.isfinite(mean) & np.isfinite(m2))
        if bad.any():
            raise ValueError(
                f"values too large for float64 statistics (feature {int(np.argmax(bad))}'s moments would overflow); "
                "statistics unchanged"
            )
        self.mean, self.m2, self.weight = mean, m2, w
        self.count += count_b

    def merge(self, other: NumpyRunningStats) -> None:
        self._merge_moments(1.0, other.count, other.weight, other.mean, other.m2)

    def copy(self) -> NumpyRunningStats:
        out = NumpyRunningStats(self.n_features, self.half_life or None)
        out.count, out.weight, out.mean, out.m2 = self.count, self.weight, self.mean.copy(), self.m2.copy()
        return out

    def reset(self) -> None:
        self.count, self.weight = 0, 0.0
        self.mean[:] = 0.0
        self.m2[:] = 0.0

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(
            MAGIC, STATS_VERSION, 1 if self.half_life else 0, self.n_features,
            self.count, self.weight, self.half_life,
        )
        body = head + self.mean.astype("<f8").tobytes() + self.m2.astype("<f8").tobytes()
        return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)

    @classmethod
    def from_bytes(cls, data: bytes) -> NumpyRunningStats:
        data = bytes(data)
        if len(data) < _HEADER.size + 4:
            raise ModelFormatError(f"statistics blob too short ({len(data)} bytes)")
        magic, version, flags, n, count, weight, half_life = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise ModelFormatError("not an actif statistics blob (bad magic)")
        if version != STATS_VERSION:
            raise ModelFormatError(f"statistics format version {version} is not supported (expected {STATS_VERSION})")
        if n == 0 or n > MAX_FEATURES:
            raise ModelFormatError(f"statistics blob declares {n} features (allowed 1..{MAX_FEATURES})")
        expected = _HEADER.size + 16 * n + 4
        if len(data) != expected:
            raise ModelFormatError(f"statistics blob has {len(data)} bytes, expected {expected} for {n} features")
        (crc,) = struct.unpack_from("<I", data, expected - 4)
        if zlib.crc32(data[: expected - 4]) & 0xFFFFFFFF != crc:
            raise ModelFormatError("statistics blob is corrupt (checksum mismatch)")
        if flags & ~1 or bool(flags & 1) != (half_life > 0):
            raise ModelFormatError("statistics blob has inconsistent flags")
        mean = np.frombuffer(data, "<f8", n, _HEADER.size).astype(np.float64)
        m2 = np.frombuffer(data, "<f8", n, _HEADER.size + 8 * n).astype(np.float64)
        # -0.0 is refused too: every accepted blob must serialise back to the same bytes
        if not (math.isfinite(weight) and weight >= 0 and math.isfinite(half_life) and math.copysign(1.0, half_life) > 0):
            raise ModelFormatError("statistics blob has invalid weight or half-life")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(m2)) and np.all(m2 >= 0)):
            raise ModelFormatError("statistics blob has non-finite or negative moments")
        # What the counts mean (running_stats.cpp checks the same): no sample, no weight
        # and zero moments; any sample weighs at least 1 (the newest always weighs 1).
        if not ((weight == 0.0 and not mean.any() and not m2.any()) if count == 0 else weight >= 1.0):
            raise ModelFormatError("statistics blob has a weight or moments that do not match its count")
        out = cls(int(n), half_life or None)
        out.count, out.weight, out.mean, out.m2 = int(count), float(weight), mean, m2
        return out


def _core_stats_class() -> type | None:
    return _native.stats_class()


class RunningStats:
    """Per-feature running count, mean and spread; mergeable and serialisable.

    >>> rs = RunningStats(3)
    >>> rs.update(np.array([[1.0, 2, 3], [3, 2, 1]]))
    >>> rs.mean.tolist(), rs.std.tolist()
    ([2.0, 2.0, 2.0], [1.0, 0.0, 1.0])

    ``impl="auto"`` uses the compiled core when built, else NumPy; ``"numpy"`` forces
    the reference implementation.

    Thread safety: every method takes the object's lock, so threads sharing one
    ``RunningStats`` are serialised and never see or leave a half-updated state.

    Like well-kept accumulators it pickles (the versioned bytes), copies
    (``copy.copy``/``copy.deepcopy``), compares with ``==`` (same bytes) and merges with
    ``+=`` (``a += b`` is ``a.merge(b)``), so it crosses process boundaries in
    multiprocessing and Dask.
    """

    def __init__(self, n_features: int, half_life: float | None = None, *, impl: str = "auto"):
        n_features = positive_int(n_features, "n_features")
        if n_features > MAX_FEATURES:
            raise ValueError(f"n_features must be <= {MAX_FEATURES}")
        if half_life is not None:
            if not (isinstance(half_life, (int, float)) and math.isfinite(half_life) and half_life > 0):
                raise ValueError(f"half_life must be a positive number of samples or None, got {half_life!r}")
        core = _core_stats_class() if impl in ("auto", "cpp") else None
        if impl == "cpp" and core is None:
            raise BackendUnavailableError("the compiled core is not built; reinstall actif with a C++ compiler")
        if impl not in ("auto", "cpp", "numpy"):
            raise ValueError("impl must be 'auto', 'cpp' or 'numpy'")
        self._impl: Any = core(n_features, float(half_life or 0.0)) if core else NumpyRunningStats(n_features, half_life)
        self._lock = threading.RLock()

    @classmethod
    def _wrap(cls, impl: Any) -> RunningStats:
        obj = cls.__new__(cls)
        obj._impl = impl
        obj._lock = threading.RLock()
        return obj

    # ------------------------------------------------------------------ reading
    @property
    def n_features(self) -> int:
        return int(self._impl.n_features)

    @property
    def count(self) -> int:
        """Number of samples (rows) seen."""
        return int(self._impl.count)

    @property
    def weight(self) -> float:
        """Effective sample weight (equals ``count`` without forgetting)."""
        return float(self._impl.weight)

    @property
    def half_life(self) -> float | None:
        return float(self._impl.half_life) or None

    @property
    def mean(self) -> np.ndarray:
        return np.array(self._impl.mean, dtype=np.float64)

    @property
    def m2(self) -> np.ndarray:
        return np.array(self._impl.m2, dtype=np.float64)

    @property
    def var(self) -> np.ndarray:
        """Population variance (M2 / weight); zeros before any sample."""
        w = self.weight
        return self.m2 / w if w > 0 else np.zeros(self.n_features)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    # ------------------------------------------------------------------ writing
    def update(self, a: Any) -> RunningStats:
        """Add rows ``a`` (M, n_features), or one row (n_features,). Rejects NaN/Inf,
        wrong shapes and values so large that the float64 moments would overflow (about
        1e154 away from the running mean) with ``ValueError`` before changing anything."""
        arr = np.asarray(a)
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"statistics take real numbers, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(f"expected shape (M, {self.n_features}), got {np.shape(a)}")
        if arr.dtype != np.float32:
            arr = arr.astype(np.float64, copy=False)
        arr = np.ascontiguousarray(arr)
        if not np.all(np.isfinite(arr)):
            r, c = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"non-finite value at row {r}, feature {c}; statistics unchanged")
        with self._lock:
            self._impl.update(arr)
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold ``other`` into this (Chan et al.); both must have equal shape and half-life.
        A merge whose moments would overflow float64 or whose count would pass 2^64 raises
        ``ValueError`` and changes nothing."""
        if not isinstance(other, RunningStats):
            raise TypeError("merge takes another RunningStats")
        if other.n_features != self.n_features:
            raise ValueError(f"cannot merge {other.n_features} features into {self.n_features}")
        if (other.half_life or 0.0) != (self.half_life or 0.0):
            raise ValueError("cannot merge statistics with different half-lives")
        # a private copy of other first: never hold two locks (a.merge(b) || b.merge(a))
        with other._lock:
            o = other._impl.copy() if other is not self else None
        with self._lock:
            if o is None:
                o = self._impl.copy()
            if type(o) is not type(self._impl):
                o = type(self._impl).from_bytes(o.to_bytes())
            self._impl.merge(o)
        return self

    def copy(self) -> RunningStats:
        with self._lock:
            return RunningStats._wrap(self._impl.copy())

    __copy__ = copy

    def __deepcopy__(self, memo: dict) -> RunningStats:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its versioned bytes (the lock is not state); read back with the
        # implementation it had (the compiled core or NumPy, whichever the reader has)
        return (_from_pickle, (self.to_bytes(), isinstance(self._impl, NumpyRunningStats)))

    def __iadd__(self, other: RunningStats) -> RunningStats:
        """``a += b`` merges ``b`` into ``a`` (see :meth:`merge`)."""
        return self.merge(other)

    def __add__(self, other: RunningStats) -> RunningStats:
        """A new statistic equal to one fed both streams."""
        if not isinstance(other, RunningStats):
            return NotImplemented
        return self.copy().merge(other)

    # ------------------------------------------------------------------ owners
    def accumulator(self) -> _Held:
        """``with stats.accumulator() as acc:`` holds this object's lock and gives the
        accumulator a backend feeds directly (the core's native statistics or the NumPy
        implementation). For owners such as :class:`~actif.explain.StreamingExplainer`
        whose one backend call updates the accumulator atomically (a rejected input
        changes nothing); readers in other threads wait until the block ends.
        (A plain context object, not a generator: this runs once per streamed frame.)"""
        return _Held(self)

    @contextmanager
    def staged(self) -> Iterator[Any]:
        """Hold the lock and yield a private copy of the accumulator; when the block
        ends without an error the copy becomes this object's state, else nothing
        changed. For work made of several backend calls that must land whole."""
        with self._lock:
            staged = self._impl.copy()
            yield staged
            self._impl = staged

    def scores(self, method: str = DEFAULT_AGGREGATION) -> np.ndarray:
        """Per-feature scores (see :func:`scores_from_moments`): computed by the core for
        native statistics (the same numbers as the NumPy formula), else in NumPy.
        Raises ``ValueError`` before any sample."""
        check_aggregation(method)
        with self._lock:
            if _native.is_native_stats(self._impl):
                return np.asarray(self._impl.scores(method))
            if self._impl.count == 0:
                raise ValueError("no samples yet: update the statistics before asking for scores")
            mean, std = np.array(self._impl.mean), self.std
        return scores_from_moments(mean, std, method)

    def ranking(self, method: str = DEFAULT_AGGREGATION) -> np.ndarray:
        """Feature indices by descending score, ties by index (natively for native statistics)."""
        check_aggregation(method)
        with self._lock:
            if _native.is_native_stats(self._impl):
                return np.asarray(self._impl.ranking(method), dtype=np.int64)
        return ranking_order(self.scores(method))

    def reset(self) -> None:
        with self._lock:
            self._impl.reset()

    def to_bytes(self) -> bytes:
        with self._lock:
            return bytes(self._impl.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, impl: str = "auto") -> RunningStats:
        """Read a blob written by :meth:`to_bytes`; raises :class:`ModelFormatError`."""
        core = _core_stats_class() if impl in ("auto", "cpp") else None
        if core is not None:
            try:
                return cls._wrap(core.from_bytes(bytes(data)))
            except ValueError as exc:  # the core raises ValueError with the same messages
                raise ModelFormatError(str(exc)) from None
        return cls._wrap(NumpyRunningStats.from_bytes(data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunningStats) and self.to_bytes() == other.to_bytes()


    def __repr__(self) -> str:
        hl = f", half_life={self.half_life:g}" if self.half_life else ""
        return f"RunningStats(n_features={self.n_features}, count={self.count}{hl})"


# ---------------------------------------------------------------------------- scores


def minmax(v: np.ndarray) -> np.ndarray:
    """``(v - min v) / (max v - min v + 1e-8)``: the scaling DeepACTIF's scores use."""
    v = np.asarray(v, dtype=np.float64)
    return (v - v.min()) / (v.max() - v.min() + 1e-8)


def scores_from_moments(mu: np.ndarray, sigma: np.ndarray, method: str = DEFAULT_AGGREGATION) -> np.ndarray:
    """Per-feature importance from means and (population) standard deviations.

    ``inverse`` (DeepACTIF): ``(mm(mu) + 1 - mm(sigma)) / 2``, high mean activation
    and low spread rank first; ``mean``: ``mm(mu)``; ``meanstd``: ``mu * sigma``;
    ``pen``: ``mm(mu) * (1 - exp(-sigma / 0.01))``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if method == "inverse":
        return (minmax(mu) + 1.0 - minmax(sigma)) / 2.0
    if method == "mean":
        return minmax(mu)
    if method == "meanstd":
        return mu * sigma
    if method == "pen":
        return minmax(mu) * (1.0 - np.exp(-sigma / 0.01))
    raise _unknown_aggregation(method)


def check_aggregation(method: str) -> str:
    """``method`` if it names a score (:data:`SCORE_METHODS`), else a ValueError."""
    if method not in SCORE_METHODS:
        raise _unknown_aggregation(method)
    return method


def _unknown_aggregation(method: Any) -> ValueError:
    return ValueError(f"unknown aggregation {method!r}; choose one of {SCORE_METHODS}")


def scores(stats: RunningStats, method: str = DEFAULT_AGGREGATION) -> np.ndarray:
    """Scores (n_features,) from a :class:`RunningStats`; raises if it saw no sample.
    One consistent state is read even while another thread updates."""
    return stats.scores(method)


class _Held:
    """The context :meth:`RunningStats.accumulator` returns."""

    __slots__ = ("_stats",)

    def __init__(self, stats: RunningStats):
        self._stats = stats

    def __enter__(self) -> Any:
        self._stats._lock.acquire()
        return self._stats._impl

    def __exit__(self, *exc: object) -> None:
        self._stats._lock.release()


def _from_pickle(data: bytes, numpy_impl: bool) -> RunningStats:
    return RunningStats.from_bytes(data, impl="numpy" if numpy_impl else "auto")


def ranking_order(score: np.ndarray) -> np.ndarray:
    """Indices by descending score, ties broken by feature index."""
    return np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")


def rank(score: np.ndarray, names: Sequence[str]) -> list[str]:
    return [names[i] for i in ranking_order(score)]

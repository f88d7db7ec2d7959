"""The raw gaze record: one session of binocular samples, read from a file or simulated.

Both :func:`actif.lab.data.robustvision.load_subject` and
:func:`actif.lab.data.synthetic.simulate_session` return a :class:`GazeRecord`, so the
feature pipeline (:mod:`actif.lab.data.features`) and the windowing
(:mod:`actif.lab.data.windows`) work the same on real and simulated sessions.

Frame: head-fixed, x to the right, y up, z forward (the RobustVision convention: the
right eye's origin has positive x). Lengths are in centimetres, times in
milliseconds, directions are unitless and need not have unit length (some trackers
report shorter vectors).

Segments: a window of samples is only meaningful when the samples follow each other
in time. A new segment starts at the first sample, after rows removed by a filter
(``segment_start``), and after a timestamp jump larger than ``GAP_FACTOR`` times the
median sample interval of the record (:func:`segment_starts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

# A timestamp jump larger than this many median sample intervals is a gap: at the
# RobustVision rate (median 13-18 ms) that is about 40-55 ms, i.e. two or more
# missing samples. Jitter of single intervals (2-30 ms are common) stays below it.
GAP_FACTOR = 3.0

# (name, trailing shape) of every per-sample array of a record, in field order.
_ARRAYS = (
    ("timestamp_ms", ()),
    ("gaze_dir_right", (3,)),
    ("gaze_dir_left", (3,)),
    ("origin_right_cm", (2,)),
    ("origin_left_cm", (2,)),
    ("gaze_point_cm", (3,)),
    ("gt_depth_cm", ()),
    ("estimated_depth_cm", ()),
)


@dataclass(frozen=True, eq=False)
class GazeRecord:
    """One session of binocular gaze samples in time order (arrays are read-only).

    ``timestamp_ms`` (M,) sample times; ``gaze_dir_right``/``gaze_dir_left`` (M, 3)
    gaze ray directions; ``origin_right_cm``/``origin_left_cm`` (M, 2) the x and z of
    each ray's origin (the eye; the files carry no y, it is taken as 0);
    ``gaze_point_cm`` (M, 3) the headset's world gaze point (may be non-finite);
    ``gt_depth_cm`` (M,) ground-truth fixation depth; ``estimated_depth_cm`` (M,) the
    headset's own depth estimate, NaN where it reports none; ``segment_start`` (M,)
    True where a sample does not continue the previous one (the first sample, and
    samples right after removed rows). ``source`` says where the record came from and
    ``counts`` how many rows each cleaning step saw or removed.
    """

    subject: str
    timestamp_ms: np.ndarray
    gaze_dir_right: np.ndarray
    gaze_dir_left: np.ndarray
    origin_right_cm: np.ndarray
    origin_left_cm: np.ndarray
    gaze_point_cm: np.ndarray
    gt_depth_cm: np.ndarray
    estimated_depth_cm: np.ndarray
    segment_start: np.ndarray
    source: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = None
        for name, tail in _ARRAYS:
            arr = np.array(getattr(self, name), dtype=np.float64)  # a private copy
            if n is None:
                n = arr.shape[0] if arr.ndim else -1
            if arr.shape != (n, *tail):
                raise ValueError(f"GazeRecord {self.subject!r}: {name} has shape {arr.shape}, expected {(n, *tail)}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        starts = np.array(self.segment_start, dtype=bool)
        if starts.shape != (n,):
            raise ValueError(f"GazeRecord {self.subject!r}: segment_start has shape {starts.shape}, expected ({n},)")
        if n:
            starts[0] = True
        starts.setflags(write=False)
        object.__setattr__(self, "segment_start", starts)
        if n and np.any(np.diff(self.timestamp_ms) < 0):
            raise ValueError(f"GazeRecord {self.subject!r}: timestamps are not in time order")
        object.__setattr__(self, "counts", dict(self.counts))

    def __len__(self) -> int:
        return int(self.timestamp_ms.shape[0])

    def __repr__(self) -> str:
        span = (self.timestamp_ms[-1] - self.timestamp_ms[0]) / 1000.0 if len(self) else 0.0
        return f"GazeRecord(subject={self.subject!r}, samples={len(self)}, span={span:.1f} s, source={self.source!r})"

    def select(self, keep: Any, counts: Mapping[str, int] | None = None) -> GazeRecord:
        """The samples where boolean ``keep`` is True. A kept sample that follows
        removed ones starts a new segment, so no window or derivative spans the hole."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(self),):
            raise ValueError(f"keep has shape {keep.shape}, expected ({len(self)},)")
        removed_before = np.zeros(len(self), dtype=bool)
        removed_before[1:] = ~keep[:-1]
        starts = (self.segment_start | removed_before)[keep]
        arrays = {name: getattr(self, name)[keep] for name, _ in _ARRAYS}
        return GazeRecord(
            subject=self.subject, **arrays, segment_start=starts, source=self.source,
            counts={**self.counts, **(counts or {})},
        )

    def segments(self, gap_factor: float = GAP_FACTOR) -> np.ndarray:
        """Boolean (M,): True where a new segment starts (see :func:`segment_starts`)."""
        return segment_starts(self.timestamp_ms, self.segment_start, gap_factor)


def median_interval_ms(timestamp_ms: Any) -> float:
    """Median of the positive sample intervals (0.0 with fewer than two distinct times)."""
    dt = np.diff(np.asarray(timestamp_ms, dtype=np.float64))
    dt = dt[dt > 0]
    return float(np.median(dt)) if dt.size else 0.0


def segment_starts(timestamp_ms: Any, segment_start: Any = None, gap_factor: float = GAP_FACTOR) -> np.ndarray:
    """Boolean (M,): True at the first sample, where ``segment_start`` says so, and after
    every interval longer than ``gap_factor`` times the median positive interval."""
    t = np.asarray(timestamp_ms, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"timestamps must be 1-D, got shape {t.shape}")
    if not gap_factor > 0:
        raise ValueError(f"gap_factor must be positive, got {gap_factor!r}")
    starts = np.zeros(t.shape[0], dtype=bool)
    if segment_start is not None:
        given = np.asarray(segment_start, dtype=bool)
        if given.shape != t.shape:
            raise ValueError(f"segment_start has shape {given.shape}, timestamps {t.shape}")
        starts |= given
    if t.size:
        starts[0] = True
        if np.any(np.diff(t) < 0):
            raise ValueError("timestamps are not in time order")
        threshold = gap_factor * median_interval_ms(t)
        if threshold > 0:
            starts[1:] |= np.diff(t) > threshold
    return starts

"""Windows in time order, leave-one-subject-out folds, and whole datasets.

A window is ``T`` consecutive samples of one segment (see
:func:`actif.lab.data.record.segment_starts`): it never spans a timestamp gap or rows a
filter removed. Its target is the ground-truth depth (cm) of its last sample, the
sample a streaming model predicts for when that sample arrives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from ...validation import positive_int
from .features import compute_features
from .record import GAP_FACTOR, GazeRecord, segment_starts


def window_ends(
    timestamp_ms: Any, T: int = 10, stride: int = 1, *, segment_start: Any = None, gap_factor: float = GAP_FACTOR
) -> np.ndarray:
    """Index of the last sample of every window, in time order.

    Within each segment the first window ends at the segment's ``T``-th sample and the
    next ones every ``stride`` samples after it; segments shorter than ``T`` give none.
    """
    return _ends_in_segments(segment_starts(timestamp_ms, segment_start, gap_factor), T, stride)


def _ends_in_segments(starts: np.ndarray, T: int, stride: int) -> np.ndarray:
    """window_ends given the segment starts (boolean, one per sample)."""
    T, stride = positive_int(T, "T"), positive_int(stride, "stride")
    n = starts.shape[0]
    seg_first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))  # first index of each sample's segment
    offset = np.arange(n) - seg_first
    ok = (offset >= T - 1) & ((offset - (T - 1)) % stride == 0)
    return np.flatnonzero(ok)


def make_windows(
    F: Any,
    timestamp_ms: Any,
    T: int = 10,
    stride: int = 1,
    *,
    segment_start: Any = None,
    gap_factor: float = GAP_FACTOR,
) -> tuple[np.ndarray, np.ndarray]:
    """``(windows (N, T, I) float32, last_index (N,))`` from per-sample features ``F``
    (M, I), in time order, never crossing a gap (an interval above ``gap_factor`` x the
    median interval) or a flagged ``segment_start`` (e.g. ``record.segment_start``)."""
    F = np.asarray(F)
    if F.ndim != 2:
        raise ValueError(f"F must be 2-D (samples, features), got shape {F.shape}")
    t = np.asarray(timestamp_ms, dtype=np.float64)
    if t.shape != (F.shape[0],):
        raise ValueError(f"timestamps have shape {t.shape}, F has {F.shape[0]} samples")
    ends = window_ends(t, T, stride, segment_start=segment_start, gap_factor=gap_factor)
    return _gather_windows(F, ends, T), ends


def _gather_windows(F: np.ndarray, ends: np.ndarray, T: int) -> np.ndarray:
    """The (N, T, I) float32 windows of ``F`` ending at ``ends``."""
    windows = np.empty((ends.size, T, F.shape[1]), dtype=np.float32)
    for k in range(T):  # T gathers of N rows: cheaper than a fancy index of N*T rows
        windows[:, k, :] = F[ends - (T - 1) + k]
    return windows


# ------------------------------------------------------------------------ folds


class Fold(NamedTuple):
    """One leave-one-subject-out fold: indices into the sequence given to loso_splits."""

    held_out: str
    train_index: np.ndarray
    test_index: np.ndarray


def loso_splits(subjects: Iterable[Any]) -> list[Fold]:
    """Leave-one-subject-out folds over per-item subject ids (one item per window, or
    one per subject): fold k tests on the k-th distinct subject (first-seen order) and
    trains on every item of the others."""
    ids = np.asarray([str(s) for s in subjects])
    if ids.size == 0:
        raise ValueError("loso_splits needs at least one subject")
    distinct = list(dict.fromkeys(ids.tolist()))
    if len(distinct) < 2:
        raise ValueError(f"leave-one-subject-out needs at least two subjects, got {distinct}")
    folds = []
    for subject in distinct:
        test = ids == subject
        folds.append(Fold(subject, np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


# ---------------------------------------------------------------------- datasets


@dataclass(frozen=True, eq=False)
class GazeDataset:
    """Windows of several sessions: ``windows`` (N, T, I) float32 raw features,
    ``targets`` (N,) float32 ground-truth depth (cm) of each window's last sample,
    ``subjects`` (N,) subject id per window, ``end_time_ms`` (N,) that sample's time."""

    windows: np.ndarray
    targets: np.ndarray
    subjects: np.ndarray
    end_time_ms: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return int(self.windows.shape[0])

    def folds(self) -> list[Fold]:
        return loso_splits(self.subjects)


def dataset_from_records(
    records: Sequence[GazeRecord], T: int = 10, stride: int = 1, *, gap_factor: float = GAP_FACTOR
) -> GazeDataset:
    """Features and windows of each record, concatenated in the records' order."""
    if not records:
        raise ValueError("no records to build a dataset from")
    parts_x, parts_y, parts_s, parts_t = [], [], [], []
    names: list[str] = []
    for record in records:
        starts = record.segments(gap_factor)  # one segmentation for the derivatives and the windows
        F, names = compute_features(record, gap_factor, starts=starts)
        ends = _ends_in_segments(starts, T, stride)
        parts_x.append(_gather_windows(F, ends, T))
        parts_y.append(record.gt_depth_cm[ends].astype(np.float32))
        parts_s.append(np.full(ends.size, record.subject))
        parts_t.append(record.timestamp_ms[ends])
    return GazeDataset(
        windows=np.concatenate(parts_x),
        targets=np.concatenate(parts_y),
        subjects=np.concatenate(parts_s),
        end_time_ms=np.concatenate(parts_t),
        feature_names=names,
    )


def build_dataset(
    directory: str | os.PathLike[str] | None,
    subjects: Sequence[str] | None = None,
    T: int = 10,
    stride: int = 1,
    *,
    gap_factor: float = GAP_FACTOR,
    **load_options: Any,
) -> GazeDataset:
    """Windows, targets (cm) and per-window subject ids of RobustVision ``subjects``
    (default: all) from ``directory`` (None: ``$ACTIF_DATA_DIR``). ``load_options`` go
    to :func:`actif.lab.data.robustvision.load_subject`."""
    from .robustvision import load_subjects

    records = load_subjects(directory, subjects, **load_options)
    return dataset_from_records(records, T, stride, gap_factor=gap_factor)


def sliding_windows(samples: np.ndarray, window: int, stride: int = 1, where: str = "the data") -> np.ndarray:
    """Windows (N, window, I) of consecutive samples (M, I), stride ``stride``."""
    if stride < 1:
        raise ValueError("stride must be >= 1")
    m = samples.shape[0]
    if m < window:
        raise ValueError(f"{where} has {m} sample rows; one window of the model needs {window}")
    view = np.lib.stride_tricks.sliding_window_view(samples, (window, samples.shape[1]))[:, 0]
    return np.ascontiguousarray(view[::stride])

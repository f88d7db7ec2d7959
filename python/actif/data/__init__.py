"""Gaze data: the RobustVision loader, gaze features, windows, normalisation and a
gaze simulator (pure NumPy).

Typical use::

    from actif.data import build_dataset, loso_splits, Normalizer
    ds = build_dataset(None)                    # $ACTIF_DATA_DIR, all 25 subjects
    for fold in loso_splits(ds.subjects):
        norm = Normalizer.fit(ds.windows[fold.train_index], ds.feature_names)
        ...
"""

from __future__ import annotations

from .features import FEATURE_NAMES, FEATURES, FeatureDef, compute_features, features_markdown
from .normalization import Normalizer
from .record import GAP_FACTOR, GazeRecord, segment_starts
from .robustvision import (
    RobustVisionFormatError,
    data_dir,
    list_subjects,
    load_subject,
    load_subjects,
    read_session,
)
from .windows import (
    Fold,
    GazeDataset,
    build_dataset,
    dataset_from_records,
    loso_splits,
    make_windows,
    window_ends,
)

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "GAP_FACTOR",
    "FeatureDef",
    "Fold",
    "GazeDataset",
    "GazeRecord",
    "Normalizer",
    "RobustVisionFormatError",
    "build_dataset",
    "compute_features",
    "data_dir",
    "dataset_from_records",
    "features_markdown",
    "list_subjects",
    "load_subject",
    "load_subjects",
    "loso_splits",
    "make_windows",
    "read_session",
    "segment_starts",
    "window_ends",
]

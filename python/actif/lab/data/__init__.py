"""Gaze data: the RobustVision loader, gaze features, windows, normalisation and a
gaze simulator (pure NumPy).

Typical use::

    from actif.lab.data import build_dataset, loso_splits, Normalizer
    ds = build_dataset(None)                    # $ACTIF_DATA_DIR, all 25 subjects
    for fold in loso_splits(ds.subjects):
        norm = Normalizer.fit(ds.windows[fold.train_index], ds.feature_names)
        ...

    from actif.lab.data import simulate_session, compute_features
    record = simulate_session(60.0, seed=1)     # no data needed
    F, names = compute_features(record)
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
from .synthetic import (
    GroundTruthDataset,
    SubjectParams,
    build_synthetic_dataset,
    feature_signal_dataset,
    salient_box_dataset,
    simulate_session,
    simulate_subjects,
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
    "GroundTruthDataset",
    "Normalizer",
    "RobustVisionFormatError",
    "SubjectParams",
    "build_dataset",
    "build_synthetic_dataset",
    "compute_features",
    "data_dir",
    "dataset_from_records",
    "feature_signal_dataset",
    "features_markdown",
    "list_subjects",
    "load_subject",
    "load_subjects",
    "loso_splits",
    "make_windows",
    "read_session",
    "salient_box_dataset",
    "segment_starts",
    "simulate_session",
    "simulate_subjects",
    "window_ends",
]

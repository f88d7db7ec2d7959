"""Windows in time order, leave-one-subject-out folds and the normaliser."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.lab.data import Normalizer, build_dataset, loso_splits, make_windows, segment_starts
from actif.model_spec import random_spec


def reference_windows(F, t, T, stride, flagged, factor):
    """Brute force: a window ending at i is valid when its T samples share a segment,
    found by walking every interval."""
    dt = np.diff(t)
    median = np.median(dt[dt > 0])
    breaks = {0} | {i for i in range(1, len(t)) if t[i] - t[i - 1] > factor * median or flagged[i]}
    out, seg_start = [], 0
    for i in range(len(t)):
        if i in breaks:
            seg_start = i
        pos = i - seg_start
        if pos >= T - 1 and (pos - (T - 1)) % stride == 0:
            out.append(i)
    return np.array(out, dtype=int)


@pytest.mark.parametrize("T,stride", [(1, 1), (3, 1), (10, 1), (10, 3), (4, 7)])
def test_windows_never_cross_gaps(rng, T, stride):
    n = 400
    dt = rng.integers(15, 19, n - 1).astype(float)
    dt[rng.choice(n - 1, 12, replace=False)] = rng.uniform(60, 500, 12)  # dropouts
    t = np.concatenate([[1000.0], 1000.0 + np.cumsum(dt)])
    flagged = np.zeros(n, bool)
    flagged[rng.choice(np.arange(1, n), 8, replace=False)] = True  # rows a filter removed
    F = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)

    X, ends = make_windows(F, t, T, stride, segment_start=flagged)
    np.testing.assert_array_equal(ends, reference_windows(F, t, T, stride, flagged, 3.0))
    assert X.shape == (len(ends), T, 3) and X.dtype == np.float32
    starts = segment_starts(t, flagged)
    threshold = 3.0 * np.median(dt)
    for window, end in zip(X, ends):
        idx = window[:, 0].astype(int)
        np.testing.assert_array_equal(idx, np.arange(end - T + 1, end + 1))  # consecutive, time order
        assert not starts[idx[1:]].any()
        assert np.all(np.diff(t[idx]) <= threshold)
    assert np.all(np.diff(ends) > 0)


def test_gap_threshold_follows_the_median_interval():
    t = np.array([0, 16, 32, 48, 96, 112, 176, 192], float)  # jumps of 48 and 64 ms; median 16
    np.testing.assert_array_equal(segment_starts(t), [1, 0, 0, 0, 0, 0, 1, 0])  # only 64 > 3 * 16
    np.testing.assert_array_equal(segment_starts(t, gap_factor=2.0), [1, 0, 0, 0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="time order"):
        segment_starts(t[::-1])


def test_window_argument_errors():
    F = np.zeros((5, 2))
    with pytest.raises(ValueError, match="T must be a positive integer"):
        make_windows(F, np.arange(5.0), 0)
    with pytest.raises(ValueError, match="timestamps have shape"):
        make_windows(F, np.arange(4.0), 2)
    X, ends = make_windows(F, np.arange(5.0), 6)  # longer than the record: no windows
    assert X.shape == (0, 6, 2) and ends.size == 0


def test_loso_folds_are_disjoint_and_cover_everything():
    ids = np.array(["P3", "P1", "P1", "P2", "P3", "P3", "P2"])
    folds = loso_splits(ids)
    assert [f.held_out for f in folds] == ["P3", "P1", "P2"]
    covered = np.zeros(len(ids), int)
    for fold in folds:
        assert set(ids[fold.test_index]) == {fold.held_out}
        assert fold.held_out not in set(ids[fold.train_index])
        assert np.intersect1d(fold.train_index, fold.test_index).size == 0
        assert len(fold.train_index) + len(fold.test_index) == len(ids)
        covered[fold.test_index] += 1
    assert np.all(covered == 1)
    with pytest.raises(ValueError, match="at least two subjects"):
        loso_splits(["P1", "P1"])


def test_normalizer_fitted_on_training_subjects_only(rng):
    # Two subjects with very different feature ranges: the fold's statistics are the
    # training subject's alone.
    train = rng.normal(5.0, 2.0, size=(300, 4))
    test = rng.normal(-50.0, 9.0, size=(200, 4))
    X = np.concatenate([train, test])
    ids = np.array(["A"] * 300 + ["B"] * 200)
    fold = next(f for f in loso_splits(ids) if f.held_out == "B")
    norm = Normalizer.fit(X[fold.train_index])
    np.testing.assert_allclose(norm.mean, train.mean(axis=0))
    np.testing.assert_allclose(norm.std, train.std(axis=0))
    assert not np.allclose(norm.mean, X.mean(axis=0))
    z = norm.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-5)


def test_normalizer_windows_and_zero_variance(rng):
    W = rng.normal(size=(20, 10, 3))
    W[:, :, 1] = 6.3  # constant feature (an IPD seen on one subject)
    norm = Normalizer.fit(W, ["a", "ipd", "c"])
    flat = W.reshape(-1, 3)
    np.testing.assert_allclose(norm.mean, flat.mean(axis=0))
    assert norm.std[1] == 1.0  # centred only
    z = norm.transform(W + np.array([0.0, 0.2, 0.0]))
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z[:, :, 1], 0.2, rtol=1e-5)
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again.mean, norm.mean)
    assert again.feature_names == ["a", "ipd", "c"]
    with pytest.raises(ValueError, match="feature ipd is not finite"):
        Normalizer.fit(np.where(np.arange(3) == 1, np.nan, W), ["a", "ipd", "c"])


def test_normalizer_maps_onto_model_input_affine(rng):
    raw = rng.normal(100.0, 30.0, size=(8, 10, 5)).astype(np.float32)
    norm = Normalizer.fit(rng.normal(100.0, 30.0, size=(500, 5)), [f"g{k}" for k in range(5)])
    scale, shift = norm.scale_shift()
    np.testing.assert_allclose(raw * scale + shift, norm.transform(raw), rtol=1e-5, atol=1e-5)
    bare = random_spec(5, 8, seed=1)
    carried = norm.apply_to(bare)
    assert carried.feature_names == [f"g{k}" for k in range(5)]
    y_inside = actif.Model(carried, "numpy").predict(raw)
    y_outside = actif.Model(bare, "numpy").predict(norm.transform(raw))
    np.testing.assert_allclose(y_inside, y_outside, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="model takes 5 features"):
        Normalizer.fit(np.zeros((3, 4))).apply_to(bare)


@pytest.mark.data
def test_real_dataset_windows_respect_gaps(data_dir):
    ds = build_dataset(data_dir, ["P1", "P7", "P13"], T=10)
    assert ds.windows.shape[1:] == (10, len(ds.feature_names))  # finite: compute_features checks
    assert np.all((ds.targets > 35.0) & (ds.targets <= 300.0))
    for subject in ("P1", "P7", "P13"):
        mine = ds.subjects == subject
        assert mine.any()
        assert np.all(np.diff(ds.end_time_ms[mine]) > 0)  # time order within a subject
    folds = ds.folds()
    assert len(folds) == 3
    for fold in folds:
        assert np.intersect1d(np.unique(ds.subjects[fold.train_index]), [fold.held_out]).size == 0

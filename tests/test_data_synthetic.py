"""The gaze simulator and the ground-truth data sets."""

from __future__ import annotations

import numpy as np
import pytest

from actif.lab.data import (
    FEATURE_NAMES,
    SubjectParams,
    compute_features,
    feature_signal_dataset,
    make_windows,
    salient_box_dataset,
    simulate_session,
    simulate_subjects,
)

ARRAYS = ("timestamp_ms", "gaze_dir_right", "gaze_dir_left", "origin_right_cm", "origin_left_cm",
          "gaze_point_cm", "gt_depth_cm", "estimated_depth_cm", "segment_start")


def same_record(a, b) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n), equal_nan=n != "segment_start") for n in ARRAYS)


@pytest.mark.parametrize("paradigm", ["fixations", "pursuit"])
def test_deterministic_per_seed(paradigm):
    a = simulate_session(20.0, seed=7, paradigm=paradigm)
    b = simulate_session(20.0, seed=7, paradigm=paradigm)
    c = simulate_session(20.0, seed=8, paradigm=paradigm)
    assert same_record(a, b)
    assert not np.array_equal(a.gaze_dir_right[:100], c.gaze_dir_right[:100])
    # subject k of a cohort does not depend on the cohort's size
    assert same_record(simulate_subjects(2, seed=3, duration_s=5.0)[1], simulate_subjects(4, seed=3, duration_s=5.0)[1])


@pytest.mark.parametrize("paradigm", ["fixations", "pursuit"])
def test_session_shape_timing_and_ranges(paradigm):
    rec = simulate_session(30.0, seed=1, paradigm=paradigm, dropout_rate_hz=0.5)
    n = len(rec)
    assert 1400 < n < 2000  # 30 s at 55-67 Hz, minus blinks and missed frames
    dt = np.diff(rec.timestamp_ms)
    inside = ~rec.segment_start[1:]
    assert np.all((dt[inside] >= 15) & (dt[inside] <= 18))
    assert np.all(dt[rec.segment_start[1:]] >= 30)  # at least one sample is missing
    assert rec.counts["dropout_samples"] > 0 and rec.segment_start.sum() > 1
    assert np.all((rec.gt_depth_cm >= 35.0) & (rec.gt_depth_cm <= 300.0))
    ipd = np.linalg.norm(rec.origin_right_cm - rec.origin_left_cm, axis=1)
    assert np.all((ipd >= 5.4) & (ipd <= 7.4)) and np.ptp(ipd) == 0.0
    F, _ = compute_features(rec)  # raises on any non-finite feature
    X, _ = make_windows(F, rec.timestamp_ms, 10, segment_start=rec.segment_start)
    assert len(X) > 1000


def test_blinks_missed_frames_and_stale_samples():
    tracker = SubjectParams(stale_probability=0.2, missed_frame_rate=0.0)
    rec = simulate_session(30.0, seed=3, params=tracker, dropout_rate_hz=0.5)
    gaps = np.diff(rec.timestamp_ms)[rec.segment_start[1:]]
    assert gaps.size > 3 and np.all(gaps >= 100 - 18)  # blinks remove 100-300 ms
    assert rec.counts["missed_frame_samples"] == 0
    repeats = np.all(rec.gaze_dir_right[1:] == rec.gaze_dir_right[:-1], axis=1)
    assert 0.1 < repeats.mean() < 0.3  # about the stale probability
    logger = SubjectParams(missed_frame_rate=0.02)
    rec = simulate_session(30.0, seed=3, params=logger, dropout_rate_hz=0.0)
    gaps = np.diff(rec.timestamp_ms)[rec.segment_start[1:]]
    assert rec.counts["missed_frame_samples"] > 0 and rec.counts["dropout_samples"] == 0
    assert np.all(gaps >= 3 * 15)  # 2-4 samples missing (adjacent runs can merge)
    assert np.mean(gaps <= 5 * 18) > 0.9
    assert not np.any(np.all(rec.gaze_dir_right[1:] == rec.gaze_dir_right[:-1], axis=1))


def test_ideal_eyes_triangulate_the_target():
    # With a perfect tracker and steady fixation the two rays meet at the target: the
    # triangulated depth equals the ground truth once vergence has settled.
    ideal = SubjectParams(ipd_cm=6.4, vergence_tau_s=0.1)
    rec = simulate_session(60.0, seed=4, params=ideal, dropout_rate_hz=0.0)
    F, names = compute_features(rec)
    gt = rec.gt_depth_cm
    stable = np.zeros(len(rec), bool)
    run = 60  # 1 s on the same target: saccade latency plus 7 vergence time constants
    for i in range(run, len(rec)):
        stable[i] = np.all(gt[i - run:i + 1] == gt[i])
    assert stable.sum() > 500
    depth = F[:, names.index("triangulated_depth_cm")]
    np.testing.assert_allclose(depth[stable], gt[stable], rtol=0.01)
    ipd = F[:, names.index("ipd_cm")]
    np.testing.assert_allclose(ipd, 6.4, rtol=1e-6)
    # and the headset-style estimate is the same triangulation
    np.testing.assert_allclose(rec.estimated_depth_cm[stable], gt[stable], rtol=0.01)


def test_tracker_gain_and_bias_change_measured_vergence():
    base = SubjectParams(ipd_cm=6.4)
    biased = SubjectParams(ipd_cm=6.4, yaw_bias_deg=(-1.0, 1.0), vergence_gain=0.5)
    a = simulate_session(10.0, seed=2, params=base, dropout_rate_hz=0.0)
    b = simulate_session(10.0, seed=2, params=biased, dropout_rate_hz=0.0)
    fa, names = compute_features(a)
    fb, _ = compute_features(b)
    k = names.index("horizontal_vergence_deg")
    # measured = gain * true + (left bias - right bias)
    np.testing.assert_allclose(fb[:, k], 0.5 * fa[:, k] + 2.0, atol=1e-3)


def test_feature_signal_dataset_target_is_the_documented_function():
    gt = feature_signal_dataset(3, duration_s=20.0, seed=5)
    names = gt.feature_names
    assert names == list(FEATURE_NAMES)
    relevant = [names[k] for k in np.flatnonzero(gt.relevant_features)]
    assert sorted(relevant) == sorted(gt.weights)
    assert gt.relevant_steps.all()
    # independent recomputation of y = sum_k w_k * mean_t z_k
    flat = gt.windows.reshape(-1, len(names)).astype(np.float64)
    y = np.zeros(len(gt.targets))
    for name, w in gt.weights.items():
        k = names.index(name)
        z = (gt.windows[:, :, k] - flat[:, k].mean()) / flat[:, k].std()
        y += w * z.mean(axis=1)
    np.testing.assert_allclose(gt.targets, y, rtol=1e-4, atol=1e-4)
    # proxies are irrelevant features nearly equal to a relevant one
    assert not (gt.proxies & gt.relevant_features).any()
    with np.errstate(invalid="ignore", divide="ignore"):  # constant features have no correlation
        corr = np.corrcoef(flat, rowvar=False)
    for k in np.flatnonzero(gt.proxies):
        assert max(abs(corr[k, names.index(n)]) for n in gt.weights) >= 0.9
    with pytest.raises(ValueError, match="unknown"):
        feature_signal_dataset(2, weights={"no_such_feature": 1.0})


def test_salient_box_only_the_box_matters():
    gt = salient_box_dataset(500, T=10, n_features=6, relevant_features=(2, 5), relevant_steps=(1, 2),
                             weights=(1.0, -2.0), seed=3)
    assert gt.windows.shape == (500, 10, 6)
    expect_mask = np.zeros((10, 6), bool)
    expect_mask[1:3, [2, 5]] = True
    np.testing.assert_array_equal(gt.relevance, expect_mask)
    X = gt.windows.astype(np.float64)
    y = X[:, 1:3, 2].mean(axis=1) - 2.0 * X[:, 1:3, 5].mean(axis=1)
    np.testing.assert_allclose(gt.targets, y, rtol=1e-5, atol=1e-5)
    # inputs outside the box do not enter: the target is orthogonal to them
    outside = X[:, ~gt.relevance]
    assert np.max(np.abs(np.corrcoef(np.column_stack([outside, gt.targets]), rowvar=False)[-1, :-1])) < 0.2


def test_salient_box_temporal_correlation():
    gt = salient_box_dataset(4000, T=10, n_features=2, relevant_features=(0,), temporal_correlation=0.8, seed=1)
    X = gt.windows.astype(np.float64)
    lag1 = np.corrcoef(X[:, 4, 0], X[:, 5, 0])[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.03)
    assert X[:, 9, 1].std() == pytest.approx(1.0, abs=0.05)  # stationary: unit variance at every step
    with pytest.raises(ValueError, match="relevant_steps"):
        salient_box_dataset(10, T=4, relevant_steps=(4,))


def test_bad_arguments():
    with pytest.raises(ValueError, match="paradigm"):
        simulate_session(1.0, paradigm="reading")
    with pytest.raises(ValueError, match="depth_range_cm"):
        simulate_session(1.0, depth_range_cm=(300.0, 35.0))
    with pytest.raises(ValueError, match="n_subjects"):
        simulate_subjects(0)
    with pytest.raises(ValueError, match="SubjectParams.smoothing"):
        SubjectParams(smoothing=0.0)
    with pytest.raises(ValueError, match="SubjectParams.ipd_cm must be positive"):
        SubjectParams(ipd_cm=-6.0)

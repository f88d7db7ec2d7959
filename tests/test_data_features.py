"""Gaze features against independent NumPy computations on hand-made geometry."""

from __future__ import annotations

import os

import numpy as np
import pytest

from actif.lab.data import FEATURE_NAMES, FEATURES, GazeRecord, compute_features, features_markdown
from actif.lab.data import features as feat


def record(dir_r, dir_l, origin_r=(3.2, 0.0), origin_l=(-3.2, 0.0), t_ms=None, starts=None) -> GazeRecord:
    dir_r = np.atleast_2d(np.asarray(dir_r, dtype=float))
    dir_l = np.atleast_2d(np.asarray(dir_l, dtype=float))
    n = len(dir_r)
    t = np.arange(n) * 16.0 if t_ms is None else np.asarray(t_ms, dtype=float)
    return GazeRecord(
        subject="hand", timestamp_ms=t, gaze_dir_right=dir_r, gaze_dir_left=dir_l,
        origin_right_cm=np.tile(origin_r, (n, 1)), origin_left_cm=np.tile(origin_l, (n, 1)),
        gaze_point_cm=np.zeros((n, 3)), gt_depth_cm=np.full(n, 100.0), estimated_depth_cm=np.full(n, np.nan),
        segment_start=np.zeros(n, bool) if starts is None else starts,
    )


def features_of(rec: GazeRecord) -> dict[str, np.ndarray]:
    F, names = compute_features(rec)
    assert F.dtype == np.float32 and F.shape == (len(rec), len(FEATURES))
    assert names == list(FEATURE_NAMES)
    return {n: F[:, k].astype(np.float64) for k, n in enumerate(names)}


def towards(point, origin_xz):
    v = np.asarray(point, float) - np.array([origin_xz[0], 0.0, origin_xz[1]])
    return v / np.linalg.norm(v)


def test_symmetric_convergence_at_50_cm():
    # Eyes 6.4 cm apart fixating a point 50 cm straight ahead: each eye turns in by
    # atan(3.2 / 50); vergence is twice that; every depth reads 50 cm.
    p = (0.0, 0.0, 50.0)
    f = features_of(record(towards(p, (3.2, 0)), towards(p, (-3.2, 0))))
    angle = 2 * np.degrees(np.arctan(3.2 / 50.0))
    assert f["vergence_angle_deg"][0] == pytest.approx(angle, rel=1e-5)
    assert f["horizontal_vergence_deg"][0] == pytest.approx(angle, rel=1e-5)
    assert f["vergence_cosine"][0] == pytest.approx(np.cos(np.radians(angle)), rel=1e-6)
    assert f["vergence_depth_cm"][0] == pytest.approx(50.0, rel=1e-5)
    assert f["triangulated_depth_cm"][0] == pytest.approx(50.0, rel=1e-5)
    assert f["vergence_diopters"][0] == pytest.approx(2.0, rel=1e-5)  # 1 / 0.5 m
    assert f["ray_miss_distance_cm"][0] == pytest.approx(0.0, abs=1e-4)
    assert f["ipd_cm"][0] == pytest.approx(6.4)
    assert f["vertical_vergence_deg"][0] == pytest.approx(0.0, abs=1e-6)
    assert f["cyclopean_yaw_deg"][0] == pytest.approx(0.0, abs=1e-6)
    assert f["eccentricity_deg"][0] == pytest.approx(0.0, abs=1e-5)
    assert f["delta_x"][0] == pytest.approx(-2 * 3.2 / np.hypot(3.2, 50.0), rel=1e-5)
    assert f["ratio_x"][0] == pytest.approx(-1.0)  # the eyes turn in opposite directions


def test_off_axis_point_against_least_squares():
    rng = np.random.default_rng(3)
    o_r, o_l = (3.1, -2.6), (-3.3, -2.6)
    points = np.column_stack([rng.uniform(-40, 40, 50), rng.uniform(-30, 30, 50), rng.uniform(30, 300, 50)])
    d_r = np.array([towards(p, o_r) for p in points]) * 0.97  # recorded vectors need not be unit
    d_l = np.array([towards(p, o_l) for p in points])
    f = features_of(record(d_r, d_l, o_r, o_l))
    O_r, O_l = np.array([o_r[0], 0, o_r[1]]), np.array([o_l[0], 0, o_l[1]])
    middle = (O_r + O_l) / 2
    for k, p in enumerate(points):
        u_r, u_l = d_r[k] / np.linalg.norm(d_r[k]), d_l[k] / np.linalg.norm(d_l[k])
        # intersection by least squares: O_r + s u_r = O_l + t u_l
        (s, t), *_ = np.linalg.lstsq(np.column_stack([u_r, -u_l]), O_l - O_r, rcond=None)
        meet = (O_r + s * u_r + O_l + t * u_l) / 2
        assert f["triangulated_depth_cm"][k] == pytest.approx(np.linalg.norm(meet - middle), rel=1e-4)
        assert f["triangulated_depth_cm"][k] == pytest.approx(np.linalg.norm(p - middle), rel=1e-4)
        cos = np.clip(u_r @ u_l, -1, 1)
        assert f["vergence_angle_deg"][k] == pytest.approx(np.degrees(np.arccos(cos)), abs=2e-3)
        c = (u_r + u_l) / np.linalg.norm(u_r + u_l)
        assert f["cyclopean_yaw_deg"][k] == pytest.approx(np.degrees(np.arctan2(c[0], c[2])), abs=1e-4)
        assert f["cyclopean_pitch_deg"][k] == pytest.approx(np.degrees(np.arcsin(c[1])), abs=1e-4)
        assert f["eccentricity_deg"][k] == pytest.approx(np.degrees(np.arccos(c[2])), abs=2e-3)
        assert f["magnitude_right"][k] == pytest.approx(0.97, rel=1e-6)
        assert f["magnitude_log_ratio"][k] == pytest.approx(np.log(0.97), rel=1e-5)
        yaw_r, yaw_l = np.degrees(np.arctan2(u_r[0], u_r[2])), np.degrees(np.arctan2(u_l[0], u_l[2]))
        assert f["horizontal_vergence_deg"][k] == pytest.approx(yaw_l - yaw_r, abs=1e-4)
        assert f["dir_right_x"][k] == pytest.approx(d_r[k, 0], abs=1e-7)
        for axis, name in enumerate("xyz"):
            assert f[f"delta_{name}"][k] == pytest.approx(u_r[axis] - u_l[axis], abs=1e-6)
            ratio = (u_r[axis] - u_l[axis]) / (abs(u_r[axis]) + abs(u_l[axis]))
            assert f[f"ratio_{name}"][k] == pytest.approx(ratio, abs=1e-6)


def test_skew_rays_miss_distance():
    # The left eye looks 2 deg higher: the lines pass each other; distance by the
    # textbook formula |w0 . (u_r x u_l)| / |u_r x u_l|.
    p = np.array([5.0, 0.0, 80.0])
    u_r = towards(p, (3.2, 0))
    u_l = towards(p + np.array([0.0, 80 * np.tan(np.radians(2)), 0.0]), (-3.2, 0))
    f = features_of(record(u_r, u_l))
    n = np.cross(u_r, u_l)
    w0 = np.array([6.4, 0.0, 0.0])
    assert f["ray_miss_distance_cm"][0] == pytest.approx(abs(w0 @ n) / np.linalg.norm(n), rel=1e-4)
    pitch_l = np.degrees(np.arctan2(u_l[1], np.hypot(u_l[0], u_l[2])))
    assert f["vertical_vergence_deg"][0] == pytest.approx(pitch_l, abs=1e-4)


def test_degenerate_geometry_stays_finite():
    fwd = [0.0, 0.0, 1.0]
    cases = {
        "parallel": (fwd, fwd),
        "diverging": ([0.1, 0.0, 1.0], [-0.1, 0.0, 1.0]),
        "zero_length": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        "one_zero": ([0.0, 0.0, 0.0], [0.05, 0.0, 1.0]),
        "opposite": ([0.0, 0.0, 1.0], [0.0, 0.0, -1.0]),
        "x_zero_both": ([0.0, 0.2, 1.0], [0.0, 0.2, 1.0]),
    }
    rec = record([c[0] for c in cases.values()], [c[1] for c in cases.values()])
    f = features_of(rec)  # compute_features raises on any non-finite feature
    parallel, diverging, zero = 0, 1, 2
    for k in (parallel, zero):
        assert f["vergence_angle_deg"][k] == 0.0
        assert f["vergence_depth_cm"][k] == feat.MAX_DEPTH_CM
        assert f["triangulated_depth_cm"][k] == feat.MAX_DEPTH_CM
        assert f["vergence_diopters"][k] == 0.0
        assert f["ray_miss_distance_cm"][k] == pytest.approx(6.4)
    assert f["horizontal_vergence_deg"][diverging] < 0
    assert f["vergence_diopters"][diverging] < 0
    assert f["triangulated_depth_cm"][diverging] == feat.MAX_DEPTH_CM
    assert f["ratio_x"][5] == 0.0  # both x components 0
    assert f["magnitude_log_ratio"][3] == pytest.approx(np.log(1e-9 / np.linalg.norm([0.05, 0, 1])), rel=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39], ids=["nan", "inf", "beyond-float32"])
def test_unusable_direction_is_rejected(bad):
    rec = record([[0, 0, 1], [bad, 0, 1]], [[0, 0, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="gaze_dir_right is not finite or beyond float32's range at sample 1"):
        compute_features(rec)


def test_non_finite_feature_is_raised_not_returned(monkeypatch):
    """compute_features checks its own output, so callers need not: a non-finite value
    (a broken guard, simulated here) raises, naming the feature and the sample."""
    monkeypatch.setattr(feat, "_bounded_ratio", lambda a, b: np.full(np.shape(a), np.nan))
    rec = record([[0, 0, 1], [0.1, 0, 1]], [[0, 0, 1], [0, 0, 1]])
    with pytest.raises(AssertionError, match="feature ratio_x is not finite at sample 0"):
        compute_features(rec)


def conjugate(yaw_deg, pitch_deg=0.0):
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    u = np.column_stack([np.cos(p) * np.sin(y), np.full_like(y, np.sin(p)), np.cos(p) * np.cos(y)])
    return u, u.copy()


def test_velocities_and_accelerations_from_timestamps():
    # Both eyes turn together with constant angular acceleration a = 200 deg/s^2 at a
    # steady 16 ms rate: backward differences give speed a * (t_i + t_{i-1}) / 2 and
    # exactly a as acceleration from the third sample on.
    t = np.arange(12) * 16.0
    a = 200.0
    yaw = 0.5 * a * (t / 1000) ** 2
    f = features_of(record(*conjugate(yaw), t_ms=t))
    expect_v = np.r_[0.0, a * (t[1:] + t[:-1]) / 2000]
    np.testing.assert_allclose(f["yaw_velocity_deg_s"], expect_v, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f["gaze_speed_deg_s"], expect_v, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(f["speed_right_deg_s"], expect_v, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(f["gaze_acceleration_deg_s2"][2:], a, rtol=2e-3)
    assert f["gaze_acceleration_deg_s2"][:2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(f["pitch_velocity_deg_s"], 0.0, atol=1e-6)


def test_vergence_velocity_units():
    # Vergence grows 0.32 deg per 16 ms sample: 20 deg/s.
    t = np.arange(6) * 16.0
    half = 0.5 * (2.0 + 20.0 * t / 1000)
    y = np.radians(half)
    d_r = np.column_stack([-np.sin(y), np.zeros_like(y), np.cos(y)])
    d_l = np.column_stack([np.sin(y), np.zeros_like(y), np.cos(y)])
    f = features_of(record(d_r, d_l, t_ms=t))
    np.testing.assert_allclose(f["vergence_velocity_deg_s"][1:], 20.0, rtol=1e-4)
    np.testing.assert_allclose(f["vergence_acceleration_deg_s2"], 0.0, atol=0.05)
    diopters = 2 * np.tan(np.radians(half)) / 0.064  # 2 tan(v / 2) / ipd, v = 2 * half
    np.testing.assert_allclose(f["vergence_diopters"], diopters, rtol=1e-5)
    np.testing.assert_allclose(f["diopter_velocity"][1:], np.diff(diopters) / 0.016, rtol=1e-3)


def test_derivatives_restart_after_gaps_and_removed_rows():
    t = np.array([0, 16, 32, 48, 200, 216, 232, 248, 264], float)  # a 152 ms gap before index 4
    starts = np.zeros(9, bool)
    starts[7] = True  # rows were removed before index 7
    yaw = np.linspace(0, 8, 9)
    f = features_of(record(*conjugate(yaw), t_ms=t, starts=starts))
    v = f["yaw_velocity_deg_s"]
    assert v[0] == v[4] == v[7] == 0.0
    assert v[1] == pytest.approx(1.0 / 0.016, rel=1e-4)
    acc = f["gaze_acceleration_deg_s2"]
    assert acc[0] == acc[1] == acc[4] == acc[5] == acc[7] == acc[8] == 0.0


def test_tiny_intervals_use_the_floor_and_rates_are_clipped():
    t = np.array([0.0, 1.0, 17.0, 33.0])  # a 1 ms logging interval
    yaw = np.array([0.0, 0.1, 0.2, 60.0])  # and a 58 deg jump in 16 ms (a glitch)
    f = features_of(record(*conjugate(yaw), t_ms=t))
    assert f["yaw_velocity_deg_s"][1] == pytest.approx(0.1 / (feat.DT_FLOOR_MS / 1000), rel=1e-4)
    assert f["yaw_velocity_deg_s"][3] == feat.MAX_SPEED_DEG_S
    assert f["gaze_speed_deg_s"][3] == feat.MAX_SPEED_DEG_S
    assert abs(f["gaze_acceleration_deg_s2"][3]) <= feat.MAX_ACCEL_DEG_S2


def test_feature_table_is_documented_and_in_sync():
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names)) >= 30
    assert all(f.definition and f.unit for f in FEATURES)
    # the repository's copy (an installed wheel need not ship the Markdown)
    path = os.path.join(os.path.dirname(__file__), os.pardir, "python", "actif", "lab", "data", "FEATURES.md")
    with open(path, encoding="utf-8") as fh:
        on_disk = fh.read()
    assert on_disk == features_markdown(), "FEATURES.md is stale: run python -m actif.lab.data --write"
    for name in names:
        assert f"`{name}`" in on_disk

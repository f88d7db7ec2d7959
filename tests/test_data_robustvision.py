"""RobustVision loader: small hand-written session files, and the real recordings."""

from __future__ import annotations

import os

import numpy as np
import pytest

from actif.lab.data import build_dataset, compute_features, list_subjects, load_subject
from actif.lab.data import robustvision as rv

HEADER = (
    "System Timestamp\tMessage\tMessage Type\tGT_depth\tWorld Gaze Point X\tWorld Gaze Point Y\t"
    "World Gaze Point Z\tWorld Gaze Origin R X\tWorld Gaze Origin R Z\tWorld Gaze Origin L X\t"
    "World Gaze Origin L Z\tWorld Gaze Direction R X\tWorld Gaze Direction R Y\tWorld Gaze Direction R Z\t"
    "World Gaze Direction L X\tWorld Gaze Direction L Y\tWorld Gaze Direction L Z\tEstimated Depth"
)


def sample_line(t: int, depth_m: float, k: int = 0, dir_r=None, dir_l=None, estimated: float = -1.0) -> str:
    """One data row; ``k`` varies the directions so distinct samples differ."""
    dr = dir_r if dir_r is not None else (-0.03 + 1e-4 * k, 0.01, 0.9995)
    dl = dir_l if dir_l is not None else (0.03 + 1e-4 * k, 0.01, 0.9995)
    values = [depth_m, 0.1, 0.2, depth_m, 0.032, -0.026, -0.033, -0.026, *dr, *dl, estimated]
    return f"{t}\t sample\tDepthCalibration\t" + "\t".join(repr(float(v)) for v in values)


def marker(t: int, text: str) -> str:
    return f"{t}\t{text}\tDepthCalibration\t"


def write_session(root, subject: str, lines: list[str]) -> str:
    folder = root / subject
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rv.SESSION_FILE
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def fresh_cache():
    rv.clear_cache()
    yield
    rv.clear_cache()


# ------------------------------------------------------------------ small files


def test_markers_duplicates_and_depth_filter(tmp_path):
    lines = [marker(1000, "Data collection started")]
    t = 1000
    expected_t, expected_depth = [], []
    for k, depth in enumerate([0.30, 0.35, 0.36, 1.0, 2.99, 3.0, 3.01, 0.5]):
        repeats = 1 + k % 3  # each sample logged 1-3 times, 1 ms apart
        for r in range(repeats):
            lines.append(sample_line(t + r, depth, k))
        if 0.35 < depth <= 3.0:
            expected_t.append(t)
            expected_depth.append(depth * 100)
        t += 16
    lines.append(marker(t, "Data collection ended"))
    write_session(tmp_path, "P1", lines)

    rec = load_subject(tmp_path, "P1")
    np.testing.assert_array_equal(rec.timestamp_ms, expected_t)
    np.testing.assert_allclose(rec.gt_depth_cm, expected_depth)
    assert rec.counts["marker_rows"] == 2
    assert rec.counts["sample_rows"] == sum(1 + k % 3 for k in range(8))
    assert rec.counts["unique_rows"] == 8
    assert rec.counts["out_of_depth_range_rows"] == 3
    assert rec.subject == "P1"
    # metres -> cm; -1 "no estimate" -> NaN
    np.testing.assert_allclose(rec.origin_right_cm[0], [3.2, -2.6])
    np.testing.assert_allclose(rec.origin_left_cm[0], [-3.3, -2.6])
    assert np.all(np.isnan(rec.estimated_depth_cm))
    # the 3.01 m row was dropped between kept rows: the row after it starts a segment
    np.testing.assert_array_equal(rec.segment_start, [True, False, False, False, True])


def test_keeps_everything_without_filters(tmp_path):
    lines = [sample_line(10 * k, d, k) for k, d in enumerate([0.01, 0.5, 9.0])]
    write_session(tmp_path, "P2", lines)
    rec = load_subject(tmp_path, "P2", depth_range_m=None)
    np.testing.assert_allclose(rec.gt_depth_cm, [1.0, 50.0, 900.0])
    assert not rec.segment_start[1:].any()


def test_non_consecutive_repeats_are_kept(tmp_path):
    # The same values may come back later (a fixation revisited): only runs collapse.
    lines = [sample_line(0, 1.0, 0), sample_line(16, 1.0, 1), sample_line(32, 1.0, 0)]
    write_session(tmp_path, "P1", lines)
    assert len(load_subject(tmp_path, "P1")) == 3


def test_tracking_loss_rows_are_dropped(tmp_path):
    lines = [
        sample_line(0, 1.0, 0),
        sample_line(16, 1.0, 1, dir_r=(0, 0, 1)),
        sample_line(32, 1.0, 2, dir_l=(0.0, 0.0, 1.0)),
        sample_line(48, 1.0, 3, dir_r=(float("nan"), 0.0, 1.0)),
        sample_line(64, 1.0, 4),
    ]
    write_session(tmp_path, "P1", lines)
    rec = load_subject(tmp_path, "P1")
    np.testing.assert_array_equal(rec.timestamp_ms, [0, 64])
    assert rec.counts["tracking_loss_rows"] == 3
    np.testing.assert_array_equal(rec.segment_start, [True, True])
    kept = load_subject(tmp_path, "P1", drop_tracking_loss=False)
    assert len(kept) == 5


def test_text_values_nan_infinity_and_exponents(tmp_path):
    line = sample_line(0, 1.0).split("\t")
    line[4:7] = ["NaN", "NaN", "Infinity"]  # world gaze point of a lost sample
    line[5] = "8.833899E-05"
    write_session(tmp_path, "P1", ["\t".join(line)])
    rec = load_subject(tmp_path, "P1")
    assert np.isnan(rec.gaze_point_cm[0, 0]) and np.isinf(rec.gaze_point_cm[0, 2])
    np.testing.assert_allclose(rec.gaze_point_cm[0, 1], 8.833899e-3)


def test_malformed_value_names_file_and_line(tmp_path):
    bad = sample_line(32, 1.0, 2).replace("0.9995", "0.99x5", 1)
    path = write_session(tmp_path, "P1", [sample_line(0, 1.0, 0), sample_line(16, 1.0, 1), bad])
    with pytest.raises(rv.RobustVisionFormatError) as err:
        load_subject(tmp_path, "P1")
    assert err.value.line == 4 and err.value.path == path
    assert "line 4" in str(err.value) and "World Gaze Direction R Z" in str(err.value) and "0.99x5" in str(err.value)


def test_wrong_field_count_names_line(tmp_path):
    short = "\t".join(sample_line(16, 1.0, 1).split("\t")[:-2])
    write_session(tmp_path, "P1", [sample_line(0, 1.0), short])
    with pytest.raises(rv.RobustVisionFormatError, match=r"line 3: expected 18 tab-separated fields, found 16"):
        load_subject(tmp_path, "P1")


def test_missing_column_and_empty_file(tmp_path):
    folder = tmp_path / "P1"
    folder.mkdir()
    (folder / rv.SESSION_FILE).write_text(HEADER.replace("\tEstimated Depth", "") + "\n")
    with pytest.raises(rv.RobustVisionFormatError, match=r"line 1: header lacks column\(s\) 'Estimated Depth'"):
        load_subject(tmp_path, "P1")
    (folder / rv.SESSION_FILE).write_text("")
    with pytest.raises(rv.RobustVisionFormatError, match="empty file"):
        load_subject(tmp_path, "P1")


def test_time_going_backwards_is_an_error(tmp_path):
    write_session(tmp_path, "P1", [sample_line(100, 1.0, 0), sample_line(50, 1.0, 1)])
    with pytest.raises(rv.RobustVisionFormatError, match="line 3: System Timestamp goes back in time"):
        load_subject(tmp_path, "P1")


def test_only_markers_is_an_error(tmp_path):
    write_session(tmp_path, "P1", [marker(0, "Data collection started"), marker(5, "Data collection ended")])
    with pytest.raises(rv.RobustVisionFormatError, match="no sample rows"):
        load_subject(tmp_path, "P1")


def test_data_dir_resolution(tmp_path, monkeypatch):
    write_session(tmp_path, "P10", [sample_line(0, 1.0)])
    write_session(tmp_path, "P2", [sample_line(0, 1.0)])
    (tmp_path / "notes").mkdir()
    monkeypatch.delenv(rv.ENV_VAR, raising=False)
    assert rv.data_dir() is None
    assert rv.data_dir(tmp_path) == str(tmp_path)
    monkeypatch.setenv(rv.ENV_VAR, str(tmp_path))
    assert rv.data_dir() == str(tmp_path)
    assert list_subjects(tmp_path) == ["P2", "P10"]  # natural order
    with pytest.raises(FileNotFoundError, match="not a directory"):
        rv.data_dir(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no subject folders"):
        rv.data_dir(tmp_path / "notes")
    monkeypatch.setenv(rv.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=rv.ENV_VAR):
        rv.data_dir()
    with pytest.raises(FileNotFoundError, match=r"subject 'P3'.*subjects there: P2, P10"):
        load_subject(tmp_path, "P3")


def test_cache_returns_immutable_records_and_sees_file_changes(tmp_path):
    write_session(tmp_path, "P1", [sample_line(0, 1.0), sample_line(16, 1.0, 1)])
    first = load_subject(tmp_path, "P1")
    assert load_subject(tmp_path, "P1") is first
    with pytest.raises(ValueError):
        first.gt_depth_cm[0] = 5.0  # read-only: a cached record cannot be changed by a caller
    path = write_session(tmp_path, "P1", [sample_line(0, 1.0), sample_line(16, 1.0, 1), sample_line(32, 1.0, 2)])
    mtime = os.stat(path).st_mtime_ns
    os.utime(path, ns=(mtime, mtime + 10**9))  # a new size and time: the cache key changes
    assert len(load_subject(tmp_path, "P1")) == 3


def test_build_dataset_on_small_files(tmp_path):
    for s, n in (("P1", 30), ("P2", 25)):
        write_session(tmp_path, s, [sample_line(16 * k, 0.5 + 0.01 * k, k) for k in range(n)])
    ds = build_dataset(tmp_path, T=10)
    assert ds.windows.shape == (21 + 16, 10, len(ds.feature_names))
    np.testing.assert_array_equal(ds.subjects, ["P1"] * 21 + ["P2"] * 16)
    # the target is the ground-truth depth (cm) of each window's last sample
    np.testing.assert_allclose(ds.targets[:21], 100 * (0.5 + 0.01 * np.arange(9, 30)), rtol=1e-6)
    np.testing.assert_allclose(ds.end_time_ms[:21], 16 * np.arange(9, 30))


# ------------------------------------------------------------------ real data


@pytest.mark.data
def test_real_counts(data_dir):
    subjects = list_subjects(data_dir)
    assert subjects == [f"P{k}" for k in range(1, 26)]
    records = rv.load_subjects(data_dir, depth_range_m=None, drop_tracking_loss=False)
    assert sum(r.counts["unique_rows"] for r in records) == 35960
    assert sum(r.counts["sample_rows"] for r in records) == 75840
    assert sum(r.counts["marker_rows"] for r in records) == 50
    assert all(len(r) == r.counts["unique_rows"] for r in records)


@pytest.mark.data
def test_real_records_are_clean(data_dir):
    for rec in rv.load_subjects(data_dir):
        assert len(rec) > 0
        assert np.all(np.diff(rec.timestamp_ms) >= 0), rec.subject
        assert np.all((rec.gt_depth_cm > 35.0) & (rec.gt_depth_cm <= 300.0)), rec.subject
        values = np.column_stack([rec.gaze_dir_right, rec.gaze_dir_left, rec.gt_depth_cm, rec.gaze_point_cm])
        same_as_previous = np.all((values[1:] == values[:-1]) | (np.isnan(values[1:]) & np.isnan(values[:-1])), axis=1)
        assert not same_as_previous.any(), f"{rec.subject}: consecutive duplicate samples survived"
        compute_features(rec)  # raises on any non-finite feature
        # origins are a fixed head geometry in these recordings: IPD 5-8 cm
        ipd = np.linalg.norm(rec.origin_right_cm - rec.origin_left_cm, axis=1)
        assert np.all((ipd > 5.0) & (ipd < 8.0)), rec.subject


def test_windows_line_endings_and_byte_order_mark(tmp_path):
    folder = tmp_path / "P1"
    folder.mkdir()
    body = "\r\n".join([HEADER, sample_line(0, 1.0, 0), sample_line(16, 1.0, 1)]) + "\r\n"
    (folder / rv.SESSION_FILE).write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    rec = load_subject(tmp_path, "P1")
    np.testing.assert_array_equal(rec.timestamp_ms, [0, 16])
    np.testing.assert_allclose(rec.estimated_depth_cm, np.nan, equal_nan=True)

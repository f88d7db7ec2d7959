"""RunningStats: against two-pass NumPy, merge properties, byte format, forgetting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actif
from actif.errors import ModelFormatError
from actif.stats import (
    NumpyRunningStats,
    RunningStats,
    rank,
    ranking_order,
    scores,
    scores_from_moments,
)

IMPLS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])

# Golden blobs written by format version 1 (see stats.py): a change here is a format change.
GOLDEN_PLAIN = bytes.fromhex(
    "414354494652530001000000000000000300000000000000020000000000000000000000000000400000000000000000"
    "000000000000004000000000000000400000000000000240000000000000004000000000000000000000000000801840"
    "f0485f2b"
)
GOLDEN_FORGETTING = bytes.fromhex(
    "4143544946525300010000000100000002000000000000000300000000000000de83f67f4f6204400000000000001040"
    "b4716b382f0f0440f03869a25e6dbd3ff049d3d14c341040b59e4aa267c6fa3fd60c4e06"
)


def two_pass(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64)
    return a.mean(axis=0), a.std(axis=0)


@pytest.mark.parametrize("impl", IMPLS)
def test_matches_two_pass_numpy(impl, rng):
    data = rng.normal(3.0, 2.0, size=(1000, 7)) * rng.uniform(0.1, 10, size=7)
    rs = RunningStats(7, impl=impl)
    for chunk in np.array_split(data, [1, 5, 300, 301, 777]):
        rs.update(chunk.astype(np.float32) if impl == "cpp" else chunk)
    mu, sd = two_pass(data.astype(np.float32) if impl == "cpp" else data)
    assert rs.count == 1000 and rs.weight == 1000
    np.testing.assert_allclose(rs.mean, mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rs.std, sd, rtol=1e-10)


@pytest.mark.parametrize("impl", IMPLS)
def test_single_row_and_empty_updates(impl):
    rs = RunningStats(2, impl=impl)
    rs.update(np.zeros((0, 2)))
    assert rs.count == 0
    rs.update([1.0, 5.0])
    rs.update(np.array([[3.0, 5.0]]))
    assert rs.count == 2
    np.testing.assert_allclose(rs.mean, [2.0, 5.0])
    np.testing.assert_allclose(rs.std, [1.0, 0.0])


@pytest.mark.parametrize("impl", IMPLS)
def test_rejected_update_changes_nothing(impl, rng):
    rs = RunningStats(3, impl=impl).update(rng.normal(size=(10, 3)))
    before = rs.to_bytes()
    bad = rng.normal(size=(5, 3))
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="row 3, feature 1"):
        rs.update(bad)
    with pytest.raises(ValueError, match="expected shape"):
        rs.update(rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="real numbers"):
        rs.update(np.array([["a", "b", "c"]]))
    assert rs.to_bytes() == before


chunks = st.lists(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=64), min_size=3, max_size=3), min_size=0, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(a=chunks, b=chunks, c=chunks)
def test_merge_is_associative_and_order_independent(a, b, c):
    def stats(rows):
        rs = RunningStats(3, impl="numpy")
        if rows:
            rs.update(np.array(rows))
        return rs

    all_rows = a + b + c
    whole = stats(all_rows)
    left = stats(a).merge(stats(b)).merge(stats(c))
    right = stats(a).merge(stats(b).merge(stats(c)))
    shuffled = stats(c).merge(stats(a)).merge(stats(b))
    for other in (left, right, shuffled):
        assert other.count == whole.count
        np.testing.assert_allclose(other.mean, whole.mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(other.m2, whole.m2, rtol=1e-7, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(a=chunks, b=chunks)
def test_filling_a_then_b_equals_filling_a_plus_b(a, b):
    for impl in IMPLS:
        seq = RunningStats(3, impl=impl)
        for rows in (a, b):
            if rows:
                seq.update(np.array(rows))
        once = RunningStats(3, impl=impl)
        if a + b:
            once.update(np.array(a + b))
        assert seq.count == once.count
        np.testing.assert_allclose(seq.mean, once.mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(seq.m2, once.m2, rtol=1e-7, atol=1e-6)


def test_native_and_numpy_decay_alike_one_row_at_a_time():
    """One row per update (a stream): both implementations reach the same bytes with
    forgetting too. For this half-life C's exp2(-1/h) and pow(2, -1/h) differ by an ulp
    (found by the stats fuzzer): both must take the same one."""
    if "cpp" not in IMPLS:
        pytest.skip("no native core")
    half_life = 4.062501221895507
    rows = np.random.default_rng(3).normal(size=(20, 2))
    a, b = RunningStats(2, half_life, impl="cpp"), RunningStats(2, half_life, impl="numpy")
    for row in rows:
        a.update(row[None])
        b.update(row[None])
        assert a.to_bytes() == b.to_bytes()


def test_native_and_numpy_write_identical_bytes(rng):
    if "cpp" not in IMPLS:
        pytest.skip("no native core")
    data = rng.normal(size=(50, 4))
    for half_life in (None, 7.5):
        a = RunningStats(4, half_life, impl="cpp").update(data)
        b = RunningStats(4, half_life, impl="numpy").update(data)
        # Same header fields; moments agree to rounding (summation orders differ).
        assert a.to_bytes()[:32] == b.to_bytes()[:32]
        assert a.to_bytes()[40:48] == b.to_bytes()[40:48]
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-14)
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-13)
        np.testing.assert_allclose(a.m2, b.m2, rtol=1e-12)
        # each reads the other's bytes
        assert RunningStats.from_bytes(b.to_bytes(), impl="cpp").count == 50
        assert RunningStats.from_bytes(a.to_bytes(), impl="numpy").count == 50


@pytest.mark.parametrize("impl", IMPLS)
def test_golden_bytes(impl):
    # Exact bytes where every sum is exact in float64 (no forgetting, dyadic data) ...
    rs = RunningStats(3, impl=impl).update(np.array([[1.0, 2.0, 4.0], [3.0, 2.0, 0.5]]))
    assert rs.to_bytes() == GOLDEN_PLAIN
    # ... and, with forgetting, the same layout and values to rounding.
    rs = RunningStats(2, 4.0, impl=impl).update(np.array([[1.0, -1.0], [2.0, 0.0], [4.0, 1.0]]))
    golden = RunningStats.from_bytes(GOLDEN_FORGETTING, impl="numpy")
    assert rs.to_bytes()[:32] == GOLDEN_FORGETTING[:32]
    np.testing.assert_allclose([rs.weight, *rs.mean, *rs.m2], [golden.weight, *golden.mean, *golden.m2], rtol=1e-14)
    back = RunningStats.from_bytes(GOLDEN_FORGETTING, impl=impl)
    assert back.half_life == 4.0 and back.count == 3
    assert back.to_bytes() == GOLDEN_FORGETTING


@pytest.mark.parametrize("impl", IMPLS)
def test_from_bytes_rejects_corruption(impl):
    blob = GOLDEN_PLAIN
    cases = {
        "too short": blob[:20],
        "truncated": blob[:-1],
        "bad magic": b"X" + blob[1:],
        "version": blob[:8] + (2).to_bytes(4, "little") + blob[12:],
        "checksum": blob[:60] + bytes([blob[60] ^ 1]) + blob[61:],
        "features": blob[:16] + (1 << 40).to_bytes(8, "little") + blob[24:],
        "random": bytes(range(100)),
    }
    for what, data in cases.items():
        with pytest.raises(ModelFormatError):
            RunningStats.from_bytes(data, impl=impl)
            pytest.fail(what)


@pytest.mark.parametrize("impl", IMPLS)
def test_forgetting_matches_explicit_weights(impl, rng):
    half_life = 25.0
    data = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(5, 3, (60, 2))])
    rs = RunningStats(2, half_life, impl=impl)
    for chunk in np.array_split(data, 13):
        rs.update(chunk)
    w = 2.0 ** (-np.arange(len(data) - 1, -1, -1) / half_life)
    mu = (w[:, None] * data).sum(0) / w.sum()
    var = (w[:, None] * (data - mu) ** 2).sum(0) / w.sum()
    assert rs.count == 260
    np.testing.assert_allclose(rs.weight, w.sum(), rtol=1e-12)
    np.testing.assert_allclose(rs.mean, mu, rtol=1e-10)
    np.testing.assert_allclose(rs.std, np.sqrt(var), rtol=1e-9)
    # it tracks the recent regime: the mean is near the new level, not the overall mean
    assert np.all(np.abs(rs.mean - 5) < np.abs(data.mean(0) - 5))


def test_merge_refuses_mismatched_statistics():
    with pytest.raises(ValueError, match="features"):
        RunningStats(3).merge(RunningStats(4))
    with pytest.raises(ValueError, match="half-lives"):
        RunningStats(3, 10).merge(RunningStats(3))
    with pytest.raises(ValueError):
        RunningStats(0)
    with pytest.raises(ValueError):
        RunningStats(3, half_life=-1)


def test_merge_across_implementations(rng):
    a = RunningStats(3, impl="numpy").update(rng.normal(size=(10, 3)))
    b = RunningStats(3).update(rng.normal(size=(20, 3)))
    both = a.copy().merge(b)
    assert both.count == 30


def test_scores_definitions():
    mu = np.array([1.0, 3.0, 2.0, 3.0])
    sd = np.array([0.5, 0.5, 0.0, 1.0])
    mm_mu = (mu - 1) / (2 + 1e-8)
    mm_sd = sd / (1 + 1e-8)
    np.testing.assert_allclose(scores_from_moments(mu, sd, "inverse"), (mm_mu + 1 - mm_sd) / 2)
    np.testing.assert_allclose(scores_from_moments(mu, sd, "mean"), mm_mu)
    np.testing.assert_allclose(scores_from_moments(mu, sd, "meanstd"), mu * sd)
    np.testing.assert_allclose(scores_from_moments(mu, sd, "pen"), mm_mu * (1 - np.exp(-sd / 0.01)))
    with pytest.raises(ValueError, match="unknown aggregation"):
        scores_from_moments(mu, sd, "median")


def test_scores_finite_for_degenerate_statistics():
    for mu, sd in [([2.0], [0.0]), ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0]), ([0.0, 0.0], [3.0, 3.0])]:
        for method in ("inverse", "mean", "meanstd", "pen"):
            assert np.all(np.isfinite(scores_from_moments(np.array(mu), np.array(sd), method)))
    with pytest.raises(ValueError, match="no samples"):
        scores(RunningStats(2))


def test_ranking_breaks_ties_by_index():
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    assert ranking_order(s).tolist() == [1, 3, 0, 2, 4]
    assert rank(s, list("abcde")) == ["b", "d", "a", "c", "e"]


def test_numpy_impl_direct_api():
    rs = NumpyRunningStats(2)
    rs.update(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert NumpyRunningStats.from_bytes(rs.to_bytes()).to_bytes() == rs.to_bytes()

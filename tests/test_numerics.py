"""Numerical accuracy of RunningStats and the scores, against exact rational references.

Property tests (Hypothesis) over the hard cases: ~1e9 samples assembled by merging many
partial states, large offsets with small noise, tiny variances around 1.0, forgetting
over long streams; and scores that stay finite for constant, single and all-equal
features. References are computed exactly with ``fractions.Fraction`` from the float64
values the implementations see, so every tolerance below is an error of the code.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import actif
from actif.stats import NumpyRunningStats, RunningStats, scores_from_moments

IMPLS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def exact_moments(data: np.ndarray) -> tuple[list[Fraction], list[Fraction]]:
    """Exact per-column mean and M2 of a float64 matrix."""
    means, m2s = [], []
    for col in np.asarray(data, np.float64).T:
        xs = [Fraction(float(v)) for v in col]
        mean = sum(xs, Fraction(0)) / len(xs)
        means.append(mean)
        m2s.append(sum(((x - mean) ** 2 for x in xs), Fraction(0)))
    return means, m2s


def rel_err(got: float, exact: Fraction) -> float:
    if exact == 0:
        return abs(got)
    return float(abs(Fraction(got) - exact) / abs(exact))


def state(impl: str, count: int, mean: np.ndarray, m2: np.ndarray) -> RunningStats:
    """A partial state with given moments (as a worker or device would hand over)."""
    raw = NumpyRunningStats(len(mean))
    raw.count, raw.weight, raw.mean, raw.m2 = count, float(count), np.array(mean, np.float64), np.array(m2, np.float64)
    return RunningStats.from_bytes(raw.to_bytes(), impl=impl)


# ------------------------------------------------------------------ 1e9 samples by merging


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(
    k=st.integers(2, 400),
    offset=st.sampled_from([0.0, 1.0, 1e6, -3e3]),
    seed=st.integers(0, 2**32 - 1),
    tree=st.booleans(),
)
def test_a_billion_samples_merged_from_partial_states(impl, k, offset, seed, tree):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 2 * 10**9 // k, size=k)
    means = offset + rng.normal(0, 1, size=(k, 2))
    m2s = counts[:, None] * rng.uniform(0.01, 4, size=(k, 2))
    parts = [state(impl, int(c), m, v) for c, m, v in zip(counts, means, m2s)]
    if tree:  # pairwise, as a cluster reduction would
        while len(parts) > 1:
            parts = [parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
        merged = parts[0]
    else:  # one by one, as a device folding in reports would
        merged = parts[0]
        for p in parts[1:]:
            merged.merge(p)
    total = sum(int(c) for c in counts)
    assert merged.count == total and total > 10**8 or k < 10
    for j in range(2):
        c = [Fraction(int(x)) for x in counts]
        mu = [Fraction(float(x)) for x in means[:, j]]
        n = sum(c)
        mean = sum(ci * mi for ci, mi in zip(c, mu)) / n
        m2 = sum(Fraction(float(x)) for x in m2s[:, j]) + sum(ci * (mi - mean) ** 2 for ci, mi in zip(c, mu))
        # Merging rounds the mean at the data's scale (|offset| plus part means spread ~1),
        # not at the mean's own size, which may be near zero: bound it absolutely there.
        scale = max(1.0, abs(offset))
        assert abs(Fraction(float(merged.mean[j])) - mean) < Fraction(1e-13) * Fraction(scale)
        # the merged mean is rounded at eps*|offset|; the between-part deviations (~1)
        # inherit that absolutely, hence the offset term
        assert rel_err(merged.m2[j], m2) < 5e-12 + 1e-15 * abs(offset)


# ------------------------------------------------------------------ streams of hard data


def stream_into(impl: str, data: np.ndarray, cuts: list[int], half_life: float | None = None) -> RunningStats:
    rs = RunningStats(data.shape[1], half_life, impl=impl)
    for chunk in np.split(data, sorted(set(c % (len(data) + 1) for c in cuts))):
        rs.update(chunk)
    return rs


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(
    offset=st.sampled_from([1e6, -1e6, 1e8, 1.0]),
    noise=st.sampled_from([1.0, 1e-2, 1e-3, 1e-6]),
    n=st.integers(2, 400),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_large_offsets_and_tiny_variances(impl, offset, noise, n, cuts, seed):
    """offset + noise: the variance must be right relative to noise**2, not offset**2."""
    rng = np.random.default_rng(seed)
    data = offset + noise * rng.normal(size=(n, 2))
    exact_mean, exact_m2 = exact_moments(data)
    assume(all(m > 0 for m in exact_m2))
    rs = stream_into(impl, data, cuts)
    # Each sample is known to offset*eps; a backward-stable method errs in the
    # variance by about (offset*eps/noise)**2 relative, plus rounding of the sums.
    conditioning = (abs(offset) * 2.2e-16 / noise) * math.sqrt(n)
    for j in range(2):
        assert rel_err(rs.mean[j], exact_mean[j]) < 1e-14 * math.sqrt(n) + 1e-15
        assert rel_err(rs.m2[j], exact_m2[j]) < 1e-12 + 64 * conditioning, (rs.m2[j], float(exact_m2[j]))


@pytest.mark.parametrize("impl", IMPLS)
def test_tiny_variance_around_one(impl):
    rng = np.random.default_rng(3)
    data = 1.0 + 1e-6 * rng.normal(size=(8_000, 3))  # variance ~1e-12
    exact_mean, exact_m2 = exact_moments(data)
    rs = stream_into(impl, data, list(range(0, 8_000, 777)))
    for j in range(3):
        assert rel_err(rs.m2[j], exact_m2[j]) < 1e-9
        assert rel_err(rs.var[j], exact_m2[j] / 8_000) < 1e-9
    assert np.all(rs.var > 0.5e-12) and np.all(rs.var < 2e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_one_row_at_a_time_over_a_long_stream(impl):
    """The stateful mode feeds one row per update: 30k Welford steps at an offset."""
    rng = np.random.default_rng(5)
    data = 1e4 + rng.normal(size=(30_000, 1))
    rs = RunningStats(1, impl=impl)
    for row in data:
        rs._impl.update(row[None])  # the inner call the explainers make, without re-checks
    exact_mean, exact_m2 = exact_moments(data)
    assert rel_err(rs.mean[0], exact_mean[0]) < 1e-14
    assert rel_err(rs.m2[0], exact_m2[0]) < 1e-11


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(half_life=st.floats(1.0, 1e4), n=st.integers(1, 300), cuts=st.lists(st.integers(0, 300), max_size=8), seed=st.integers(0, 2**32 - 1))
def test_forgetting_against_exact_weights(impl, half_life, n, cuts, seed):
    rng = np.random.default_rng(seed)
    data = 50.0 + rng.normal(size=(n, 1))
    rs = stream_into(impl, data, cuts, half_life)
    lam = 2.0 ** (-1.0 / half_life)
    w = lam ** np.arange(n - 1, -1, -1, dtype=np.float64)
    weight = w.sum()
    mean = (w * data[:, 0]).sum() / weight
    m2 = (w * (data[:, 0] - mean) ** 2).sum()  # float64 two-pass reference
    assert rs.count == n
    assert abs(rs.weight - weight) <= 1e-12 * weight
    assert abs(rs.mean[0] - mean) <= 1e-12 * abs(mean)
    assert abs(rs.m2[0] - m2) <= 1e-9 * m2 + 1e-12


@pytest.mark.parametrize("impl", IMPLS)
def test_forgetting_weight_stays_bounded_over_a_billion_rows(impl):
    """With a half-life, weight converges to 1/(1-lam); it must neither drift nor
    collapse after ~1e9 rows (simulated with large single-value batches)."""
    half_life = 1000.0
    rs = RunningStats(1, half_life, impl=impl)
    block = np.full((100_000, 1), 3.0)
    for _ in range(10):
        rs.update(block)
    limit = 1.0 / (1.0 - 2.0 ** (-1.0 / half_life))
    assert abs(rs.weight - limit) < 1e-9 * limit
    assert rs.mean[0] == pytest.approx(3.0, rel=1e-14) and rs.m2[0] < 1e-18 * limit


# ------------------------------------------------------------------ scores


finite_moment = st.floats(0.0, 3.4e38, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(
    mu=st.lists(finite_moment, min_size=1, max_size=40),
    data=st.data(),
    method=st.sampled_from(["inverse", "mean", "meanstd", "pen"]),
)
def test_scores_are_finite_for_any_trace_moments(mu, data, method):
    """Traces are non-negative float32 values, so moments lie in [0, float32 max]:
    every score is finite there, including constant, single and all-equal features."""
    sigma = data.draw(st.lists(finite_moment, min_size=len(mu), max_size=len(mu)))
    s = scores_from_moments(np.array(mu), np.array(sigma), method)
    assert s.shape == (len(mu),) and np.all(np.isfinite(s))
    if method in ("inverse", "mean", "pen"):
        assert np.all((s >= 0) & (s <= 1))


@pytest.mark.parametrize("method", ["inverse", "mean", "meanstd", "pen"])
@pytest.mark.parametrize("impl", IMPLS)
def test_scores_of_degenerate_streams(impl, method):
    cases = {
        "constant features": np.tile([[2.0, 5.0, 0.0]], (50, 1)),
        "single feature": np.arange(10.0)[:, None],
        "all features equal": np.repeat(np.linspace(0, 1, 20)[:, None], 4, axis=1),
        "single row": np.array([[1.0, 2.0]]),
        "zeros": np.zeros((5, 3)),
    }
    for what, data in cases.items():
        rs = RunningStats(data.shape[1], impl=impl).update(data)
        s = actif.scores(rs, method)
        assert np.all(np.isfinite(s)), what
        if what == "all features equal":
            assert np.ptp(s) == 0, "equal features must score equally"

"""Hostile input on every backend: whatever the policy, a rejected window or sample
leaves the stream state and the statistics byte-identical, and skip counts are exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actif
from actif.backends.base import Backend
from actif.model_spec import random_spec

BACKENDS = actif.available_backends()
N_IN, T = 5, 6


@pytest.fixture(params=BACKENDS)
def model(request):
    spec = random_spec(N_IN, 9, 2, pooling="mean", normalization=True, seed=7, window=T)
    return actif.Model(spec, request.param)


def supports_step(model: actif.Model) -> bool:
    return type(model.backend).step is not Backend.step


def explainer(model, stateful, policy):
    if stateful and not supports_step(model):
        pytest.skip(f"backend {model.backend_name} has no stateful mode")
    st = actif.StreamingExplainer(model, stateful=stateful, on_invalid=policy)
    rng = np.random.default_rng(1)
    st.update(rng.normal(size=(7, N_IN) if stateful else (4, T, N_IN)).astype(np.float32))  # a state worth keeping
    return st


def snapshot(st):
    """Everything a rejected input must leave untouched, as bytes."""
    parts = [st.stats.to_bytes(), str(st.n_updates).encode()]
    if st.state is not None:
        s = st.state
        parts += [a.tobytes() for a in s.h + s.c] + [s.ring.tobytes(), str(s.steps).encode()]
    return parts


def good_row(stateful):
    return np.full((N_IN,) if stateful else (T, N_IN), 0.5, np.float32)


def poisoned(stateful, value, dtype=np.float32):
    x = good_row(stateful).astype(dtype)
    x[(-1,) if stateful else (2, 3)] = value
    return x


# name -> (input builder(stateful), skip reason, units counted under "skip")
BAD_INPUTS = {
    "nan": (lambda s: poisoned(s, np.nan), "non_finite", 1),
    "inf": (lambda s: poisoned(s, np.inf), "non_finite", 1),
    "minus_inf": (lambda s: poisoned(s, -np.inf), "non_finite", 1),
    "beyond_max_abs": (lambda s: poisoned(s, 2e6), "out_of_range", 1),
    "float32_max": (lambda s: poisoned(s, np.finfo(np.float32).max), "out_of_range", 1),
    "float64_1e300": (lambda s: poisoned(s, 1e300, np.float64), "out_of_range", 1),
    "int64_huge": (lambda s: poisoned(s, 2**62, np.int64), "out_of_range", 1),
    "nan_in_float64_batch": (lambda s: np.stack([poisoned(s, np.nan, np.float64)] * 3), "non_finite", 3),
    "wrong_feature_count": (lambda s: np.zeros((3, N_IN + 1) if s else (3, T, N_IN + 1), np.float32), "bad_shape", 3),
    "wrong_rank": (lambda s: np.zeros((2, 2, T, N_IN), np.float32), "bad_shape", 1),
    "scalar": (lambda s: np.float32(1.0), "bad_shape", 1),
    "zero_length_windows": (lambda s: np.zeros((3, 0, N_IN) if not s else (3, 0), np.float32), "bad_shape", 3),
    "strings": (lambda s: np.full((4, N_IN) if s else (4, T, N_IN), "x"), "bad_dtype", 4),
    "bool": (lambda s: np.ones((N_IN,) if s else (T, N_IN), bool), "bad_dtype", 1),
    "complex": (lambda s: np.ones((N_IN,) if s else (T, N_IN), np.complex64), "bad_dtype", 1),
    "objects": (lambda s: np.array([None] * N_IN if s else [[None] * N_IN] * T, dtype=object), "bad_dtype", 1),
    "none": (lambda s: None, "bad_dtype", 1),
    "ragged_list": (lambda s: [[1.0] * N_IN, [1.0] * (N_IN - 1)] if s else [[[1.0] * N_IN] * T, [[1.0] * N_IN] * (T - 1)], "bad_shape", 1),
    "empty_batch": (lambda s: np.zeros((0, N_IN) if s else (0, T, N_IN), np.float32), "empty", 1),
}


@pytest.mark.parametrize("policy", ["raise", "skip"])
@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_changes_nothing_under_either_policy(model, stateful, case, policy):
    st = explainer(model, stateful, policy)
    before = snapshot(st)
    build, reason, units = BAD_INPUTS[case]
    if policy == "raise":
        with pytest.raises(ValueError):
            st.update(build(stateful))
        assert not st.skipped
    else:
        y = st.update(build(stateful))
        assert y is None or np.isnan(y).all()
        assert dict(st.skipped) == {reason: units}
    assert snapshot(st) == before
    # and the stream goes on as if nothing had happened
    st.update(good_row(stateful))
    assert st.n_updates == (8 if stateful else 5)


@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
def test_mixed_batch_feeds_exactly_the_valid_rows(model, stateful):
    """A batch with poisoned rows at random places: the skip policy must end in the
    same state and statistics, byte for byte, as feeding only the valid rows."""
    rng = np.random.default_rng(99)
    n = 40
    X = rng.normal(size=(n, N_IN) if stateful else (n, T, N_IN))
    kinds = rng.integers(0, 5, size=n)  # 0..1 valid; 2 NaN, 3 Inf, 4 out of range
    for r in np.flatnonzero(kinds >= 2):
        where = (r, rng.integers(N_IN)) if stateful else (r, rng.integers(T), rng.integers(N_IN))
        X[where] = {2: np.nan, 3: -np.inf, 4: 5e6}[kinds[r]]
    skipping = explainer(model, stateful, "skip")
    clean = explainer(model, stateful, "raise")
    y = skipping.update(X)
    y_clean = clean.update(X[kinds < 2])
    assert dict(skipping.skipped) == {"non_finite": int(np.isin(kinds, [2, 3]).sum()), "out_of_range": int((kinds == 4).sum())}
    assert snapshot(skipping) == snapshot(clean)
    assert np.isnan(y[kinds >= 2]).all()
    np.testing.assert_array_equal(y[kinds < 2], y_clean)


def test_value_rule_agrees_between_policies():
    """float64 values that round to max_abs in float32 are accepted by both policies
    (the check is made on what the model sees), and both agree where they reject."""
    m = actif.random_model(N_IN, 8, seed=0, backend="numpy", window=T)
    X = np.zeros((3, T, N_IN))
    X[0, 0, 0] = 1e6 + 0.01  # float32(1e6 + 0.01) == 1e6 == max_abs: accepted
    X[1, 0, 0] = 1e6 + 100.0  # beyond: rejected
    X[2, 0, 0] = np.nan
    raising = actif.StreamingExplainer(m)
    with pytest.raises(ValueError, match=r"window 1, step 0, feature 'f0' \(index 0\)"):
        raising.update(X)
    raising.update(X[:1])
    skipping = actif.StreamingExplainer(m, on_invalid="skip")
    skipping.update(X)
    assert dict(skipping.skipped) == {"out_of_range": 1, "non_finite": 1}
    assert skipping.stats.to_bytes() == raising.stats.to_bytes()


def test_explainer_attribute_rejects_whole_batch_on_every_backend(model):
    X = np.random.default_rng(0).normal(size=(12, T, N_IN)).astype(np.float32)
    rs = actif.RunningStats(N_IN).update(np.ones((2, N_IN)))
    before = rs.to_bytes()
    for bad in (np.nan, np.inf, 1e7):
        Xb = X.copy()
        Xb[11, T - 1, N_IN - 1] = bad
        with pytest.raises(ValueError):
            actif.Explainer(model, batch_size=4).attribute(Xb, stats=rs)
        assert rs.to_bytes() == before


def test_max_abs_must_be_positive_or_none():
    spec = random_spec(N_IN, 4, seed=0)
    for bad in (0, -1.0, float("nan"), "1e6", True):
        with pytest.raises(ValueError, match="max_abs"):
            actif.Model(spec, "numpy", max_abs=bad)
    assert actif.Model(spec, "numpy", max_abs=None).max_abs is None


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    weight_scale=st.sampled_from([1.0, 1e3, 1e12]),
    trace=st.sampled_from(["input", "weighted", "gates"]),
    signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=N_IN, max_size=N_IN),
)
def test_accepted_extremes_never_poison_the_stream(backend, seed, weight_scale, trace, signs):
    """With max_abs=None only the model's float32 overflow bound (input_limit) limits
    inputs: a stream of values right at that bound keeps finite statistics and state,
    and one beyond it is refused as out of range."""
    spec = random_spec(N_IN, 6, 1, pooling="max", normalization=True, seed=seed, window=T)
    spec.lstm[0].w_ih = spec.lstm[0].w_ih * np.float32(weight_scale)
    spec.input_scale = spec.input_scale * np.float32(weight_scale)
    model = actif.Model(spec, backend, max_abs=None)
    limit = np.float32(model.input_limit)
    assert np.isfinite(limit) and limit > 0
    for stateful in (False, True):
        if stateful and not supports_step(model):
            continue
        st = actif.StreamingExplainer(model, trace=trace, stateful=stateful, on_invalid="skip")
        x = np.asarray(signs, np.float32) * limit
        x = x if stateful else np.tile(x, (T, 1))
        for _ in range(3):
            st.update(x)
        assert st.n_updates == 3 and not st.skipped
        assert np.isfinite(st.stats.mean).all() and np.isfinite(st.stats.m2).all()
        if stateful:
            assert all(np.isfinite(a).all() for a in st.state.h + st.state.c)
        st.update(x * np.float32(4))
        assert dict(st.skipped) == {"out_of_range": 1}

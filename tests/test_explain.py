"""Explainer and StreamingExplainer: streaming equals batch, rejected input changes
nothing, the skip policy counts exactly, results export."""

from __future__ import annotations

import json

import numpy as np
import pytest

import actif
from actif.backends.base import Backend
from actif.model_spec import random_spec

BACKENDS = actif.available_backends()


@pytest.fixture(params=BACKENDS)
def model(request):
    spec = random_spec(6, 16, 2, pooling="max", normalization=True, seed=4,
                       feature_names=[f"feat{i}" for i in range(6)])
    return actif.Model(spec, request.param)


def windows(rng, n=40, t=10, i=6):
    return rng.normal(size=(n, t, i)).astype(np.float32)


def test_streaming_equals_batch(model, rng):
    X = windows(rng)
    batch = actif.Explainer(model).attribute(X)
    st = actif.StreamingExplainer(model)
    ys = [st.update(w) for w in X[:20]]
    ys.append(st.update(X[20:]))  # a batch in the same stream
    assert st.stats.count == batch.stats.count == 40 * 10
    np.testing.assert_allclose(st.stats.mean, batch.stats.mean, rtol=1e-10)
    np.testing.assert_allclose(st.stats.std, batch.stats.std, rtol=1e-8)
    np.testing.assert_allclose(st.scores(), batch.scores, atol=1e-9)
    assert st.ranking() == batch.ranking
    np.testing.assert_allclose(np.vstack([*ys[:20], ys[20]]), batch.predictions, rtol=1e-6, atol=1e-7)
    assert ys[0].shape == (2,)


def test_attribute_accumulates_into_given_stats(model, rng):
    X = windows(rng)
    rs = actif.RunningStats(6)
    ex = actif.Explainer(model, batch_size=7)
    ex.attribute(X[:15], stats=rs)
    res = ex.attribute(X[15:], stats=rs)
    whole = ex.attribute(X)
    assert res.stats is rs and rs.count == whole.stats.count
    np.testing.assert_allclose(res.scores, whole.scores, atol=1e-9)


@pytest.mark.parametrize("trace", ["weighted", "gradient"])
def test_fresh_and_given_stats_get_the_same_bytes(model, rng, trace):
    # a call's own statistics are fed directly, a caller's are staged: the same rows either way
    X = windows(rng, n=23)
    ex = actif.Explainer(model, trace=trace, batch_size=7)
    fresh = ex.attribute(X)
    given, signed = actif.RunningStats(6), actif.RunningStats(6)
    res = ex.attribute(X, stats=given, signed_stats=signed if trace == "gradient" else None)
    assert fresh.stats.to_bytes() == given.to_bytes() and res.stats is given
    np.testing.assert_array_equal(fresh.predictions, res.predictions)
    if trace == "gradient":
        assert fresh.signed_stats.to_bytes() == signed.to_bytes() and res.signed_stats is signed


@pytest.mark.parametrize("trace", ["weighted", "gradient"])
def test_failure_half_way_leaves_given_stats_unchanged(model, rng, monkeypatch, trace):
    X = windows(rng, n=20)
    ex = actif.Explainer(model, trace=trace, batch_size=8)
    given, signed = actif.RunningStats(6).update(np.ones((2, 6))), actif.RunningStats(6).update(np.ones((2, 6)))
    before = given.to_bytes(), signed.to_bytes()
    backend = model.backend
    name = "attribute_stats" if trace == "gradient" else "forward_stats"
    real, calls = getattr(backend, name), []

    def second_chunk_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("engine failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, name, second_chunk_fails)
    with pytest.raises(RuntimeError, match="engine failed"):
        ex.attribute(X, stats=given, signed_stats=signed)
    assert len(calls) == 2 and (given.to_bytes(), signed.to_bytes()) == before


def test_rejected_window_changes_nothing(model, rng):
    X = windows(rng)
    st = actif.StreamingExplainer(model)
    st.update(X[:5])
    before = st.stats.to_bytes()
    bad = X[5:10].copy()
    bad[2, 4, 3] = np.nan
    with pytest.raises(ValueError, match=r"window 2, step 4, feature 'feat3'"):
        st.update(bad)
    with pytest.raises(ValueError, match="features on its last axis"):
        st.update(X[:, :, :5])
    with pytest.raises(ValueError, match="real numbers"):
        st.update(np.full((10, 6), "x"))
    with pytest.raises(ValueError, match="empty"):
        st.update(np.zeros((0, 10, 6), np.float32))
    assert st.stats.to_bytes() == before and st.n_updates == 5


def test_explainer_rejects_bad_batch_before_touching_stats(model, rng):
    X = windows(rng)
    X[33, 0, 0] = np.inf
    rs = actif.RunningStats(6).update(np.ones((3, 6)))
    before = rs.to_bytes()
    with pytest.raises(ValueError, match="Inf at window 33"):
        actif.Explainer(model, batch_size=8).attribute(X, stats=rs)
    assert rs.to_bytes() == before


def test_rejected_sample_leaves_stateful_state_unchanged(model, rng):
    st = actif.StreamingExplainer(model, stateful=True)
    for x in rng.normal(size=(12, 6)).astype(np.float32):
        st.update(x)
    snapshot = st.state.copy()
    stats = st.stats.to_bytes()
    bad = rng.normal(size=6).astype(np.float32)
    bad[1] = 1e9
    with pytest.raises(ValueError, match="max_abs"):
        st.update(bad)
    assert st.stats.to_bytes() == stats and st.state.steps == snapshot.steps == 12
    for a, b in zip(st.state.h + st.state.c, snapshot.h + snapshot.c):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(st.state.ring, snapshot.ring)


def test_skip_policy_counts_and_keeps_valid_rows(model, rng):
    X = windows(rng, n=10)
    X[3, 0, 0] = np.nan
    X[7, 9, 5] = 1e12
    st = actif.StreamingExplainer(model, on_invalid="skip")
    y = st.update(X)
    assert np.isnan(y[3]).all() and np.isnan(y[7]).all() and np.isfinite(np.delete(y, [3, 7], 0)).all()
    assert st.skipped == {"non_finite": 1, "out_of_range": 1}
    assert st.n_updates == 8 and st.stats.count == 8 * 10
    clean = actif.StreamingExplainer(model)
    clean.update(np.delete(X, [3, 7], 0))
    assert clean.stats.to_bytes() == st.stats.to_bytes()
    assert st.update(np.zeros((0, 10, 6), np.float32)) is None and st.skipped["empty"] == 1


def test_stateful_batch_of_samples_equals_one_by_one(model, rng):
    xs = rng.normal(size=(9, 6)).astype(np.float32)
    a = actif.StreamingExplainer(model, stateful=True)
    ya = np.vstack([a.update(x) for x in xs])
    b = actif.StreamingExplainer(model, stateful=True)
    yb = b.update(xs)
    np.testing.assert_array_equal(ya, yb)
    assert a.stats.to_bytes() == b.stats.to_bytes() and a.stats.count == 9


def test_forgetting_follows_drift(model, rng):
    st = actif.StreamingExplainer(model, half_life=50)
    st.update(windows(rng, n=30))
    X2 = windows(rng, n=30)
    X2[..., 0] *= 20  # feature 0 becomes much more active
    st.update(X2)
    plain = actif.StreamingExplainer(model)
    plain.update(np.concatenate([windows(np.random.default_rng(12345), n=30), X2]))
    assert st.stats.half_life == 50
    assert st.stats.mean[0] > plain.stats.mean[0]


def test_per_window_attributions_sum_the_steps(model, rng):
    X = windows(rng, n=5)
    ex = actif.Explainer(model, aggregation="inverse")
    steps = ex.attribute_steps(X)
    np.testing.assert_array_equal(steps, ex.trace_of(X))  # a forward trace is its own per-step attribution
    per = ex.attribute_windows(X)
    assert per.shape == (5, 6)
    np.testing.assert_allclose(per, steps.astype(np.float64).sum(axis=1), rtol=1e-12)


def test_attribution_exports(model, rng, tmp_path):
    res = actif.Explainer(model).attribute(windows(rng))
    res.save_json(tmp_path / "r.json")
    res.save_csv(tmp_path / "r.csv")
    res.plot(tmp_path / "r.png", k=4)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["ranking"] == res.ranking and doc["count"] == 400
    assert [f["name"] for f in doc["features"]] == res.ranking
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "rank,feature,score,mean,std" and lines[1].split(",")[1] == res.ranking[0]
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.top_k(2) == [(res.ranking[0], res.scores[res.order[0]]), (res.ranking[1], res.scores[res.order[1]])]


def test_bad_options_are_clear():
    m = actif.random_model(4, 8, seed=0)
    with pytest.raises(ValueError, match="unknown trace"):
        actif.Explainer(m, trace="grad")
    with pytest.raises(ValueError, match="unknown aggregation"):
        actif.StreamingExplainer(m, aggregation="max")
    with pytest.raises(ValueError, match="on_invalid"):
        actif.StreamingExplainer(m, on_invalid="ignore")
    with pytest.raises(ValueError, match="hidden_size >= input_size"):
        actif.Explainer(actif.random_model(10, 8, seed=0), trace="paper")
    with pytest.raises(TypeError):
        actif.Explainer("model.npz")


def test_reset_forgets_everything(model, rng):
    st = actif.StreamingExplainer(model, stateful=True)
    st.update(rng.normal(size=(4, 6)).astype(np.float32))
    st.reset()
    assert st.stats.count == 0 and st.n_updates == 0 and st.state.steps == 0
    with pytest.raises(ValueError, match="no samples"):
        st.scores()


@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
def test_hot_path_equals_general_path(model, rng, stateful):
    """Plain float32 input takes the backend's one-call hot path where it has one; any
    other input the general path. Both must leave byte-identical statistics."""
    data = rng.normal(size=(12, 6) if stateful else (12, 10, 6))
    fast = actif.StreamingExplainer(model, stateful=stateful)
    general = actif.StreamingExplainer(model, stateful=stateful)
    general_calls = {"fast": 0, "general": 0}
    for name, ex in (("fast", fast), ("general", general)):
        def counted(x, _feed=ex._feed, _name=name):
            general_calls[_name] += 1
            return _feed(x)
        ex._feed = counted
    for row in data:
        y_fast = fast.update(row.astype(np.float32))       # float32: hot path where available
        y_general = general.update(row.tolist())           # a list: always the general path
        np.testing.assert_array_equal(y_fast, y_general)
    assert fast.stats.to_bytes() == general.stats.to_bytes() and fast.n_updates == general.n_updates == 12
    # the comparison means something only if the two paths really differed
    hot = "try_step_stats" if stateful else "try_forward_stats"
    has_hot_path = getattr(type(model.backend), hot) is not getattr(Backend, hot)
    assert general_calls == {"fast": 0 if has_hot_path else 12, "general": 12}
    bad = data[0].astype(np.float32)
    bad.flat[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fast.update(bad)  # the hot path declines, the general path names the problem
    assert fast.stats.to_bytes() == general.stats.to_bytes()

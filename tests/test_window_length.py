"""Windows of another length than the model's are refused by default, in Explainer,
StreamingExplainer (window mode) and the CLI; any_window_length allows them only where
the pooling reads any length (last, mean)."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.cli import main
from actif.constants import tolerance


def model(pooling: str) -> actif.Model:
    return actif.random_model(4, 8, pooling=pooling, seed=0, window=10)


@pytest.mark.parametrize("T", [7, 50])
def test_explainer_refuses_other_lengths(T, rng):
    m = model("max")
    X = rng.normal(size=(3, T, 4)).astype(np.float32)
    ex = actif.Explainer(m)
    for call in (ex.attribute, ex.trace_of, ex.attribute_windows):
        with pytest.raises(ValueError, match=f"windows of {T} steps; the model takes windows of 10"):
            call(X)
    stats = actif.RunningStats(4)
    with pytest.raises(ValueError):
        ex.attribute(X, stats=stats)
    assert stats.count == 0  # nothing was changed


@pytest.mark.parametrize("T", [7, 50])
def test_streaming_refuses_other_lengths_and_changes_nothing(T, rng):
    m = model("last")
    st = actif.StreamingExplainer(m)
    st.update(rng.normal(size=(10, 4)).astype(np.float32))
    before = st.stats.to_bytes()
    for bad in (rng.normal(size=(T, 4)).astype(np.float32),              # one window, the native hot path
                rng.normal(size=(2, T, 4)).astype(np.float32),           # a batch
                rng.normal(size=(T, 4)).astype(np.float64)):             # the general path
        with pytest.raises(ValueError, match=f"windows of {T} steps.*any_window_length=True accepts"):
            st.update(bad)
    assert st.stats.to_bytes() == before and st.n_updates == 1
    skip = actif.StreamingExplainer(m, on_invalid="skip")
    y = skip.update(rng.normal(size=(3, T, 4)).astype(np.float32))
    assert y is None and skip.skipped == {"bad_shape": 3} and skip.n_updates == 0


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_any_window_length_for_length_free_pooling(pooling, rng):
    m = model(pooling)
    X = rng.normal(size=(3, 50, 4)).astype(np.float32)
    res = actif.Explainer(m, any_window_length=True).attribute(X)
    ref = actif.Explainer(m.with_backend("numpy"), any_window_length=True).attribute(X)
    np.testing.assert_allclose(res.predictions, m.with_backend("numpy").predict(X), **tolerance("prediction"))
    np.testing.assert_allclose(res.stats.mean, ref.stats.mean, rtol=2e-4)
    assert res.stats.count == 3 * 50
    st = actif.StreamingExplainer(m, any_window_length=True)
    st.update(X[0])
    st.update(X[1:, :7])
    assert st.n_updates == 3


def test_any_window_length_is_refused_for_max_pooling():
    m = model("max")
    with pytest.raises(ValueError, match="'max' pooling: the maximum over a window grows with its length"):
        actif.Explainer(m, any_window_length=True)
    with pytest.raises(ValueError, match="'max' pooling"):
        actif.StreamingExplainer(m, any_window_length=True)


def test_stateful_mode_is_unaffected(rng):
    st = actif.StreamingExplainer(model("max"), stateful=True)
    for x in rng.normal(size=(25, 4)).astype(np.float32):
        st.update(x)
    assert st.n_updates == 25


def test_cli_refuses_and_allows(tmp_path, rng, capsys):
    for pooling in ("max", "mean"):
        model(pooling).save(tmp_path / f"{pooling}.npz")
    np.save(tmp_path / "X7.npy", rng.normal(size=(4, 7, 4)).astype(np.float32))
    assert main(["explain", "--model", str(tmp_path / "max.npz"), "--data", str(tmp_path / "X7.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "windows of 7 steps; the model takes windows of 10" in err
    assert main(["explain", "--model", str(tmp_path / "max.npz"), "--data", str(tmp_path / "X7.npy"), "--any-window-length"]) == 2
    assert "'max' pooling" in capsys.readouterr().err
    assert main(["explain", "--model", str(tmp_path / "mean.npz"), "--data", str(tmp_path / "X7.npy"), "--any-window-length"]) == 0
    assert "4 windows of 7 steps" in capsys.readouterr().out

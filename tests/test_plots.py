"""Plots (Agg backend): each returns a Figure without a path and writes a file with one;
axis labels say what the numbers are, titles the method actually used."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import actif  # noqa: E402
from actif import plots  # noqa: E402


@pytest.fixture
def setup(rng):
    names = [f"f{j}" for j in range(6)]
    m = actif.random_model(6, 8, seed=0, feature_names=names)
    X = rng.normal(size=(40, 10, 6)).astype(np.float32)
    return m, X


def texts(fig):
    out = [fig.get_suptitle()] if hasattr(fig, "get_suptitle") else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.texts]
    return " | ".join(out)


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("aggregation,label", [("mean", "min-max scaled"), ("inverse", "mm(mean) + 1 - mm(std)")])
def test_ranking_bar(setup, tmp_path, aggregation, label):
    from matplotlib.figure import Figure

    m, X = setup
    res = actif.Explainer(m, aggregation=aggregation).attribute(X)
    fig = res.plot(k=4)
    assert isinstance(fig, Figure)
    words = texts(fig)
    assert label in words and f"per-step |{res.trace} trace|: mean ± std" in words
    assert res.method in fig.get_suptitle() and ("DeepACTIF" in words) == (aggregation == "inverse")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == res.ranking[:4]
    assert res.plot(tmp_path / "r.png") is None and png(tmp_path / "r.png")


def test_window_heatmap(setup, tmp_path):
    m, X = setup
    ex = actif.Explainer(m)
    tr = ex.trace_of(X[:1])[0]
    fig = plots.window_heatmap(tr, m.feature_names, k=3, trace=ex.trace)
    image = fig.axes[0].images[0].get_array()
    top3 = np.argsort(-tr.sum(axis=0), kind="stable")[:3]
    np.testing.assert_allclose(np.asarray(image), tr[:, top3].T)  # rows = features, columns = steps
    assert "time step" in texts(fig) and "|weighted trace| at that step" in fig.axes[1].get_ylabel()
    plots.window_heatmap(tr, m.feature_names, tmp_path / "h.png", step_ms=16.0)
    assert png(tmp_path / "h.png")
    # a method's values are the size of a signed attribution, and the labels say so
    lrp = actif.Explainer(m, trace="lrp")
    fig = plots.window_heatmap(lrp.trace_of(X[:1])[0], m.feature_names, k=3, trace="lrp")
    assert "|lrp attribution| at that step" in fig.axes[1].get_ylabel()
    assert "per-step |lrp attribution|: mean ± std" in texts(lrp.attribute(X).plot(k=3))
    with pytest.raises(ValueError):
        plots.window_heatmap(tr[:, :3], m.feature_names)


def test_window_beeswarm(setup, tmp_path):
    m, X = setup
    per_window = actif.Explainer(m).trace_of(X).mean(axis=1)
    fig = plots.window_beeswarm(per_window, m.feature_names, feature_values=X.mean(axis=1), k=4,
                                xlabel="mean |trace| per window", method="weighted trace, mean score")
    ax = fig.axes[0]
    assert len(ax.collections) == 4 and all(len(c.get_offsets()) == 40 for c in ax.collections)
    top = int(np.argmax(per_window.mean(axis=0)))
    np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 0]), np.sort(per_window[:, top]))
    assert "mean |trace| per window" in texts(fig) and "weighted trace, mean score" in ax.get_title()
    assert "percentile" in fig.axes[1].get_ylabel()
    plots.window_beeswarm(per_window, m.feature_names, tmp_path / "b.png", max_points=10)
    assert png(tmp_path / "b.png")


def test_swarm_offsets_spread_ties():
    off = plots._swarm_offsets(np.zeros(5), 0.4)
    assert sorted(off) == pytest.approx([-0.4, -0.2, 0.0, 0.2, 0.4])


def test_ranking_over_time(setup, tmp_path):
    m, X = setup
    st = actif.StreamingExplainer(m)
    history = []
    for w in X:
        st.update(w)
        history.append(st.scores())
    fig = plots.ranking_over_time(np.array(history), m.feature_names, k=3, xlabel="windows streamed")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_ylabel() == "rank (1 = most important)"
    final = st.ranking()[:3]
    assert [t.get_text() for t in ax.texts] == final
    assert list(ax.lines[0].get_ydata())[-1] == 1
    plots.ranking_over_time(np.array(history), m.feature_names, tmp_path / "t.png")
    assert png(tmp_path / "t.png")


def test_series_and_scores(tmp_path):
    fig = plots.plot_series({"a": np.arange(5)}, ylabel="depth (cm)")
    assert fig.axes[0].get_ylabel() == "depth (cm)"
    assert plots.plot_scores(np.array([0.1, 0.9]), ["x", "y"], tmp_path / "s.png") is None and png(tmp_path / "s.png")

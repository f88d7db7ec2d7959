"""Attribution in the forms people use: pandas, notebooks (HTML), a readable repr, and
scores that print without float noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

import actif
from actif.result import Score, method_label


@pytest.fixture
def result(rng):
    m = actif.random_model(5, 8, seed=0, feature_names=["a", "b", "c", "d", "e<&>"])
    return actif.Explainer(m).attribute(rng.normal(size=(20, 10, 5)).astype(np.float32))


def test_to_pandas_one_row_per_feature(result):
    pytest.importorskip("pandas")
    df = result.to_pandas()
    assert list(df.columns) == ["rank", "feature", "score", "mean", "std"]
    assert list(df["feature"]) == result.ranking and list(df["rank"]) == [1, 2, 3, 4, 5]
    order = result.order
    np.testing.assert_array_equal(df["score"].to_numpy(), result.scores[order])
    np.testing.assert_array_equal(df["mean"].to_numpy(), result.stats.mean[order])
    np.testing.assert_array_equal(df["std"].to_numpy(), result.stats.std[order])
    assert df.attrs["trace"] == result.trace


def test_to_pandas_signed_mean_when_the_method_gives_one(result):
    pytest.importorskip("pandas")
    signed = np.array([0.5, -1.0, 2.0, 0.0, -3.0])
    result.signed_stats = actif.RunningStats(5).update(signed[None])  # what the signed methods keep
    df = result.to_pandas()
    np.testing.assert_array_equal(df["signed_mean"].to_numpy(), signed[result.order])
    assert "signed mean" in result._repr_html_()
    result.signed_stats = None
    assert "signed_mean" not in result.to_pandas().columns


def test_repr_and_html_are_readable(result):
    text = repr(result)
    lines = text.splitlines()
    assert lines[0] == f"Attribution(5 features, 200 trace rows; {method_label(result.trace, result.aggregation)})"
    assert lines[1].split() == ["1.", result.ranking[0], "1.0000"]  # the top score is 1 - 1e-8, printed as 1
    assert len(lines) == 6
    page = result._repr_html_()
    assert page.count("<tr>") == 6 and "e&lt;&amp;&gt;" in page and "e<&>" not in page
    assert "weighted trace, mean score" in page


def test_scores_print_without_float_noise(result):
    top = result.top_k(2)
    assert top[0][1] == float(result.scores[result.order[0]])  # the value is exact
    assert result.scores[result.order[0]] != 1.0 and repr(top[0][1]) == "1.0"
    assert repr(Score(0.9999999986)) == "1.0" and str(Score(0.123456789)) == "0.123457"
    assert json.loads(json.dumps({"s": Score(0.9999999986)}))["s"] == 0.9999999986
    assert f"{Score(0.5):.3f}" == "0.500"


def test_method_names_what_was_used():
    assert method_label("weighted", "mean") == "weighted trace, mean score"
    assert "DeepACTIF" in method_label("weighted", "inverse")
    assert "DeepACTIF" not in method_label("input", "mean")
    assert method_label("integrated", "mean") == "integrated gradients, mean score"
    assert method_label("unheard-of", "mean") == "unheard-of trace, mean score"

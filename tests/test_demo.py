"""actif demo: the simulated session streams through a model and leaves its outputs."""

from __future__ import annotations

import json

import pytest

import actif
from actif.cli import main
from actif.lab.data import FEATURE_NAMES


def test_demo_with_a_given_model(tmp_path, capsys):
    path = tmp_path / "m.npz"
    actif.random_model(len(FEATURE_NAMES), 16, 1, pooling="max", seed=0, feature_names=list(FEATURE_NAMES)).save(path)
    out = tmp_path / "out"
    assert main(["demo", "--model", str(path), "--seconds", "4", "--no-live", "--out", str(out), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "top 3 features:" in text and "depth MAE on the simulated session" in text
    ranking = json.loads((out / "ranking.json").read_text())
    assert len(ranking["ranking"]) == len(FEATURE_NAMES) and ranking["count"] > 0
    assert ranking["ranking"][0] in text
    for png in ("ranking.png", "depth.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_demo_refuses_a_model_with_other_features(tmp_path, capsys):
    path = tmp_path / "m.npz"
    actif.random_model(5, 8, seed=0).save(path)
    assert main(["demo", "--model", str(path), "--seconds", "2", "--no-live", "--out", str(tmp_path)]) == 2
    assert "use a model trained on them" in capsys.readouterr().err


def test_demo_runs_the_bundled_model(tmp_path, capsys):
    from actif.bundled import bundled_model_path

    try:
        bundled_model_path()
    except FileNotFoundError:
        pytest.skip("no bundled model in this checkout")
    assert main(["demo", "--seconds", "4", "--no-live", "--out", str(tmp_path)]) == 0
    assert "depth MAE" in capsys.readouterr().out

"""The actif command line: help, info, explain on every supported data file type."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

import actif
from actif.cli import main


@pytest.fixture
def model_file(tmp_path):
    m = actif.random_model(3, 8, seed=0, feature_names=["gx", "gy", "gz"])
    path = tmp_path / "m.npz"
    m.save(path)
    return path


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "explain", "info"):
        assert command in out
    assert "examples:" in out


def test_info(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backends"] == actif.available_backends()


def test_explain_npy_and_json(model_file, tmp_path, capsys, rng):
    X = rng.normal(size=(20, 10, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "rank.json"
    assert main(["explain", "--model", str(model_file), "--data", str(tmp_path / "X.npy"), "--out", str(out), "--top", "2"]) == 0
    text = capsys.readouterr().out
    expected = actif.Explainer(actif.load(model_file)).attribute(X)
    assert f"1. {expected.ranking[0]}" in text
    assert json.loads(out.read_text())["ranking"] == expected.ranking


def test_explain_csv_cuts_windows(model_file, tmp_path, rng):
    samples = rng.normal(size=(25, 3))
    lines = ["time,gz,gx,gy"] + [f"{t},{s[2]},{s[0]},{s[1]}" for t, s in enumerate(samples)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "rank.csv"
    assert main(["explain", "--model", str(model_file), "--data", str(tmp_path / "s.csv"), "--out", str(out)]) == 0
    windows = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32), (10, 3))[:, 0]
    expected = actif.Explainer(actif.load(model_file)).attribute(windows)
    assert windows.shape[0] == 16
    assert out.read_text().splitlines()[1].split(",")[1] == expected.ranking[0]


def test_explain_errors_are_one_line(model_file, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("gx,gy\n1,2\n")
    assert main(["explain", "--model", str(model_file), "--data", str(tmp_path / "bad.csv")]) == 2
    assert "no column for feature(s) 'gz'" in capsys.readouterr().err
    assert main(["explain", "--model", str(tmp_path / "none.npz"), "--data", "x.npy"]) == 2
    assert "no model file" in capsys.readouterr().err
    np.save(tmp_path / "nan.npy", np.full((2, 10, 3), np.nan, np.float32))
    assert main(["explain", "--model", str(model_file), "--data", str(tmp_path / "nan.npy")]) == 2
    assert "NaN at window 0, step 0, feature 'gx'" in capsys.readouterr().err


def test_explain_with_a_method_and_target(tmp_path, capsys, rng):
    m = actif.random_model(3, 8, 2, seed=1, feature_names=["gx", "gy", "gz"])
    m.save(tmp_path / "m2.npz")
    X = rng.normal(size=(6, 10, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "rank.csv"
    args = ["explain", "--model", str(tmp_path / "m2.npz"), "--data", str(tmp_path / "X.npy"), "--out", str(out)]
    assert main([*args, "--trace", "integrated", "--target", "1", "--n-steps", "8"]) == 0
    assert "windows of 10 steps; integrated gradients, mean score; target output y1" in capsys.readouterr().out
    expected = actif.Explainer(actif.load(tmp_path / "m2.npz"), "integrated", target=1, n_steps=8).attribute(X)
    rows = out.read_text().splitlines()
    assert rows[0].endswith(",signed_mean") and rows[1].split(",")[1] == expected.ranking[0]
    assert main([*args, "--trace", "weighted", "--target", "1"]) == 2
    assert "apply to the methods" in capsys.readouterr().err
    assert main([*args, "--trace", "gradient", "--target", "2"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_explain_chooses_integrated_gradients_nodes_that_add_up(tmp_path, capsys, rng):
    """--n-steps auto runs actif.choose_n_steps on the windows read (up to 256, evenly
    spread), says the count and its completeness error, and explains with that count."""
    m = actif.random_model(3, 8, 2, seed=1, feature_names=["gx", "gy", "gz"])
    m.save(tmp_path / "m2.npz")
    X = rng.normal(scale=2.0, size=(300, 10, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "rank.json"
    args = ["explain", "--model", str(tmp_path / "m2.npz"), "--data", str(tmp_path / "X.npy"), "--out", str(out)]
    assert main([*args, "--trace", "integrated", "--target", "1", "--n-steps", "auto"]) == 0
    printed = capsys.readouterr().out
    model = actif.load(tmp_path / "m2.npz")
    sample = X[np.unique(np.linspace(0, 299, 256).astype(np.int64))]
    choice = actif.choose_n_steps(model, sample, target=1)
    assert f"integrated gradients: {choice.n_steps} nodes (completeness error {choice.error:.1%} on 256 windows)" in printed
    expected = actif.Explainer(model, "integrated", target=1, n_steps=choice.n_steps).attribute(X)
    assert json.loads(out.read_text())["ranking"] == expected.ranking
    for bad, message in ((["--trace", "integrated", "--n-steps", "0"], "positive integer or 'auto'"),
                         (["--trace", "integrated", "--n-steps", "many"], "positive integer or 'auto'"),
                         (["--trace", "gradient", "--n-steps", "4"], "applies to --trace integrated"),
                         (["--trace", "integrated", "--n-steps", "auto", "--workers", "1"], "not on a cluster")):
        with pytest.raises(SystemExit) if "positive" in message else contextlib.nullcontext():
            assert main([*args, *bad]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "explain", "export"])
def test_command_help_teaches_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"actif {command} --" in out.split("examples:", 1)[1]


def test_explain_defaults_to_the_bundled_model_and_says_so(tmp_path, capsys):
    import csv

    from actif.bundled import bundled_model_path
    from actif.lab.data import compute_features, simulate_session

    try:
        path = bundled_model_path()
    except FileNotFoundError:
        pytest.skip("no bundled model in this checkout")
    F, names = compute_features(simulate_session(2.0, seed=3))
    with open(tmp_path / "session.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows(F.tolist())
    assert main(["explain", "--data", str(tmp_path / "session.csv"), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert f"model: the bundled model foval_edge ({path})" in out
    windows = np.lib.stride_tricks.sliding_window_view(F.astype(np.float32), (10, len(names)))[:, 0]
    expected = actif.Explainer(actif.load(path)).attribute(windows)
    assert f"{len(windows)} windows of 10 steps; weighted trace, mean score" in out
    assert f"1. {expected.ranking[0]}" in out

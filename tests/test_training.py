"""Training (torch): deterministic, folds normalisation and target scaling exactly,
baselines computed as documented; `actif train --quick` on the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import actif

torch = pytest.importorskip("torch")

from actif.lab.data import build_synthetic_dataset  # noqa: E402
from actif.lab.training import BUNDLED_HOLDOUT, TrainConfig, baseline_errors, train_depth_model  # noqa: E402


@pytest.fixture(scope="module")
def synthetic():
    return build_synthetic_dataset(n_subjects=3, seed=0, duration_s=20.0, T=10, stride=2)


def test_training_is_deterministic_and_folds_scaling(synthetic, monkeypatch):
    from actif.interchange import torch_import

    trained = []  # the torch module each training run hands to the importer

    def keep_module(module, **options):
        trained.append(module)
        return import_module(module, **options)

    import_module = torch_import.spec_from_torch
    monkeypatch.setattr(torch_import, "spec_from_torch", keep_module)
    cfg = TrainConfig(hidden=8, dense=(4,), epochs=2, batch_size=64, seed=3)
    a = train_depth_model(synthetic.windows, synthetic.targets, synthetic.feature_names, cfg)
    b = train_depth_model(synthetic.windows, synthetic.targets, synthetic.feature_names, cfg)
    for name, arr in a.arrays().items():
        np.testing.assert_array_equal(b.arrays()[name], arr, err_msg=name)
    assert a.input_scale is not None and a.output_names == ["depth_cm"]
    # predictions come out in cm: centred near the target mean, not near 0
    pred = actif.Model(a, "numpy").predict(synthetic.windows)[:, 0]
    assert abs(pred.mean() - synthetic.targets.mean()) < synthetic.targets.std()
    # the saved spec computes the trained module (raw features in, standardised depth out)
    # de-standardised as training does: normalisation and target scaling are folded in
    X = synthetic.windows[:16]
    with torch.no_grad():
        standardised = trained[0].eval()(torch.from_numpy(X)).numpy()[:, 0].astype(np.float64)
    target = a.metadata["train"]
    want = standardised * target["target_std_cm"] + target["target_mean_cm"]
    np.testing.assert_allclose(actif.Model(a, "numpy").predict(X)[:, 0], want, rtol=1e-5, atol=1e-3)


def test_training_learns_something(synthetic):
    cfg = TrainConfig(hidden=16, dense=(8,), epochs=12, batch_size=64, seed=0)
    spec = train_depth_model(synthetic.windows, synthetic.targets, synthetic.feature_names, cfg)
    pred = actif.Model(spec).predict(synthetic.windows)[:, 0]
    mean_mae = np.abs(synthetic.targets - synthetic.targets.mean()).mean()
    assert np.abs(pred - synthetic.targets).mean() < 0.8 * mean_mae  # in-sample, but far from the mean


def test_baselines_as_documented(synthetic):
    names = synthetic.feature_names
    i = names.index("vergence_depth_cm")
    train_y = np.array([50.0, 150.0, 250.0])
    X = np.zeros((2, 10, len(names)), np.float32)
    X[0, -1, i], X[1, -1, i] = 1000.0, 120.0  # the first is clipped to the training range (250)
    y = np.array([240.0, 100.0])
    mean_mae, geo_mae = baseline_errors(train_y, X, y, names)
    assert mean_mae == pytest.approx((90 + 50) / 2)
    assert geo_mae == pytest.approx((10 + 20) / 2)


def test_train_command_defaults_reproduce_the_bundled_model():
    from actif.cli import build_parser
    from actif.commands.train import config_from_args
    from actif.lab.training import BUNDLED_CONFIG, BUNDLED_GAP_FACTOR

    args = build_parser().parse_args(["train"])
    assert config_from_args(args) == BUNDLED_CONFIG
    assert args.gap_factor == BUNDLED_GAP_FACTOR and args.holdout.split(",") == list(BUNDLED_HOLDOUT)


def test_train_command_quick(data_dir, tmp_path, capsys):
    from actif.cli import main

    out = tmp_path / "m.npz"
    rc = main(["train", "--data-dir", data_dir, "--quick", "--loso", "P1,P2", "--out", str(out), "--results", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "held-out subjects" in text and "leave-one-subject-out" in text
    spec = actif.load(out).spec
    assert spec.metadata["data"]["held_out_subjects"] == list(BUNDLED_HOLDOUT)
    loso = json.loads((tmp_path / "train_loso_quick.json").read_text())
    assert [r["subject"] for r in loso["rows"]] == ["P1", "P2"]
    # resuming recomputes nothing: the file's folds are reused
    main(["train", "--data-dir", data_dir, "--quick", "--loso", "P1,P2", "--out", str(out), "--results", str(tmp_path)])
    assert "resuming: 2 folds" in capsys.readouterr().out

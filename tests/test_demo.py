"""actif demo: the bundled real recording (or a simulated session) streams through a model,
the live header renders in full, and the outputs are written."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import actif
from actif.cli import main
from actif.commands.demo import LiveNumbers, live_view, load_demo_record
from actif.lab.data import FEATURE_NAMES

OUTPUTS = ("ranking.png", "windows.png", "window.png", "ranking_over_time.png", "depth.png")


def bundled_or_skip():
    from actif.bundled import bundled_model_path

    try:
        return bundled_model_path()
    except FileNotFoundError:
        pytest.skip("no bundled model in this checkout")


def test_demo_simulated_with_a_given_model(tmp_path, capsys):
    path = tmp_path / "m.npz"
    actif.random_model(len(FEATURE_NAMES), 16, 1, pooling="max", seed=0, feature_names=list(FEATURE_NAMES)).save(path)
    out = tmp_path / "out"
    assert main(["demo", "--simulate", "--model", str(path), "--seconds", "4", "--no-live", "--out", str(out), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "top 3 features (weighted trace, mean score):" in text and "a 4 s simulated session" in text
    # a model without training facts is compared with the session's own mean depth
    assert "always predicting this session's mean depth" in text
    ranking = json.loads((out / "ranking.json").read_text())
    assert len(ranking["ranking"]) == len(FEATURE_NAMES) and ranking["count"] > 0
    assert ranking["ranking"][0] in text
    for png in OUTPUTS:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_demo_refuses_a_model_with_other_features(tmp_path, capsys):
    path = tmp_path / "m.npz"
    actif.random_model(5, 8, seed=0).save(path)
    assert main(["demo", "--model", str(path), "--seconds", "2", "--no-live", "--out", str(tmp_path)]) == 2
    assert "use a model trained on them" in capsys.readouterr().err


def test_demo_runs_the_bundled_model_on_the_real_recording(tmp_path, capsys):
    """The CI command; the numbers printed are those of an independent computation."""
    from actif.lab.data import compute_features, make_windows

    model_path = bundled_or_skip()
    assert main(["demo", "--seconds", "20", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "RobustVision subject P13, held out of the bundled model's training" in text and "CC BY 4.0" in text
    record = load_demo_record(seconds=20)
    assert 19.0 < record.timestamp_ms[-1] / 1000 <= 20.0
    model = actif.load(model_path, backend="numpy")
    F, _ = compute_features(record)
    windows, last = make_windows(F, record.timestamp_ms, model.window, segment_start=record.segment_start,
                                 gap_factor=model.spec.metadata["windowing"]["gap_factor"])
    true = record.gt_depth_cm[last]
    mae = np.mean(np.abs(model.predict(windows)[:, 0] - true))
    baseline = np.mean(np.abs(model.spec.metadata["train"]["target_mean_cm"] - true))
    assert f"{len(windows)} windows of 10 samples" in text
    assert f"depth MAE: model {mae:.1f} cm; always predicting the training mean (188.9 cm): {baseline:.1f} cm" in text
    assert "What it means:" in text and "How it was computed (actif's defaults)" in text
    for png in OUTPUTS:
        assert (tmp_path / png).exists()


def test_demo_titles_name_the_method(tmp_path, capsys):
    bundled_or_skip()
    assert main(["demo", "--seconds", "3", "--aggregation", "inverse", "--no-live", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "(weighted trace, inverse score (DeepACTIF)):" in text and "DeepACTIF's inverse score" in text


def test_demo_streams_an_attribution_method(tmp_path, capsys):
    """--trace takes the methods (the README recommends lrp for the gaze model): the
    ranking is that of the same method over the same windows, and the words say a
    method of the prediction was computed, not a forward trace."""
    from actif.lab.data import compute_features, make_windows

    model_path = bundled_or_skip()
    assert main(["demo", "--seconds", "4", "--trace", "lrp", "--no-live", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "(LRP for LSTMs (epsilon rule), mean score):" in text
    assert "moved the model's prediction" in text and "one reverse pass" in text and "no backward pass" not in text
    record = load_demo_record(seconds=4)
    model = actif.load(model_path)
    windows, _ = make_windows(compute_features(record)[0], record.timestamp_ms, model.window,
                              segment_start=record.segment_start, gap_factor=model.spec.metadata["windowing"]["gap_factor"])
    want = actif.Explainer(model, trace="lrp").attribute(windows)
    ranking = json.loads((tmp_path / "ranking.json").read_text())
    assert ranking["ranking"] == want.ranking
    for png in OUTPUTS:
        assert (tmp_path / png).exists()
    # integrated gradients with as few nodes as add up, said before the stream starts
    assert main(["demo", "--seconds", "3", "--trace", "integrated", "--n-steps", "auto", "--no-live", "--out", str(tmp_path)]) == 0
    assert "integrated gradients: " in capsys.readouterr().out
    # the method options are refused for a forward trace, before anything runs
    assert main(["demo", "--seconds", "3", "--target", "1", "--no-live", "--out", str(tmp_path / "no")]) == 2
    assert "--target and --n-steps apply to the methods" in capsys.readouterr().err


def test_demo_excerpt_is_small_and_credited():
    import os

    from actif.commands.demo import demo_data_path

    path = demo_data_path()
    assert os.path.getsize(path) < 300_000
    readme = open(os.path.join(os.path.dirname(path), "README.md"), encoding="utf-8").read()
    assert "CC BY 4.0" in readme and "Hosp" in readme and "benedikt-hosp/foval" in readme
    record = load_demo_record()
    assert record.subject == "P13" and len(record) > 1000


def test_live_header_shows_in_full():
    from rich.console import Console

    numbers = LiveNumbers(step=123, total=1469, seconds=4.5, predicted_cm=187.25, true_cm=201.5,
                          mae_cm=56.07, baseline_mae_cm=57.06, update_us=15.6)
    scores = np.linspace(1.0, 0.0, len(FEATURE_NAMES))
    for width in (80, 120):
        console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
        console.print(live_view(numbers, list(FEATURE_NAMES), scores, 5, "weighted trace, mean score"))
        lines = console.export_text().splitlines()
        progress = next(line for line in lines if "123/1469 windows, t = 4.5 s" in line)
        depth = next(line for line in lines if "predicted" in line)
        assert progress != depth  # the header is not joined onto the progress bar line
        assert "predicted  187.2 cm" in depth and "true  201.5 cm" in depth
        errors = next(line for line in lines if "running MAE" in line)
        assert "running MAE  56.1 cm" in errors and "(training mean:  57.1 cm)" in errors and "16 µs" in errors
        assert any("live feature ranking: weighted trace, mean score" in line for line in lines)
        assert any(FEATURE_NAMES[0] in line and "1.000" in line for line in lines)
        assert all(len(line) <= width for line in lines)

"""benchmarks/compare_synthetic.py: skips cleanly without data, writes its report with it."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "compare_synthetic.py")


def load_script():
    spec = importlib.util.spec_from_file_location("compare_synthetic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ks_distance_against_hand_values():
    ks = load_script().ks_distance
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert ks(a, a) == 0.0
    assert ks(a, a + 10.0) == 1.0
    assert ks(a, np.array([3.0, 4.0, 5.0, 6.0])) == pytest.approx(0.5)  # ECDFs differ most at 2


def test_skips_without_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ACTIF_DATA_DIR", raising=False)
    assert load_script().main(["--out-dir", str(tmp_path)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert not os.listdir(tmp_path)


@pytest.mark.data
def test_writes_report(data_dir, tmp_path):
    script = load_script()
    assert script.main(["--data-dir", data_dir, "--subjects", "2", "--duration", "5", "--out-dir", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["synthetic_vs_real.json", "synthetic_vs_real.md", "synthetic_vs_real.png"]
    with open(tmp_path / "synthetic_vs_real.json") as fh:
        report = json.load(fh)
    assert report["meta"]["real_subjects"] == 25
    assert set(report["features"]) >= {"vergence_diopters", "gt_depth_cm"}
    assert all(0.0 <= v <= 1.0 for f in report["features"].values() for v in f["ks"].values())
    # the verdict counts are over the gaze features; the depth target is reported apart
    from actif.lab.data import FEATURE_NAMES

    head = report["summary"][0]
    assert head.startswith(f"Of {len(FEATURE_NAMES)} gaze features")
    counts = [int(n) for n in re.findall(r"(\d+) (?:match|partly|differ)", head)]
    assert sum(counts) == len(FEATURE_NAMES)
    assert "`gt_depth_cm`" in report["summary"][1]
    assert data_dir not in (tmp_path / "synthetic_vs_real.md").read_text()

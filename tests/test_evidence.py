"""The evidence suites (benchmarks/): their numbers against hand computations, the
reference-style DeepACTIF against actif, and every suite's --quick mode end to end."""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
import pytest

import actif

BENCH = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCH))

metrics = importlib.import_module("faithfulness_metrics")


def bench(name: str):
    return importlib.import_module(name)


def needs(*modules: str) -> None:
    for m in modules:
        pytest.importorskip(m)


# ------------------------------------------------------------------- metrics by hand


def test_cost_faithfulness_goal_by_hand():
    goal = bench("cost_faithfulness_goal")
    rows = [
        {"key": "actif:cheap/mean", "method": "actif:cheap/mean", "gap": 9.0, "us_per_window": 1.0},
        {"key": "actif:good/mean", "method": "actif:good/mean", "gap": 19.5, "us_per_window": 10.0},
        {"key": "actif:best/mean", "method": "actif:best/mean", "gap": 30.0, "us_per_window": 500.0},
        {"key": "fast", "method": "Fast baseline", "gap": 10.0, "gap_se": 0.5, "us_per_window": 5.0},
        {"key": "slow", "method": "Slow baseline", "gap": 20.0, "gap_se": 1.0, "us_per_window": 1000.0},
        {"key": "top", "method": "Top baseline", "gap": 40.0, "gap_se": 1.0, "us_per_window": 9000.0},
        {"key": "random", "method": "random ranking", "gap": 0.0, "us_per_window": None},
    ]
    out = {r["baseline_key"]: r for r in goal.goal_rows(rows, "gap", "gap_se")}
    assert set(out) == {"fast", "slow", "top"}  # random is no baseline
    # fast: 9.0 < 10.0 - 0.5, so the cheapest as faithful is 'good' at 10 us: 0.5x, missed
    assert out["fast"]["mode"] == "good/mean" and out["fast"]["cheaper"] == pytest.approx(0.5) and not out["fast"]["met"]
    # slow: 19.5 >= 20 - 1 (within one SE), 1000 / 10 = 100x: met
    assert out["slow"]["mode"] == "good/mean" and out["slow"]["cheaper"] == pytest.approx(100.0) and out["slow"]["met"]
    # top: no actif mode reaches 39
    assert out["top"]["mode"] is None and out["top"]["cheaper"] is None and not out["top"]["met"]


def test_precision_at_k_by_hand():
    score = np.array([0.9, 0.1, 0.8, 0.7, 0.2])
    relevant = np.array([True, True, False, False, False])
    assert metrics.precision_at_k(score, relevant) == 0.5  # top 2: features 0, 2
    assert metrics.precision_at_k(score, relevant, k=1) == 1.0
    assert metrics.precision_at_k(score, relevant, k=5) == pytest.approx(0.4)
    # feature 2 excused (a proxy): top 2 of the rest are 0 and 3
    assert metrics.precision_at_k(score, relevant, exclude=np.array([False, False, True, False, False])) == 0.5
    proxies = np.array([False, False, True, True, False])
    assert metrics.precision_at_k(score, relevant, exclude=proxies) == 0.5  # 0 then 4 (0.2 > 0.1)
    with pytest.raises(ValueError):
        metrics.precision_at_k(score, np.zeros(5, bool))


def test_spearman_by_hand_and_against_scipy():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties: truth ranks (1.5, 1.5, 3.5, 3.5), score ranks (1, 2, 3, 4): r = 4 / sqrt(4 * 5)
    assert metrics.spearman([1, 2, 3, 4], [0, 0, 1, 1]) == pytest.approx(4 / np.sqrt(20))
    assert np.isnan(metrics.spearman([1, 2, 3], [5, 5, 5]))
    assert metrics.spearman([3, 1, 2, 9], [1, 2, 3, 0], exclude=np.array([False, False, False, True])) == pytest.approx(-0.5)
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 5, 30).astype(float), rng.normal(size=30)
    assert metrics.spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic)


def test_wilcoxon_and_rank_biserial_by_hand():
    assert metrics.rank_biserial([1, 2, 3, 4, 5]) == 1.0
    assert metrics.rank_biserial([-1, -2]) == -1.0
    # |d| ranks 1, 2, 3: W+ = 1 + 2 = 3, W- = 3 -> r = 0
    assert metrics.rank_biserial([1, 2, -3]) == 0.0
    # zeros dropped; |d| = 1, 1, 2 -> ranks 1.5, 1.5, 3: W+ = 1.5 + 3, W- = 1.5 -> r = 3 / 6
    assert metrics.rank_biserial([0, 1, -1, 2]) == pytest.approx(0.5)
    pytest.importorskip("scipy")
    res = metrics.paired_wilcoxon([6, 7, 8, 9, 10], [5, 5, 5, 5, 5])
    assert res["p"] == pytest.approx(2 / 32)  # exact: all 5 signs positive, two-sided
    assert res["rank_biserial"] == 1.0 and res["median_difference"] == 3.0 and res["n"] == 5
    assert metrics.paired_wilcoxon([1, 2], [1, 2])["p"] is None
    with pytest.raises(ValueError):
        metrics.paired_wilcoxon([1, 2], [1])


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert metrics.holm([0.04, 0.01, None, 0.03]) == pytest.approx([0.06, 0.03, None, 0.06])
    assert metrics.holm([0.5, 0.9]) == [1.0, 1.0]


def test_curve_auc_and_kept_count_by_hand():
    assert metrics.curve_auc([0, 0.5, 1], [0, 1, 1]) == pytest.approx(0.75)
    assert metrics.curve_auc([0, 1], [2, 2]) == pytest.approx(2.0)
    assert [metrics.kept_count(37, f) for f in (0.1, 0.2, 0.3, 0.4)] == [4, 7, 11, 15]
    assert metrics.kept_count(3, 0.01) == 1


def test_global_importance_and_ranking_by_hand():
    am = bench("attribution_methods")
    a = np.zeros((2, 3, 2))
    a[0, :, 0] = [1, -1, 2]  # window 0: |.| summed over steps = 4
    a[1, :, 1] = [-3, 0, 0]  # window 1, feature 1: 3
    assert np.allclose(am.global_importance(a), [2.0, 1.5])
    assert am.ranking(np.array([0.2, 0.5, 0.5, 0.1])).tolist() == [1, 2, 0, 3]


class SumOfLastStep:
    """A stand-in model: y = sum of the last step's features."""

    def predict(self, X):
        return X[:, -1, :].sum(axis=1, keepdims=True)


def test_deletion_and_insertion_curves_by_hand():
    di = bench("bench_deletion_insertion")
    X = np.zeros((2, 2, 3), np.float32)
    X[:, -1] = [[1, 2, 3], [1, 2, 3]]
    y = np.full(2, 6.0)  # the model is exact on X
    fill = np.zeros(3, np.float32)
    dele, ins = di.curves(SumOfLastStep(), X, y, np.array([2, 1, 0]), fill)
    assert dele.tolist() == [0, 3, 5, 6]  # remove 3, then 2, then 1
    assert ins.tolist() == [6, 3, 1, 0]  # restore 3, then 2, then 1


def test_one_se_tiers_by_hand():
    # b is the best (mean 3.5; sd sqrt(5/3), SE sqrt(5/3)/2 = 0.645); a trails by 1: behind;
    # c trails by 0.5: within one SE; d has b's mean but comes later: within one SE
    per_unit = {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.0], "c": [1.5, 2.5, 3.5, 4.5], "d": [0.0, 3.0, 6.0, 5.0]}
    t = metrics.one_se_tiers(per_unit)
    assert t["b"]["tier"] == "best" and t["b"]["diff_to_best"] == 0.0
    assert t["a"]["tier"] == "behind the best" and t["a"]["diff_to_best"] == -1.0 and t["a"]["diff_se"] == 0.0
    assert t["c"]["tier"] == "within 1 SE of the best" and t["c"]["diff_to_best"] == -0.5
    # d - b = (-2, 0, 2, 0): paired SE sqrt(8/3)/2, reported for information
    assert t["d"]["tier"] == "within 1 SE of the best" and t["d"]["diff_se"] == pytest.approx(np.sqrt(8 / 3) / 2)


def test_logit_curves_by_hand():
    bm = bench("bench_basic_motions")
    X = np.zeros((2, 2, 3), np.float32)
    X[:, -1] = [[1, 2, 3], [2, 2, 2]]
    dele, ins = bm.logit_curves(SumOfLastStep(), X, 0, np.array([2, 0, 1]), np.zeros(3, np.float32))
    assert dele.tolist() == [[6, 3, 2, 0], [6, 4, 2, 0]]
    assert ins.tolist() == [[0, 3, 4, 6], [0, 2, 4, 6]]


# -------------------------------------------------------- reference-style vs actif


@pytest.mark.parametrize("trace,aggregation", [("weighted", "inverse"), ("paper", "inverse"), ("input", "mean"), ("weighted", "pen")])
def test_reference_style_deepactif_matches_actif(trace, aggregation):
    needs("torch")
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(6, 8, 1, pooling="max", dense_sizes=(4,), activation="elu", batchnorm=True,
                                        normalization=True, window=5, seed=4)
    X = np.random.default_rng(0).normal(size=(300, 5, 6)).astype(np.float32)
    ref = am.ReferenceDeepACTIF(am.torch_module(spec), trace, aggregation)
    got = ref.run(X, batch_size=64)
    assert len(ref.inputs) == 5 and sum(len(h) for h in ref.hidden) == 300  # everything kept
    want = actif.Explainer(actif.Model(spec, "numpy"), trace=trace, aggregation=aggregation).attribute(X).scores
    assert np.allclose(got, want, atol=1e-5)
    assert am.ranking(got)[:3].tolist() == am.ranking(want)[:3].tolist()


def test_training_mean_inverts_the_folded_normalisation():
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(4, 8, 1, normalization=True, window=3, seed=1)
    mean = am.training_mean(spec)
    assert np.allclose(mean * spec.input_scale + spec.input_shift, 0.0, atol=1e-5)


def test_method_scores_cover_every_method():
    needs("torch", "captum", "shap")
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(5, 8, 1, pooling="max", dense_sizes=(4,), activation="elu", batchnorm=True,
                                        normalization=True, window=4, seed=2)
    X = np.random.default_rng(1).normal(size=(40, 4, 5)).astype(np.float32)
    methods = [am.DEFAULT_ACTIF, am.DEEPACTIF_SCORE, "actif:gates/meanstd", "reference:weighted/inverse", *am.BASELINES, "random:0"]
    out = am.method_scores(methods, spec, X, X[:10])
    assert set(out) == set(methods)
    assert all(v.shape == (5,) and np.all(np.isfinite(v)) for v in out.values())
    # the reference-style implementation reproduces DeepACTIF's score exactly
    assert np.allclose(out[am.DEEPACTIF_SCORE], out["reference:weighted/inverse"], atol=1e-5)


@pytest.mark.parametrize("mode,captum", [("gradient", "ixg"), ("deeplift", "deeplift"), ("integrated", "ig"), ("occlusion", "ablation")])
def test_harness_compares_actif_modes_with_their_captum_equivalents(mode, captum):
    """The suites compare like with like: actif's mode, as the harness configures it, gives
    the attributions of the Captum method the harness runs beside it (same output, same
    baseline, same steps), for a non-zero target of a multi-output model."""
    needs("torch", "captum")
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(5, 8, 3, pooling="max", dense_sizes=(4,), activation="elu", batchnorm=True,
                                        normalization=True, window=4, seed=2)
    X = np.random.default_rng(1).normal(size=(30, 4, 5)).astype(np.float32)
    assert np.allclose(actif.attribution.default_baseline(spec), am.training_mean(spec))
    ours = am.actif_explainer(actif.Model(spec, "numpy"), mode, target=2).attribute_steps(X)
    theirs = am.gradient_attributions(captum, am.torch_module(spec), X, baseline=am.training_mean(spec), background=X[:5], target=2)
    scale = np.abs(theirs).max()
    assert scale > 1e-3 and np.abs(ours - theirs).max() <= 1e-4 * scale
    other = am.gradient_attributions(captum, am.torch_module(spec), X, baseline=am.training_mean(spec), background=X[:5], target=0)
    assert np.abs(other - theirs).max() > 1e-3 * scale  # the target reached Captum


def test_modes_name_integrated_gradients_node_counts():
    """``integrated@8`` runs 8 nodes, ``integrated@auto`` the count actif.choose_n_steps
    picks on the calibration windows (and refuses to guess without them); a bare trace
    keeps the suites' defaults (Captum's 50 nodes)."""
    am = bench("attribution_methods")
    assert am.mode_options("weighted") == ("weighted", {})
    assert am.mode_options("integrated@8") == ("integrated", {"n_steps": 8})
    assert am.mode_options("integrated@auto") == ("integrated", {"n_steps": "auto"})
    assert am.mode_of("actif:integrated@auto/mean") == "integrated@auto"
    assert am.EDGE_IG_MODE in am.actif_modes() and f"actif:{am.EDGE_IG_MODE}/mean" in am.ACTIF_VARIANTS
    assert am.family(f"actif:{am.EDGE_IG_MODE}/mean") == am.TARGETED_FAMILY
    spec = actif.model_spec.random_spec(4, 12, 3, pooling="max", dense_sizes=(6,), activation="elu", normalization=True,
                                        window=6, seed=4)
    model = actif.Model(spec, "numpy")
    X = np.random.default_rng(3).normal(scale=2.0, size=(16, 6, 4)).astype(np.float32)
    assert am.actif_explainer(model, "integrated").method.n_steps == am.IG_STEPS
    assert am.actif_explainer(model, "integrated@8", target=2).method.n_steps == 8
    auto = am.actif_explainer(model, "integrated@auto", target=2, calibration=X)
    assert auto.method.n_steps == actif.choose_n_steps(model, X, target=2).n_steps and auto.method.target == 2
    with pytest.raises(ValueError, match="calibration"):
        am.actif_explainer(model, "integrated@auto")
    out = am.method_scores(["actif:integrated@auto/mean", "actif:integrated@8/mean"], spec, X, X[:8])
    assert all(v.shape == (4,) and np.all(np.isfinite(v)) for v in out.values())


def test_the_chosen_node_count_is_computed_once_per_model_target_and_windows(monkeypatch):
    am = bench("attribution_methods")
    calls = []
    real = actif.choose_n_steps
    monkeypatch.setattr(actif, "choose_n_steps", lambda *a, **k: calls.append(k["target"]) or real(*a, **k))
    monkeypatch.setattr(am, "_CHOSEN", {})
    model = actif.random_model(3, 6, 2, window=5, seed=7)
    X = np.random.default_rng(0).normal(size=(12, 5, 3)).astype(np.float32)
    first = am.chosen_n_steps(model, X, 1)
    assert am.chosen_n_steps(model, X.copy(), 1) == first and calls == [1]  # same windows (by content): kept
    am.chosen_n_steps(model, X, 0)
    am.chosen_n_steps(model, X[:6], 1)
    am.chosen_n_steps(actif.random_model(3, 6, 2, window=5, seed=8), X, 1)
    assert calls == [1, 0, 1, 1]  # another target, other windows, another model: chosen again


def test_ig_steps_quick(tmp_path):
    needs("torch")
    assert bench("bench_ig_steps").main(["--quick", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, "ig_steps_quick")
    for row in doc["rows"]:  # the chosen count is within 5 % where it says so, and is what choose_n_steps gives
        assert row["converged"] == (row["calibration_error"] <= 0.05)
        assert 1 <= row["n_steps"] <= 256
    sweep = doc["tables"][0]["rows"]
    ig_steps = bench("bench_ig_steps")
    for task in dict.fromkeys(r["task"] for r in sweep):  # every task measured at every node count of the sweep
        assert sorted(r["n_steps"] for r in sweep if r["task"] == task) == sorted(ig_steps.NODE_COUNTS)
    # the bundled task's completeness error at 4 nodes, recomputed from the model's predictions (not from delta)
    _, task, spec, X, target, _ = next(ig_steps.bundled_task(ig_steps.parse_args(["--quick"])))
    model = actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", max_abs=None)
    A = actif.Explainer(model, "integrated", target=target, n_steps=4).attribute_steps(X).astype(np.float64)
    base = np.broadcast_to(actif.attribution.default_baseline(spec), X.shape).astype(np.float32)
    change = model.predict(X)[:, target].astype(np.float64) - model.predict(base)[:, target]
    by_hand = np.abs(A.sum(axis=(1, 2)) - change).sum() / np.abs(change).sum()
    stored = next(r for r in sweep if r["task"] == task and r["n_steps"] == 4)
    assert by_hand > 1e-3 and stored["completeness"] == pytest.approx(by_hand, rel=1e-3)


def test_timing_conditions_quick(tmp_path, monkeypatch):
    needs("torch", "captum")
    import torch

    from actif.backends.cpp import isa, supported_isas

    suite = bench("bench_timing_conditions")
    assert suite.main(["--quick", "--results", str(tmp_path)]) == 0
    assert isa() == supported_isas()[-1]  # the kernel set pinned per engine is handed back
    doc = read_suite(tmp_path, "timing_conditions_quick")
    times = {r["engine"]: r["us_per_window"] for r in doc["rows"]}
    sets = [s for s in supported_isas() if s != "scalar"]
    assert sorted(e for e in times if e.startswith("actif")) == sorted(f"actif cpp: gradient, {s} kernels" for s in sets)
    ixg = times["Captum InputXGradient, denormals flushed"]
    for s in sets:  # the summary's ratios are the rows'
        assert f"{s} {ixg / times[f'actif cpp: gradient, {s} kernels']:.1f}x" in doc["summary"][0]
    pauses = doc["tables"][0]["rows"]  # the first call after a pause, and again at once, for actif and Captum
    assert [p["engine"] for p in pauses] == [f"actif cpp: gradient, {sets[-1]} kernels", "Captum InputXGradient, denormals flushed"]
    assert all(p["first_ms"] > 0 and p["again_ms"] > 0 and p["extra_ms"] == pytest.approx(p["first_ms"] - p["again_ms"])
               for p in pauses)
    # the two Captum conditions differ only in the flush around the same call
    cost = bench("bench_attribution_cost")
    seen = []
    monkeypatch.setattr(cost, "unflushed_captum_call",
                        lambda *args: lambda: seen.append((torch.tensor([1e-39]) * 1.0).item()))
    spec = actif.model_spec.random_spec(3, 4, 1, window=3, seed=0)
    engines = suite.engines(spec, np.zeros((1, 3, 3), np.float32))
    engines["Captum InputXGradient, denormals flushed"]()
    engines["Captum InputXGradient, denormals kept"]()
    assert seen[0] == 0.0 and seen[1] != 0.0


def test_shap_wrapper_explains_the_target_of_a_multi_output_model():
    needs("torch", "shap")
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(4, 6, 3, pooling="mean", dense_sizes=(), batchnorm=False, window=3, seed=5)
    X = np.random.default_rng(2).normal(size=(6, 3, 4)).astype(np.float32)
    per_target = [am.gradient_attributions("shap", am.torch_module(spec), X, baseline=am.training_mean(spec), background=X,
                                           target=t) for t in range(3)]
    assert all(a.shape == X.shape for a in per_target)
    assert not np.allclose(per_target[0], per_target[1])


def test_time_methods_gives_one_cost_per_pass():
    needs("torch", "captum")
    am = bench("attribution_methods")
    spec = actif.model_spec.random_spec(5, 8, 1, normalization=True, window=4, seed=2)
    X = np.random.default_rng(1).normal(size=(8, 4, 5)).astype(np.float32)
    methods = ["actif:weighted/mean", "actif:weighted/inverse", "actif:gradient/mean", "ixg", "random:0"]
    cost = am.time_methods(methods, spec, X, X, repeats=1)
    assert set(cost) == set(methods) - {"random:0"}  # a random ranking costs nothing to time
    assert cost["actif:weighted/mean"] == cost["actif:weighted/inverse"]  # one pass serves every aggregation
    assert all(v > 0 for v in cost.values())


def test_time_methods_times_each_call_warm(monkeypatch):
    """Every timed call comes right after an untimed call of the same method on the same
    windows, for actif modes and baselines alike (the first call after other work runs
    slower on our machines, whatever it is)."""
    am = bench("attribution_methods")
    events = []  # ("clock",) or (method, number of windows)

    class Recorder:
        def __init__(self, key):
            self.key = key

        def attribute(self, X):
            events.append((self.key, len(X)))

    monkeypatch.setattr(am, "actif_explainer", lambda model, mode, **kw: Recorder("actif:" + mode))
    monkeypatch.setattr(am, "_baseline_run", lambda key, module, X, **kw: events.append((key, len(X))))
    monkeypatch.setattr(am, "torch_module", lambda spec, threads=1: None)
    real_clock = am.time.perf_counter

    class Clock:
        @staticmethod
        def perf_counter():
            events.append(("clock",))
            return real_clock()

    monkeypatch.setattr(am, "time", Clock)
    spec = actif.model_spec.random_spec(3, 4, 1, window=3, seed=0)
    X = np.zeros((5, 3, 3), np.float32)
    cost = am.time_methods(["actif:weighted/mean", "ixg", "actif:lrp/mean", "random:0"], spec, X, X, repeats=2)
    assert set(cost) == {"actif:weighted/mean", "ixg", "actif:lrp/mean"}
    clocks = [i for i, e in enumerate(events) if e == ("clock",)]
    assert len(clocks) == 2 * 3 * 2  # a start and a stop per method per repetition
    for start, stop in zip(clocks[::2], clocks[1::2]):
        assert stop == start + 2  # exactly one call timed
        timed, before = events[start + 1], events[start - 1]
        assert timed[1] == len(X) and before == timed  # the same method on the same windows, just before


def test_cost_faithfulness_plot_is_drawn_and_shown_in_the_readme(tmp_path):
    pytest.importorskip("matplotlib")
    from actif.lab.report import render_files, render_readme_section

    am = bench("attribution_methods")
    rows = [{"key": k, "short": am.short_label(k), "family": am.family(k), "us_per_window": us, "gap": g, "gap_se": 0.5}
            for k, us, g in (("actif:weighted/mean", 10.0, 1.0), ("actif:gradient/mean", 40.0, 2.0), ("ig", 3000.0, 2.5))]
    plot = am.cost_faithfulness_plot("t_cost.png", rows, "gap", "gap_se", "gap", "title", random_level=0.0)
    assert {r["family"] for r in plot["rows"]} <= set(am.FAMILY_COLORS)
    doc = {"suite": "t", "rows": rows, "plots": [plot]}
    render_files(str(tmp_path), doc)
    assert (tmp_path / "t_cost.png").stat().st_size > 1000
    assert "![title](benchmarks/results/t_cost.png)" in render_readme_section([doc], "benchmarks/results")
    assert [am.on_cost_plot(k) for k in ("actif:gradient/mean", "actif:gradient/pen", am.DEEPACTIF_SCORE, "ablation", "random:0")] == [
        True, False, True, True, False]


@pytest.mark.parametrize("smooth", [True, False], ids=["smooth", "foval-shaped"])
def test_integrated_gradients_completeness(smooth):
    """IG's attributions of a window sum to f(x) - f(baseline), the training mean here. For
    a smooth model Captum's 50-step Gauss-Legendre rule is exact to float32 rounding; max
    pooling and ELU make the path integrand kinked, and the rule's error then falls as
    1/n_steps."""
    needs("torch", "captum")
    import torch

    am = bench("attribution_methods")
    shape = dict(pooling="mean", activation="tanh") if smooth else dict(pooling="max", activation="elu")
    spec = actif.model_spec.random_spec(5, 8, 1, dense_sizes=(4,), batchnorm=True, normalization=True, window=4, seed=2, **shape)
    X = np.random.default_rng(1).normal(size=(40, 4, 5)).astype(np.float32)
    module = am.torch_module(spec)
    base = am.training_mean(spec)
    a = am.gradient_attributions("ig", module, X, baseline=base, background=X[:10])
    with torch.no_grad():
        fx = module(torch.from_numpy(X)).numpy()[:, 0].astype(np.float64)
        fb = float(module(torch.from_numpy(np.broadcast_to(base, X.shape[1:]).astype(np.float32)[None]))[0, 0])
    change = fx - fb
    assert np.abs(change).max() > 1e-2  # the windows are far enough from the baseline to test something
    tolerance = 1e-5 if smooth else np.abs(change).max() / am.IG_STEPS
    assert np.allclose(a.sum(axis=(1, 2)), change, rtol=0, atol=tolerance)


def test_baselines_run_with_denormals_flushed_and_restore_the_default(monkeypatch):
    """The suites time PyTorch at its fastest (denormals flushed to zero while a baseline
    runs) and hand PyTorch's default back, so a model trained afterwards trains as before."""
    needs("torch", "captum")
    import torch

    am = bench("attribution_methods")
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal
    assert (tiny * 1.0).item() != 0.0
    with am.denormals_flushed():
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() != 0.0
    seen = []
    real = am._baseline_batch

    def spy(*args, **kwargs):
        seen.append((torch.tensor([1e-39]) * 1.0).item())
        return real(*args, **kwargs)

    spec = actif.model_spec.random_spec(3, 4, 1, window=3, seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3, 3)).astype(np.float32)
    monkeypatch.setattr(am, "_baseline_batch", spy)
    am.gradient_attributions("ixg", am.torch_module(spec), X, baseline=am.training_mean(spec), background=X, batch_size=2)
    assert seen == [0.0, 0.0]  # both batches ran flushed
    assert (tiny * 1.0).item() != 0.0


# ------------------------------------------------------------ suites end to end


def read_suite(results, suite):
    with open(os.path.join(results, suite + ".json"), encoding="utf-8") as fh:
        doc = json.load(fh)
    assert doc["rows"] and os.path.exists(os.path.join(results, suite + ".md"))
    for plot in doc.get("plots", []):
        assert os.path.exists(os.path.join(results, plot["file"]))
    return doc


def assert_quick_run_resumes(main, argv, results, suite) -> None:
    """Run a resumable suite again with the same settings: it finds every unit done, so it
    recomputes nothing (its units file is unchanged, byte for byte) and rewrites the same rows."""
    def measured(rows):  # a suite that times its methods when it publishes re-times them
        return [{k: v for k, v in r.items() if k != "us_per_window"} for r in rows]

    units = results / f"{suite}_units.jsonl"
    before, rows = units.read_text(), read_suite(results, suite)["rows"]
    assert main(argv) == 0
    assert units.read_text() == before
    assert measured(read_suite(results, suite)["rows"]) == measured(rows)


def test_revision_says_when_the_code_has_uncommitted_changes(tmp_path):
    """A result's revision is the commit, plus ``+uncommitted`` when code (not results,
    docs or prose) differs from it, new files included."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    from actif.lab.report import git_revision

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    assert git_revision(str(tmp_path)) is None  # not a checkout
    git("init", "-q")
    for path, text in (("python/a.py", "x = 1\n"), ("benchmarks/bench_x.py", "y = 1\n"), ("benchmarks/results/r.json", "{}\n"),
                       ("README.md", "readme\n")):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = git_revision(str(tmp_path))
    assert head and "+" not in head
    (tmp_path / "benchmarks/results/r.json").write_text('{"a": 1}\n')
    (tmp_path / "README.md").write_text("changed\n")
    assert git_revision(str(tmp_path)) == head  # results and prose do not count
    (tmp_path / "benchmarks/bench_new.py").write_text("z = 1\n")
    assert git_revision(str(tmp_path)) == head + "+uncommitted"  # a new benchmark does
    (tmp_path / "benchmarks/bench_new.py").unlink()
    (tmp_path / "python/a.py").write_text("x = 2\n")
    assert git_revision(str(tmp_path)) == head + "+uncommitted"


def test_units_file_skips_a_torn_line(tmp_path):
    sio = bench("suite_io")
    path = str(tmp_path / "units.jsonl")
    assert sio.read_units(path, "s") == []
    sio.append_unit(path, {"settings": "s", "k": 1})
    sio.append_unit(path, {"settings": "other", "k": 2})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"settings": "s", "k": 3, "ro')  # a write cut short by an interruption
    assert [u["k"] for u in sio.read_units(path, "s")] == [1]
    sio.append_unit(path, {"settings": "s", "k": 4})  # starts on a line of its own
    assert [u["k"] for u in sio.read_units(path, "s")] == [1, 4]


def test_suites_window_as_the_bundled_model_was_trained():
    from actif.bundled import bundled_model_path
    from actif.model import load_spec

    sio = bench("suite_io")
    spec = load_spec(bundled_model_path())
    assert sio.bundled_gap_factor() == spec.metadata["windowing"]["gap_factor"]
    spec.metadata["windowing"]["gap_factor"] = 4.5  # read from the metadata, not a constant
    assert sio.bundled_gap_factor(spec) == 4.5


def test_run_worker_returns_the_json_lines_and_reports_failures():
    sio = bench("suite_io")
    code = "import sys; print('loading'); print('{\"n\": 1}'); print('{\"n\": 2}'); print('done', file=sys.stderr)"
    assert sio.run_worker([sys.executable, "-c", code], "probe") == [{"n": 1}, {"n": 2}]
    with pytest.raises(RuntimeError, match=r"(?s)probe failed \(exit code 3\).*went wrong"):
        sio.run_worker([sys.executable, "-c", "import sys; print('went wrong', file=sys.stderr); sys.exit(3)"], "probe")
    with pytest.raises(RuntimeError, match="printed no result"):
        sio.run_worker([sys.executable, "-c", "print('nothing')"], "probe")


def test_frame_budget_quick(tmp_path):
    assert bench("bench_frame_budget").main(["--quick", "--no-torch", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, "frame_budget_quick")
    row = doc["rows"][0]
    assert row["median_of_120"] == pytest.approx(row["median_us"] / (1e6 / 120))
    if "cpp" in actif.available_backends():  # the attribution methods per frame, stateful
        engines = {r["engine"] for r in doc["rows"]}
        for method in ("gradient", "deeplift", "lrp", "occlusion", "integrated (n_steps=50"):
            assert any(e.startswith(f"actif cpp: stateful sample + {method}") for e in engines), method
        assert any(line.startswith("actif's attribution methods in stateful mode") for line in doc["summary"])


@pytest.mark.parametrize("script,suite", [("bench_memory", "memory"), ("bench_threads", "threads"), ("bench_kernels", "kernels")])
def test_older_suites_quick(script, suite, tmp_path):
    assert bench(script).main(["--quick", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, suite + "_quick")  # never over the full results, plots included
    assert doc["notes"][-1] == bench("suite_io").QUICK_NOTE
    assert all(name.startswith(suite + "_quick") for name in os.listdir(tmp_path))


def test_scale_quick_without_data(tmp_path, monkeypatch):
    needs("torch")
    monkeypatch.delenv("ACTIF_DATA_DIR", raising=False)
    assert bench("bench_scale").main(["--quick", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, "scale_quick")
    assert {r["key"] for r in doc["rows"]} == {"actif", "reference"}
    assert all(r["status"] == "measured" for r in doc["rows"])


def test_scale_stops_the_reference_at_the_memory_cap(tmp_path, monkeypatch):
    needs("torch")
    monkeypatch.delenv("ACTIF_DATA_DIR", raising=False)
    assert bench("bench_scale").main(["--windows", "10000,200000", "--memory-cap-gb", "0.5", "--results", str(tmp_path)]) == 0
    with open(tmp_path / "scale.json") as fh:
        rows = json.load(fh)["rows"]
    ref = {r["windows"]: r for r in rows if r["key"] == "reference"}
    assert ref[10000]["status"] == "measured" and ref[200000]["status"].startswith("not run")


def test_synthetic_faithfulness_quick(tmp_path):
    needs("torch", "captum", "shap")
    syn = bench("bench_faithfulness_synthetic")
    argv = ["--quick", "--results", str(tmp_path)]
    assert syn.main(argv) == 0
    doc = read_suite(tmp_path, "faithfulness_synthetic_quick")
    keys = {(r["design"], r["key"]) for r in doc["rows"]}
    assert ("feature_signal", "actif:weighted/inverse") in keys and ("salient_box", "shap") in keys
    assert ("salient_box", "random") in keys
    assert all(0.0 <= r["precision"] <= 1.0 for r in doc["rows"])
    assert all("precision_excused" in r for r in doc["rows"] if r["design"] == "feature_signal")
    assert_quick_run_resumes(syn.main, argv, tmp_path, "faithfulness_synthetic_quick")


def test_attribution_cost_quick(tmp_path):
    needs("torch", "captum")
    cost = bench("bench_attribution_cost")
    assert cost.main(["--quick", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, "attribution_cost_quick")
    engines = {r["engine"] for r in doc["rows"]}
    assert {cost.FORWARD, *cost.CAPTUM.values(), *(cost.engine_name("cpp", m) for m in actif.TRACES)} <= engines
    for r in doc["rows"]:  # every ratio is to the forward of the same model and batch
        assert r["x_forward"] == pytest.approx(r["us_per_window"] / cost.find(doc["rows"], r["model"], r["batch"], cost.FORWARD))
    names = [t["name"] for t in doc["targets"]]
    assert any(n.startswith("gradient vs cpp forward alone, batch 16") for n in names)
    assert sum(n.startswith(("gradient vs Captum", "integrated vs Captum", "occlusion vs Captum")) for n in names) == 3
    memory = doc["tables"][0]["rows"]
    assert [m["mode"] for m in memory] == ["forward", "gradient"] and all(m["windows"] > 0 for m in memory)


def test_basic_motions_quick(tmp_path):
    needs("torch", "captum", "aeon")
    bm = bench("bench_basic_motions")
    argv = ["--quick", "--results", str(tmp_path)]
    assert bm.main(argv) == 0
    doc = read_suite(tmp_path, "faithfulness_basic_motions_quick")
    keys = {r["key"] for r in doc["rows"]}
    assert {"actif:gradient/mean", "actif:integrated/mean", "actif:occlusion/mean", "ixg", "ablation", "random"} <= keys
    assert sum(r["tier"] == "best" for r in doc["rows"]) == 1
    assert all(r["us_per_window"] > 0 for r in doc["rows"] if r["key"] != "random")
    assert 0.0 <= doc["tables"][0]["rows"][0]["accuracy"] <= 1.0
    assert_quick_run_resumes(bm.main, argv, tmp_path, "faithfulness_basic_motions_quick")


@pytest.mark.parametrize("script", ["bench_faithfulness_retrain", "bench_deletion_insertion", "bench_subject_attribution"])
def test_data_suites_skip_without_data(script, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ACTIF_DATA_DIR", raising=False)
    assert bench(script).main(["--quick", "--results", str(tmp_path)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert not os.listdir(tmp_path)


@pytest.mark.data
def test_retrain_quick_and_resume(data_dir, tmp_path):
    needs("torch", "captum", "scipy")
    rt = bench("bench_faithfulness_retrain")
    argv = ["--quick", "--data-dir", data_dir, "--results", str(tmp_path)]
    assert rt.main(argv) == 0
    doc = read_suite(tmp_path, "faithfulness_retrain_quick")
    assert {r["key"] for r in doc["rows"]} == {"actif:weighted/inverse", "deeplift", "random", "all features"}
    assert all(r["subjects"] == 3 for r in doc["rows"])
    assert doc["tables"][0]["rows"] and all(t["n"] == 3 for t in doc["tables"][0]["rows"])
    assert_quick_run_resumes(rt.main, argv, tmp_path, "faithfulness_retrain_quick")


@pytest.mark.data
def test_deletion_insertion_quick(data_dir, tmp_path):
    needs("torch", "captum", "scipy")
    di = bench("bench_deletion_insertion")
    argv = ["--quick", "--data-dir", data_dir, "--results", str(tmp_path)]
    assert di.main(argv) == 0
    doc = read_suite(tmp_path, "deletion_insertion_quick")
    groups = {r["group"] for r in doc["rows"]}
    assert groups == {"all", "training", "held-out"}  # P3 is one of the bundled model's held-out subjects
    assert all(r["gap"] == pytest.approx(r["deletion_auc"] - r["insertion_auc"]) for r in doc["rows"])
    units = tmp_path / "deletion_insertion_quick_units.jsonl"
    lines = units.read_text().splitlines(keepends=True)
    assert len(lines) == 2  # one unit per subject
    assert_quick_run_resumes(di.main, argv, tmp_path, "deletion_insertion_quick")
    # an interruption cut the last unit's line short: resuming skips it, redoes that
    # subject only, and appends the unit on a line of its own
    torn = lines[1][: len(lines[1]) // 2]
    units.write_text(lines[0] + torn)
    assert di.main(argv) == 0
    assert units.read_text().splitlines(keepends=True) == [lines[0], torn + "\n", lines[1]]
    again = read_suite(tmp_path, "deletion_insertion_quick")["rows"]
    assert [{k: v for k, v in r.items() if k != "us_per_window"} for r in again] == [
        {k: v for k, v in r.items() if k != "us_per_window"} for r in doc["rows"]]


@pytest.mark.data
def test_subject_attribution_quick(data_dir, tmp_path):
    needs("torch", "captum", "shap")
    assert bench("bench_subject_attribution").main(
        ["--quick", "--data-dir", data_dir, "--methods", "actif cpp (streaming),reference,deeplift", "--results", str(tmp_path)]) == 0
    doc = read_suite(tmp_path, "subject_attribution_quick")
    rows = {r["key"]: r for r in doc["rows"]}
    assert set(rows) == {"actif cpp (batch)", "actif cpp (streaming)", "reference", "deeplift"}
    reference_seconds = rows["actif cpp (batch)"]["seconds"]
    for key, row in rows.items():
        if key != "actif cpp (batch)":
            assert row["time_ratio"] == pytest.approx(row["seconds"] / reference_seconds)
    # every implementation of the same trace and aggregation ranks identically
    assert rows["actif cpp (streaming)"]["spearman_vs_actif"] == pytest.approx(1.0)
    assert rows["reference"]["spearman_vs_actif"] == pytest.approx(1.0)

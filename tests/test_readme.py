"""The README: its Python examples run as written, and the numbers its prose quotes by hand
match the stored benchmark results."""

from __future__ import annotations

import json
import os
import re

import pytest

import actif

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks() -> list[str]:
    with open(README, encoding="utf-8") as fh:
        return re.findall(r"```python\n(.*?)```", fh.read(), flags=re.S)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), namespace)


def test_readme_opens_with_the_two_setup_commands():
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1).splitlines()
    assert first_block[0].startswith('pip install ".[lab]" && actif demo')
    assert "pytest" in first_block[1]


def test_development_install_installs_the_build_requirements_first():
    """`--no-build-isolation` builds with what the environment has: the README must
    install every [build-system] requirement of pyproject.toml before that command."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    with open(os.path.join(os.path.dirname(README), "pyproject.toml"), encoding="utf-8") as fh:
        build_system = re.search(r"\[build-system\]\s*requires\s*=\s*\[(.*?)\]", fh.read(), flags=re.S).group(1)
    requirements = re.findall(r'"([^"]+)"', build_system)
    assert requirements
    dev = text[text.index("## Development"):]
    install = dev.index("--no-build-isolation", dev.index("```bash"))
    for requirement in requirements:
        assert f'"{requirement}"' in dev[:install], f"README development install lacks {requirement}"
    for tool in ("compiler", "CMake", "Ninja"):
        assert tool in dev[:install]


# --------------------------------------------- hand-written numbers against the results
# `actif report --check` guards only the generated block; the prose above it quotes a few
# numbers by hand. Each is checked here against the stored results, to the digits shown.

RESULTS = os.path.join(os.path.dirname(README), "benchmarks", "results")


def results(suite: str) -> dict:
    with open(os.path.join(RESULTS, suite + ".json"), encoding="utf-8") as fh:
        return json.load(fh)


def prose() -> str:
    """The README outside the generated block, with line breaks folded into spaces."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"<!-- BEGIN GENERATED RESULTS.*?<!-- END GENERATED RESULTS -->", "", text, flags=re.S)
    return re.sub(r"\s+", " ", text)


def quoted(pattern: str) -> list[str]:
    m = re.search(pattern, prose())
    assert m, f"README no longer says {pattern!r}: update this test with the text"
    return list(m.groups())


def assert_shows(text: str, value: float) -> None:
    """``text`` is ``value`` rounded to the decimals ``text`` shows."""
    decimals = len(text.partition(".")[2])
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-12, f"README says {text}, the results give {value}"


def rows_by_key(suite: str, **where) -> dict:
    return {r["key"]: r for r in results(suite)["rows"] if all(r.get(k) == v for k, v in where.items())}


def test_readme_deletion_insertion_numbers_match_the_results():
    rows = rows_by_key("deletion_insertion", group="all")
    occlusion, best = quoted(r"within one standard error of the best method on RobustVision \(([\d.]+) cm against ([\d.]+) cm for SHAP GradientExplainer, the best\)")
    assert_shows(occlusion, rows["actif:occlusion/mean"]["gap"])
    assert_shows(best, rows["shap"]["gap"])
    assert rows["shap"]["tier"] == "best" and rows["actif:occlusion/mean"]["tier"] == "within 1 SE of the best"
    (integrated,) = quoted(r"`integrated` ties Captum's IntegratedGradients the same way \(([\d.]+) cm on RobustVision,")
    assert_shows(integrated, rows["actif:integrated/mean"]["gap"])
    assert rows["actif:integrated/mean"]["gap"] == pytest.approx(rows["ig"]["gap"], abs=0.05)
    (weighted,) = quoted(r"as faithful as any \(([\d.]+) cm on RobustVision")
    assert_shows(weighted, rows["actif:weighted/mean"]["gap"])
    cheap = [r for k, r in rows.items() if k.startswith("actif:") and k.split(":")[1].split("/")[0] in actif.FORWARD_TRACES]
    assert rows["actif:weighted/mean"]["gap"] >= max(r["gap"] for r in cheap) - rows["actif:weighted/mean"]["gap_se"]
    (gradient,) = quoted(r"ranks worse than `weighted` on both real tasks \(([\d.]+) cm\)")
    assert_shows(gradient, rows["actif:gradient/mean"]["gap"])
    assert rows["actif:gradient/mean"]["gap"] < rows["actif:weighted/mean"]["gap"]


def test_readme_deeplift_numbers_match_the_results():
    rv_rows = rows_by_key("deletion_insertion", group="all")
    bm_rows = rows_by_key("faithfulness_basic_motions")
    rv, bm = quoted(r"it reproduces Captum's DeepLift \(([\d.]+) cm on RobustVision, ([\d.]+) logits on BasicMotions\)")
    for text, rows in ((rv, rv_rows), (bm, bm_rows)):
        assert_shows(text, rows["actif:deeplift/mean"]["gap"])
        assert rows["actif:deeplift/mean"]["gap"] == pytest.approx(rows["deeplift"]["gap"], abs=1e-3)
    (margin,) = quoted(r"ranks better than `weighted` on RobustVision \(by ([\d.]+) cm, paired")
    assert_shows(margin, rv_rows["actif:deeplift/mean"]["gap"] - rv_rows["actif:weighted/mean"]["gap"])
    quoted(r"paired over subjects\), on BasicMotions \(within one standard error of the best there\)")
    assert bm_rows["actif:deeplift/mean"]["tier"] in ("best", "within 1 SE of the best")
    assert bm_rows["actif:deeplift/mean"]["gap"] > bm_rows["actif:weighted/mean"]["gap"]
    synthetic = {r["key"]: r for r in results("faithfulness_synthetic")["rows"] if r["design"] == "feature_signal"}
    ours, weighted = quoted(r"feature-signal task \(Spearman ([\d.]+) against ([\d.]+)\)")
    assert_shows(ours, synthetic["actif:deeplift/mean"]["spearman"])
    assert_shows(weighted, synthetic["actif:weighted/mean"]["spearman"])


def test_readme_lrp_numbers_match_the_results():
    rv = rows_by_key("deletion_insertion", group="all")
    gap, gain, p_holm, lrp_us, weighted_us, vs_ablation, vs_shap = quoted(
        r"`occlusion` and Captum's FeatureAblation \(([\d.]+) cm, within one standard error of the best; ([\d.]+) cm better "
        r"than `weighted`, median over subjects, Holm-adjusted p = ([\d.]+)\) at ([\d.]+) µs per window against ([\d.]+) "
        r"for `weighted` \(batch 256\), (\d+)x less than FeatureAblation and (\d+)x less than GradientShap"
    )
    lrp = rv["actif:lrp/mean"]
    assert_shows(gap, lrp["gap"])
    assert lrp["tier"] == "within 1 SE of the best"
    versus_default = next(t for t in results("deletion_insertion")["tables"][1]["rows"] if t["variant"] == "actif:lrp/mean")
    assert_shows(gain, versus_default["median_gain"])
    assert_shows(p_holm, versus_default["p_holm"])
    assert_shows(lrp_us, lrp["us_per_window"])
    assert_shows(weighted_us, rv["actif:weighted/mean"]["us_per_window"])
    assert abs(float(vs_ablation) - rv["ablation"]["us_per_window"] / lrp["us_per_window"]) < 1
    assert abs(float(vs_shap) - rv["gradientshap"]["us_per_window"] / lrp["us_per_window"]) < 1
    bm = rows_by_key("faithfulness_basic_motions")
    mean, pen, weighted = quoted(r"On BasicMotions it ranks a little above `weighted` \(([\d.]+) logits with the mean score, "
                                 r"([\d.]+) with pen, against ([\d.]+); within one standard error\), behind the best there")
    assert_shows(mean, bm["actif:lrp/mean"]["gap"])
    assert_shows(pen, bm["actif:lrp/pen"]["gap"])
    assert_shows(weighted, bm["actif:weighted/mean"]["gap"])
    assert 0 < bm["actif:lrp/mean"]["gap"] - bm["actif:weighted/mean"]["gap"] <= bm["actif:lrp/mean"]["gap_se"]
    assert bm["actif:lrp/mean"]["tier"] == "behind the best"
    synthetic = {r["key"]: r for r in results("faithfulness_synthetic")["rows"] if r["design"] == "feature_signal"}
    (spearman,) = quoted(r"with IG \(Spearman ([\d.]+) with the meanstd score\)")
    assert_shows(spearman, synthetic["actif:lrp/meanstd"]["spearman"])
    assert synthetic["actif:lrp/meanstd"]["spearman"] >= synthetic["ig"]["spearman"] - synthetic["ig"]["spearman_se"]


def test_readme_basic_motions_numbers_match_the_results():
    rows = rows_by_key("faithfulness_basic_motions")
    (occlusion,) = quoted(r"and on BasicMotions \(([\d.]+) logits, where it ties Captum's FeatureAblation")
    assert_shows(occlusion, rows["actif:occlusion/mean"]["gap"])
    assert rows["actif:occlusion/mean"]["tier"] in ("best", "within 1 SE of the best")
    assert rows["actif:occlusion/mean"]["gap"] == pytest.approx(rows["ablation"]["gap"], abs=1e-3)
    weighted, inputs = quoted(r"as faithful as any \([\d.]+ cm on RobustVision, ([\d.]+) logits on BasicMotions, where `input` "
                              r"reaches ([\d.]+), within one standard error of it\)")
    assert_shows(weighted, rows["actif:weighted/mean"]["gap"])
    assert_shows(inputs, rows["actif:input/mean"]["gap"])
    assert rows["actif:input/mean"]["gap"] - rows["actif:weighted/mean"]["gap"] <= rows["actif:weighted/mean"]["gap_se"]
    (integrated,) = quoted(r"`integrated` ties Captum's IntegratedGradients the same way \([\d.]+ cm on RobustVision, "
                           r"([\d.]+) logits on BasicMotions, where integrated gradients rank best of all methods\)")
    assert_shows(integrated, rows["actif:integrated/mean"]["gap"])
    assert rows["actif:integrated/mean"]["gap"] == pytest.approx(rows["ig"]["gap"], abs=1e-3)
    best = max(rows.values(), key=lambda r: r.get("gap", float("-inf")))
    assert best["key"].startswith("actif:integrated") and best["tier"] == "best"
    fallback, best_gap, times = quoted(r"there the (\d+) nodes it falls back to rank best of all \(([\d.]+) logits with the "
                                       r"meanstd score\) at (\d+)x the cost of 50")
    motions = [r for r in results("ig_steps")["rows"] if r["family"] == "BasicMotions"]
    assert motions and {r["n_steps"] for r in motions} == {int(fallback)} and not any(r["converged"] for r in motions)
    assert_shows(best_gap, rows["actif:integrated@auto/meanstd"]["gap"])
    assert rows["actif:integrated@auto/meanstd"]["tier"] == "best"
    assert_shows(times, rows["actif:integrated@auto/meanstd"]["us_per_window"] / rows["actif:integrated/meanstd"]["us_per_window"])
    weighted5, occlusion5, ig5 = quoted(r"so it averages five seeds; on this Intel host they give `weighted` ([\d.]+), occlusion "
                                        r"([\d.]+) and integrated gradients ([\d.]+) logits")
    assert_shows(weighted5, rows["actif:weighted/mean"]["gap"])
    assert_shows(occlusion5, rows["actif:occlusion/mean"]["gap"])
    assert_shows(ig5, rows["actif:integrated/mean"]["gap"])
    assert "5 seeds" in results("faithfulness_basic_motions")["summary"][0]
    assert rows["actif:gradient/mean"]["gap"] < rows["actif:weighted/mean"]["gap"]


def test_readme_integrated_gradients_node_counts_match_the_results():
    chosen = results("ig_steps")["rows"]
    gaze, low, high = quoted(r"within 5 % \((\d+) for the gaze model, (\d+) or (\d+) for the synthetic ones;")
    assert {r["n_steps"] for r in chosen if r["family"] == "RobustVision"} == {int(gaze)}
    assert {r["n_steps"] for r in chosen if r["family"].startswith("synthetic")} == {int(low), int(high)}
    assert all(r["converged"] for r in chosen if r["family"] != "BasicMotions")
    (cap, percent) = quoted(r"On BasicMotions no count up to (\d+) adds up .*? Captum's 50 nodes leave up to (\d+) % of the change")
    motions = [r for r in chosen if r["family"] == "BasicMotions"]
    assert motions and not any(r["converged"] for r in motions) and {r["n_steps"] for r in motions} == {int(cap)}
    assert_shows(percent, 100 * max(r["completeness_50"] for r in motions))
    rv = rows_by_key("deletion_insertion", group="all")
    gap, auto_us, full_us = quoted(r"integrated gradients rank as 50 nodes do \(([\d.]+) cm, actif's best on RobustVision\) at "
                                   r"(\d+) instead of (\d+) µs per window")
    auto = rv["actif:integrated@auto/mean"]
    assert_shows(gap, auto["gap"])
    assert auto["gap"] == max(r["gap"] for k, r in rv.items() if k.startswith("actif:"))
    assert auto["gap"] >= rv["actif:integrated/mean"]["gap"] - rv["actif:integrated/mean"]["gap_se"]
    assert_shows(auto_us, auto["us_per_window"])
    assert_shows(full_us, rv["actif:integrated/mean"]["us_per_window"])


def test_readme_cost_numbers_match_the_results():
    doc = results("attribution_cost")
    (occlusion,) = quoted(r"\((\d+)x the forward for the 37-feature gaze model at batch 256\)")
    row = next(r for r in doc["rows"] if r["engine"] == "actif cpp: occlusion" and r["batch"] == 256 and r["hidden"] == 64)
    assert_shows(occlusion, row["x_forward"])
    targets = {t["name"]: t for t in doc["targets"]}

    def ratio(name: str) -> float:
        return float(targets[name]["measured"].split("x")[0])

    gradient, deeplift, ig64, ig128, occ = quoted(
        r"`gradient` is (\d+)x faster than Captum's InputXGradient, `deeplift` (\d+)x faster than Captum's DeepLift, "
        r"`integrated` ([\d.]+)x faster than Captum's IG \(([\d.]+)x at H=128\) and `occlusion` (\d+)x faster than "
        r"Captum's FeatureAblation"
    )
    assert_shows(gradient, ratio("gradient vs Captum InputXGradient, batch 1, bundled foval_edge (H=64)"))
    assert_shows(deeplift, ratio("deeplift vs Captum DeepLift, batch 1, bundled foval_edge (H=64)"))
    assert_shows(ig64, ratio("integrated vs Captum IntegratedGradients, batch 1, bundled foval_edge (H=64)"))
    assert_shows(ig128, ratio("integrated vs Captum IntegratedGradients, batch 1, FOVAL-shaped, H=128"))
    assert_shows(occ, ratio("occlusion vs Captum FeatureAblation, batch 1, bundled foval_edge (H=64)"))
    streamed128, steps128, steps_us, captum_us = quoted(
        r"At H=128 `gradient` is (\d+)x faster than InputXGradient at batch 1 streamed and (\d+)x\s+through "
        r"`attribute_steps`, above the 20x asked for with the AVX-512 kernels, .*?\((\d+) µs; 50 µs in the run\s+measured at "
        r"0d401c3, .*?with Captum at 990 µs then and ([\d,]+) µs now\)")
    h128 = targets["gradient vs Captum InputXGradient, batch 1, FOVAL-shaped, H=128"]
    assert_shows(streamed128, ratio(h128["name"]))
    assert_shows(steps128, float(re.search(r"([\d.]+)x through Explainer.attribute_steps", h128["measured"]).group(1)))
    assert_shows(steps_us, float(re.search(r"attribute_steps \(([\d.]+) µs\)", h128["measured"]).group(1)))
    assert_shows(captum_us.replace(",", ""), float(re.search(r" vs ([\d.]+) µs\)", h128["measured"]).group(1)))
    assert ratio(h128["name"]) >= 20 and float(steps128) >= 20 and h128["met"] is True
    assert doc["machine"]["actif_isa"] == "avx512"  # the claim is the AVX-512 kernels' (the README says so)
    avx2_128, kept = quoted(r"With AVX2 on this host it is (\d+)x, .*? \(its InputXGradient ([\d.]+)x at batch 256 on the\s+"
                            r"bundled model\)")
    conditions = {(r["model"], r["batch"], r["engine"]): r["us_per_window"] for r in results("timing_conditions")["rows"]}
    h128 = "FOVAL-shaped, H=128"
    assert_shows(avx2_128, conditions[h128, 1, "Captum InputXGradient, denormals flushed"]
                 / conditions[h128, 1, "actif cpp: gradient, avx2 kernels"])
    bundled = "bundled foval_edge (H=64)"
    assert_shows(kept, conditions[bundled, 256, "Captum InputXGradient, denormals kept"]
                 / conditions[bundled, 256, "Captum InputXGradient, denormals flushed"])
    batch256, lrp256 = quoted(r"[Aa]t batch 256 `gradient` costs ([\d.]+)x the forward alone and `lrp` ([\d.]+)x")

    def row(engine: str, batch: int) -> dict:
        return next(r for r in doc["rows"] if r["engine"] == engine and r["batch"] == batch and r["hidden"] == 64)

    assert_shows(batch256, row("actif cpp: gradient", 256)["x_forward"])
    assert_shows(lrp256, row("actif cpp: lrp", 256)["x_forward"])
    lrp1, ixg1 = quoted(r"`lrp` takes (\d+) µs \(InputXGradient (\d+) µs\)")
    assert_shows(lrp1, row("actif cpp: lrp", 1)["us_per_window"])
    assert_shows(ixg1, row("Captum InputXGradient", 1)["us_per_window"])
    (steps,) = quoted(r"\(`attribute_steps`, the signed \(N, T, I\) array returned\) `gradient` is (\d+)x faster")
    assert_shows(steps, row("Captum InputXGradient", 1)["us_per_window"] / row("actif cpp: gradient (attribute_steps)", 1)["us_per_window"])


def test_readme_roofline_numbers_match_the_results():
    rows = results("roofline")["rows"]

    def rate(product: str, isa: str) -> dict:
        return next(r for r in rows if r["hidden"] == 128 and r["isa"] == isa and r["product"].startswith(product))

    def one_window(isa: str) -> float:
        return (rate("matrix-vector, forward", isa)["fma_per_ns"] + rate("matrix-vector, reverse", isa)["fma_per_ns"]) / 2

    wide, narrow, block, products, allowed = quoted(
        r"runs at the pace the weights arrive from cache \((\d+) multiply-adds per ns\s+with AVX-512's 64-byte loads, "
        r"(\d+) with AVX2's, against (\d+) for the same weights used by 30\s+windows at once\), so those 18 products take "
        r"(\d+) µs of the (\d+) µs that 20x allows"
    )
    assert_shows(wide, one_window("avx512"))
    assert_shows(narrow, one_window("avx2"))
    assert_shows(block, rate("30 rows", "avx512")["fma_per_ns"])
    forward, reverse = rate("matrix-vector, forward", "avx512"), rate("matrix-vector, reverse", "avx512")
    assert_shows(products, 9 * (forward["us_per_call"] + reverse["us_per_call"]))
    ixg = next(r["us_per_window"] for r in results("attribution_cost")["rows"]
               if r["engine"] == "Captum InputXGradient" and r["batch"] == 1 and r["hidden"] == 128)
    assert_shows(allowed, ixg / 20)


def test_readme_retraining_claims_match_the_results():
    tests = results("faithfulness_retrain")["tables"][0]["rows"]
    significant = {(r["actif"], r["baseline"], r["fraction"]) for r in tests if r["p_holm"] is not None and r["p_holm"] < 0.05}
    assert not any(baseline == "random ranking" for _, baseline, _ in significant)  # "did not separate any method from random"
    low, high = quoted(r"keeping the top 10 %, actif's `integrated` features gave a lower error than Captum DeepLift's, and "
                       r"actif's `deeplift` features \(DeepLift's attributions\) a higher one than IntegratedGradients', "
                       r"GradientShap's and SHAP's \(Holm-adjusted p = ([\d.]+) to ([\d.]+),")
    claimed = {("actif:integrated/mean", "Captum DeepLift", 0.1)} | {
        ("actif:deeplift/mean", b, 0.1) for b in ("Captum IntegratedGradients", "Captum GradientShap", "SHAP GradientExplainer")}
    assert significant == claimed
    by_pair = {(r["actif"], r["baseline"], r["fraction"]): r for r in tests}
    assert by_pair["actif:integrated/mean", "Captum DeepLift", 0.1]["median_gain_cm"] > 0  # lower error: a gain
    assert all(by_pair[k]["median_gain_cm"] < 0 for k in claimed if k[0] == "actif:deeplift/mean")
    holm = [by_pair[k]["p_holm"] for k in claimed]
    assert_shows(low, min(holm))
    assert_shows(high, max(holm))


def test_readme_goal_count_matches_the_results():
    rows = results("cost_faithfulness_goal")["rows"]
    met, total = quoted(r"is met for (\d+) of (\d+) task-baseline pairs")
    assert int(met) == sum(r["met"] for r in rows) and int(total) == len(rows)
    (shap_ratio,) = quoted(r"now matches GradientShap on the synthetic task at (\d+)x less")
    pair = next(r for r in rows if r["task"] == "synthetic ground truth (feature_signal)" and r["baseline_key"] == "gradientshap")
    assert pair["met"] and pair["mode"].startswith("integrated@auto/") and abs(pair["cheaper"] - float(shap_ratio)) < 1
    low, high, dl_rv, dl_syn, fa_bm = quoted(
        r"`input` or `weighted`, is ([\d.]+)-([\d.]+)x cheaper: .*?DeepLift on RobustVision and the synthetic task \(by `lrp`, "
        r"([\d.]+)x and ([\d.]+)x\) and FeatureAblation on BasicMotions \(([\d.]+)x, by `input`\) are met")
    ixg = [r["cheaper"] for r in rows if r["baseline_key"] == "ixg"]
    assert all(not r["met"] and r["mode"] in ("input/mean", "weighted/mean") for r in rows if r["baseline_key"] == "ixg")
    assert_shows(low, min(ixg))
    assert_shows(high, max(ixg))
    missed = {(r["task"], r["baseline_key"]) for r in rows if not r["met"]}
    assert len(missed) == 4 and {key for _, key in missed} == {"ixg"}  # "the misses are InputXGradient on all four tasks"
    pairs = {(r["task"], r["baseline_key"]): r for r in rows}
    for text, task, key, mode in ((dl_rv, "RobustVision deletion/insertion", "deeplift", "lrp/"),
                                  (dl_syn, "synthetic ground truth (feature_signal)", "deeplift", "lrp/"),
                                  (fa_bm, "BasicMotions deletion/insertion", "ablation", "input/")):
        assert pairs[task, key]["met"] and pairs[task, key]["mode"].startswith(mode)
        assert_shows(text, pairs[task, key]["cheaper"])
    (least,) = quoted(r"[Oo]ne window at a time each of the four Captum methods timed that way is (\d+)x or more dearer")
    batch1 = [r["cheaper_batch1"] for r in rows if r.get("cheaper_batch1") is not None]
    assert len({r["baseline_key"] for r in rows if r.get("cheaper_batch1") is not None}) == 4
    assert int(least) <= min(batch1) < int(least) + 1


def test_readme_frame_budget_numbers_match_the_results():
    rows = {r["engine"]: r for r in results("frame_budget")["rows"]}
    median, share = quoted(r"a stateful streaming update with fresh scores takes a median (\d+) µs, ([\d.]+)% of a 90 Hz frame")
    plain = rows["actif cpp: stateful sample + scores"]
    assert_shows(median, plain["median_us"])
    assert_shows(share, 100 * plain["median_of_90"])
    lrp, grad, vs_ixg, occ, ig, chosen, vs_ig, most = quoted(
        r"a frame with fresh scores takes a median (\d+) µs with `lrp`, (\d+) µs with `gradient` \((\d+)x less than "
        r"Captum's InputXGradient of the same window\), (\d+) µs with `occlusion` and (\d+) µs with integrated gradients "
        r"at the node count `actif.choose_n_steps` picks \((\d+) here; (\d+)x less than Captum's 50-node "
        r"IntegratedGradients\): at most ([\d.]+)% of a 90 Hz frame")
    ours = {m: rows[f"actif cpp: stateful sample + {m} + scores"] for m in ("lrp", "gradient", "occlusion")}
    ours["integrated"] = rows[f"actif cpp: stateful sample + integrated (n_steps={chosen}, choose_n_steps) + scores"]
    for text, method in ((lrp, "lrp"), (grad, "gradient"), (occ, "occlusion"), (ig, "integrated")):
        assert abs(float(text) - ours[method]["median_us"]) <= 0.5 + 0.005 * ours[method]["median_us"], method
    assert_shows(vs_ixg, rows["Captum InputXGradient of the window"]["median_us"] / ours["gradient"]["median_us"])
    assert_shows(vs_ig, rows["Captum IntegratedGradients of the window (n_steps=50)"]["median_us"] / ours["integrated"]["median_us"])
    assert_shows(most, 100 * max(r["median_of_90"] for r in ours.values()))

"""Faithfulness on synthetic ground truth: does each method find the features that matter?

Two designs where the truly relevant inputs are known (actif.lab.data):

``feature_signal``  simulated gaze sessions (the simulator's ground-truth mode); the target
                    is a known linear function of three gaze features, averaged over the
                    window. Some irrelevant features are near-copies of a relevant one
                    (|correlation| >= 0.9, the data set's ``proxies``): no method can tell
                    them apart, so precision and rank correlation are reported twice,
                    counting proxies as irrelevant ("strict") and dropping them from the
                    ranking ("proxies excused").
``salient_box``     independent Gaussian features (AR(1) over time); only 2 of 12 features
                    at 3 of 10 time steps carry the target (the informative-box design of
                    Ismail et al., NeurIPS 2020).

For each of --seeds seeds (data and training seed), a FOVAL-shaped model (LSTM 64, max
pooling, BatchNorm, dense 32) is trained on 80 % of the windows with
actif.lab.training.train_depth_model; every method then attributes the other 20 % (up to
--windows of them), and we score its ranking: precision@k (k = number of relevant
features) and Spearman's rank correlation with the true relevance |w_k| (0 for irrelevant
features). Methods: every actif trace x aggregation variant (the forward-only traces and
the targeted attribution methods, actif.METHODS), Captum IntegratedGradients,
DeepLift, GradientShap, InputXGradient, FeatureAblation, SHAP GradientExplainer and random
rankings. The test R^2 of each model is reported: attributions of a model that did not
learn the function say nothing. Each method's cost (µs per window on one thread, on up to
128 of the test windows, median of --cost-repeats interleaved timings) is measured with
every model, for the cost-faithfulness plots.

    python benchmarks/bench_faithfulness_synthetic.py              # 5 seeds (~5 min)
    python benchmarks/bench_faithfulness_synthetic.py --quick --results /tmp/r   # CI smoke run (~12 s)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from faithfulness_metrics import precision_at_k, spearman  # noqa: E402
from suite_io import append_unit, mean_sd, publish, read_units, results_dir, suite_name  # noqa: E402

SUITE = "faithfulness_synthetic"
DESIGNS = ("feature_signal", "salient_box")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_faithfulness_synthetic.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5, help="seeds (data + training) per design (default 5)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--windows", type=int, default=500, help="test windows each method attributes (default 500)")
    p.add_argument("--subjects", type=int, default=6, help="simulated subjects in feature_signal (default 6, 60 s each)")
    p.add_argument("--cost-windows", type=int, default=128, help="windows each method is timed on (default 128)")
    p.add_argument("--cost-repeats", type=int, default=3,
                   help="interleaved timing repetitions per model, median taken (default 3)")
    p.add_argument("--methods", default=",".join(am.ACTIF_VARIANTS + list(am.BASELINES)),
                   help="methods (default: every actif variant and every gradient baseline)")
    p.add_argument("--random-seeds", type=int, default=5, help="random rankings (default 5)")
    p.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, small data: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.windows, args.subjects, args.random_seeds, args.cost_windows = 1, 1, 64, 2, 2, 16
        args.cost_repeats = 1
    return args


def make_design(name: str, seed: int, n_subjects: int, quick: bool):
    from actif.lab.data import feature_signal_dataset, salient_box_dataset

    if name == "feature_signal":
        return feature_signal_dataset(n_subjects, duration_s=20.0 if quick else 60.0, noise_sd=0.05, seed=seed)
    return salient_box_dataset(600 if quick else 5000, n_features=12, relevant_features=(1, 4), relevant_steps=(3, 4, 5),
                               temporal_correlation=0.5, noise_sd=0.05, seed=seed)


def run_design(name: str, seed: int, args, methods: list[str]) -> list[dict]:
    from actif.lab.training import TrainConfig, predict_cm, train_depth_model

    ds = make_design(name, seed, args.subjects, args.quick)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds.windows))
    cut = int(0.8 * len(order))
    tr, te = order[:cut], order[cut:]
    cfg = TrainConfig(hidden=64, epochs=args.epochs, seed=seed, threads=1)
    spec = train_depth_model(ds.windows[tr], ds.targets[tr], ds.feature_names, cfg)
    y = ds.targets[te].astype(np.float64)
    r2 = 1.0 - float(np.mean((predict_cm(spec, ds.windows[te]) - y) ** 2) / np.var(y))
    X = ds.windows[te[: args.windows]]
    truth = np.zeros(len(ds.feature_names))
    for fname, w in ds.weights.items():
        truth[ds.feature_names.index(fname)] = abs(w)
    relevant = ds.relevant_features
    proxies = ds.proxies if ds.proxies.any() else None
    rows = []
    background = am.background_windows(ds.windows[tr], seed=seed)
    cost = am.time_methods(methods, spec, X[: args.cost_windows], background, repeats=args.cost_repeats)
    all_scores = am.method_scores(methods, spec, X, background, seed=seed)  # one pass per actif trace serves its aggregations
    for m in methods:
        score = all_scores[m]
        row = {"design": name, "seed": seed, "method": m, "r2": r2,
               "precision": precision_at_k(score, relevant), "spearman": spearman(score, truth),
               "top": [ds.feature_names[i] for i in am.ranking(score)[: int(relevant.sum()) + 2]],
               "us_per_window": cost.get(m)}
        if proxies is not None:
            row["precision_excused"] = precision_at_k(score, relevant, exclude=proxies)
            row["spearman_excused"] = spearman(score, truth, exclude=proxies)
        rows.append(row)
    return rows


def aggregate(raw: list[dict]) -> list[dict]:
    rows = []
    keys = list(dict.fromkeys((r["design"], r["method"]) for r in raw))
    for design, method in keys:
        rs = [r for r in raw if r["design"] == design and r["method"] == method]
        out = {"design": design, "method": am.label(method), "key": method, "seeds": len(rs)}
        for metric in ("precision", "spearman", "precision_excused", "spearman_excused"):
            vals = [r[metric] for r in rs if metric in r]
            if vals:
                out[metric], out[metric + "_sd"] = mean_sd(vals)
                out[metric + "_se"] = out[metric + "_sd"] / np.sqrt(len(vals))
        out["r2"] = mean_sd([r["r2"] for r in rs])[0]
        costs = [r["us_per_window"] for r in rs if r.get("us_per_window") is not None]
        out["us_per_window"] = float(np.median(costs)) if costs else None
        out["family"], out["short"] = am.family(method), am.short_label(method)
        rows.append(out)
    # random seeds pooled into one baseline row per design
    for design in dict.fromkeys(r["design"] for r in raw):
        rand = [r for r in rows if r["design"] == design and r["key"].startswith("random:")]
        if rand:
            rs = [r for r in raw if r["design"] == design and r["method"].startswith("random:")]
            pooled = {"design": design, "method": f"random ranking ({len(rand)} seeds)", "key": "random", "seeds": len(rs),
                      "r2": rand[0]["r2"], "family": "random", "short": "random"}
            for metric in ("precision", "spearman", "precision_excused", "spearman_excused"):
                vals = [r[metric] for r in rs if metric in r]
                if vals:
                    pooled[metric], pooled[metric + "_sd"] = mean_sd(vals)
            rows = [r for r in rows if not (r["design"] == design and r["key"].startswith("random:"))] + [pooled]
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    from actif.progress import ProgressBar

    methods = args.methods.split(",") + [f"random:{s}" for s in range(args.random_seeds)]
    suite = suite_name(SUITE, args.quick)
    os.makedirs(args.results, exist_ok=True)
    raw_path = os.path.join(args.results, suite + "_units.jsonl")
    settings = {"epochs": args.epochs, "windows": args.windows, "subjects": args.subjects, "methods": methods,
                "cost_windows": args.cost_windows, "cost_repeats": args.cost_repeats}
    done = read_units(raw_path, settings)  # resume: keep finished (design, seed) units of the same settings
    units = [(d, s) for d in DESIGNS for s in range(args.seeds)]
    bar = ProgressBar(len(units), "synthetic designs x seeds", unit="models")
    raw = [r for u in done for r in u["rows"]]
    for k, (design, seed) in enumerate(units):
        if any(u["design"] == design and u["seed"] == seed for u in done):
            continue
        rows = run_design(design, seed, args, methods)
        raw += rows
        append_unit(raw_path, {"settings": settings, "design": design, "seed": seed, "rows": rows})
        bar.update_to(k + 1)
        print(f"{design} seed {seed}: R^2 {rows[0]['r2']:.3f}", flush=True)
    bar.close()
    rows = aggregate(raw)
    summary = []
    for design in DESIGNS:
        rs = [r for r in rows if r["design"] == design]
        if not rs:
            continue
        # feature_signal is judged with its proxies excused: say so wherever its precision is quoted
        key = "precision_excused" if design == "feature_signal" else "precision"
        label = "precision@k (proxies excused)" if design == "feature_signal" else "precision@k"
        best = max(rs, key=lambda r: (r.get(key, -1), r["spearman"]))
        grads = [r for r in rs if r["key"] in am.BASELINES]
        bg = max(grads, key=lambda r: (r.get(key, -1), r["spearman"])) if grads else None
        line = f"{design} (model test R^2 {rs[0]['r2']:.2f}): best {best['method']} ({label} {best.get(key, float('nan')):.2f}, Spearman {best['spearman']:.2f})"
        for name, k in am.NAMED_ACTIF:
            d = next((r for r in rs if r["key"] == k), None)
            if d:
                line += f"; {name} ({d['method']}) {d.get(key, float('nan')):.2f} / {d['spearman']:.2f}"
        if bg:
            line += f"; best gradient baseline {bg['method']} {bg.get(key, float('nan')):.2f} / {bg['spearman']:.2f}"
        summary.append(line + f" (pairs: {label} / Spearman).")
    doc = {
        "title": "Faithfulness on synthetic ground truth: precision@k and rank correlation with the true relevance",
        "columns": [["design", "Design"], ["method", "Method"], ["precision", "Precision@k"], ["precision_sd", "SD"],
                    ["spearman", "Spearman"], ["spearman_sd", "SD"], ["precision_excused", "Precision@k, proxies excused"],
                    ["spearman_excused", "Spearman, proxies excused"], ["r2", "Model test R²"], ["seeds", "Seeds"],
                    ["us_per_window", "µs/window (1 thread)"]],
        "rows": rows,
        "readme_columns": [["design", "Design"], ["method", "Method"], ["precision", "Precision@k"], ["precision_sd", "SD"],
                           ["spearman", "Spearman"], ["precision_excused", "Precision@k, proxies excused"],
                           ["spearman_excused", "Spearman, proxies excused"], ["seeds", "Seeds"], ["us_per_window", "µs/window"]],
        "readme_rows": [r for r in rows if r["key"] in (*am.HEADLINE_ACTIF, "random") or am.on_cost_plot(r["key"])
                        or r["key"] == max((x for x in rows if x["design"] == r["design"] and x["key"].startswith("actif:")),
                                           key=lambda x: (x.get("precision_excused", x["precision"]), x["spearman"]))["key"]],
        "summary": summary,
        "plots": [{"kind": "bars", "file": suite + "_" + d + ".png", "x": "method", "y": "spearman", "where": {"design": d},
                   "xlabel": "Spearman with the true relevance (mean over seeds)", "ylabel": "",
                   "title": f"{d}: Spearman with the true relevance (higher is better)"} for d in DESIGNS]
                 + [am.cost_faithfulness_plot(f"{suite}_{d}_cost.png", [r for r in rows if r["design"] == d and am.on_cost_plot(r["key"])],
                                              y, y + "_se", f"{what} (mean ± SE over seeds)",
                                              f"Synthetic {d}: cost against faithfulness (up and left is better)",
                                              random_level=next((r[y] for r in rows if r["design"] == d and r["key"] == "random"), None))
                    for d, y, what in (("feature_signal", "spearman_excused", "Spearman with the true relevance, proxies excused"),
                                       ("salient_box", "spearman", "Spearman with the true relevance"))
                    if any(r["design"] == d for r in rows)],
        "notes": ["k = number of relevant features (3 for feature_signal, 2 for salient_box). The true relevance is |w_k| "
                  "for the features in the target and 0 for the others. 'Proxies excused' removes the irrelevant near-copies "
                  "of a relevant feature from the ranking before scoring. The true relevance ties every irrelevant feature "
                  "at 0, so a perfect ranking has a Spearman below 1 (0.65 for salient_box: 2 relevant features of 12).",
                  "Gradient methods and actif see the same test windows; IG/DeepLift baselines are the training mean, "
                  "GradientShap/SHAP use 100 training windows as background.",
                  f"Cost: per model, the median of {args.cost_repeats} interleaved timings of each method on "
                  f"{args.cost_windows} test windows; the median over seeds is shown."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

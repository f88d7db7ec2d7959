"""Faithfulness by retraining (the DeepACTIF paper's protocol, done with held-out subjects).

For every held-out subject of a leave-one-subject-out loop over a pool of RobustVision
subjects:

1. train the all-features model on the other subjects of the pool;
2. rank the 37 features with each method, on windows of the *training* subjects only
   (the same random subsample of --rank-windows windows for every method);
3. keep the top 10/20/30/40 % of each ranking, retrain on the training subjects with only
   those features, and score the held-out subject (mean absolute error, cm).

Methods: actif (default trace/aggregation and the variants given by --methods), the
published DeepACTIF variant (hidden unit j read as feature j), Captum
IntegratedGradients/DeepLift/GradientShap, SHAP GradientExplainer, and random rankings
(--random-seeds of them, averaged per subject into one baseline). Every actif variant is
compared with every baseline at every k by a paired Wilcoxon signed-rank test over
subjects, with the matched-pairs rank-biserial correlation as effect size (positive:
actif's features give the lower error).

Cost and resuming: each fold trains 1 + (rankings x fractions) models (identical feature
sets are trained once). Every finished unit (a ranking, a trained model's error) is
appended to <results>/faithfulness_retrain_units.jsonl at once and the suite JSON is
rewritten after every fold, so an interrupted run continues where it stopped when run
again with the same settings (--fresh starts over). The default - a pool of 12 subjects
(P1-P13 without P9, which has no windows), 8 epochs - took 25 minutes with --jobs 2 on
this 2-core machine (about 50 with one job); --subjects all uses all 24 subjects with
windows (twice the folds, each with twice the training data: about four times as long).

    ACTIF_DATA_DIR=/path/to/robustvision python benchmarks/bench_faithfulness_retrain.py --jobs 2
    python benchmarks/bench_faithfulness_retrain.py --quick --results /tmp/r   # CI smoke run (~6 s)

Without the recordings (no --data-dir, no ACTIF_DATA_DIR) it prints a note and exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from faithfulness_metrics import holm, kept_count, paired_wilcoxon  # noqa: E402
from suite_io import (  # noqa: E402
    append_unit,
    bundled_gap_factor,
    mean_sd,
    publish,
    read_units,
    recordings,
    results_dir,
    suite_name,
)

SUITE = "faithfulness_retrain"
POOL = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P10", "P11", "P12", "P13"]
ACTIF_METHODS = ["actif:weighted/inverse", "actif:weighted/mean", "actif:input/inverse", "actif:paper/inverse",
                 "actif:gradient/mean", "actif:integrated/mean", "actif:occlusion/mean"]
BASELINES = ["ig", "deeplift", "gradientshap", "shap", "ixg", "ablation"]
FRACTIONS = [0.1, 0.2, 0.3, 0.4]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_faithfulness_retrain.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    p.add_argument("--subjects", default=",".join(POOL), help="comma-separated pool of subjects, or 'all' (default: P1-P13 without P9)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs per model (default 8; the bundled model used 15)")
    p.add_argument("--hidden", type=int, default=64, help="LSTM width (default 64, as the bundled model)")
    p.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS), help="fractions of features kept (default 0.1,0.2,0.3,0.4)")
    p.add_argument("--methods", default=",".join(ACTIF_METHODS + BASELINES),
                   help="rankings to test (actif:<trace>/<aggregation>, ig, deeplift, gradientshap, shap)")
    p.add_argument("--random-seeds", type=int, default=3, help="random rankings averaged into the random baseline (default 3)")
    p.add_argument("--rank-windows", type=int, default=1000, help="training windows each method ranks on (default 1000)")
    p.add_argument("--jobs", type=int, default=1, help="folds run in parallel processes (default 1)")
    p.add_argument("--fresh", action="store_true", help="ignore finished units of an earlier run")
    p.add_argument("--quick", action="store_true", help="3 subjects, 1 epoch, one fraction, few methods: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.subjects, args.epochs, args.hidden, args.fractions = "P2,P3,P8", 1, 16, "0.2"
        args.methods, args.random_seeds, args.rank_windows = "actif:weighted/inverse,deeplift", 1, 200
    return args


def settings_of(args: argparse.Namespace, subjects: list[str]) -> dict:
    return {"subjects": subjects, "epochs": args.epochs, "hidden": args.hidden, "rank_windows": args.rank_windows,
            "fractions": [float(f) for f in args.fractions.split(",")]}


def settings_key(settings: dict) -> str:
    return hashlib.sha1(json.dumps({k: settings[k] for k in ("subjects", "epochs", "hidden", "rank_windows")},
                                   sort_keys=True).encode()).hexdigest()[:12]


def train_config(settings: dict):
    from actif.lab.training import TrainConfig

    return TrainConfig(hidden=settings["hidden"], epochs=settings["epochs"], input_noise=0.5, seed=0, threads=1)


def run_fold(subject: str, settings: dict, methods: list[str], data_dir: str, units_path: str) -> str:
    """Everything for one held-out subject; each finished unit is appended at once."""
    import torch

    from actif.lab.data import build_dataset
    from actif.lab.training import predict_cm, train_depth_model

    torch.set_num_threads(1)
    key = settings_key(settings)
    done = [u for u in read_units(units_path, key) if u["subject"] == subject]
    rankings = {u["method"]: u["scores"] for u in done if u["kind"] == "ranking"}
    trained = {tuple(u["features"]): u["mae"] for u in done if u["kind"] == "mae"}
    ds = build_dataset(data_dir, settings["subjects"], gap_factor=bundled_gap_factor())  # windowed as the bundled model's data
    names = ds.feature_names
    test, train = ds.subjects == subject, ds.subjects != subject
    cfg = train_config(settings)
    y_test = ds.targets[test].astype(np.float64)

    def fit_and_score(features: tuple[int, ...]):
        cols = list(features)
        spec = train_depth_model(ds.windows[train][:, :, cols], ds.targets[train], [names[c] for c in cols], cfg)
        mae = float(np.mean(np.abs(predict_cm(spec, ds.windows[test][:, :, cols]) - y_test)))
        return spec, mae

    all_features = tuple(range(len(names)))
    missing = [m for m in methods if m not in rankings]
    if all_features not in trained or missing:
        spec, mae = fit_and_score(all_features)
        if all_features not in trained:
            trained[all_features] = mae
            mean_mae = float(np.mean(np.abs(ds.targets[train].mean() - y_test)))
            append_unit(units_path, {"settings": key, "subject": subject, "kind": "mae", "method": "all features",
                                     "fraction": 1.0, "features": list(all_features), "mae": mae,
                                     "mae_training_mean": mean_mae, "windows": int(test.sum())})
        rng = np.random.default_rng(0)
        Xtr = ds.windows[train]
        Xr = Xtr[rng.choice(len(Xtr), size=min(settings["rank_windows"], len(Xtr)), replace=False)]
        for m in missing:
            t0 = time.perf_counter()
            scores = am.method_scores([m], spec, Xr, am.background_windows(Xtr, seed=1), seed=0)[m]
            rankings[m] = [float(v) for v in scores]
            append_unit(units_path, {"settings": key, "subject": subject, "kind": "ranking", "method": m,
                                     "scores": rankings[m], "seconds": time.perf_counter() - t0})
    have = {(u["method"], u["fraction"]) for u in done if u["kind"] == "mae"}
    for m in methods:
        order = am.ranking(np.asarray(rankings[m]))
        for fraction in settings["fractions"]:
            if (m, fraction) in have:
                continue
            features = tuple(sorted(int(i) for i in order[: kept_count(len(names), fraction)]))
            if features not in trained:
                trained[features] = fit_and_score(features)[1]
            append_unit(units_path, {"settings": key, "subject": subject, "kind": "mae", "method": m, "fraction": fraction,
                                     "features": list(features), "mae": trained[features], "windows": int(test.sum())})
    return subject


# -------------------------------------------------------------------- reporting


def random_methods(n: int) -> list[str]:
    return [f"random:{s}" for s in range(n)]


def summarise(units: list[dict], settings: dict, methods: list[str], n_random: int, names_count: int = 37) -> dict:
    mae = {}
    for u in units:
        if u["kind"] == "mae":
            mae[(u["method"], u["fraction"], u["subject"])] = u["mae"]
    subjects_done = sorted({s for (m, f, s) in mae if m == "all features"}, key=lambda s: int(s[1:]) if s[1:].isdigit() else s)
    rand = random_methods(n_random)
    # the random baseline: per subject, the mean over random seeds
    for f in settings["fractions"]:
        for s in subjects_done:
            vals = [mae.get((r, f, s)) for r in rand]
            if vals and all(v is not None for v in vals):
                mae[("random", f, s)] = float(np.mean(vals))
    shown = [m for m in methods if not m.startswith("random:")] + ["random"]
    rows = []
    complete = [s for s in subjects_done if all((m, f, s) in mae for m in shown for f in settings["fractions"])]
    for m in shown + ["all features"]:
        fracs = [1.0] if m == "all features" else settings["fractions"]
        for f in fracs:
            vals = [mae[(m, f, s)] for s in complete]
            mu, sd = mean_sd(vals)
            rows.append({"method": am.label(m) if m != "random" else f"random ranking (mean of {n_random} seeds)",
                         "key": m, "fraction": f, "features": kept_count(names_count, f) if f < 1 else names_count,
                         "mae_mean": mu, "mae_sd": sd, "subjects": len(vals)})
    tests = []
    actif_methods = [m for m in shown if m.startswith("actif:")]
    baselines = [m for m in shown if not m.startswith("actif:")]
    for a in actif_methods:
        for b in baselines:
            for f in settings["fractions"]:
                if len(complete) < 2:
                    continue
                res = paired_wilcoxon([mae[(b, f, s)] for s in complete], [mae[(a, f, s)] for s in complete])
                tests.append({"actif": a, "baseline": am.label(b) if b != "random" else "random ranking", "fraction": f,
                              "n": res["n"], "median_gain_cm": res["median_difference"], "p": res["p"],
                              "rank_biserial": res["rank_biserial"]})
    for a in actif_methods:  # each actif variant's comparisons are one family
        family = [t for t in tests if t["actif"] == a]
        for t, adjusted in zip(family, holm([t["p"] for t in family])):
            t["p_holm"] = adjusted
    return {"rows": rows, "tests": tests, "subjects": complete}


def pivot(rows: list[dict], fractions: list[float]) -> list[dict]:
    """One line per ranking: its mean MAE at each fraction (the README's compact view)."""
    out: dict[str, dict] = {}
    for r in rows:
        line = out.setdefault(r["key"], {"method": r["method"]})
        line["all" if r["key"] == "all features" else f"k{r['fraction']:g}"] = r["mae_mean"]
    return list(out.values())


def write(args, settings, methods, units) -> dict:
    s = summarise(units, settings, methods, args.random_seeds)
    rows, tests = s["rows"], s["tests"]
    summary = []
    allf = next((r for r in rows if r["key"] == "all features"), None)
    if s["subjects"]:
        summary.append(f"{len(s['subjects'])} held-out subjects ({', '.join(s['subjects'])}), {settings['epochs']} epochs per model; "
                       f"all 37 features: MAE {allf['mae_mean']:.1f} ± {allf['mae_sd']:.1f} cm.")
        for f in settings["fractions"]:
            at_f = sorted((r for r in rows if r["fraction"] == f and r["key"] != "all features"), key=lambda r: r["mae_mean"])
            best = at_f[0]
            line = f"Top {f:.0%} ({best['features']} features): best {best['method']} {best['mae_mean']:.1f} cm"
            for name, k in am.NAMED_ACTIF:
                d = next((r for r in at_f if r["key"] == k), None)
                if d:
                    line += f"; {name} ({d['method']}) {d['mae_mean']:.1f} cm (rank {at_f.index(d) + 1} of {len(at_f)})"
            summary.append(line + ".")
        rand = {r["fraction"]: r["mae_mean"] for r in rows if r["key"] == "random"}
        beats_all = sum(v < allf["mae_mean"] for v in rand.values())
        per_method: dict[str, int] = {}
        for r in rows:
            if r["key"] not in ("random", "all features"):
                per_method[r["key"]] = per_method.get(r["key"], 0) + int(r["mae_mean"] < rand.get(r["fraction"], np.inf))
        summary.append(f"Random rankings beat the all-features model at {beats_all} of {len(rand)} fractions; rankings that beat "
                       f"random (fractions out of {len(rand)}): " + ", ".join(f"{am.label(k)} {v}" for k, v in per_method.items()) + ".")
        for name, k in am.NAMED_ACTIF:
            family = [t for t in tests if t["actif"] == k]
            if not family:
                continue
            sig = [t for t in family if t["p"] is not None and t["p"] < 0.05]
            listed = ", ".join("{} @ {:.0%}: actif {}".format(t["baseline"], t["fraction"], "better" if t["rank_biserial"] > 0 else "worse")
                               for t in sig) or "none"
            holm_sig = sum(t.get("p_holm") is not None and t["p_holm"] < 0.05 for t in family)
            summary.append(f"{name} ({am.label(k)}) vs baselines, paired Wilcoxon over subjects: {len(sig)} of {len(family)} "
                           f"comparisons significant at p < 0.05 ({listed}); {holm_sig} after Holm's correction.")
    doc = {
        "title": "Faithfulness by retraining on RobustVision (keep the top k% of features, leave-one-subject-out)",
        "settings": settings,
        "columns": [["method", "Ranking"], ["fraction", "Kept"], ["features", "Features"], ["mae_mean", "MAE (cm), mean over subjects"],
                    ["mae_sd", "SD"], ["subjects", "Subjects"]],
        "rows": rows,
        "readme_columns": [["method", "Ranking"]] + [[f"k{f:g}", f"top {f:.0%}"] for f in settings["fractions"]] + [["all", "all 37"]],
        "readme_rows": pivot(rows, settings["fractions"]),
        "tables": [{"title": "Paired Wilcoxon signed-rank tests over subjects (gain = baseline MAE - actif MAE; "
                             "rank-biserial > 0: actif's features give lower error)",
                    "columns": [["actif", "actif variant"], ["baseline", "Baseline"], ["fraction", "Kept"], ["n", "Subjects"],
                                ["median_gain_cm", "Median gain (cm)"], ["p", "p"], ["p_holm", "p (Holm)"], ["rank_biserial", "Rank-biserial r"]],
                    "rows": tests}],
        "summary": summary,
        "plots": [{"kind": "lines", "file": suite_name(SUITE, args.quick) + ".png", "x": "fraction", "y": "mae_mean", "series": "method",
                   "rows": [r for r in rows if r["key"] != "all features"],
                   "hlines": [{"y": allf["mae_mean"], "label": "all 37 features"}] if allf and allf["subjects"] else [],
                   "xlabel": "fraction of features kept", "ylabel": "held-out MAE (cm), mean over subjects",
                   "title": "Retrained on the top-k features of each ranking (lower is better)"}],
        "notes": [f"Pool: {', '.join(settings['subjects'])}; each fold trains on the others of the pool "
                  f"(hidden {settings['hidden']}, {settings['epochs']} epochs, input noise 0.5, seed 0) and tests on one. "
                  f"Rankings are computed with that fold's all-features model on {settings['rank_windows']} windows of its "
                  "training subjects. The all-features row is the model every ranking was computed from.",
                  "With about a dozen subjects the exact Wilcoxon test cannot reach small p-values: read the effect sizes."],
    }
    return {"path": publish(args.results, SUITE, doc, quick=args.quick, echo=False), "summary": summary}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from actif.lab.data import list_subjects

    directory = recordings(args.data_dir)
    if directory is None:
        return 0
    subjects = [s for s in list_subjects(directory) if s != "P9"] if args.subjects == "all" else args.subjects.split(",")
    settings = settings_of(args, subjects)
    methods = args.methods.split(",") + random_methods(args.random_seeds)
    os.makedirs(args.results, exist_ok=True)
    units_path = os.path.join(args.results, suite_name(SUITE, args.quick) + "_units.jsonl")
    if args.fresh and os.path.exists(units_path):
        os.remove(units_path)
    from actif.progress import ProgressBar

    bar = ProgressBar(len(subjects), "retraining folds", unit="folds")
    done = 0
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_fold, s, settings, methods, directory, units_path) for s in subjects]
            for fut in as_completed(futures):
                subject = fut.result()
                done += 1
                bar.update_to(done)
                write(args, settings, methods, read_units(units_path, settings_key(settings)))
                print(f"fold {subject} done ({done}/{len(subjects)}, {time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        for s in subjects:
            run_fold(s, settings, methods, directory, units_path)
            done += 1
            bar.update_to(done)
            write(args, settings, methods, read_units(units_path, settings_key(settings)))
            print(f"fold {s} done ({done}/{len(subjects)}, {time.perf_counter() - t0:.0f} s)", flush=True)
    bar.close()
    out = write(args, settings, methods, read_units(units_path, settings_key(settings)))
    print("\n".join(out["summary"]))
    print(f"wrote {out['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

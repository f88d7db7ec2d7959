"""Deletion and insertion curves: faithfulness without retraining, on every RobustVision subject.

For each subject, every method ranks the 37 features from the bundled model's behaviour on
(up to --windows of) that subject's windows. Then, on all of that subject's windows:

- deletion: replace the top-ranked features, most important first, with their training
  mean (at every time step) and record the model's mean absolute error (cm) after each
  step, from 0 to all 37 features replaced. A faithful ranking makes the error climb
  fast: a LARGER area under the curve is better.
- insertion: start from every feature at its training mean and restore features, most
  important first: a faithful ranking makes the error fall fast: a SMALLER area is better.

Areas are trapezoids over the fraction of features replaced (0..1), in cm. The single
figure of merit per subject is deletion AUC - insertion AUC (larger is better). Subjects
the bundled model was trained on and its held-out subjects (P3, P8, P13, P18, P23) are
reported separately. actif's default and published variants are compared with each
baseline by a paired Wilcoxon signed-rank test over all subjects, and so is the actif
variant with the largest mean gap. Each finished subject is appended to
<results>/deletion_insertion_units.jsonl, so an interrupted run resumes. Methods: every
actif trace x aggregation (forward-only traces and the targeted attribution methods,
actif.METHODS, of the model's output), Captum IntegratedGradients, DeepLift,
GradientShap, InputXGradient, FeatureAblation and SHAP GradientExplainer. Each method's
cost (µs per window on one thread, --cost-windows training windows, median of
interleaved repetitions) is measured in the same run for the cost-faithfulness plot.

    ACTIF_DATA_DIR=/path/to/robustvision python benchmarks/bench_deletion_insertion.py   # ~8 min
    python benchmarks/bench_deletion_insertion.py --quick --results /tmp/r               # CI smoke run (~6 s)

Without the recordings it prints a note and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from faithfulness_metrics import ONE_SE_TIERS, curve_auc, holm, one_se_tiers, paired_wilcoxon  # noqa: E402
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

SUITE = "deletion_insertion"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_deletion_insertion.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    p.add_argument("--subjects", default="all", help="comma-separated subjects or 'all' (default)")
    p.add_argument("--windows", type=int, default=300, help="windows per subject each method ranks on (default 300)")
    p.add_argument("--curve-windows", type=int, default=None,
                   help="windows per subject the curves are measured on (default: all of the subject's windows)")
    p.add_argument("--methods", default=",".join(am.ACTIF_VARIANTS + list(am.BASELINES)),
                   help="methods (default: every actif variant and every gradient baseline)")
    p.add_argument("--random-seeds", type=int, default=3, help="random rankings (default 3)")
    p.add_argument("--cost-windows", type=int, default=256, help="windows each method is timed on (default 256)")
    p.add_argument("--cost-repeats", type=int, default=3, help="interleaved timing repetitions (default 3)")
    p.add_argument("--quick", action="store_true", help="2 subjects, 40 windows, few methods: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.subjects, args.windows, args.random_seeds, args.cost_windows, args.cost_repeats = "P1,P3", 40, 1, 16, 1
        quick = ["actif:weighted/inverse", "actif:paper/inverse", *(f"actif:{t}/mean" for t in am.TARGETED_TRACES)]
        args.methods = ",".join([*quick, "ig", "deeplift", "ablation"])
    return args


def curves(model, X: np.ndarray, y: np.ndarray, order: np.ndarray, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(deletion MAE, insertion MAE) after replacing / restoring 0..I features of ``order``."""
    n_in = X.shape[-1]
    deleted, inserted = X.copy(), np.broadcast_to(fill, X.shape).astype(np.float32).copy()
    dele, ins = np.empty(n_in + 1), np.empty(n_in + 1)
    for j in range(n_in + 1):
        if j:
            f = order[j - 1]
            deleted[:, :, f] = fill[f]
            inserted[:, :, f] = X[:, :, f]
        dele[j] = np.mean(np.abs(model.predict(deleted)[:, 0] - y))
        ins[j] = np.mean(np.abs(model.predict(inserted)[:, 0] - y))
    return dele, ins


def named_ranks(ordered: list[dict]) -> str:
    """'; actif default (...) 17.7 cm, rank 3 of 25; DeepACTIF score ...' for rows sorted best first."""
    out = ""
    for name, key in am.NAMED_ACTIF:
        r = next((x for x in ordered if x["key"] == key), None)
        if r:
            out += f"; {name} ({r['method']}) {r['gap']:.1f} cm, rank {ordered.index(r) + 1} of {len(ordered)}"
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    import actif
    from actif.bundled import bundled_model_path
    from actif.lab.data import build_dataset
    from actif.model import load_spec
    from actif.progress import ProgressBar

    directory = recordings(args.data_dir)
    if directory is None:
        return 0
    spec = load_spec(bundled_model_path())
    held_out = set(spec.metadata["data"]["held_out_subjects"])
    ds = build_dataset(directory, None if args.subjects == "all" else args.subjects.split(","), gap_factor=bundled_gap_factor(spec))
    subjects = list(dict.fromkeys(ds.subjects.tolist()))
    methods = args.methods.split(",") + [f"random:{s}" for s in range(args.random_seeds)]
    model = actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", max_abs=None)
    fill = am.training_mean(spec)
    n_in = spec.input_size
    fractions = np.arange(n_in + 1) / n_in
    train_windows = ds.windows[~np.isin(ds.subjects, list(held_out))]
    background = am.background_windows(train_windows if len(train_windows) else ds.windows, seed=1)
    # resumable: each finished subject is appended to <suite>_units.jsonl (its rows and curves)
    units_path = os.path.join(args.results, suite_name(SUITE, args.quick) + "_units.jsonl")
    settings = {"windows": args.windows, "methods": methods, "curve_windows": args.curve_windows}
    done = {unit["subject"]: unit for unit in read_units(units_path, settings)}
    os.makedirs(args.results, exist_ok=True)
    per = []  # one row per (subject, method)
    mean_curves: dict[str, np.ndarray] = {}
    bar = ProgressBar(len(subjects), "deletion/insertion per subject", unit="subjects")
    for k, subject in enumerate(subjects):
        if subject not in done:
            mask = ds.subjects == subject
            X, y = ds.windows[mask], ds.targets[mask].astype(np.float64)
            Xr = X[np.random.default_rng(0).permutation(len(X))[: args.windows]]
            if args.curve_windows is not None and len(X) > args.curve_windows:  # a random subset, the same for every method
                keep = np.sort(np.random.default_rng(1).permutation(len(X))[: args.curve_windows])
                X, y = X[keep], y[keep]
            scores = am.method_scores(methods, spec, Xr, background, seed=0)
            unit = {"settings": settings, "subject": subject, "rows": [], "curves": {}}
            for m in methods:
                dele, ins = curves(model, X, y, am.ranking(scores[m]), fill)
                row = {"subject": subject, "group": "held-out" if subject in held_out else "training", "method": m,
                       "deletion_auc": curve_auc(fractions, dele), "insertion_auc": curve_auc(fractions, ins),
                       "windows": len(X)}
                row["gap"] = row["deletion_auc"] - row["insertion_auc"]
                unit["rows"].append(row)
                unit["curves"][m] = [dele.tolist(), ins.tolist()]
            append_unit(units_path, unit)
            done[subject] = unit
        per += done[subject]["rows"]
        for m, c in done[subject]["curves"].items():
            mean_curves[m] = mean_curves.get(m, 0.0) + np.asarray(c) / len(subjects)
        bar.update_to(k + 1)
    bar.close()

    def method_key(m: str) -> str:
        return "random" if m.startswith("random:") else m

    cost = am.time_methods(methods, spec, (train_windows if len(train_windows) else ds.windows)[: args.cost_windows], background,
                           repeats=args.cost_repeats)

    keys = list(dict.fromkeys(method_key(m) for m in methods))
    rows = []
    for group in ("all", "training", "held-out"):
        for key in keys:
            rs = [r for r in per if method_key(r["method"]) == key and (group == "all" or r["group"] == group)]
            if not rs:
                continue
            by_subject: dict[str, list[dict]] = {}
            for r in rs:
                by_subject.setdefault(r["subject"], []).append(r)
            vals = {metric: [float(np.mean([r[metric] for r in v])) for v in by_subject.values()]
                    for metric in ("deletion_auc", "insertion_auc", "gap")}
            rows.append({"group": group, "key": key, "method": am.label(key) if key != "random" else f"random ranking ({args.random_seeds} seeds)",
                         "subjects": len(by_subject), "deletion_auc": mean_sd(vals["deletion_auc"])[0],
                         "insertion_auc": mean_sd(vals["insertion_auc"])[0], "gap": mean_sd(vals["gap"])[0],
                         "gap_sd": mean_sd(vals["gap"])[1], "gap_se": mean_sd(vals["gap"])[1] / np.sqrt(len(by_subject)),
                         "us_per_window": cost.get(key), "family": am.family(key), "short": am.short_label(key)})

    def gap_by_subject(key: str) -> dict[str, float]:
        out: dict[str, list[float]] = {}
        for r in per:
            if method_key(r["method"]) == key:
                out.setdefault(r["subject"], []).append(r["gap"])
        return {s: float(np.mean(v)) for s, v in out.items()}

    # honest ranking: the one-SE rule over subjects (all subjects)
    tiers = one_se_tiers({k: [gap_by_subject(k)[s] for s in subjects] for k in keys})
    for r in rows:
        if r["group"] == "all":
            r.update(tiers[r["key"]])
    tests = []
    best_actif = max((r for r in rows if r["group"] == "all" and r["key"].startswith("actif:")), key=lambda r: r["gap"], default=None)
    families = list(dict.fromkeys([*am.HEADLINE_ACTIF] + ([best_actif["key"]] if best_actif else [])))
    for a in families:
        if a not in keys:
            continue
        ga = gap_by_subject(a)
        for b in keys:
            if b.startswith("actif:"):
                continue
            gb = gap_by_subject(b)
            common = [s for s in subjects if s in ga and s in gb]
            res = paired_wilcoxon([ga[s] for s in common], [gb[s] for s in common])
            tests.append({"actif": a, "baseline": am.label(b) if b != "random" else "random ranking", "n": res["n"],
                          "median_gain": res["median_difference"], "p": res["p"], "rank_biserial": res["rank_biserial"]})
    for a in families:  # each actif variant's comparisons are one family
        family = [t for t in tests if t["actif"] == a]
        for t, adjusted in zip(family, holm([t["p"] for t in family])):
            t["p_holm"] = adjusted
    # which trace x aggregation: every actif variant against the default, on the same subjects
    variants = []
    if am.DEFAULT_ACTIF in keys:
        gd = gap_by_subject(am.DEFAULT_ACTIF)
        for v in keys:
            if v.startswith("actif:") and v != am.DEFAULT_ACTIF:
                gv = gap_by_subject(v)
                common = [s for s in subjects if s in gv and s in gd]
                res = paired_wilcoxon([gv[s] for s in common], [gd[s] for s in common])
                variants.append({"variant": v, "gap": float(np.mean([gv[s] for s in common])), "n": res["n"],
                                 "median_gain": res["median_difference"], "p": res["p"], "rank_biserial": res["rank_biserial"]})
        for t, adjusted in zip(variants, holm([t["p"] for t in variants])):
            t["p_holm"] = adjusted
        variants.sort(key=lambda t: -t["gap"])
    curve_rows = [{"method": am.label(m), "fraction": float(f), "mae": float(mean_curves[m][0, j])}
                  for m in methods if m in (*families, *am.BASELINES, "random:0")
                  for j, f in enumerate(fractions)]
    all_rows = sorted((r for r in rows if r["group"] == "all"), key=lambda r: -r["gap"])
    summary = []
    if all_rows:
        summary.append(f"{len(subjects)} subjects, bundled model: best deletion-insertion gap {all_rows[0]['method']} "
                       f"({all_rows[0]['gap']:.1f} cm){named_ranks(all_rows)}.")
        if best_actif:
            summary.append(f"Best actif variant: {best_actif['method']} ({best_actif['gap']:.1f} cm, rank {all_rows.index(best_actif) + 1}).")
        tied = [r["method"] for r in all_rows if r.get("tier") == ONE_SE_TIERS[1]]
        summary.append(f"Within one standard error of the best (SE over subjects): {', '.join(tied) or 'none'}.")
        grads = [r for r in all_rows if r["key"] in am.BASELINES]
        if grads:
            summary.append("Gradient baselines: " + ", ".join(f"{r['method']} {r['gap']:.1f}" for r in grads) +
                           f" cm; random {next(r['gap'] for r in all_rows if r['key'] == 'random'):.1f} cm.")
        ho = sorted((r for r in rows if r["group"] == "held-out"), key=lambda r: -r["gap"])
        if ho:
            summary.append(f"Held-out subjects only: best {ho[0]['method']} ({ho[0]['gap']:.1f} cm){named_ranks(ho)}.")
    doc = {
        "title": "Deletion and insertion curves on RobustVision (bundled model, features replaced by their training mean)",
        "columns": [["group", "Subjects"], ["method", "Method"], ["subjects", "n"], ["deletion_auc", "Deletion AUC (cm, higher better)"],
                    ["insertion_auc", "Insertion AUC (cm, lower better)"], ["gap", "Deletion - insertion (cm)"], ["gap_sd", "SD over subjects"],
                    ["gap_se", "SE"], ["tier", "Within 1 SE of the best? (all subjects)"], ["us_per_window", "µs/window (1 thread)"]],
        "readme_columns": [["method", "Method"], ["subjects", "n"], ["deletion_auc", "Deletion AUC (cm, higher better)"],
                           ["insertion_auc", "Insertion AUC (cm, lower better)"], ["gap", "Deletion - insertion (cm)"], ["gap_se", "SE"],
                           ["tier", "Within 1 SE of the best?"], ["us_per_window", "µs/window"]],
        "rows": rows,
        "readme_rows": [r for r in all_rows if r["key"] in (*am.HEADLINE_ACTIF, "random") or am.on_cost_plot(r["key"])
                        or r is all_rows[0] or r is best_actif],
        "tables": [{"title": "Paired Wilcoxon signed-rank tests over subjects on the deletion-insertion gap (gain = actif - baseline, cm; r > 0 favours actif)",
                    "columns": [["actif", "actif variant"], ["baseline", "Baseline"], ["n", "Subjects"], ["median_gain", "Median gain (cm)"],
                                ["p", "p"], ["p_holm", "p (Holm)"], ["rank_biserial", "Rank-biserial r"]], "rows": tests},
                   {"title": f"Each actif trace x aggregation against the default ({am.DEFAULT_ACTIF.split(':')[1]}): paired Wilcoxon on the "
                             "deletion-insertion gap over all subjects (gain = variant - default, cm; r > 0 favours the variant)",
                    "columns": [["variant", "actif variant"], ["gap", "Mean gap (cm)"], ["n", "Subjects"], ["median_gain", "Median gain (cm)"],
                                ["p", "p"], ["p_holm", "p (Holm)"], ["rank_biserial", "Rank-biserial r"]], "rows": variants}],
        "summary": summary,
        "plots": [{"kind": "lines", "file": suite_name(SUITE, args.quick) + ".png", "x": "fraction", "y": "mae",
                   "series": "method", "rows": curve_rows, "xlabel": "fraction of features replaced by their training mean (most important first)",
                   "ylabel": "MAE (cm), mean over subjects", "title": "Deletion curves (steeper rise = more faithful ranking)"},
                  am.cost_faithfulness_plot(suite_name(SUITE, args.quick) + "_cost.png", [r for r in all_rows if am.on_cost_plot(r["key"])],
                                            "gap", "gap_se", "deletion - insertion AUC (cm; mean ± SE over subjects)",
                                            "RobustVision deletion/insertion: cost against faithfulness (up and left is better)",
                                            random_level=next((r["gap"] for r in all_rows if r["key"] == "random"), None))],
        "notes": [f"Each method ranks on up to {args.windows} windows of the subject; the curves use "
                  + ("all of the subject's windows. " if args.curve_windows is None else
                     f"a random {args.curve_windows} of the subject's windows (all when it has fewer). ")
                  + "Per-subject areas and curves: deletion_insertion_units.jsonl.",
                  "The bundled model was trained on the 'training' subjects, so their rows describe it on seen data."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

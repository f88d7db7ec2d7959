"""Compare the gaze simulator's feature distributions with the RobustVision recordings.

Computes every gaze feature (actif.lab.data.FEATURES) and the depth target on all real
samples and on simulated cohorts (one per paradigm), then writes

- ``<results>/synthetic_vs_real.json`` through actif.lab.report.write_suite: per-feature mean,
  std and 5/50/95 % quantiles, the two-sample Kolmogorov-Smirnov distance, which features
  match (the gaze features counted apart from the target), and the binned histograms of
  key features;
- ``synthetic_vs_real.md`` and ``synthetic_vs_real.png`` rendered from it (``actif report``
  redraws both from the JSON).

Without the recordings (no --data-dir and no ACTIF_DATA_DIR) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from actif.lab.data import (
    FEATURE_NAMES,
    compute_features,
    data_dir,
    load_subjects,
    simulate_subjects,
)
from actif.lab.data.synthetic import PARADIGMS
from actif.lab.report import write_suite

HERE = os.path.dirname(os.path.abspath(__file__))
HISTOGRAM_FEATURES = (
    "horizontal_vergence_deg", "vergence_diopters", "vertical_vergence_deg", "cyclopean_yaw_deg",
    "cyclopean_pitch_deg", "gaze_speed_deg_s", "vergence_velocity_deg_s", "gt_depth_cm",
)
TARGET = "gt_depth_cm"  # compared too, but the model's target, not one of the gaze features
# Kolmogorov-Smirnov distance bands used for the verdict column.
KS_MATCH, KS_PARTLY = 0.15, 0.35


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python benchmarks/compare_synthetic.py",
        description="Compare the feature distributions of simulated gaze sessions with the "
        "RobustVision recordings; write a Markdown table, JSON and overlaid histograms.",
        epilog="The recordings are read from --data-dir or $ACTIF_DATA_DIR (the folder with "
        "P1/ .. P25/); without them the script prints a note and exits 0.",
    )
    p.add_argument("--data-dir", help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    p.add_argument("--subjects", type=int, default=100, help="simulated subjects per paradigm (default 100)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per simulated session (default 20)")
    p.add_argument("--paradigm", choices=(*PARADIGMS, "all"), default="all",
                   help="simulated paradigm(s) to compare (default all)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument("--results", "--out-dir", dest="out_dir", default=os.path.join(HERE, "results"),
                   help="where to write synthetic_vs_real.{json,md,png} (default benchmarks/results)")
    return p.parse_args(argv)


def pooled_features(records) -> dict[str, np.ndarray]:
    """Every feature over all samples of ``records``, plus the ground-truth depth."""
    parts = [compute_features(r)[0].astype(np.float64) for r in records]
    F = np.concatenate(parts)
    out = {name: F[:, k] for k, name in enumerate(FEATURE_NAMES)}
    out[TARGET] = np.concatenate([r.gt_depth_cm for r in records])
    return out


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the ECDFs."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def summary(x: np.ndarray) -> dict[str, float]:
    q05, q50, q95 = np.percentile(x, [5, 50, 95])
    return {"mean": float(x.mean()), "std": float(x.std()), "q05": float(q05), "q50": float(q50), "q95": float(q95)}


def verdict(ks: float) -> str:
    return "matches" if ks < KS_MATCH else "partly" if ks < KS_PARTLY else "differs"


def fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def describe(s: dict[str, float]) -> str:
    return f"{fmt(s['mean'])} ± {fmt(s['std'])} [{fmt(s['q05'])}, {fmt(s['q50'])}, {fmt(s['q95'])}]"


def histogram_panels(real, sims, paradigms) -> list[dict]:
    """Binned densities of key features (central 98 % of the pooled values), stored in the
    results so `actif report` can redraw the figure."""
    panels = []
    for name in HISTOGRAM_FEATURES:
        pooled = np.concatenate([real[name], *(sims[p][name] for p in paradigms)])
        lo, hi = np.percentile(pooled, [1, 99])
        edges = np.linspace(lo, hi, 51)
        series = {"real": np.histogram(real[name], bins=edges, density=True)[0].round(6).tolist()}
        for p in paradigms:
            series[f"sim {p}"] = np.histogram(sims[p][name], bins=edges, density=True)[0].round(6).tolist()
        panels.append({"title": name, "edges": edges.round(6).tolist(), "series": series})
    return panels


def suite_document(results, paradigms, meta, panels) -> dict:
    """The write_suite document: one row per feature, summary by verdict, the histograms."""
    rows = []
    for name, r in results.items():
        best = min(paradigms, key=lambda p: r["ks"][p])
        row = {"feature": f"`{name}`" + (" (target)" if name == TARGET else ""), "real": describe(r["real"]), "verdict": verdict(r["ks"][best]), "best": best}
        for p in paradigms:
            row[f"sim_{p}"] = describe(r[p])
            row[f"ks_{p}"] = round(r["ks"][p], 2)
        rows.append(row)
    columns = [["feature", "Feature"], ["real", "Real"]]
    for p in paradigms:
        columns += [[f"sim_{p}", f"Sim {p}"], [f"ks_{p}", f"KS {p}"]]
    columns.append(["verdict", "Verdict"])
    # the gaze features are counted apart from the depth target
    features = [n for n in results if n != TARGET]
    groups = {label: [n for n in features if verdict(min(results[n]["ks"].values())) == label]
              for label in ("matches", "partly", "differs")}
    summary = [f"Of {len(features)} gaze features (best paradigm each): {len(groups['matches'])} match the recordings "
               f"(KS < {KS_MATCH}), {len(groups['partly'])} partly (KS < {KS_PARTLY}), {len(groups['differs'])} differ."]
    if TARGET in results:
        ks_target = min(results[TARGET]["ks"].values())
        summary.append(f"The depth target `{TARGET}`, compared apart from the features: {verdict(ks_target)} (KS {ks_target:.2f}).")
    verbs = {"matches": "match", "partly": "partly match", "differs": "differ"}
    by_verdict = [f"Gaze features that {verbs[label]} ({len(names)}): " + (", ".join(f"`{n}`" for n in names) or "none")
                  for label, names in groups.items()]
    differ = []
    for name, r in results.items():
        best = min(paradigms, key=lambda p: r["ks"][p])
        if r["ks"][best] < KS_MATCH:
            continue
        real_sd = r["real"]["std"] or 1.0
        differ.append({"feature": f"`{name}`", "paradigm": best, "ks": round(r["ks"][best], 2),
                       "median_shift_sd": (r[best]["q50"] - r["real"]["q50"]) / real_sd, "spread_ratio": r[best]["std"] / real_sd})
    sim_counts = ", ".join(f"{p}: {meta['sim_samples'][p]} samples" for p in paradigms)
    return {
        "title": "Simulated vs. real gaze features",
        "columns": columns,
        "rows": rows,
        "summary": summary,
        "tables": [{"title": "How the features that do not match differ (best paradigm; shift in real standard deviations)",
                    "columns": [["feature", "Feature"], ["paradigm", "Paradigm"], ["ks", "KS"],
                                ["median_shift_sd", "Median shift (SD)"], ["spread_ratio", "Spread ratio"]],
                    "rows": differ}],
        "plots": [{"kind": "histograms", "file": "synthetic_vs_real.png", "panels": panels, "x": "", "y": "",
                   "title": "RobustVision (real) vs. simulated gaze features (central 98 % of values)"}],
        "notes": [f"Real: RobustVision, {meta['real_subjects']} subjects, {meta['real_samples']} samples after cleaning "
                  "(B. W. Hosp, FOVAL, 2024; CC BY 4.0). "
                  f"Simulated: {meta['sim_subjects']} subjects x {meta['duration_s']:g} s per paradigm, seed {meta['seed']} "
                  f"({sim_counts}); took {meta['seconds']:.1f} s.",
                  "Cells: mean ± std [5 %, 50 %, 95 % quantiles]. KS: two-sample Kolmogorov-Smirnov distance "
                  f"(0 = same distribution, 1 = disjoint); verdict: matches < {KS_MATCH}, partly < {KS_PARTLY}, "
                  "else differs. The real sessions follow a target moving in depth (pursuit); "
                  "the fixations paradigm is the simulator's default.", *by_verdict],
        "meta": meta,
        "features": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    directory = data_dir(args.data_dir)
    if directory is None:
        print("skipped: no RobustVision data (set ACTIF_DATA_DIR or pass --data-dir)")
        return 0
    start = time.perf_counter()
    paradigms = list(PARADIGMS) if args.paradigm == "all" else [args.paradigm]
    real_records = load_subjects(directory)
    real = pooled_features(real_records)
    sims = {
        p: pooled_features(simulate_subjects(args.subjects, seed=args.seed, duration_s=args.duration, paradigm=p))
        for p in paradigms
    }
    results = {}
    for name in real:
        entry = {"real": summary(real[name]), "ks": {}}
        for p in paradigms:
            entry[p] = summary(sims[p][name])
            entry["ks"][p] = ks_distance(real[name], sims[p][name])
        results[name] = entry
    meta = {
        "real_subjects": len(real_records),
        "real_samples": int(real[TARGET].size),
        "sim_subjects": args.subjects,
        "sim_samples": {p: int(sims[p][TARGET].size) for p in paradigms},
        "duration_s": args.duration,
        "seed": args.seed,
    }
    meta["seconds"] = time.perf_counter() - start
    path = write_suite(args.out_dir, "synthetic_vs_real", suite_document(results, paradigms, meta, histogram_panels(real, sims, paradigms)))
    print(f"wrote {path} (+ .md, .png) in {meta['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

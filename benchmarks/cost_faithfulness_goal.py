"""The cost-faithfulness goal of the faithful-attribution work, checked on the stored results.

The goal: for every Captum and SHAP method we measure, actif offers a mode that is at
least as faithful (within one standard error) and at least 10x cheaper per window. This
script reads the faithfulness suites already in ``--results`` (it measures nothing
itself) and, for each task and each baseline, finds the cheapest actif mode (any trace,
any score) whose faithfulness is at least the baseline's minus the baseline's standard
error, and how many times cheaper per window that mode is than the baseline:

- RobustVision deletion/insertion (``deletion_insertion``: insertion minus deletion gap, cm);
- BasicMotions per-class deletion/insertion (``faithfulness_basic_motions``: gap, logits);
- synthetic ground truth (``faithfulness_synthetic``: Spearman correlation with the true
  importances, one row per design).

Costs are the µs per window each suite measured in the same run, on the same windows and
batches, one thread. For the four Captum methods that ``attribution_cost`` also times one
window at a time on the bundled model (InputXGradient, DeepLift, IntegratedGradients,
FeatureAblation), the batch-1 ratio of the same pair is shown beside it: the edge case of
one window per frame.

    python benchmarks/cost_faithfulness_goal.py          # rewrites cost_faithfulness_goal.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from suite_io import publish, results_dir  # noqa: E402

SUITE = "cost_faithfulness_goal"
GOAL_FACTOR = 10.0  # "at least 10x cheaper per window"
# (suite, faithfulness column, its standard error, the task's name, the unit)
TASKS = (
    ("deletion_insertion", "gap", "gap_se", "RobustVision deletion/insertion", "cm"),
    ("faithfulness_basic_motions", "gap", "gap_se", "BasicMotions deletion/insertion", "logits"),
    ("faithfulness_synthetic", "spearman", "spearman_se", "synthetic ground truth", "Spearman"),
)
# attribution_cost's engine names of the baselines it times at batch 1, and of actif's modes
BATCH1_BASELINES = {"ixg": "Captum InputXGradient", "deeplift": "Captum DeepLift", "ig": "Captum IntegratedGradients",
                    "ablation": "Captum FeatureAblation"}


def is_actif(key: str) -> bool:
    return key.startswith("actif:")


def is_baseline(key: str) -> bool:
    return not is_actif(key) and not key.startswith("random")


def goal_rows(rows: Sequence[dict[str, Any]], score: str, se: str,
              factor: float = GOAL_FACTOR) -> list[dict[str, Any]]:
    """For each baseline row: the cheapest actif row with ``score`` at least the
    baseline's minus its ``se``, and the cost ratio (baseline µs / actif µs); ``met`` when
    that ratio is at least ``factor``. A baseline that no actif mode matches gets no mode."""
    modes = [r for r in rows if is_actif(r["key"]) and r.get("us_per_window")]
    out = []
    for b in (r for r in rows if is_baseline(r["key"])):
        floor = b[score] - (b.get(se) or 0.0)
        matching = [m for m in modes if m[score] >= floor]
        best = min(matching, key=lambda m: m["us_per_window"]) if matching else None
        ratio = b["us_per_window"] / best["us_per_window"] if best else None
        out.append({"baseline_key": b["key"], "baseline": b["method"],
                    "baseline_score": b[score], "baseline_se": b.get(se), "baseline_us": b["us_per_window"],
                    "mode": best["key"].removeprefix("actif:") if best else None,
                    "mode_score": best[score] if best else None, "mode_us": best["us_per_window"] if best else None,
                    "cheaper": ratio, "met": bool(ratio is not None and ratio >= factor)})
    return out


def batch1_ratio(cost_doc: dict[str, Any] | None, baseline_key: str, mode: str | None) -> float | None:
    """Baseline µs / mode µs one window at a time on the bundled model (H=64), from
    attribution_cost, where that suite times both."""
    if cost_doc is None or mode is None or baseline_key not in BATCH1_BASELINES:
        return None
    trace = mode.split("/")[0]
    us = {r["engine"]: r["us_per_window"] for r in cost_doc["rows"] if r["batch"] == 1 and r["hidden"] == 64}
    base, ours = us.get(BATCH1_BASELINES[baseline_key]), us.get(f"actif cpp: {trace}")
    return base / ours if base and ours else None


def load(results: str, suite: str) -> dict[str, Any] | None:
    path = os.path.join(results, suite + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def build(results: str) -> dict[str, Any]:
    cost_doc = load(results, "attribution_cost")
    rows: list[dict[str, Any]] = []
    sources = []
    for suite, score, se, task, unit in TASKS:
        doc = load(results, suite)
        if doc is None:
            print(f"skipped {task}: no {suite}.json in {results}")
            continue
        machine = doc.get("machine", {})
        host = f", {machine.get('cpu', '?')}, kernels {machine.get('actif_isa', '?')}" if machine else ""
        sources.append(f"{suite} (`{doc['command']}`, {doc['date'][:10]}, revision {doc.get('revision', '?')}{host})")
        source_rows = [r for r in doc["rows"] if r.get("group", "all") == "all"]
        designs = sorted({r["design"] for r in source_rows}) if "design" in source_rows[0] else [None]
        for design in designs:
            part = [r for r in source_rows if design is None or r["design"] == design]
            for g in goal_rows(part, score, se):
                g["task"] = task + (f" ({design})" if design else "")
                g["unit"] = unit
                if suite == "deletion_insertion":  # the bundled model: the one attribution_cost times
                    g["cheaper_batch1"] = batch1_ratio(cost_doc, g["baseline_key"], g["mode"])
                rows.append(g)
    if not rows:
        raise SystemExit(f"no faithfulness results in {results}: run the faithfulness suites first")
    met = [r for r in rows if r["met"]]
    unmatched = [r for r in rows if r["mode"] is None]
    summary = [f"Goal (a mode at least as faithful, within one SE, and >= {GOAL_FACTOR:g}x cheaper per window) met for "
               f"{len(met)} of {len(rows)} task-baseline pairs."]
    for task in dict.fromkeys(r["task"] for r in rows):
        part = [r for r in rows if r["task"] == task]
        missed = [f"{r['baseline']} ({'no actif mode as faithful' if r['mode'] is None else 'best ' + format(r['cheaper'], '.1f') + 'x, by ' + r['mode']})"
                  for r in part if not r["met"]]
        summary.append(f"{task}: {sum(r['met'] for r in part)} of {len(part)} met"
                       + (f"; missed: {', '.join(missed)}" if missed else ""))
    if unmatched:
        summary.append("No actif mode is as faithful as: " + ", ".join(f"{r['baseline']} on {r['task']}" for r in unmatched))
    columns = [["task", "Task"], ["baseline", "Baseline"], ["baseline_score", "Baseline faithfulness"],
               ["baseline_se", "SE"], ["baseline_us", "Baseline µs/window"], ["mode", "Cheapest actif mode as faithful"],
               ["mode_score", "Its faithfulness"], ["mode_us", "Its µs/window"], ["cheaper", "x cheaper"],
               ["met", f">= {GOAL_FACTOR:g}x?"], ["cheaper_batch1", "x cheaper at batch 1 (attribution_cost)"]]
    return {
        "suite": SUITE,
        "title": "The cost-faithfulness goal: for each baseline, the cheapest actif mode at least as faithful",
        "columns": columns,
        "rows": rows,
        "summary": summary,
        "notes": ["Derived from stored results, nothing re-measured: " + "; ".join(sources) + ".",
                  "'At least as faithful' is the one-standard-error rule against the baseline: the mode's mean "
                  "faithfulness is at least the baseline's mean minus the baseline's standard error over units "
                  "(subjects, seeds). Costs are the µs per window each suite measured in the same run, one thread.",
                  "Each task's ratios come from its own suite's run, on the host named above: suites run on different "
                  "hosts are not compared with each other, only each actif mode with the baselines of the same run. "
                  "A ratio within a few percent of 10x is inside run-to-run timing noise either way."],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python benchmarks/cost_faithfulness_goal.py",
        description="Check the cost-faithfulness goal on the stored faithfulness results: for each Captum/SHAP "
        "baseline and task, the cheapest actif mode at least as faithful (within one SE) and how much cheaper it is.",
        epilog="Reads deletion_insertion, faithfulness_basic_motions, faithfulness_synthetic and attribution_cost "
        "from --results; measures nothing. Run it after any of those suites.")
    p.add_argument("--results", default=results_dir(), help="the results folder to read and write (default benchmarks/results)")
    args = p.parse_args(argv)
    publish(args.results, SUITE, build(args.results), quick=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many nodes do integrated gradients need? Completeness per model, agreement with 50, cost.

Captum's IntegratedGradients defaults to 50 interpolation steps, and actif's
``integrated`` equals it at the same ``n_steps`` (tests/test_captum_equality.py). On a
device every node is one more reverse pass per window; but the right count is a
property of the model: integrated gradients approximate an integral, and its
attributions should add up to y(x) - y(baseline) (completeness; Sundararajan et al.,
2017, advise raising the count until they do within 5 %). ``actif.choose_n_steps``
picks the fewest nodes that do, on training windows. For each task below this suite
runs it, and measures every node count n on held-out windows against n = 50:

- ``completeness``: sum over windows of |sum A_n - (y(x) - y(baseline))|, relative to
  the sum of |y(x) - y(baseline)|;
- ``attr_error``: max |A_n - A_50| / max |A_50| over every window, step and feature;
- ``rank_agreement``: Spearman's rank correlation of the per-feature scores (the
  ``mean`` aggregation, what actif ranks features by) with those of n = 50, and
  ``top3_same``: whether the three top-ranked features are the same three;
- ``us_per_window``: µs per window of ``Explainer.attribute`` on --cost-windows
  windows at once, one thread (median of --repeats).

Tasks (each model attributes held-out windows):

- the bundled FOVAL-shaped model (H=64) on the bundled RobustVision excerpt (P13, a
  subject it was not trained on), output 0;
- the synthetic ``feature_signal`` and ``salient_box`` designs of
  bench_faithfulness_synthetic.py (the same models: LSTM 64, trained per seed);
- BasicMotions (bench_basic_motions.py's classifier, LSTM 32), per class: the test
  recordings of class c explain target c (when ``aeon`` and ``torch`` are installed).

It also reports whether one fixed count below 50 ranks features as 50 nodes do on every
task (Spearman >= --agreement and the same top three).

    python benchmarks/bench_ig_steps.py                        # ~2 min
    python benchmarks/bench_ig_steps.py --quick --results /tmp/r   # CI smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Iterator

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from faithfulness_metrics import spearman  # noqa: E402
from suite_io import bundled_gap_factor, publish, results_dir  # noqa: E402

SUITE = "ig_steps"
COMPLETENESS_TOLERANCE = 0.05
REFERENCE_STEPS = am.IG_STEPS  # Captum's default, and what the faithfulness suites compare with
NODE_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, REFERENCE_STEPS)
TOP = 3


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_ig_steps.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=2, help="training seeds of the synthetic and BasicMotions models (default 2)")
    p.add_argument("--windows", type=int, default=500, help="windows each model attributes (default 500)")
    p.add_argument("--cost-windows", type=int, default=256, help="windows timed at once (default 256)")
    p.add_argument("--repeats", type=int, default=3, help="timing repetitions, median taken (default 3)")
    p.add_argument("--agreement", type=float, default=0.99,
                   help="the rank agreement with 50 nodes a fixed count must reach on every task (default 0.99)")
    p.add_argument("--quick", action="store_true", help="1 seed, small models and data: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.windows, args.cost_windows, args.repeats = 1, 48, 16, 1
    return args


# --------------------------------------------------------------------------- tasks


def bundled_task(args) -> Iterator[tuple[str, str, Any, np.ndarray, int, np.ndarray]]:
    from actif.bundled import bundled_model_path
    from actif.commands.demo import load_demo_record
    from actif.lab.data import dataset_from_records
    from actif.model import load_spec

    spec = load_spec(bundled_model_path())
    ds = dataset_from_records([load_demo_record()], gap_factor=bundled_gap_factor(spec))
    order = np.random.default_rng(0).permutation(len(ds.windows))
    calibration = ds.windows[np.sort(order[args.windows:])]  # the excerpt's other windows
    yield ("RobustVision", "RobustVision P13 excerpt (bundled model)", spec, ds.windows[np.sort(order[: args.windows])], 0,
           am.background_windows(calibration, seed=1))


def synthetic_tasks(args) -> Iterator[tuple[str, str, Any, np.ndarray, int, np.ndarray]]:
    import bench_faithfulness_synthetic as synthetic
    from actif.lab.training import TrainConfig, train_depth_model

    for design in synthetic.DESIGNS:
        for seed in range(args.seeds):
            ds = synthetic.make_design(design, seed, 2 if args.quick else 6, args.quick)
            order = np.random.default_rng(seed).permutation(len(ds.windows))
            cut = int(0.8 * len(order))
            spec = train_depth_model(ds.windows[order[:cut]], ds.targets[order[:cut]], ds.feature_names,
                                     TrainConfig(hidden=64, epochs=1 if args.quick else 12, seed=seed, threads=1))
            yield (f"synthetic {design}", f"synthetic {design} (seed {seed})", spec, ds.windows[order[cut:][: args.windows]], 0,
                   am.background_windows(ds.windows[order[:cut]], seed=seed))


def have_basic_motions() -> bool:
    try:
        import aeon  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def basic_motions_tasks(args) -> Iterator[tuple[str, str, Any, np.ndarray, int, np.ndarray]]:
    if not have_basic_motions():
        print("skipped BasicMotions: needs aeon and torch")
        return
    import bench_basic_motions as bm

    Xtr, ytr, Xte, yte, classes = bm.load_basic_motions()
    for seed in range(args.seeds):
        spec = bm.train_classifier(Xtr, ytr, classes, hidden=8 if args.quick else 32, epochs=30 if args.quick else 300, seed=seed)
        for c, name in enumerate(classes):
            yield "BasicMotions", f"BasicMotions {name} (seed {seed})", spec, Xte[yte == c], c, Xtr


# ------------------------------------------------------------------------- measure


def measure(task: str, spec: Any, X: np.ndarray, target: int, calibration: np.ndarray, args) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of every node count on ``X``, and the count actif.choose_n_steps picks on
    ``calibration`` (training windows, as the faithfulness suites' ``integrated@auto``)."""
    import actif
    from actif.attribution import completeness_error

    model = actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", max_abs=None, num_threads=1)
    timed = X[: args.cost_windows]
    choice = actif.choose_n_steps(model, calibration, target=target)
    results = {}
    for n in sorted({*NODE_COUNTS, choice.n_steps}):
        explainer = actif.Explainer(model, trace="integrated", target=target, n_steps=n)
        A, delta = explainer.attribute_steps(X, return_convergence_delta=True)
        explainer.attribute(timed[:2])  # warm-up: first-call set-up is not the method's cost
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            explainer.attribute(timed)
            seconds.append(time.perf_counter() - t0)
        # the scores Explainer.attribute(X) gives: |A| of every step into the statistics
        stats = actif.RunningStats(spec.input_size).update(np.abs(A).reshape(-1, spec.input_size))
        results[n] = {"A": np.asarray(A, np.float64), "completeness": completeness_error(A, delta),
                      "score": actif.scores(stats, "mean"), "us": float(np.median(seconds)) * 1e6 / len(timed)}
    ref = results[REFERENCE_STEPS]
    scale = max(float(np.abs(ref["A"]).max()), 1e-12)
    top_ref = set(am.ranking(ref["score"])[:TOP].tolist())
    rows = []
    for n, r in results.items():
        rows.append({"task": task, "n_steps": n, "windows": len(X), "attr_error": float(np.abs(r["A"] - ref["A"]).max()) / scale,
                     "completeness": r["completeness"], "rank_agreement": spearman(r["score"], ref["score"]),
                     "top3_same": set(am.ranking(r["score"])[:TOP].tolist()) == top_ref, "us_per_window": r["us"],
                     "cheaper": ref["us"] / r["us"]})
    at = next(r for r in rows if r["n_steps"] == choice.n_steps)
    chosen = {"task": task, "n_steps": choice.n_steps, "converged": choice.converged, "calibration_error": choice.error,
              "calibration_windows": len(calibration), "completeness": at["completeness"],
              "completeness_50": ref["completeness"], "rank_agreement": at["rank_agreement"], "top3_same": at["top3_same"],
              "cheaper": at["cheaper"]}
    rows = [r for r in rows if r["n_steps"] in NODE_COUNTS]  # the sweep; the chosen count is reported apart
    return rows, chosen


def worst_of_each_family(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For the plots: at each node count, the largest completeness error and the lowest
    rank agreement among a task family's models (and targets)."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        for n in NODE_COUNTS:
            at = [r for r in rows if r["family"] == family and r["n_steps"] == n]
            if at:
                out.append({"family": family, "n_steps": n, "completeness": max(r["completeness"] for r in at),
                            "rank_agreement": min(r["rank_agreement"] for r in at)})
    return out


def recommend(rows: list[dict[str, Any]], agreement: float) -> int | None:
    """The smallest node count at which every task's ranking agrees with 50 nodes."""
    for n in NODE_COUNTS:
        at_n = [r for r in rows if r["n_steps"] == n]
        if at_n and all(r["rank_agreement"] >= agreement and r["top3_same"] for r in at_n):
            return n
    return None


def summarise(chosen: list[dict[str, Any]], rows: list[dict[str, Any]], fixed: int | None, agreement: float) -> list[str]:
    """The findings: the count each model needs, what 50 nodes leave, one count for all."""
    out = []
    for family in dict.fromkeys(r["family"] for r in chosen):
        part = [r for r in chosen if r["family"] == family]
        counts = sorted({r["n_steps"] for r in part})
        spread = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        what = f"{len(part)} model{'s' if len(part) > 1 else ''}" if family != "BasicMotions" else f"{len(part)} model x class targets"
        if all(r["converged"] for r in part):
            out.append(f"{family} ({what}): {spread} node{'s' if counts[-1] > 1 else ''} add up to within 5 %, "
                       f"{min(r['cheaper'] for r in part):.1f}-{max(r['cheaper'] for r in part):.1f}x cheaper than 50; "
                       f"feature ranking against 50 nodes: Spearman >= {min(r['rank_agreement'] for r in part):.3f}, "
                       f"same top {TOP} in {sum(r['top3_same'] for r in part)} of {len(part)}.")
        else:
            out.append(f"{family} ({what}): {sum(not r['converged'] for r in part)} do not add up to within 5 % "
                       f"even with {max(r['n_steps'] for r in part)} nodes (error up to {max(r['calibration_error'] for r in part):.0%} "
                       f"on training windows); Captum's 50 nodes leave {min(r['completeness_50'] for r in part):.1%}-"
                       f"{max(r['completeness_50'] for r in part):.0%} of |y(x) - y(baseline)| unexplained on the explained windows.")
    if fixed is None or fixed == REFERENCE_STEPS:
        out.append(f"No fixed count below {REFERENCE_STEPS} ranks features as {REFERENCE_STEPS} nodes do on every task "
                   f"(Spearman >= {agreement}, same top {TOP}): the count is a property of the model, so actif chooses it per model.")
    else:
        out.append(f"The fewest fixed nodes that rank features as {REFERENCE_STEPS} do on every task: {fixed}.")
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    from actif.progress import ProgressBar

    rows: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    n_tasks = 1 + 2 * args.seeds + (4 * args.seeds if have_basic_motions() else 0)
    bar = ProgressBar(n_tasks, f"tasks x {len(NODE_COUNTS)} node counts", unit="tasks")
    for source in (bundled_task, synthetic_tasks, basic_motions_tasks):
        for family, task, spec, X, target, calibration in source(args):
            task_rows, choice = measure(task, spec, X, target, calibration, args)
            rows += [{"family": family, **r} for r in task_rows]
            chosen.append({"family": family, **choice})
            bar.update_to(len(dict.fromkeys(r["task"] for r in rows)))
            print(f"{task}: done", flush=True)
    bar.close()
    fixed = recommend(rows, args.agreement)
    worst = worst_of_each_family(rows)
    tag = "_quick" if args.quick else ""
    doc = {
        "title": "Integrated gradients: how many nodes does each model need? Completeness, agreement with 50 nodes, cost",
        "columns": [["task", "Task"], ["n_steps", "Nodes chosen"], ["converged", "Within 5 %?"],
                    ["calibration_error", "Completeness error, training windows"],
                    ["completeness", "Completeness error, explained windows"],
                    ["completeness_50", "... with 50 nodes"], ["rank_agreement", "Spearman with 50 nodes (feature scores)"],
                    ["top3_same", "Same top 3?"], ["cheaper", "x cheaper than 50"]],
        "rows": chosen,
        "readme_columns": [["task", "Task"], ["n_steps", "Nodes chosen"], ["converged", "Within 5 %?"],
                           ["completeness", "Completeness error"], ["completeness_50", "... with 50 nodes"],
                           ["rank_agreement", "Spearman with 50"], ["cheaper", "x cheaper than 50"]],
        "summary": summarise(chosen, rows, fixed, args.agreement),
        "tables": [{"title": f"Every node count against {REFERENCE_STEPS} nodes", "rows": rows,
                    "columns": [["task", "Task"], ["n_steps", "Nodes"], ["rank_agreement", "Spearman with 50 nodes (feature scores)"],
                                ["top3_same", "Same top 3?"], ["attr_error", "Max attribution error (of the largest)"],
                                ["completeness", "Completeness error (of y(x) - y(b))"],
                                ["us_per_window", "µs/window (1 thread)"], ["cheaper", "x cheaper than 50"]]}],
        "plots": [{"kind": "lines", "file": f"{SUITE}{tag}_completeness.png", "x": "n_steps", "y": "completeness",
                   "series": "family", "logx": True, "logy": True, "rows": worst, "readme": True,
                   "hlines": [{"y": COMPLETENESS_TOLERANCE, "label": "5 % (Sundararajan et al.)"}],
                   "xlabel": "Gauss-Legendre nodes (log scale)", "ylabel": "completeness error, of |y(x) - y(baseline)| (log)",
                   "title": "Integrated gradients: how far the attributions are from adding up (worst model of each task)"},
                  {"kind": "lines", "file": f"{SUITE}{tag}_agreement.png", "x": "n_steps", "y": "rank_agreement",
                   "series": "family", "logx": True, "rows": [r for r in worst if r["n_steps"] != REFERENCE_STEPS],
                   "xlabel": "Gauss-Legendre nodes (log scale)", "ylabel": f"Spearman with {REFERENCE_STEPS} nodes' feature scores",
                   "title": f"Integrated gradients: feature ranking against {REFERENCE_STEPS} nodes (worst model of each task)"}],
        "notes": ["Nodes chosen: actif.choose_n_steps on training windows (the bundled model: 100 windows of the excerpt "
                  "it does not explain), the fewest of 1, 2, 3, 4, 6, 8, 12, ... 256 nodes at which two consecutive "
                  "counts keep the completeness error within 5 %, the faithfulness suites' `integrated@auto`.",
                  "Completeness error: sum over windows of |sum A - (y(x) - y(baseline))| over the sum of |y(x) - y(baseline)|.",
                  "Attributions: actif's `integrated` (cpp, Gauss-Legendre, training-mean baseline); windows: held-out "
                  f"windows of each model (up to {args.windows}); cost: {args.cost_windows} of them at once, one thread, "
                  f"median of {args.repeats}.",
                  "Synthetic and BasicMotions models are trained per seed exactly as their faithfulness suites train them."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

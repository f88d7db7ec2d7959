"""Whole-subject attribution on RobustVision: time and peak memory of every method, side by side.

For every subject, each method attributes all of that subject's windows with the bundled
model (foval_edge: LSTM 64, 37 features, T=10) and produces one importance per feature:

- actif, per engine (cpp, numba when installed, onnxruntime, tflite), two ways: batch
  (``Explainer.attribute(X)``) and streaming (``StreamingExplainer.update(window)``, window
  by window, as a device would); DeepACTIF's weighted trace and inverse aggregation, the
  method the reference-style implementation reproduces (the cost does not depend on the
  aggregation, and the matching scores check both compute the same thing);
- reference-style DeepACTIF in PyTorch (benchmarks/attribution_methods.py: forward hooks
  keep every activation, NumPy statistics afterwards; same trace and scores as actif);
- Captum IntegratedGradients (n_steps=50, internal_batch_size=512), DeepLift and
  GradientShap (20 samples, 100 background windows), SHAP GradientExplainer (200 samples,
  100 background windows), all on ``torch_module_from_spec(bundled spec)``, in batches of
  512 windows.

Each method runs in its own process (so its peak RSS is its own) with one thread; subjects
run one after another in that process, and the peak is reset before each subject
(/proc/self/clear_refs), so "peak growth" is the memory that subject's attribution took
on top of what the process already held (data, libraries). Ratios are against actif's cpp
backend in batch mode, measured in the same run.

    ACTIF_DATA_DIR=/path/to/robustvision python benchmarks/bench_subject_attribution.py   # ~10 min (SHAP: 9)
    python benchmarks/bench_subject_attribution.py --quick --results /tmp/r               # CI smoke run (~25 s)

Without the recordings it prints a note and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from actif.lab.report import reset_peak_rss, rss_kib  # noqa: E402
from suite_io import bundled_gap_factor, publish, recordings, results_dir, run_worker, suite_name  # noqa: E402

SUITE = "subject_attribution"
ENGINES = ("cpp", "numba", "onnxruntime", "tflite")
REFERENCE = "actif cpp (batch)"


def all_methods() -> list[str]:
    import actif

    have = actif.available_backends()
    out = []
    for engine in ENGINES:
        if engine in have:
            out += [f"actif {engine} (batch)", f"actif {engine} (streaming)"]
    return out + ["reference", "ig", "deeplift", "gradientshap", "shap"]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_subject_attribution.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    p.add_argument("--subjects", default="all", help="comma-separated subjects or 'all' (default)")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all available; see the list above)")
    p.add_argument("--max-windows", type=int, default=None, help="cap windows per subject (default: all)")
    p.add_argument("--quick", action="store_true", help="2 subjects, at most 60 windows each: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one method in this process
    args = p.parse_args(argv)
    if args.quick:
        args.subjects, args.max_windows = "P14,P3", 60
    return args


# ------------------------------------------------------------------------ worker


def make_runner(method: str, spec):
    """A function windows (N, T, I) -> scores (I,) for ``method``, built before timing."""
    import actif

    if method.startswith("actif "):
        engine, mode = method.split()[1], method.split()[2].strip("()")
        model = actif.Model(spec, engine, num_threads=1, max_abs=None)
        if mode == "batch":
            ex = actif.Explainer(model, trace="weighted", aggregation="inverse")
            return lambda X: ex.attribute(X).scores

        def stream(X):
            st = actif.StreamingExplainer(model, trace="weighted", aggregation="inverse")
            for window in X:
                st.update(window)
            return st.scores()

        return stream
    module = am.torch_module(spec, threads=1)
    if method == "reference":
        def reference(X):
            ref = am.ReferenceDeepACTIF(module, "weighted", "inverse")
            try:
                return ref.run(X)
            finally:
                ref.close()

        return reference
    return None  # gradient methods: built per call (they need the background)


def worker(args) -> int:
    from actif.bundled import bundled_model_path
    from actif.lab.data import build_dataset
    from actif.model import load_spec

    spec = load_spec(bundled_model_path())
    ds = build_dataset(args.data_dir, None if args.subjects == "all" else args.subjects.split(","), gap_factor=bundled_gap_factor(spec))
    held = spec.metadata["data"]["held_out_subjects"]
    background = am.background_windows(ds.windows[~np.isin(ds.subjects, held)], seed=1)
    method = args.worker
    runner = make_runner(method, spec)
    if runner is None:
        module = am.torch_module(spec, threads=1)
        base = am.training_mean(spec)

        def runner(X):
            return am.global_importance(am.gradient_attributions(method, module, X, baseline=base, background=background))
    runner(ds.windows[:8])  # warm-up: imports, JIT, first allocations
    for subject in dict.fromkeys(ds.subjects.tolist()):
        X = np.ascontiguousarray(ds.windows[ds.subjects == subject][: args.max_windows])
        before, _ = rss_kib()
        reset_ok = reset_peak_rss()
        t0 = time.perf_counter()
        scores = runner(X)
        seconds = time.perf_counter() - t0
        _, peak = rss_kib()
        print(json.dumps({"subject": subject, "windows": len(X), "seconds": seconds, "peak_rss_mb": peak / 1024,
                          "peak_growth_mb": (peak - before) / 1024 if reset_ok else None,
                          "scores": [float(v) for v in scores]}), flush=True)
    return 0


# ------------------------------------------------------------------------ driver


def run_method(method: str, args, directory: str) -> list[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, "--data-dir", directory, "--subjects", args.subjects]
    if args.max_windows:
        cmd += ["--max-windows", str(args.max_windows)]
    return run_worker(cmd, method)  # one line per subject


def main(argv=None) -> int:
    args = parse_args(argv)
    directory = recordings(args.data_dir)
    if directory is None:
        return 0
    args.data_dir = directory
    if args.worker:
        return worker(args)
    from actif.progress import ProgressBar
    from faithfulness_metrics import spearman

    methods = args.methods.split(",") if args.methods else all_methods()
    if REFERENCE not in methods:
        methods.insert(0, REFERENCE)
    per: dict[str, list[dict]] = {}
    bar = ProgressBar(len(methods), "methods (one process each)", unit="methods")
    for k, m in enumerate(methods):
        per[m] = run_method(m, args, directory)
        total = sum(r["seconds"] for r in per[m])
        print(f"{am.label(m)}: {total:.2f} s over {len(per[m])} subjects", flush=True)
        bar.update_to(k + 1)
    bar.close()
    ref = {r["subject"]: r for r in per[REFERENCE]}
    ref_total = sum(r["seconds"] for r in per[REFERENCE])
    ref_growth = max((r["peak_growth_mb"] or 0.0) for r in per[REFERENCE])
    ref_peak = max(r["peak_rss_mb"] for r in per[REFERENCE])
    rows = []
    for m, rs in per.items():
        windows = sum(r["windows"] for r in rs)
        total = sum(r["seconds"] for r in rs)
        growth = max((r["peak_growth_mb"] or 0.0) for r in rs)
        peak = max(r["peak_rss_mb"] for r in rs)
        agree = [spearman(np.array(r["scores"]), np.array(ref[r["subject"]]["scores"])) for r in rs if r["subject"] in ref]
        rows.append({"method": am.label(m), "key": m, "subjects": len(rs), "windows": windows, "seconds": total,
                     "median_subject_s": float(np.median([r["seconds"] for r in rs])),
                     "us_per_window": total / windows * 1e6, "time_ratio": total / ref_total,
                     "peak_rss_mb": peak, "rss_ratio": peak / ref_peak, "peak_growth_mb": growth,
                     "growth_ratio": growth / ref_growth if ref_growth > 0 else None,
                     "spearman_vs_actif": float(np.nanmean(agree)) if agree else None})
    by = {r["key"]: r for r in rows}
    summary = []
    slow = [by[m] for m in ("reference", "ig", "deeplift", "gradientshap", "shap") if m in by]
    if slow:
        summary.append(f"{by[REFERENCE]['windows']:,} windows of {by[REFERENCE]['subjects']} subjects: actif cpp (batch) took "
                       f"{ref_total:.2f} s ({by[REFERENCE]['us_per_window']:.1f} µs/window); " +
                       ", ".join(f"{r['method']} {r['time_ratio']:.0f}x longer" if r["time_ratio"] >= 2 else
                                 f"{r['method']} {r['time_ratio']:.2f}x the time" for r in slow) + ".")
        summary.append(f"Peak RSS (whole process, max over subjects): actif cpp {ref_peak:.0f} MB; " +
                       ", ".join(f"{r['method']} {r['peak_rss_mb']:.0f} MB" for r in slow) +
                       f". Growth during one subject's attribution: actif cpp {ref_growth:.1f} MB, " +
                       ", ".join(f"{r['method']} {r['peak_growth_mb']:.1f} MB" for r in slow) + ".")
    doc = {
        "title": "Whole-subject attribution on RobustVision: time and peak RSS per method (bundled model, 1 thread)",
        "columns": [["method", "Method"], ["windows", "Windows"], ["seconds", "Total s"], ["median_subject_s", "Median s/subject"],
                    ["us_per_window", "µs/window"], ["time_ratio", "Time vs actif cpp"], ["peak_rss_mb", "Peak RSS (MB)"],
                    ["rss_ratio", "RSS vs actif cpp"], ["peak_growth_mb", "Peak growth (MB)"],
                    ["spearman_vs_actif", "Spearman vs actif (weighted/inverse)"]],
        "rows": rows,
        "readme_rows": rows,
        "summary": summary,
        "plots": [{"kind": "bars", "file": suite_name(SUITE, args.quick) + ".png", "x": "method", "y": "us_per_window",
                   "logx": True, "xlabel": "µs per window (log scale)", "ylabel": "",
                   "title": "Whole-subject attribution: µs per window (lower is better)"}],
        "notes": ["Peak RSS is the whole process's high-water mark (data set, Python, libraries: the PyTorch-based methods "
                  "carry the torch runtime); peak growth is what one subject's attribution added on top.",
                  "'Spearman vs actif (weighted/inverse)' is the rank correlation of each method's feature scores with "
                  "the DeepACTIF score (weighted trace, inverse aggregation) computed by actif cpp (batch) on the same "
                  "subject: 1 for every actif engine and the reference-style implementation, which compute the same scores."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale: time and peak memory against the number of windows attributed, actif vs reference-style.

Streams N windows (default 1e3, 1e4, 1e5, 3e5, 1e6) of the bundled model's shape (T=10,
37 features; RobustVision windows cycled when the recordings are there, simulated gaze
otherwise) through

- actif: ``StreamingExplainer.update`` in chunks of 256 windows (cpp backend, one
  thread): statistics in O(features) memory;
- reference-style DeepACTIF (benchmarks/attribution_methods.py): PyTorch forward hooks
  keep every chunk's input and hidden sequence, the scores are computed with NumPy at the
  end, as the published code does: memory grows with N.

Each (method, N) runs in its own process; the peak is reset after the data pool is built,
so "peak growth" is what attributing N windows took. The reference-style run is not
started where the growth predicted from its largest finished run (linear in N) would
pass --memory-cap-gb (default 6 GiB of this 24 GiB machine): the table says so and gives
the prediction.

    python benchmarks/bench_scale.py                       # ~1 min
    python benchmarks/bench_scale.py --quick --results /tmp/r   # CI smoke run (1e3, 1e4; ~8 s)
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
from suite_io import bundled_gap_factor, publish, results_dir, run_worker, suite_name  # noqa: E402

SUITE = "scale"
METHODS = {"actif": "actif cpp streaming (StreamingExplainer)", "reference": "reference-style DeepACTIF (PyTorch hooks, keeps all)"}
CHUNK = 256


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_scale.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", default="1000,10000,100000,300000,1000000", help="numbers of windows (default 1e3,1e4,1e5,3e5,1e6)")
    p.add_argument("--memory-cap-gb", type=float, default=6.0, help="do not start a run predicted to grow past this (default 6)")
    p.add_argument("--data-dir", help="RobustVision folder for the window pool (default: $ACTIF_DATA_DIR; simulated if absent)")
    p.add_argument("--quick", action="store_true", help="1e3 and 1e4 windows: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.windows = "1000,10000"
    return args


def window_pool(data_dir: str | None, spec) -> np.ndarray:
    from actif.lab.data import build_dataset, build_synthetic_dataset

    if data_dir:
        return build_dataset(data_dir, gap_factor=bundled_gap_factor(spec)).windows
    return build_synthetic_dataset(4, duration_s=30.0, seed=0).windows


def worker(args) -> int:
    import actif
    from actif.bundled import bundled_model_path
    from actif.model import load_spec

    spec = load_spec(bundled_model_path())
    pool = np.ascontiguousarray(window_pool(args.data_dir, spec))
    if args.worker == "actif":
        st = actif.StreamingExplainer(actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", num_threads=1, max_abs=None))
        st.update(pool[:CHUNK])
        st.reset()
        feed, finish = st.update, st.scores
    else:
        ref = am.ReferenceDeepACTIF(am.torch_module(spec, threads=1), "weighted", "inverse")
        ref.feed(pool[:CHUNK])
        ref.inputs, ref.hidden = [], []
        feed, finish = ref.feed, ref.scores
    before, _ = rss_kib()
    reset_ok = reset_peak_rss()
    t0 = time.perf_counter()
    done = 0
    while done < args.n:
        k = min(CHUNK, args.n - done)
        start = done % (len(pool) - CHUNK)
        feed(pool[start : start + k])
        done += k
    scores = finish()
    seconds = time.perf_counter() - t0
    _, peak = rss_kib()
    assert np.all(np.isfinite(scores))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "peak_growth_mb": (peak - before) / 1024 if reset_ok else None}))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from actif.lab.data import data_dir

    args.data_dir = data_dir(args.data_dir)
    if args.worker:
        return worker(args)
    from actif.progress import ProgressBar

    ns = [int(float(v)) for v in args.windows.split(",")]
    rows = []
    bar = ProgressBar(len(ns) * len(METHODS), "scale runs (one process each)", unit="runs")
    cap_mb = args.memory_cap_gb * 1024
    for method in METHODS:
        per_window = None
        for n in ns:
            row = {"method": METHODS[method], "key": method, "windows": n}
            predicted = per_window * n if per_window is not None else None
            if predicted is not None and predicted > cap_mb:
                row.update({"status": f"not run: predicted growth {predicted / 1024:.1f} GiB > cap {args.memory_cap_gb:g} GiB",
                            "predicted_growth_mb": predicted})
                rows.append(row)
                bar.advance()
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, "--n", str(n)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            res = run_worker(cmd, f"{method} at {n} windows")[-1]
            row.update(res, status="measured", windows_per_s=n / res["seconds"])
            if res["peak_growth_mb"] and n >= 10_000:
                per_window = res["peak_growth_mb"] / n
            rows.append(row)
            print(f"{METHODS[method]}, {n:,} windows: {res['seconds']:.2f} s, peak growth {res['peak_growth_mb']:.1f} MB", flush=True)
            bar.advance()
    bar.close()
    measured = [r for r in rows if r["status"] == "measured"]
    summary = []
    for method in METHODS:
        rs = [r for r in measured if r["key"] == method]
        if rs:
            big = max(rs, key=lambda r: r["windows"])
            summary.append(f"{METHODS[method]}: {big['windows']:,} windows in {big['seconds']:.1f} s, peak growth "
                           f"{big['peak_growth_mb']:.1f} MB (smallest run: {min(rs, key=lambda r: r['windows'])['peak_growth_mb']:.1f} MB).")
    skipped = [r for r in rows if r["status"] != "measured"]
    if skipped:
        summary.append("Reference-style not run at " + ", ".join(f"{r['windows']:,}" for r in skipped) +
                       f" windows: its growth, linear in N, was predicted to pass {args.memory_cap_gb:g} GiB "
                       f"({skipped[-1]['predicted_growth_mb'] / 1024:.1f} GiB at {skipped[-1]['windows']:,}).")
    doc = {
        "title": "Scale: time and peak memory against windows attributed (bundled model, 1 thread)",
        "columns": [["method", "Method"], ["windows", "Windows"], ["seconds", "Seconds"], ["windows_per_s", "Windows/s"],
                    ["peak_growth_mb", "Peak RSS growth (MB)"], ["peak_rss_mb", "Peak RSS (MB)"], ["status", "Status"]],
        "rows": rows,
        "readme_rows": rows,
        "summary": summary,
        "plots": [
            {"kind": "lines", "file": suite_name(SUITE, args.quick) + "_memory.png", "x": "windows", "y": "peak_growth_mb",
             "series": "method", "logx": True, "xlabel": "windows attributed", "ylabel": "peak RSS growth (MB)",
             "title": "Memory against stream length (lower is better)"},
            {"kind": "lines", "file": suite_name(SUITE, args.quick) + "_time.png", "x": "windows", "y": "seconds",
             "series": "method", "logx": True, "logy": True, "xlabel": "windows attributed", "ylabel": "seconds",
             "title": "Time against stream length (lower is better)"},
        ],
        "notes": ["Peak growth is measured after the window pool is built and the engine warmed up; the pool is "
                  f"{'RobustVision windows' if args.data_dir else 'simulated gaze windows'}, cycled.",
                  "Peak growth below ~1 MB is at the resolution of the measurement (page-level RSS)."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

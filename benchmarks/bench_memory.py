"""Constant memory: peak RSS growth while streaming many windows through actif.

Streams N windows (default 1,000,000) of I=38 features, T=10 steps through a
StreamingExplainer (window mode, weighted trace, inverse aggregation) and reports the
growth of the process's peak resident set size after a warm-up, which the core-runtime
issue requires to stay under 1 MB. The peak is reset after warm-up through
/proc/self/clear_refs (Linux), so the figure is the high-water mark of the streaming
phase alone.

    python benchmarks/bench_memory.py                 # 1e6 windows, cpp backend
    python benchmarks/bench_memory.py --windows 20000 --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import actif
from actif.lab.report import reset_peak_rss, rss_kib
from actif.progress import ProgressBar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite_io import publish, results_dir  # noqa: E402

SUITE = "memory"


def stream(backend: str, n_windows: int, batch: int, hidden: int, progress: bool) -> dict:
    model = actif.random_model(38, hidden, 1, pooling="max", seed=0, backend=backend)
    explainer = actif.StreamingExplainer(model)
    pool = np.random.default_rng(0).normal(size=(1024, 10, 38)).astype(np.float32)
    warmup = min(20_000, n_windows // 10)
    done = 0
    bar = ProgressBar(n_windows, f"streaming ({backend}, batch {batch})", enabled=progress, unit="windows")

    def feed(count: int) -> None:
        nonlocal done
        end = done + count
        while done < end:
            k = min(batch, end - done)
            start = done % (len(pool) - batch)
            explainer.update(pool[start : start + k] if batch > 1 else pool[start])
            done += k
            if done % 50_000 < k:
                bar.update_to(done)

    feed(warmup)
    rss_before, _ = rss_kib()
    peak_reset = reset_peak_rss()
    t0 = time.perf_counter()
    feed(n_windows - warmup)
    seconds = time.perf_counter() - t0
    rss_after, peak = rss_kib()
    bar.close()
    scores = explainer.scores()
    assert explainer.stats.count == n_windows * 10 and np.all(np.isfinite(scores))
    return {
        "backend": backend,
        "hidden": hidden,
        "batch": batch,
        "windows": n_windows,
        "rss_after_warmup_mb": rss_before / 1024,
        "rss_end_mb": rss_after / 1024,
        "peak_growth_mb": (peak - rss_before) / 1024 if peak_reset else None,
        "seconds": seconds,
        "windows_per_s": (n_windows - warmup) / seconds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=1_000_000, help="windows to stream (default 1e6)")
    p.add_argument("--backends", default="cpp", help="comma-separated backends (default cpp)")
    p.add_argument("--batches", default="1,256", help="windows per update call (default 1,256)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--quick", action="store_true", help="20,000 windows (CI smoke run)")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    n = 20_000 if args.quick else args.windows
    rows = []
    for backend in args.backends.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            rows.append(stream(backend, n, batch, args.hidden, sys.stderr.isatty()))
            print(rows[-1])
    worst = max(r["peak_growth_mb"] or 0.0 for r in rows)
    doc = {
        "title": "Constant memory: peak RSS growth while streaming",
        "columns": [["backend", "Backend"], ["batch", "Windows per call"], ["windows", "Windows streamed"],
                    ["rss_after_warmup_mb", "RSS after warm-up (MB)"], ["peak_growth_mb", "Peak RSS growth (MB)"],
                    ["windows_per_s", "Windows/s"]],
        "rows": rows,
        "targets": [{"name": "peak RSS growth streaming 1e6 windows", "goal": "< 1 MB",
                     "measured": f"{worst:.3f} MB over {n:,} windows", "met": bool(worst < 1.0 and n >= 1_000_000)}],
        "summary": [f"Streaming {n:,} windows grew peak RSS by at most {worst:.3f} MB."],
        "readme_rows": rows,
    }
    publish(args.results, SUITE, doc, quick=args.quick, echo=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

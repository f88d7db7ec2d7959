"""Soak: stream millions of windows/samples with invalid input mixed in, and watch.

    python tests/soak.py                                  # 2,000,000 windows + 200,000 samples
    python tests/soak.py --windows 20000000 --samples 1000000 --json soak.json
    python tests/soak.py --trace lrp --windows 200000 --samples 200000   # an attribution method

Streams through StreamingExplainer with ``on_invalid="skip"``: window mode in batches,
stateful mode in runs of consecutive samples, a fraction of rows poisoned (NaN, Inf,
beyond max_abs) and some whole calls malformed (wrong shape, wrong dtype, empty), with
periodic checkpoints. It checks, and exits non-zero otherwise:

* skip counts equal exactly what was injected, accepted counts equal the rest;
* scores stay finite throughout; the last checkpoint restores to the final state;
* resident memory stays flat: RSS (from /proc/self/status) after warm-up, at the end
  and at its peak, within ``--rss-slack-mb``; Python's live object count stays flat.

tests/test_soak.py runs a short version in the normal test suite.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import numpy as np

import actif
from actif.lab.report import reset_peak_rss, rss_kib

N_IN, T = 38, 10


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    cur, peak = rss_kib()
    return cur / 1024, peak / 1024


POISONS = (("non_finite", np.nan), ("non_finite", -np.inf), ("out_of_range", 5e7))
MALFORMED = (
    ("bad_shape", lambda batch: batch[..., :-1]),
    ("bad_dtype", lambda batch: batch.astype(np.complex64)),
    ("empty", lambda batch: batch[:0]),
)


class Soak:
    """One stream (window or stateful mode) fed with a known mix of bad input."""

    def __init__(self, model: actif.Model, stateful: bool, invalid_fraction: float, malformed_every: int,
                 checkpoint_path: str, checkpoint_every: int, seed: int, trace: str = actif.DEFAULT_TRACE):
        self.stateful = stateful
        options = {"n_steps": 8} if trace == "integrated" else {}  # few nodes: a soak is about the stream
        self.explainer = actif.StreamingExplainer(
            model, trace, stateful=stateful, on_invalid="skip", checkpoint_every=checkpoint_every,
            checkpoint_path=checkpoint_path, **options,
        )
        self.model = model
        self.rng = np.random.default_rng(seed)
        shape = (4096, N_IN) if stateful else (4096, T, N_IN)
        self.pool = self.rng.normal(size=shape).astype(np.float32)
        self.invalid_fraction = invalid_fraction
        self.malformed_every = malformed_every
        self.expected: Counter[str] = Counter()
        self.accepted = 0
        self.rows_fed = 0
        self.calls = 0

    def feed(self, rows: int) -> None:
        """One update call with ``rows`` windows (samples), some poisoned."""
        start = int(self.rng.integers(0, len(self.pool) - rows))
        batch = self.pool[start : start + rows].copy()
        self.calls += 1
        if self.malformed_every and self.calls % self.malformed_every == 0:
            reason, spoil = MALFORMED[(self.calls // self.malformed_every) % len(MALFORMED)]
            bad = spoil(batch)
            self.expected[reason] += 1 if reason == "empty" else rows
            self.explainer.update(bad)
            return
        hit = np.flatnonzero(self.rng.random(rows) < self.invalid_fraction)
        for r in hit:
            reason, value = POISONS[int(self.rng.integers(len(POISONS)))]
            where = (r, int(self.rng.integers(N_IN))) if self.stateful else (r, int(self.rng.integers(T)), int(self.rng.integers(N_IN)))
            batch[where] = value
            self.expected[reason] += 1
        y = self.explainer.update(batch)
        self.accepted += rows - len(hit)
        self.rows_fed += rows
        if len(hit) and not np.isnan(y[hit]).all():
            raise AssertionError("a skipped row got a prediction")

    def rows_expected(self) -> int:
        """Statistics rows the accepted input gives: T per window; one per sample, or for
        a stateful method the k-th sample's attribution over its last min(k, T) samples."""
        a = self.accepted
        if not self.stateful:
            return a * T
        if self.explainer.method is None:
            return a
        return min(a, T) * (min(a, T) + 1) // 2 + max(0, a - T) * T

    def check(self) -> None:
        st = self.explainer
        if dict(st.skipped) != dict(self.expected):
            raise AssertionError(f"skip counts {dict(st.skipped)} != injected {dict(self.expected)}")
        if st.n_updates != self.accepted:
            raise AssertionError(f"accepted {st.n_updates} != expected {self.accepted}")
        if st.stats.count != self.rows_expected():
            raise AssertionError("statistics count does not match the accepted rows")
        if not np.all(np.isfinite(st.scores())):
            raise AssertionError("non-finite scores")


def run(windows: int, samples: int, invalid_fraction: float = 0.01, malformed_every: int = 50, batch: int = 256,
        run_length: int = 64, hidden: int = 64, backend: str = "auto", checkpoint_every: int | None = None,
        rss_slack_mb: float = 8.0, report_every: float = 0.0, seed: int = 0,
        trace: str = actif.DEFAULT_TRACE) -> dict[str, Any]:
    """Stream ``windows`` windows and ``samples`` stateful samples with ``trace`` (a
    forward trace or an attribution method); return the figures (raises AssertionError
    when an invariant breaks)."""
    model = actif.random_model(N_IN, hidden, 1, pooling="max", seed=seed, backend=backend, window=T)
    tmp = tempfile.mkdtemp(prefix="actif-soak-")
    soaks = []
    if windows:
        soaks.append((Soak(model, False, invalid_fraction, malformed_every, os.path.join(tmp, "window.ck"),
                           checkpoint_every or max(1, windows // 20), seed, trace), windows, batch))
    if samples:
        soaks.append((Soak(model, True, invalid_fraction, malformed_every, os.path.join(tmp, "stateful.ck"),
                           checkpoint_every or max(1, samples // 20), seed + 1, trace), samples, run_length))
    # warm-up: a few percent of the work, so allocator pools and caches reach steady state
    for soak, total, rows in soaks:
        while soak.rows_fed < max(rows * 20, total // 50):
            soak.feed(rows)
    gc.collect()
    rss_start, _ = rss_mb()
    objects_start = len(gc.get_objects())
    peak_reset = reset_peak_rss()
    t0 = last_report = time.perf_counter()
    for soak, total, rows in soaks:
        while soak.rows_fed < total:
            soak.feed(min(rows, total - soak.rows_fed))
            if soak.calls % 500 == 0:
                soak.check()
            if report_every and time.perf_counter() - last_report > report_every:
                last_report = time.perf_counter()
                cur, peak = rss_mb()
                print(f"  {'stateful' if soak.stateful else 'window'}: {soak.rows_fed:,}/{total:,} rows, "
                      f"RSS {cur:.1f} MB (peak {peak:.1f})", flush=True)
        soak.check()
    seconds = time.perf_counter() - t0
    gc.collect()
    rss_end, rss_peak = rss_mb()
    objects_end = len(gc.get_objects())
    for soak, _, _ in soaks:  # the last checkpoint restores; its counters are never ahead
        back = actif.StreamingExplainer.restore(soak.explainer.checkpoint_path, model)
        if not 0 < back.n_updates <= soak.explainer.n_updates:
            raise AssertionError("checkpoint counters are wrong")
    figures = {
        "windows": windows, "samples": samples, "trace": trace, "invalid_fraction": invalid_fraction,
        "skipped": {("stateful" if s.stateful else "window"): dict(s.explainer.skipped) for s, _, _ in soaks},
        "seconds": round(seconds, 1),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "rss_peak_mb": round(rss_peak, 1) if peak_reset else None,
        "python_objects_delta": objects_end - objects_start,
    }
    if rss_end - rss_start > rss_slack_mb:
        raise AssertionError(f"RSS grew from {rss_start:.1f} to {rss_end:.1f} MB: {figures}")
    if peak_reset and rss_peak - rss_start > rss_slack_mb:
        raise AssertionError(f"peak RSS {rss_peak:.1f} MB exceeds start {rss_start:.1f} MB + slack: {figures}")
    if objects_end - objects_start > 1000:
        raise AssertionError(f"{objects_end - objects_start} more live Python objects after the soak: {figures}")
    return figures


def record(results_dir: str, figures: dict) -> None:
    """Write the run as a benchmark suite (JSON + Markdown via actif.lab.report)."""
    from actif.lab.report import write_suite

    rows = [{"mode": mode, "reason": reason, "skipped": count}
            for mode, reasons in figures["skipped"].items() for reason, count in sorted(reasons.items())]
    write_suite(results_dir, "soak", {
        "title": "Soak: a long stream with invalid input injected",
        "figures": figures,
        "columns": [["mode", "Mode"], ["reason", "Skip reason"], ["skipped", "Skipped (exact)"]],
        "rows": rows,
        "summary": [
            f"{figures['windows']:,} windows and {figures['samples']:,} stateful samples with "
            f"{figures['invalid_fraction']:.0%} invalid rows and malformed calls in {figures['seconds']:.0f} s; RSS "
            f"{figures['rss_start_mb']} MB at start, {figures['rss_end_mb']} MB at the end, {figures['rss_peak_mb']} MB "
            f"at peak; every skip count equal to the injected count.",
        ],
    })


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=2_000_000, help="windows streamed in window mode (default 2e6)")
    p.add_argument("--samples", type=int, default=200_000, help="samples streamed in stateful mode (default 2e5)")
    p.add_argument("--invalid-fraction", type=float, default=0.01)
    p.add_argument("--malformed-every", type=int, default=50, help="one malformed call every N calls (default 50)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--trace", default=actif.DEFAULT_TRACE,
                   help=f"a forward trace or an attribution method (default {actif.DEFAULT_TRACE})")
    p.add_argument("--rss-slack-mb", type=float, default=8.0)
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--results", help="also record the run as the 'soak' suite in this results directory "
                   "(benchmarks/results), for the README")
    args = p.parse_args(argv)
    print(f"soak: {args.windows:,} windows + {args.samples:,} samples, {args.invalid_fraction:.1%} invalid, "
          f"trace {args.trace}", flush=True)
    figures = run(args.windows, args.samples, args.invalid_fraction, malformed_every=args.malformed_every,
                  backend=args.backend, hidden=args.hidden, rss_slack_mb=args.rss_slack_mb, report_every=30.0,
                  trace=args.trace)
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)
    if args.results:
        record(args.results, figures)
    print("soak: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

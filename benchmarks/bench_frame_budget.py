"""Per-frame budget: the cost of one streaming update against 90 Hz and 120 Hz frames.

One frame = one new gaze sample in, the prediction and the updated feature scores out,
with the bundled model (foval_edge: LSTM 64, 37 features, T=10), one thread. Measured per
call (perf_counter_ns) over many frames of a simulated gaze session, after a warm-up:

- actif stateful (``StreamingExplainer(stateful=True).update(sample)`` + ``scores()``) on
  every engine this machine has (cpp, numba, onnxruntime, tflite);
- actif window mode (the last 10 samples re-run from a zero state each frame, exactly as
  the model was trained) + ``scores()``, cpp;
- actif's attribution methods in stateful mode on cpp (``StreamingExplainer(trace=m,
  stateful=True)``: each frame's prediction attributed to the last 10 samples from the
  state carried into the oldest, |A| into the statistics) + ``scores()``: ``gradient``,
  ``deeplift``, ``lrp``, ``occlusion``, and ``integrated`` with Captum's 50 nodes and
  with the count ``actif.choose_n_steps`` picks on the session's first 256 windows;
- for comparison, in the same process: the PyTorch forward of the current window alone (no
  attribution); reference-style DeepACTIF per frame (forward with hooks, scores recomputed
  from everything kept) after one minute of stream at 90 Hz (5,400 frames kept); Captum's
  InputXGradient, DeepLift, FeatureAblation and IntegratedGradients (n_steps=50) of the
  current window, with the settings of the faithfulness suites (attribution_methods.py).

Engines are measured in interleaved blocks (A, B, C, A, B, C, ...) so machine noise hits
all alike. Budgets: 1/90 s = 11.1 ms, 1/120 s = 8.33 ms; the table gives the median and
the 99th percentile as a fraction of each.

    python benchmarks/bench_frame_budget.py                      # ~1 min, no data needed
    python benchmarks/bench_frame_budget.py --quick --results /tmp/r   # ~5 s
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from suite_io import publish, results_dir, suite_name  # noqa: E402

SUITE = "frame_budget"
BUDGETS_MS = {"90 Hz": 1000.0 / 90.0, "120 Hz": 1000.0 / 120.0}
REFERENCE_HISTORY = 5400  # one minute at 90 Hz


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_frame_budget.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=2000, help="timed frames per engine (default 2000)")
    p.add_argument("--blocks", type=int, default=5, help="interleaved blocks the frames are split into (default 5)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch/Captum comparisons")
    p.add_argument("--quick", action="store_true", help="200 frames: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    p.add_argument("--note", action="append", default=[], help="a note stored with the results (machine load, "
                   "a comparison run); repeatable")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.blocks = 200, 2
    return args


def session_samples(n: int) -> np.ndarray:
    from actif.lab.data import compute_features, simulate_session

    record = simulate_session(max(10.0, n / 55.0 + 5.0), seed=7, dropout_rate_hz=0.0)
    F, _ = compute_features(record)
    F = np.nan_to_num(F.astype(np.float32))
    return np.ascontiguousarray(np.resize(F, (n + 16, F.shape[1])))


def engines(spec, samples: np.ndarray, with_torch: bool) -> dict[str, Callable[[int], object]]:
    """name -> frame(i) for the i-th sample (every engine sees the same stream)."""
    import actif

    T = int(spec.window)
    out: dict[str, Callable[[int], object]] = {}
    for engine in ("cpp", "numba", "onnxruntime", "tflite"):
        if engine not in actif.available_backends():
            continue
        st = actif.StreamingExplainer(actif.Model(spec, engine, num_threads=1, max_abs=None), stateful=True)

        def frame(i, st=st):
            y = st.update(samples[i])
            return y, st.scores()

        out[f"actif {engine}: stateful sample + scores"] = frame
    if "cpp" in actif.available_backends():
        wst = actif.StreamingExplainer(actif.Model(spec, "cpp", num_threads=1, max_abs=None))

        def window_frame(i):
            y = wst.update(samples[i : i + T])
            return y, wst.scores()

        out["actif cpp: window mode (last 10 samples) + scores"] = window_frame
        out.update(method_frames(spec, samples))
    if not with_torch:
        return out
    import torch

    module = am.torch_module(spec, threads=1)

    def torch_frame(i):
        with torch.no_grad():
            return module(torch.from_numpy(samples[None, i : i + T]))

    out["PyTorch forward of the window (no attribution)"] = torch_frame
    ref = am.ReferenceDeepACTIF(module, "weighted", "inverse")
    history = np.resize(samples, (REFERENCE_HISTORY + T, samples.shape[1]))
    windows = np.lib.stride_tricks.sliding_window_view(history, (T, samples.shape[1]))[:, 0]
    for start in range(0, REFERENCE_HISTORY, 512):  # one minute of frames already kept
        ref.feed(windows[start : min(start + 512, REFERENCE_HISTORY)])

    def reference_frame(i):
        ref.feed(samples[None, i : i + T])
        s = ref.scores()
        ref.inputs.pop()  # keep the history at one minute, so every timed frame sees the same
        ref.hidden.pop()
        return s

    out["reference-style DeepACTIF: window + scores over 1 min kept"] = reference_frame
    base = am.training_mean(spec)
    background = windows[:8]
    for key, label in CAPTUM_FRAMES.items():
        def captum_frame(i, key=key):
            return am.gradient_attributions(key, module, samples[None, i : i + T], baseline=base, background=background)

        out[label] = captum_frame
    return out


# Captum's methods per frame: key in attribution_methods.gradient_attributions -> row
CAPTUM_FRAMES = {
    "ixg": "Captum InputXGradient of the window",
    "deeplift": "Captum DeepLift of the window",
    "ablation": "Captum FeatureAblation of the window",
    "ig": f"Captum IntegratedGradients of the window (n_steps={am.IG_STEPS})",
}
# actif's stateful method rows and the Captum row each is set beside in the summary
METHOD_PEERS = {"gradient": "ixg", "deeplift": "deeplift", "lrp": None, "occlusion": "ablation", "integrated": "ig"}


def method_frames(spec, samples: np.ndarray) -> dict[str, Callable[[int], object]]:
    """actif's attribution methods in stateful mode on the cpp backend, one sample a frame."""
    import actif

    model = actif.Model(spec, "cpp", num_threads=1, max_abs=None)
    T = int(spec.window)
    windows = np.lib.stride_tricks.sliding_window_view(samples, (T, samples.shape[1]))[:256, 0]
    chosen = actif.choose_n_steps(model, np.ascontiguousarray(windows), target=0).n_steps
    rows = [(m, {}, m) for m in METHOD_PEERS if m != "integrated"] + [
        ("integrated", {"n_steps": am.IG_STEPS}, f"integrated (n_steps={am.IG_STEPS}, Captum's)"),
        ("integrated", {"n_steps": chosen}, f"integrated (n_steps={chosen}, choose_n_steps)"),
    ]
    out: dict[str, Callable[[int], object]] = {}
    for method, opts, label in rows:
        st = actif.StreamingExplainer(model, method, stateful=True, target=0, **opts)

        def frame(i, st=st):
            y = st.update(samples[i])
            return y, st.scores()

        out[f"actif cpp: stateful sample + {label} + scores"] = frame
    return out


def method_summary(rows: list[dict]) -> list[str]:
    """One line on actif's stateful methods per frame, and one setting each beside the
    Captum method of the same definition on the same window (medians, same run)."""
    by_name = {r["engine"]: r for r in rows}
    prefix = "actif cpp: stateful sample + "
    ours = [r for r in rows if r["engine"].startswith(prefix) and r["engine"] != prefix + "scores"]
    if not ours:
        return []
    label = lambda r: r["engine"][len(prefix):].removesuffix(" + scores")  # noqa: E731
    lines = ["actif's attribution methods in stateful mode (cpp), median (p99) per frame: " + "; ".join(
        f"{label(r)} {r['median_us']:.0f} µs ({r['p99_us']:.0f}), {r['median_of_90']:.1%} of a 90 Hz frame" for r in ours) + "."]
    ratios = []
    for r in ours:
        peer = CAPTUM_FRAMES.get(METHOD_PEERS.get(label(r).split(" ")[0]) or "")
        if peer in by_name:
            ratios.append(f"{label(r)} {by_name[peer]['median_us'] / r['median_us']:.1f}x faster than {peer}")
    if ratios:
        lines.append("Per frame, beside Captum on the current window (medians): " + "; ".join(ratios) + ".")
    return lines


def measure(fns: dict[str, Callable[[int], object]], frames: int, blocks: int) -> dict[str, np.ndarray]:
    """Per-frame times (ns) for each engine, blocks interleaved across engines."""
    per_block = max(1, frames // blocks)
    times = {name: [] for name in fns}
    for fn in fns.values():  # warm-up (JIT compilation, first allocations) before judging speed
        for i in range(3):
            fn(i)
    slow = {name for name, fn in fns.items() if min(_one(fn, i) for i in range(3)) > 5e6}  # > 5 ms a frame: fewer frames
    for name, fn in fns.items():
        for i in range(20 if name not in slow else 0):
            fn(i)
    pos = {name: 0 for name in fns}
    for _ in range(blocks):
        for name, fn in fns.items():
            count = per_block if name not in slow else max(5, per_block // 20)
            for _ in range(count):
                i = pos[name] % 1000
                t0 = time.perf_counter_ns()
                fn(i)
                times[name].append(time.perf_counter_ns() - t0)
                pos[name] += 1
    return {n: np.asarray(v, dtype=np.float64) for n, v in times.items()}


def _one(fn, i) -> float:
    t0 = time.perf_counter_ns()
    fn(i)
    return float(time.perf_counter_ns() - t0)


def main(argv=None) -> int:
    args = parse_args(argv)
    from actif.bundled import bundled_model_path
    from actif.model import load_spec

    spec = load_spec(bundled_model_path())
    samples = session_samples(1100)
    with_torch = not args.no_torch
    if with_torch:
        try:
            import captum  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            with_torch = False
    times = measure(engines(spec, samples, with_torch), args.frames, args.blocks)
    rows = []
    for name, t in times.items():
        med, p99 = float(np.median(t)) / 1e3, float(np.percentile(t, 99)) / 1e3
        row = {"engine": name, "frames": len(t), "median_us": med, "p99_us": p99, "max_us": float(t.max()) / 1e3}
        for label, ms in BUDGETS_MS.items():
            key = label.split()[0]
            row[f"median_of_{key}"] = med / (ms * 1e3)
            row[f"p99_of_{key}"] = p99 / (ms * 1e3)
        rows.append(row)
        print(f"{name}: median {med:.1f} µs, p99 {p99:.1f} µs ({row['median_of_90']:.2%} of a 90 Hz frame)", flush=True)
    main_row = rows[0]
    summary = [f"{main_row['engine']}: median {main_row['median_us']:.0f} µs, p99 {main_row['p99_us']:.0f} µs per frame = "
               f"{main_row['median_of_90']:.2%} (p99 {main_row['p99_of_90']:.2%}) of a 90 Hz frame, "
               f"{main_row['median_of_120']:.2%} (p99 {main_row['p99_of_120']:.2%}) of a 120 Hz frame."]
    summary += method_summary(rows)
    over = [r["engine"] for r in rows if r["p99_of_120"] > 1.0]
    if over:
        summary.append("Over a 120 Hz frame at the 99th percentile: " + "; ".join(over) + ".")
    doc = {
        "title": "Per-frame budget: one streaming update (sample in, prediction and scores out), bundled model, 1 thread",
        "columns": [["engine", "Per frame"], ["frames", "Frames"], ["median_us", "Median µs"], ["p99_us", "p99 µs"], ["max_us", "Max µs"],
                    ["median_of_90", "Median / 11.1 ms"], ["p99_of_90", "p99 / 11.1 ms"], ["median_of_120", "Median / 8.33 ms"],
                    ["p99_of_120", "p99 / 8.33 ms"]],
        "rows": rows,
        "readme_rows": rows,
        "summary": summary,
        "plots": [{"kind": "bars", "file": suite_name(SUITE, args.quick) + ".png", "x": "engine", "y": "p99_of_90",
                   "logx": True, "xlabel": "fraction of an 11.1 ms frame (log scale)", "ylabel": "",
                   "hlines": [], "title": "99th-percentile frame time, share of a 90 Hz frame"}],
        "notes": ["Slow comparisons (over 5 ms a frame) are timed on fewer frames. The reference-style row keeps one "
                  "minute of windows and recomputes its statistics from them each frame, as an implementation that keeps "
                  "everything must; its cost grows with the history kept.", *args.note],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

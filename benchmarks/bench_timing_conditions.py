"""What the conditions of a timing do to actif's ratios against Captum, through the public API.

The attribution-cost suite times every method under one set of conditions: actif with
the best kernel set the CPU runs, Captum with denormal floats flushed to zero. This
suite shows what each condition is worth, on the same models (the bundled foval_edge,
H=64, and the FOVAL-shaped H=128 model of bench_attribution_cost.py), one thread, the
repetitions interleaved across engines:

- actif ``gradient`` streamed (``StreamingExplainer.update``) with each kernel set this
  build and CPU run (``scalar`` left out), against Captum's InputXGradient;
- Captum's InputXGradient and IntegratedGradients (50 steps) with denormals flushed
  (``torch.set_flush_denormal(True)`` while each call runs, as the suites time them) and
  kept (PyTorch's default);
- the first call after a pause: on the bundled model at batch 256, each engine called
  after 0.3 s of other (Python) work and then the same call again at once. The
  faithfulness suites (attribution_methods.time_methods) time the second kind.

    python benchmarks/bench_timing_conditions.py                 # ~2 min
    python benchmarks/bench_timing_conditions.py --quick --results /tmp/r   # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
import bench_attribution_cost as cost  # noqa: E402
from bench_kernels import measure  # noqa: E402
from suite_io import publish, results_dir  # noqa: E402

SUITE = "timing_conditions"
CAPTUM_METHODS = {"ixg": "Captum InputXGradient", "ig": "Captum IntegratedGradients"}


def simd_sets() -> list[str]:
    from actif.backends.cpp import supported_isas

    return [isa for isa in supported_isas() if isa != "scalar"]


def engines(spec, X: np.ndarray) -> dict:
    """Every engine of one model and batch: a label -> (call, condition)."""
    from actif.backends.cpp import set_isa

    out = {}
    model = cost.actif_model(spec, "cpp")
    streamed, _ = cost.actif_call(model, "gradient", X)
    for isa in simd_sets():
        def call(isa=isa):
            set_isa(isa)  # a pointer store: the kernels are chosen per call
            return streamed()

        out[f"actif cpp: gradient, {isa} kernels"] = call
    module = am.torch_module(spec, threads=1)
    for method, label in CAPTUM_METHODS.items():
        out[f"{label}, denormals flushed"] = cost.captum_call(method, module, X, am.training_mean(spec))
        out[f"{label}, denormals kept"] = cost.unflushed_captum_call(method, module, X, am.training_mean(spec))
    return out


PAUSE_S = 0.3  # about what one other method's call takes between a suite's timed calls


def first_call_and_again(calls: dict, reps: int, pause_s: float) -> dict[str, tuple[float, float]]:
    """Per engine, the median seconds of a call made after ``pause_s`` of Python work
    (a busy loop: no sleep, no memory traffic) and of the same call made again at once."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            end = time.perf_counter() + pause_s
            while time.perf_counter() < end:
                pass
            t0 = time.perf_counter()
            call()
            t1 = time.perf_counter()
            call()
            samples[name].append((t1 - t0, time.perf_counter() - t1))
    return {name: (float(np.median([a for a, _ in v])), float(np.median([b for _, b in v]))) for name, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_timing_conditions.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timing per engine and shape (default 1)")
    p.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    p.add_argument("--quick", action="store_true", help="bundled model, batch 1, short budgets: a smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    try:
        import captum  # noqa: F401
        import torch

        torch.set_num_threads(1)
    except ImportError:
        print("PyTorch/Captum not installed: nothing to compare")
        return 0
    from actif.backends.cpp import set_isa

    if args.quick:
        args.budget, args.reps = 0.1, 2
    rows, summary, pauses = [], [], []
    bundled = next(iter(cost.models(True)))  # the bundled model comes first
    rng = np.random.default_rng(0)
    try:
        for label, spec in cost.models(args.quick).items():
            for batch in (1,) if args.quick else (1, 256):
                X = rng.normal(size=(batch, spec.window or 10, spec.input_size)).astype(np.float32)
                calls = engines(spec, X)
                times = {name: sec * 1e6 / batch for name, sec in measure(calls, args.budget, args.reps).items()}
                if label == bundled and batch == (1 if args.quick else 256):
                    best = f"actif cpp: gradient, {simd_sets()[-1]} kernels"
                    pair = {name: calls[name] for name in (best, "Captum InputXGradient, denormals flushed")}
                    for name, (first, again) in first_call_and_again(pair, 2 if args.quick else 7,
                                                                     0.02 if args.quick else PAUSE_S).items():
                        pauses.append({"model": label, "batch": batch, "engine": name, "first_ms": first * 1e3,
                                       "again_ms": again * 1e3, "extra_ms": (first - again) * 1e3})
                rows += [{"model": label, "batch": batch, "engine": name, "us_per_window": us} for name, us in times.items()]
                ixg = times["Captum InputXGradient, denormals flushed"]
                ours = ", ".join(f"{isa} {ixg / times[f'actif cpp: gradient, {isa} kernels']:.1f}x" for isa in simd_sets())
                kept = ", ".join(f"{name} {times[f'{name}, denormals kept'] / times[f'{name}, denormals flushed']:.2f}x"
                                 for name in CAPTUM_METHODS.values())
                summary.append(f"{label}, batch {batch}: gradient against InputXGradient (flushed) with {ours}; "
                               f"denormals kept against flushed: {kept}.")
    finally:
        set_isa("auto")
    summary += [f"{p['engine']} ({p['model']}, batch {p['batch']}): the first call after a pause took {p['first_ms']:.2f} ms, "
                f"the same call again at once {p['again_ms']:.2f} ms ({p['extra_ms']:+.2f} ms)." for p in pauses]
    publish(args.results, SUITE, {
        "title": "Timing conditions: actif's kernel set and Captum's denormal handling (1 thread)",
        "columns": [["model", "Model"], ["batch", "Batch"], ["engine", "Engine"], ["us_per_window", "µs/window"]],
        "rows": rows,
        "summary": summary,
        "tables": [{"title": f"The first call after a pause ({PAUSE_S} s of Python work) and the same call again at once",
                    "columns": [["model", "Model"], ["batch", "Batch"], ["engine", "Engine"], ["first_ms", "First call (ms)"],
                                ["again_ms", "Again at once (ms)"], ["extra_ms", "Extra (ms)"]],
                    "rows": pauses}],
        "notes": ["actif's gradient streamed into running statistics (StreamingExplainer.update) with the kernel set "
                  "pinned (actif.backends.cpp.set_isa, as ACTIF_ISA does at start-up); Captum on the equivalent PyTorch "
                  "module, one thread, as in bench_attribution_cost.py. Each figure is the median of interleaved "
                  "repetitions; read the ratios."],
    }, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
  kept (PyTorch's default).

    python benchmarks/bench_timing_conditions.py                 # ~2 min
    python benchmarks/bench_timing_conditions.py --quick --results /tmp/r   # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys

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
    rows, summary = [], []
    rng = np.random.default_rng(0)
    try:
        for label, spec in cost.models(args.quick).items():
            for batch in (1,) if args.quick else (1, 256):
                X = rng.normal(size=(batch, spec.window or 10, spec.input_size)).astype(np.float32)
                times = {name: sec * 1e6 / batch for name, sec in measure(engines(spec, X), args.budget, args.reps).items()}
                rows += [{"model": label, "batch": batch, "engine": name, "us_per_window": us} for name, us in times.items()]
                ixg = times["Captum InputXGradient, denormals flushed"]
                ours = ", ".join(f"{isa} {ixg / times[f'actif cpp: gradient, {isa} kernels']:.1f}x" for isa in simd_sets())
                kept = ", ".join(f"{name} {times[f'{name}, denormals kept'] / times[f'{name}, denormals flushed']:.2f}x"
                                 for name in CAPTUM_METHODS.values())
                summary.append(f"{label}, batch {batch}: gradient against InputXGradient (flushed) with {ours}; "
                               f"denormals kept against flushed: {kept}.")
    finally:
        set_isa("auto")
    publish(args.results, SUITE, {
        "title": "Timing conditions: actif's kernel set and Captum's denormal handling (1 thread)",
        "columns": [["model", "Model"], ["batch", "Batch"], ["engine", "Engine"], ["us_per_window", "µs/window"]],
        "rows": rows,
        "summary": summary,
        "notes": ["actif's gradient streamed into running statistics (StreamingExplainer.update) with the kernel set "
                  "pinned (actif.backends.cpp.set_isa, as ACTIF_ISA does at start-up); Captum on the equivalent PyTorch "
                  "module, one thread, as in bench_attribution_cost.py. Each figure is the median of interleaved "
                  "repetitions; read the ratios."],
    }, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kernel benchmark: actif's engines against PyTorch, onnxruntime and TFLite, side by side.

For I=38 inputs, T=10 steps and H in {64, 128, 256} (a FOVAL-shaped model: LSTM -> max
over time -> BatchNorm -> dense 32/ELU -> 1), in one process:

* per-window latency at batch 1 and throughput at batch 256, for actif's cpp backend
  (forward alone: Model.predict; forward + attribution: StreamingExplainer.update with
  the weighted trace and inverse scores), numba, numpy (float32), PyTorch nn.LSTM plus
  the same head, onnxruntime and TFLite running the files actif exports;
* the stateful single-sample step (one new sample in, prediction out): actif
  (StreamingExplainer stateful update, with attribution), and one PyTorch call of the
  LSTM on one step with carried state plus the head.

Every engine runs with one thread unless --threads says otherwise. Repetitions are
interleaved across engines (engine A, B, C, A, B, C, ...) so machine noise hits all
alike; each figure is the median over repetitions of the mean time per call in a block.
Results go to benchmarks/results/kernels.json (+ .md, .png) via actif.lab.report.

    python benchmarks/bench_kernels.py                # full run (a few minutes)
    python benchmarks/bench_kernels.py --quick        # CI smoke run (H=64 only, short)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

import numpy as np

import actif
from actif.model_spec import ModelSpec, random_spec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite_io import publish, results_dir, suite_name  # noqa: E402

SUITE = "kernels"
I, T = 38, 10


def fovalish_spec(hidden: int) -> ModelSpec:
    return random_spec(I, hidden, 1, pooling="max", dense_sizes=(32,), activation="elu", batchnorm=True,
                       normalization=True, window=T, seed=hidden)


# ------------------------------------------------------------------------- engines
# Each factory returns a callable running one call on its prepared input, or None when
# the engine is not installed. Window engines take X (N, T, I); step engines take x (I,).


def actif_forward(backend: str, threads: int) -> Callable[[ModelSpec, np.ndarray], Callable[[], object]] | None:
    if backend not in actif.available_backends():
        return None
    opts = {"dtype": np.float32} if backend == "numpy" else {}

    def make(spec: ModelSpec, X: np.ndarray):
        m = actif.Model(spec, backend, num_threads=threads, **opts)
        return lambda: m.predict(X)

    return make


def actif_attribute(backend: str, threads: int):
    if backend not in actif.available_backends():
        return None
    opts = {"dtype": np.float32} if backend == "numpy" else {}

    def make(spec: ModelSpec, X: np.ndarray):
        st = actif.StreamingExplainer(actif.Model(spec, backend, num_threads=threads, **opts))
        data = X[0] if len(X) == 1 else X  # one window (T, I) is the streaming call
        return lambda: st.update(data)

    return make


def torch_forward(threads: int):
    try:
        import torch

        from actif.interchange.torch_module import torch_module_from_spec
    except ImportError:
        return None

    def make(spec: ModelSpec, X: np.ndarray):
        torch.set_num_threads(threads)
        module = torch_module_from_spec(spec).eval()
        x = torch.from_numpy(X)

        def call():
            with torch.no_grad():
                return module(x).numpy()

        return call

    return make


def ort_forward(threads: int):
    try:
        import onnxruntime as ort

        from actif.interchange.onnx_export import spec_to_onnx
    except ImportError:
        return None

    def make(spec: ModelSpec, X: np.ndarray):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(spec_to_onnx(spec).SerializeToString(), opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda: sess.run(["y"], {name: X})

    return make


def tflite_forward(threads: int):
    try:
        from actif.backends.tflite_rt import check_available, interpreter_class
        from actif.interchange.tflite_export import spec_to_tflite

        check_available()
    except ImportError:
        return None

    def make(spec: ModelSpec, X: np.ndarray):
        interp = interpreter_class()(model_content=spec_to_tflite(spec, batch_size=len(X), window=T), num_threads=threads)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]["index"]
        out = [d["index"] for d in interp.get_output_details() if d["name"].endswith("y") or d["name"] == "y"][0]

        def call():
            interp.reset_all_variables()
            interp.set_tensor(inp, X)
            interp.invoke()
            return interp.get_tensor(out)

        return call

    return make


def actif_step(backend: str):
    if backend not in actif.available_backends():
        return None

    def make(spec: ModelSpec, x: np.ndarray):
        st = actif.StreamingExplainer(actif.Model(spec, backend, num_threads=1), stateful=True)
        return lambda: st.update(x)

    return make


def torch_step():
    try:
        import torch

        from actif.interchange.torch_module import torch_module_from_spec
    except ImportError:
        return None

    def make(spec: ModelSpec, x: np.ndarray):
        torch.set_num_threads(1)
        module = torch_module_from_spec(spec).eval()
        lstm = module.lstm[0]
        xt = module.input_affine(torch.from_numpy(x).reshape(1, 1, -1)) if module.input_affine is not None else torch.from_numpy(x).reshape(1, 1, -1)
        state = [torch.zeros(1, 1, spec.hidden_size), torch.zeros(1, 1, spec.hidden_size)]

        def call():
            with torch.no_grad():
                out, (h, c) = lstm(xt, (state[0], state[1]))
                state[0], state[1] = h, c
                pooled = out[:, -1]
                if module.batchnorm is not None:
                    pooled = module.batchnorm(pooled)
                return module.head(pooled)

        return call

    return make


# ------------------------------------------------------------------------- timing


def measure(engines: dict[str, Callable[[], object]], budget_s: float, reps: int) -> dict[str, float]:
    """Median seconds per call for each engine, repetitions interleaved across engines."""
    inner = {}
    for name, fn in engines.items():
        fn()  # warm-up (JIT, allocation)
        t0 = time.perf_counter()
        k = 0
        while time.perf_counter() - t0 < 0.05 or k < 2:
            fn()
            k += 1
        per_call = (time.perf_counter() - t0) / k
        inner[name] = max(1, int(budget_s / reps / max(per_call, 1e-7)))
    samples: dict[str, list[float]] = {n: [] for n in engines}
    for _ in range(reps):
        for name, fn in engines.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return {n: float(np.median(v)) for n, v in samples.items()}


def run(hiddens: list[int], threads: int, budget_s: float, reps: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    window_engines = {
        "actif cpp: forward": actif_forward("cpp", threads),
        "actif cpp: forward + attribution": actif_attribute("cpp", threads),
        "actif numba: forward": actif_forward("numba", threads),
        "actif numba: forward + attribution": actif_attribute("numba", threads),
        "actif numpy (float32): forward": actif_forward("numpy", threads),
        "PyTorch nn.LSTM + head": torch_forward(threads),
        "onnxruntime (actif's .onnx)": ort_forward(threads),
        "TFLite (actif's .tflite)": tflite_forward(threads),
    }
    step_engines = {
        "actif cpp: stateful step + attribution": actif_step("cpp"),
        "actif numba: stateful step + attribution": actif_step("numba"),
        "PyTorch: one LSTM step call + head": torch_step(),
    }
    for hidden in hiddens:
        spec = fovalish_spec(hidden)
        for batch in (1, 256):
            X = rng.normal(size=(batch, T, I)).astype(np.float32)
            engines = {n: make(spec, X) for n, make in window_engines.items() if make is not None}
            # the numpy reference is slow at batch 256: give it a smaller share of the budget
            times = measure(engines, budget_s, reps)
            for name, sec in times.items():
                rows.append({"kind": "window", "engine": name, "hidden": hidden, "batch": batch, "threads": threads,
                             "us_per_call": sec * 1e6, "us_per_window": sec * 1e6 / batch, "windows_per_s": batch / sec})
            print(f"H={hidden} batch={batch}: " + ", ".join(f"{n} {s * 1e6 / batch:.1f} µs/window" for n, s in times.items()), flush=True)
        x = rng.normal(size=I).astype(np.float32)
        engines = {n: make(spec, x) for n, make in step_engines.items() if make is not None}
        times = measure(engines, budget_s / 2, reps)
        for name, sec in times.items():
            rows.append({"kind": "step", "engine": name, "hidden": hidden, "batch": 1, "threads": 1,
                         "us_per_call": sec * 1e6, "us_per_window": None, "windows_per_s": None})
        print(f"H={hidden} step: " + ", ".join(f"{n} {s * 1e6:.1f} µs" for n, s in times.items()), flush=True)
    return rows


def find(rows, engine, hidden, batch, kind="window"):
    for r in rows:
        if r["engine"] == engine and r["hidden"] == hidden and r["batch"] == batch and r["kind"] == kind:
            return r["us_per_call"]
    return None


def targets(rows, hidden: int) -> list[dict]:
    out = []

    def ratio(a, b):
        return None if a is None or b is None else a / b

    fa1, ort1 = find(rows, "actif cpp: forward + attribution", hidden, 1), find(rows, "onnxruntime (actif's .onnx)", hidden, 1)
    fa256, ort256 = find(rows, "actif cpp: forward + attribution", hidden, 256), find(rows, "onnxruntime (actif's .onnx)", hidden, 256)
    f256 = find(rows, "actif cpp: forward", hidden, 256)
    step, tstep = find(rows, "actif cpp: stateful step + attribution", hidden, 1, "step"), find(rows, "PyTorch: one LSTM step call + head", hidden, 1, "step")
    nb256 = find(rows, "actif numba: forward", hidden, 256)

    def add(name, goal, value, met, text):
        out.append({"name": name, "goal": goal, "measured": text if value is not None else "not measured (engine missing)",
                    "met": bool(met) if value is not None else None})

    r = ratio(ort1, fa1)
    add(f"cpp forward+attribution vs onnxruntime forward, batch 1, H={hidden}", ">= 2x faster", r, r is not None and r >= 2,
        f"{r:.2f}x ({fa1:.1f} vs {ort1:.1f} µs)" if r else "")
    r = ratio(ort256, fa256)
    add(f"cpp forward+attribution vs onnxruntime forward, batch 256, H={hidden}", "not slower (>= 1x)", r, r is not None and r >= 1,
        f"{r:.2f}x ({fa256 / 1e3:.2f} vs {ort256 / 1e3:.2f} ms)" if r else "")
    r = ratio(fa256, f256)
    add(f"attribution overhead over cpp forward, batch 256, H={hidden}", "<= +10%", r, r is not None and r <= 1.10,
        f"{(r - 1) * 100:+.1f}%" if r else "")
    r = ratio(tstep, step)
    add(f"stateful step vs one PyTorch single-step call, H={hidden}", ">= 10x faster", r, r is not None and r >= 10,
        f"{r:.1f}x ({step:.1f} vs {tstep:.1f} µs)" if r else "")
    r = ratio(nb256, f256)
    add(f"numba forward vs cpp forward, batch 256, H={hidden}", "within 3x", r, r is not None and r <= 3,
        f"{r:.2f}x slower" if r else "")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", default="64,128,256", help="hidden sizes (default 64,128,256)")
    p.add_argument("--threads", type=int, default=1, help="threads per engine (default 1)")
    p.add_argument("--budget", type=float, default=3.0, help="seconds of timing per engine and shape (default 3)")
    p.add_argument("--reps", type=int, default=7, help="interleaved repetitions (default 7)")
    p.add_argument("--quick", action="store_true", help="H=64, short budget: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    p.add_argument("--note", action="append", default=[], help="a note stored with the results (machine load); repeatable")
    args = p.parse_args(argv)
    hiddens = [64] if args.quick else [int(h) for h in args.hidden.split(",")]
    budget, reps = (0.3, 3) if args.quick else (args.budget, args.reps)
    rows = run(hiddens, args.threads, budget, reps)
    key_h = 128 if 128 in hiddens else hiddens[0]
    tg = targets(rows, key_h)
    readme_rows = [r for r in rows if r["hidden"] == key_h]
    doc = {
        "title": f"Kernel speed: I=38, T=10, {args.threads} thread(s) per engine",
        "columns": [["kind", "Mode"], ["engine", "Engine"], ["hidden", "H"], ["batch", "Batch"],
                    ["us_per_call", "µs/call"], ["us_per_window", "µs/window"], ["windows_per_s", "windows/s"]],
        "rows": rows,
        "readme_rows": readme_rows,
        "targets": tg,
        "summary": [f"{t['name']}: {t['measured']} (goal {t['goal']})" for t in tg if t["met"] is not None],
        "plots": [
            {"kind": "lines", "file": suite_name(SUITE, args.quick) + "_batch256.png", "x": "hidden", "y": "us_per_window", "series": "engine",
             "where": {"batch": 256, "kind": "window"}, "logy": True, "xlabel": "hidden size H",
             "ylabel": "µs per window (batch 256)", "title": "Throughput: µs per window at batch 256 (lower is better)"},
            {"kind": "lines", "file": suite_name(SUITE, args.quick) + "_batch1.png", "x": "hidden", "y": "us_per_window", "series": "engine",
             "where": {"batch": 1, "kind": "window"}, "logy": True, "xlabel": "hidden size H",
             "ylabel": "µs per window (batch 1)", "title": "Latency: µs per window at batch 1 (lower is better)"},
        ],
        "notes": ["Every engine runs the same weights. onnxruntime and TFLite run the graphs actif exports "
                  "(their numerics are checked against the float64 reference in the tests).", *args.note],
    }
    publish(args.results, SUITE, doc, quick=args.quick, echo=False)
    for t in tg:
        print(f"{'MET ' if t['met'] else 'MISS' if t['met'] is False else 'N/A '} {t['name']}: {t['measured']} (goal {t['goal']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

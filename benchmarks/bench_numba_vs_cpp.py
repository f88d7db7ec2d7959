"""The Numba fallback backend against the compiled core, side by side.

At I=38 features, T=10 steps, H=128 hidden units (a FOVAL-sized gaze model: one LSTM
layer, max pooling, folded BatchNorm, dense 32 relu, 1 output), for batches of 256
windows and of 1, it times:

* ``forward``: ``Model.predict`` (input checks and the forward pass),
* ``forward_stats``: the weighted trace fed into RunningStats, the Explainer's path,
* ``step``: stateful mode, one new sample for each of B streams.

Both engines use all cores by default; ``--single-thread`` adds a run of each with
``num_threads=1`` (a per-core comparison, less sensitive to other load). Each
configuration is timed in its own worker process and the rounds alternate the
engines, so neither runs while the other's threads still hold the cores. The
reported time is the median over every timed block of every round. The predictions
of the two engines are compared before any timing.

It also measures the Numba backend's first call in fresh processes: with an empty
compile cache (cold) and again with the cache that run wrote (warm). With
``--prange``, it times the experiment behind a design choice: an LSTM layer split
over threads by ``numba.prange`` (a ``parallel=True`` build of the same kernels)
against the shipped split over a Python thread pool, and that build's compile time.

    python benchmarks/bench_numba_vs_cpp.py --single-thread --prange   # the recorded run
    python benchmarks/bench_numba_vs_cpp.py --rounds 1 --quick --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from statistics import median

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from suite_io import publish, results_dir, run_worker  # noqa: E402

SUITE = "numba_vs_cpp"
INPUT_SIZE, WINDOW, HIDDEN = 38, 10, 128
OPS = ("forward", "forward_stats", "step")
TARGET_RATIO = 3.0  # the core-runtime issue: numba within 3x of cpp at batch 256


def bench_spec():
    from actif.model_spec import random_spec

    return random_spec(INPUT_SIZE, HIDDEN, 1, pooling="max", window=WINDOW, seed=0)


# ----------------------------------------------------------------------- worker side
def time_call(fn, block_seconds: float, repeats: int) -> list[float]:
    """Seconds per call: ``repeats`` blocks of as many calls as fill ``block_seconds``."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    fn()
    per_call = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(block_seconds / per_call))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t0) / calls)
    return out


def measure_backend(backend: str, threads: int | None, batches: list[int], block_seconds: float, repeats: int) -> dict:
    import numpy as np

    import actif

    model = actif.Model(bench_spec(), backend, num_threads=threads)
    rng = np.random.default_rng(1)
    samples: dict[str, list[float]] = {}
    outputs: dict[str, list] = {}
    for batch in batches:
        X = rng.normal(size=(batch, WINDOW, INPUT_SIZE)).astype(np.float32)
        stats = actif.RunningStats(INPUT_SIZE)  # the core's statistics when built, for both engines
        state = model.new_state(batch)
        outputs[str(batch)] = model.predict(X)[:8].ravel().tolist()
        calls = {
            "forward": lambda X=X: model.predict(X),
            "forward_stats": lambda X=X, s=stats: model.backend.forward_stats(model.check_windows(X), s._impl, "weighted"),
            "step": lambda x=X[:, 0], st=state: model.step(x, st),
        }
        for op in OPS:
            samples[f"{op}/{batch}"] = time_call(calls[op], block_seconds, repeats)
    return {"backend": backend, "samples": samples, "outputs": outputs}


FIRST_CALL_PROBE = """
import json, time
t0 = time.perf_counter()
import numpy as np, actif
import sys; sys.path.insert(0, {bench_dir!r})
from bench_numba_vs_cpp import bench_spec
t1 = time.perf_counter()
model = actif.Model(bench_spec(), "numba")
t2 = time.perf_counter()
X = np.zeros((4, {window}, {n_in}), np.float32)
model.predict(X)
t3 = time.perf_counter()
model.step(X[:, 0])
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "model_s": t2 - t1, "first_forward_s": t3 - t2, "first_step_s": t4 - t3}}))
"""


def first_call_times(cache_dir: str) -> dict:
    code = FIRST_CALL_PROBE.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), window=WINDOW, n_in=INPUT_SIZE)
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    return run_worker([sys.executable, "-c", code], "the first-call probe", env=env)[-1]


def run_prange_experiment(batch: int, block_seconds: float, repeats: int) -> dict:
    """One LSTM layer at ``batch`` windows on all cores: a ``numba.prange`` build of the
    backend's own kernels against the backend's thread-pool split."""
    import numba
    import numpy as np

    import actif
    from actif.backends.numba_jit import gemm_rows, lstm_recurrence

    @numba.njit(parallel=True, nogil=True, error_model="numpy", fastmath={"contract"})
    def layer_prange(x_rows, n, w_ih_t, w_hh_t, bias, h_rows, chunks):
        rows = x_rows.shape[0]
        z = np.empty((rows, w_ih_t.shape[1]), np.float32)
        no_state = np.empty((0, w_hh_t.shape[0]), np.float32)
        no_gates = np.empty((0, w_hh_t.shape[1]), np.float32)
        for part in numba.prange(chunks):
            r0, r1 = rows * part // chunks, rows * (part + 1) // chunks
            gemm_rows(x_rows[r0:r1], w_ih_t, bias, z[r0:r1], False)
        for part in numba.prange(chunks):
            n0, n1 = n * part // chunks, n * (part + 1) // chunks
            lstm_recurrence(z, n, n0, n1, w_hh_t, no_state, no_state, h_rows, no_state, no_gates)

    backend = actif.Model(bench_spec(), "numba").backend
    chunks = backend._chunks(batch, batch * WINDOW)
    x_rows = np.random.default_rng(2).normal(size=(WINDOW * batch, INPUT_SIZE)).astype(np.float32)
    h_pool = np.empty((WINDOW * batch, HIDDEN), np.float32)
    h_prange = np.empty_like(h_pool)
    no_state = np.empty((0, HIDDEN), np.float32)
    no_gates = np.empty((0, 4 * HIDDEN), np.float32)
    layer_args = (backend._w_ih_t[0], backend._w_hh_t[0], backend._bias[0])

    def pool() -> None:
        backend._run_layer(0, x_rows, batch, no_state, no_state, h_pool, no_state, no_gates, chunks)

    def prange() -> None:
        layer_prange(x_rows, batch, *layer_args, h_prange, chunks)

    pool()
    t0 = time.perf_counter()
    prange()
    compile_s = time.perf_counter() - t0
    if not np.array_equal(h_pool, h_prange):
        raise AssertionError("the prange build and the thread pool disagree")
    return {"chunks": chunks, "threading_layer": numba.threading_layer(), "prange_compile_s": compile_s,
            "pool": time_call(pool, block_seconds, repeats), "prange": time_call(prange, block_seconds, repeats)}


# ----------------------------------------------------------------------- parent side
def spawn(args: argparse.Namespace, *worker_args: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *worker_args, "--batches", *map(str, args.batches),
           "--block-seconds", str(args.block_seconds), "--repeats", str(args.repeats)]
    return run_worker(cmd, " ".join(worker_args))[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[256, 1], help="windows (streams for step) per call")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds, one process per backend each (default 3)")
    p.add_argument("--repeats", type=int, default=7, help="timed blocks per case in each process (default 7)")
    p.add_argument("--block-seconds", type=float, default=0.05, help="length of one timed block (default 0.05)")
    p.add_argument("--quick", action="store_true", help="short blocks and few repeats (a smoke run)")
    p.add_argument("--no-first-call", action="store_true", help="skip the cold/warm first-call measurement")
    p.add_argument("--prange", action="store_true", help="also time the prange-over-windows experiment")
    p.add_argument("--results", default=results_dir(), help="results directory (default: benchmarks/results)")
    p.add_argument("--no-write", action="store_true", help="print the table only, write no results")
    p.add_argument("--single-thread", action="store_true", help="also time both engines with num_threads=1")
    p.add_argument("--worker", choices=["cpp", "numba"], help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--prange-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.block_seconds, args.repeats = 0.01, 3
    if args.worker:
        print(json.dumps(measure_backend(args.worker, args.threads, args.batches, args.block_seconds, args.repeats)))
        return 0
    if args.prange_worker:
        print(json.dumps(run_prange_experiment(max(args.batches), args.block_seconds, args.repeats)))
        return 0

    import actif

    missing = [b for b in ("cpp", "numba") if b not in actif.available_backends()]
    if missing:
        print(f"needs the {' and '.join(missing)} backend(s); available: {actif.available_backends()}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    thread_settings = [None, 1] if args.single_thread else [None]
    samples: dict[tuple, list[float]] = {}
    outputs: dict[str, dict] = {}
    for r in range(args.rounds):
        for threads in thread_settings:
            for backend in ("cpp", "numba") if r % 2 == 0 else ("numba", "cpp"):
                extra = ["--threads", str(threads)] if threads else []
                res = spawn(args, "--worker", backend, *extra)
                for key, v in res["samples"].items():
                    samples.setdefault((backend, threads, key), []).extend(v)
                outputs[backend] = res["outputs"]
    for batch, want in outputs["cpp"].items():  # same model, same inputs: same predictions
        worst = max(abs(a - b) for a, b in zip(outputs["numba"][batch], want))
        if worst > 1e-4:
            raise AssertionError(f"numba and cpp predictions differ by {worst:.2e} at batch {batch}")

    rows = []
    for threads in thread_settings:
        for batch in args.batches:
            for op in OPS:
                key = f"{op}/{batch}"
                cpp, nb = samples[("cpp", threads, key)], samples[("numba", threads, key)]
                rows.append({
                    "op": op, "batch": batch, "threads": threads or "all",
                    "cpp_us": 1e6 * median(cpp), "numba_us": 1e6 * median(nb), "ratio": median(nb) / median(cpp),
                    "cpp_min_us": 1e6 * min(cpp), "numba_min_us": 1e6 * min(nb),
                })
    load_after = os.getloadavg()

    first_call = None
    if not args.no_first_call:
        with tempfile.TemporaryDirectory() as cache:
            first_call = {"cold": first_call_times(cache), "warm": first_call_times(cache)}
    prange = spawn(args, "--prange-worker") if args.prange else None

    big = max(args.batches)
    at_big = {r["op"]: r["ratio"] for r in rows if r["batch"] == big and r["threads"] == "all"}
    summary = [
        f"Numba at batch {big}: {at_big['forward']:.2f}x the cpp time for forward, "
        f"{at_big['forward_stats']:.2f}x for forward with the weighted trace into RunningStats "
        f"(I={INPUT_SIZE}, T={WINDOW}, H={HIDDEN}, all cores)."
    ]
    if args.single_thread:
        one = {r["op"]: r["ratio"] for r in rows if r["batch"] == big and r["threads"] == 1}
        summary.append(f"On one thread each: {one['forward']:.2f}x for forward, {one['forward_stats']:.2f}x with the trace.")
    notes = [
        f"Load average (1 min) {load_before[0]:.2f} before and {load_after[0]:.2f} after the timing, "
        f"on {os.cpu_count()} cores shared with other work: times are medians over "
        f"{args.rounds} alternating rounds x {args.repeats} blocks; best columns show the fastest block.",
    ]
    if first_call:
        cold, warm = first_call["cold"], first_call["warm"]
        summary.append(
            f"First Numba call (predict, batch 4): {cold['first_forward_s']:.2f} s with an empty compile cache, "
            f"{warm['first_forward_s']:.2f} s with a warm one (plus {warm['model_s']:.2f} s to import numba "
            f"and build the model); first step {cold['first_step_s']:.2f} s cold, {warm['first_step_s']:.3f} s warm."
        )
    if prange:
        pool, par = 1e3 * median(prange["pool"]), 1e3 * median(prange["prange"])
        summary.append(
            f"One LSTM layer at batch {big} split over {prange['chunks']} threads: {pool:.2f} ms on the shipped thread "
            f"pool, {par:.2f} ms with numba.prange ({prange['threading_layer']} layer), whose parallel build adds "
            f"{prange['prange_compile_s']:.1f} s of compile time."
        )
    for line in summary:
        print("-", line)
    columns = [["op", "Operation"], ["batch", "Batch"], ["threads", "Threads"], ["cpp_us", "cpp µs/call"],
               ["numba_us", "numba µs/call"], ["ratio", "numba/cpp"], ["cpp_min_us", "cpp best µs"],
               ["numba_min_us", "numba best µs"]]
    print()
    from actif.lab.report import markdown_table

    print(markdown_table(columns, rows))
    met = all(at_big[op] <= TARGET_RATIO for op in ("forward", "forward_stats"))
    doc = {
        "title": "Numba fallback backend against the compiled core",
        "columns": columns,
        "rows": rows,
        "targets": [{
            "name": f"numba vs cpp at batch {big} (forward; forward_stats weighted)",
            "goal": f"<= {TARGET_RATIO:g}x",
            "measured": f"{at_big['forward']:.2f}x; {at_big['forward_stats']:.2f}x",
            "met": bool(met and big >= 256),
        }],
        "summary": summary,
        "notes": notes,
        "first_call": first_call,
        "prange_experiment": prange,
        "load_average": {"before": load_before, "after": load_after},
        "readme_rows": [r for r in rows if r["op"] != "step" and r["threads"] == "all"],
        "readme_columns": columns[:2] + columns[3:6],
    }
    if not args.no_write:
        print("wrote", publish(args.results, SUITE, doc, quick=args.quick, echo=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Record what bounds one window's matrix products: actif_bench --roofline into benchmarks/results.

    python cpp/bench/record_roofline.py [--build build/ci-native] [--hidden 64,128]
        [--results benchmarks/results]

The build comes from cpp/check.sh native (or any CMake build with ACTIF_BUILD_BENCH=ON).
actif_bench times the kernel set's matrix product alone (one thread, median of 7 timed
blocks; the script runs it --rounds times and keeps each row's median round), three ways on each hidden size's recurrent matrix, and once on weights small
enough to stay in L1:

- one window's matrix-vector product, forward (weights (H, 4H)) and reverse ((4H, H)):
  what a batch-1 attribution runs at every step, each weight loaded for one multiply-add;
- the same weights for a row block of 30 windows (each weight loaded once for 30 rows):
  the arithmetic rate of the kernel when loads are not the limit;
- a matrix-vector product on 16 KB of weights (L1-resident).

Where one window's product runs far below the 30-row block, the weights' trip from
cache sets its pace, not the arithmetic. The summary turns that into the floor of a
batch-1 gradient window at H=128: the forward makes T-1 recurrent products (the first
step starts from the zero state) and the reverse pass T-1 more, before any other work;
it sets that beside the issue's target (20x faster than Captum's InputXGradient), read
from the attribution_cost results when they are there. Every SIMD kernel set the build
and CPU run is measured (rounds interleaved across sets), so the sets' rates stand side
by side: on x86, AVX-512's 64-byte loads against AVX2's 32-byte ones. The results are
the 'roofline' suite (JSON + Markdown through actif.lab.report, so ``actif report``
renders them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time

SUITE = "roofline"
WINDOW = 10  # the bundled model's T, as in bench_attribution_cost.py
SIMD_SETS = ("avx2", "avx512", "neon")  # actif_bench refuses (exit 2) the ones this build or CPU cannot run


def run_bench(cmd: list[str]) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], time.perf_counter() - t0


def runnable_sets(bench: str) -> list[str]:
    """The SIMD kernel sets this build of actif_bench runs on this CPU (scalar if none)."""
    sets = [isa for isa in SIMD_SETS
            if subprocess.run([bench, "--roofline", "--hidden", "16", "--isa", isa], capture_output=True).returncode == 0]
    return sets or ["scalar"]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def captum_ixg_batch1(results: str, hidden: int) -> tuple[float, float] | None:
    """(Captum InputXGradient, actif cpp gradient) µs per window at batch 1 for a model
    of this hidden size, from the stored attribution_cost suite."""
    try:
        with open(os.path.join(results, "attribution_cost.json"), encoding="utf-8") as f:
            rows = json.load(f)["rows"]
    except (OSError, KeyError, ValueError):
        return None

    def find(engine: str) -> float | None:
        return next((r["us_per_window"] for r in rows
                     if r.get("hidden") == hidden and r.get("batch") == 1 and r.get("engine") == engine), None)

    theirs, ours = find("Captum InputXGradient"), find("actif cpp: gradient")
    return None if theirs is None or ours is None else (theirs, ours)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python cpp/bench/record_roofline.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/ci-native", help="a CMake build holding cpp/bench/actif_bench")
    ap.add_argument("--hidden", default="64,128", help="hidden sizes (default 64,128)")
    ap.add_argument("--rounds", type=int, default=7, help="runs of actif_bench; each row keeps the median (default 7)")
    ap.add_argument("--results", default=os.path.join("benchmarks", "results"))
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    hiddens = [int(h) for h in args.hidden.split(",")]
    bench = os.path.join(args.build, "cpp", "bench", "actif_bench")
    if not os.path.exists(bench):
        ap.error(f"{bench} not found: build it first (cpp/check.sh native, or cmake with -DACTIF_BUILD_BENCH=ON)")
    isas = runnable_sets(bench)
    cmds = {isa: [bench, "--roofline", "--hidden", ",".join(map(str, hiddens)), "--isa", isa] for isa in isas}
    # The machine is shared: the rounds run one after another, the sets interleaved
    # within each, and each row keeps the round with the median time.
    rounds: dict[str, list[list[dict]]] = {isa: [] for isa in isas}
    seconds = 0.0
    for _ in range(args.rounds):
        for isa in isas:
            got, sec = run_bench(cmds[isa])
            rounds[isa].append(got)
            seconds += sec
    rows = []
    for isa in isas:
        runs = rounds[isa]
        rows += [sorted((r[i] for r in runs), key=lambda row: row["us_per_call"])[len(runs) // 2]
                 for i in range(len(runs[0]))]
    for row in rows:
        row["rounds"] = args.rounds
    print(f"{' ; '.join(shlex.join(c) for c in cmds.values())} x {args.rounds} ({seconds:.0f} s)", flush=True)

    def pick(product: str, hidden: int, isa: str) -> dict | None:
        return next((r for r in rows if r["product"].startswith(product) and r["hidden"] == hidden and r["isa"] == isa),
                    None)

    summary = []
    stored = {h: captum_ixg_batch1(args.results, h) for h in hiddens}
    for isa in isas:
        l1 = pick("matrix-vector, 16 KB", 0, isa)
        for h in hiddens:
            fwd, rev, block = pick("matrix-vector, forward", h, isa), pick("matrix-vector, reverse", h, isa), pick("30 rows", h, isa)
            if not (fwd and rev and block and l1):
                continue
            summary.append(
                f"{isa}, H={h} ({fwd['weights_kb']:.0f} KB of recurrent weights): one window's product runs "
                f"{fwd['fma_per_ns']:.1f} (forward) and {rev['fma_per_ns']:.1f} (reverse) multiply-adds per ns, "
                f"{fwd['weights_gb_per_s']:.0f} and {rev['weights_gb_per_s']:.0f} GB/s of weights; the same weights for "
                f"30 windows at once {block['fma_per_ns']:.1f} per ns; 16 KB of weights in L1, one window, "
                f"{l1['fma_per_ns']:.1f} per ns.")
            floor = (WINDOW - 1) * (fwd["us_per_call"] + rev["us_per_call"])
            text = (f"{isa}, H={h}, batch 1: the {2 * (WINDOW - 1)} recurrent products of a gradient window (T={WINDOW}) "
                    f"take {floor:.1f} µs at these rates, before any other work")
            if stored[h] is not None:
                theirs, ours = stored[h]
                text += (f"; 20x faster than Captum InputXGradient ({theirs:.0f} µs in attribution_cost) allows "
                         f"{theirs / 20:.1f} µs for the whole window (actif's gradient took {ours:.1f} with the "
                         "kernels attribution_cost ran)")
            summary.append(text + ".")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from actif.lab.report import write_suite

    write_suite(args.results, SUITE, {
        "title": "What bounds one window's matrix products (actif_bench --roofline)",
        "kernels": ", ".join(isas),
        "columns": [["isa", "Kernels"], ["product", "Product"], ["hidden", "H"], ["m", "Rows"], ["k", "k"], ["n", "n"],
                    ["weights_kb", "Weights (KB)"], ["us_per_call", "µs/call"], ["fma_per_ns", "Multiply-adds/ns"],
                    ["weights_gb_per_s", "Weights GB/s"]],
        "rows": rows,
        "summary": summary,
        "notes": [
            "The kernel set's GEMM alone (cpp/src/kernels), weights packed as the model packs them, one thread, "
            "median of 7 timed blocks per run, the median of the runs. 'forward step' is the (H, 4H) recurrent product of the forward, 'reverse step' "
            "the (4H, H) product of the reverse pass; '30 rows' is the attribution core's row block of windows.",
            "A window's recurrent product reads every weight once per multiply-add, so its rate is how fast the "
            "weights arrive; with 30 rows each load feeds 30 multiply-adds. Halving the bytes per weight (float16) "
            "would speed the first up, and break equality with Captum in float32, which the attribution tests hold.",
            f"Run: `actif_bench {shlex.join(cmds[isas[0]][1:-2])} --isa ISA` for ISA in {', '.join(isas)}, {args.rounds} rounds "
            f"(sets interleaved), each row the median round ({seconds:.0f} s) on {cpu_name()}.",
        ],
    })
    print(f"wrote {args.results}/{SUITE}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

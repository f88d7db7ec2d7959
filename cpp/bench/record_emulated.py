"""Record actif_bench natively (x86) and under qemu-aarch64 into benchmarks/results.

    python cpp/bench/record_emulated.py [--native-build build/ci-native]
        [--aarch64-build build/ci-aarch64] [--hidden 64,128,256] [--results benchmarks/results]

Builds come from cpp/check.sh native and docker/cross-build-aarch64.sh. For each hidden
size it runs actif_bench for each kernel set: natively avx2 and scalar (7 timed
blocks, batch 1 and 256, with and without attribution, and the stateful step); under
emulation neon and scalar (--quick: 3 blocks), batch 1 and the step for every size and
batch 256 at the smallest size only (a batch of 256 windows at H=256 takes minutes per
call under QEMU).

Emulated figures are QEMU user-mode timings on an x86 host: they show that the aarch64
build runs and how its kernel sets compare *under emulation* (QEMU executes each fused
multiply-add through a software helper, so NEON can even lose to scalar there). They
are not Jetson or Raspberry Pi speed. The results are the 'edge' suite (JSON + Markdown
through actif.lab.report, so `actif report` renders them).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

SUITE = "edge"


def run_bench(cmd: list[str]) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], time.perf_counter() - t0


def first_line(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--native-build", default="build/ci-native")
    ap.add_argument("--aarch64-build", default="build/ci-aarch64")
    ap.add_argument("--sysroot", default="/usr/aarch64-linux-gnu")
    ap.add_argument("--hidden", default="64,128,256", help="hidden sizes (default 64,128,256)")
    ap.add_argument("--results", default=os.path.join("benchmarks", "results"))
    args = ap.parse_args(argv)
    hiddens = [int(h) for h in args.hidden.split(",")]

    native = os.path.join(args.native_build, "cpp", "bench", "actif_bench")
    emulated = os.path.join(args.aarch64_build, "cpp", "bench", "actif_bench")
    emu = ["qemu-aarch64", "-L", args.sysroot]
    plans = []  # (run label, command)
    for h in hiddens:
        for isa in ("avx2", "scalar"):
            plans.append(("native x86-64", [native, "--hidden", str(h), "--isa", isa]))
        for isa in ("neon", "scalar"):
            batches = ["--batch", "1"] if h != min(hiddens) else []
            plans.append(("emulated aarch64 (QEMU, not device speed)",
                          [*emu, emulated, "--quick", "--hidden", str(h), "--isa", isa, *batches]))
    rows, commands = [], []
    for label, cmd in plans:
        results, seconds = run_bench(cmd)
        commands.append(f"`{shlex.join(cmd)}` ({seconds:.0f} s)")
        for r in results:
            rows.append({
                "run": label, "isa": r["isa"], "hidden": r["hidden"],
                "batch": "step" if r["bench"] == "step" else r["batch"],
                "attribution": bool(r["attribution"]),
                "us_per_window": r.get("us_per_window", r["us_per_call"]), "us_per_call": r["us_per_call"],
            })
        print(f"{label}: {shlex.join(cmd)} ({seconds:.0f} s)", flush=True)

    def pick(run, isa, h, batch, attribution):
        for r in rows:
            if (r["run"].startswith(run), r["isa"], r["hidden"], r["batch"], r["attribution"]) == (True, isa, h, batch, attribution):
                return r["us_per_window"]
        return None

    summary = []
    for h in hiddens:
        n1, e1 = pick("native", "avx2", h, 1, True), pick("emulated", "neon", h, 1, True)
        if n1 and e1:
            summary.append(f"H={h}, batch 1 with attribution: native AVX2 {n1:.0f} µs/window; emulated NEON "
                           f"{e1:.0f} µs/window ({e1 / n1:.0f}x the native time under QEMU).")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from actif.lab.report import write_suite

    write_suite(args.results, SUITE, {
        "title": "Native x86-64 and emulated aarch64 (actif_bench)",
        "tools": {"qemu": first_line(["qemu-aarch64", "--version"]), "host_compiler": first_line(["c++", "--version"]),
                  "cross_compiler": first_line(["aarch64-linux-gnu-g++", "--version"])},
        "columns": [["run", "Run"], ["isa", "Kernels"], ["hidden", "H"], ["batch", "Batch"],
                    ["attribution", "Attribution"], ["us_per_window", "µs/window"], ["us_per_call", "µs/call"]],
        "rows": rows,
        "summary": summary,
        "notes": [
            "The aarch64 rows are QEMU user-mode emulation on the x86 host, not Jetson or Raspberry Pi speed: "
            "they show that the cross-built binary runs and compare kernel sets under emulation (QEMU runs each "
            "fused multiply-add through a software helper, which penalises NEON far more than real hardware).",
            "Model: I=38, T=10, one LSTM layer, max pooling, folded BatchNorm, dense 32 -> 1 "
            "(cpp/bench/actif_bench.cpp); one thread; median of 7 timed blocks natively, of 3 under emulation.",
            "Runs: " + "; ".join(commands),
        ],
    })
    print(f"wrote {args.results}/{SUITE}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

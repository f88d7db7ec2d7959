"""Compare the speed of two builds of actif_bench on this machine, run by run.

    python cpp/bench/compare_builds.py --before OLD/actif_bench --after NEW/actif_bench \\
        [--isas scalar,avx2] [--hidden 64,128,256] [--rounds 5] [--results benchmarks/results]

For a kernel change: build the old revision and the new one (cpp/check.sh native), then
run both binaries alternately (before, after, before, after, ... for each kernel set and
hidden size, --quick blocks), so that load from other processes falls on both alike.
Each figure is the median over rounds of actif_bench's own median per call; the ratio
after / before per kernel set is what the comparison says (below 1: faster after). The
result is the 'kernel_builds' suite (JSON + Markdown through actif.lab.report).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

SUITE = "kernel_builds"


def run_bench(binary: str, isa: str, hidden: int) -> list[dict]:
    cmd = [binary, "--quick", "--hidden", str(hidden), "--isa", isa]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def key(r: dict) -> tuple:
    return (r["isa"], r["hidden"], "step" if r["bench"] == "step" else r["batch"], bool(r["attribution"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="actif_bench of the reference build")
    ap.add_argument("--after", required=True, help="actif_bench of the build under test")
    ap.add_argument("--before-label", default="before")
    ap.add_argument("--after-label", default="after")
    ap.add_argument("--isas", default="scalar,avx2")
    ap.add_argument("--hidden", default="64,128,256")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--results", default=os.path.join("benchmarks", "results"))
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args(argv)
    isas = args.isas.split(",")
    hiddens = [int(h) for h in args.hidden.split(",")]

    samples: dict[tuple, dict[str, list[float]]] = {}
    for rnd in range(args.rounds):
        for isa in isas:
            for h in hiddens:
                # alternate which build goes first, so neither always runs on a warmer machine
                order = [("before", args.before), ("after", args.after)]
                for which, binary in order if rnd % 2 == 0 else order[::-1]:
                    for r in run_bench(binary, isa, h):
                        samples.setdefault(key(r), {"before": [], "after": []})[which].append(
                            r.get("us_per_window", r["us_per_call"]))
        print(f"round {rnd + 1}/{args.rounds} done", flush=True)

    rows = []
    for (isa, h, batch, attribution), s in sorted(samples.items(), key=lambda kv: tuple(map(str, kv[0]))):
        before, after = statistics.median(s["before"]), statistics.median(s["after"])
        rows.append({"isa": isa, "hidden": h, "batch": batch, "attribution": attribution,
                     "before_us": before, "after_us": after, "ratio": after / before})
    for r in rows:
        print(f"{r['isa']:7s} H={r['hidden']:<4d} batch={r['batch']!s:5s} attr={r['attribution']!s:5s} "
              f"before {r['before_us']:9.2f} µs  after {r['after_us']:9.2f} µs  ratio {r['ratio']:.3f}")
    summary = []
    for isa in isas:
        ratios = [r["ratio"] for r in rows if r["isa"] == isa]
        summary.append(f"{isa}: after/before per window, median over {len(ratios)} shapes "
                       f"{statistics.median(ratios):.3f} (range {min(ratios):.3f} to {max(ratios):.3f}).")
    for line in summary:
        print(line)
    if args.no_write:
        return 0
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    from actif.lab.report import write_suite

    write_suite(args.results, SUITE, {
        "title": f"Kernel builds compared: {args.after_label} against {args.before_label} (actif_bench)",
        "columns": [["isa", "Kernels"], ["hidden", "H"], ["batch", "Batch"], ["attribution", "Attribution"],
                    ["before_us", f"{args.before_label} µs/window"], ["after_us", f"{args.after_label} µs/window"],
                    ["ratio", "after / before"]],
        "rows": rows,
        "summary": summary,
        "notes": [
            f"Both builds ran alternately on this machine, {args.rounds} rounds per kernel set and hidden size "
            "(actif_bench --quick: median of 3 timed blocks per run); each figure is the median over rounds. "
            "Other processes shared the machine, so single figures are noisy; the ratios compare runs taken "
            "side by side.",
            "Model: I=38, T=10, one LSTM layer, max pooling, folded BatchNorm, dense 32 -> 1 "
            "(cpp/bench/actif_bench.cpp); one thread. 'step' is the stateful single-sample update with attribution.",
            f"Builds: before `{shlex.quote(args.before)}` ({args.before_label}), "
            f"after `{shlex.quote(args.after)}` ({args.after_label}).",
        ],
    })
    print(f"wrote {args.results}/{SUITE}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

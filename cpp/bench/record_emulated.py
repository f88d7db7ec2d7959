"""Record actif_bench natively (x86) and under qemu-aarch64 into benchmarks/results.

    python cpp/bench/record_emulated.py [--native-build build/ci-native]
        [--aarch64-build build/ci-aarch64] [--hidden 64] [--out benchmarks/results]

Runs actif_bench for each kernel set (native: avx2 and scalar, 7 timed blocks;
emulated: neon and scalar, --quick, 3 blocks) and writes aarch64-emulated-vs-x86.json and .md with the commands and the
machine. Emulated figures are QEMU user-mode timings on an x86 host: they show that
the aarch64 build runs and how the kernel sets compare *under emulation* (QEMU runs
fused multiply-adds through a software helper, so NEON can even lose to scalar
there); they are not Jetson or Raspberry Pi speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import time


def run_bench(cmd: list[str]) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [
        json.loads(line) for line in out.splitlines() if line.startswith("{")
    ], time.perf_counter() - t0


def first_line(cmd: list[str]) -> str:
    try:
        return (
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            .stdout.splitlines()[0]
            .strip()
        )
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native-build", default="build/ci-native")
    ap.add_argument("--aarch64-build", default="build/ci-aarch64")
    ap.add_argument("--sysroot", default="/usr/aarch64-linux-gnu")
    ap.add_argument("--hidden", default="64")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()

    native = os.path.join(args.native_build, "cpp", "bench", "actif_bench")
    emulated = os.path.join(args.aarch64_build, "cpp", "bench", "actif_bench")
    runs = []
    for label, prefix, exe, isas, quick in (
        ("native x86-64", [], native, ["avx2", "scalar"], []),
        (
            "emulated aarch64 (qemu-aarch64, not device speed)",
            ["qemu-aarch64", "-L", args.sysroot],
            emulated,
            ["neon", "scalar"],
            ["--quick"],
        ),
    ):
        for isa in isas:
            cmd = [*prefix, exe, *quick, "--hidden", args.hidden, "--isa", isa]
            rows, seconds = run_bench(cmd)
            runs.append(
                {
                    "label": label,
                    "command": shlex.join(cmd),
                    "seconds": round(seconds, 1),
                    "rows": rows,
                }
            )
            print(f"{label} {isa}: {seconds:.1f} s")

    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "qemu": first_line(["qemu-aarch64", "--version"]),
        "host_compiler": first_line(["c++", "--version"]),
        "cross_compiler": first_line(["aarch64-linux-gnu-g++", "--version"]),
    }
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = {
        "date": stamp,
        "script": shlex.join(["python", "cpp/bench/record_emulated.py", *os.sys.argv[1:]]),
        "machine": machine,
        "runs": runs,
    }
    base = os.path.join(args.out, "aarch64-emulated-vs-x86")
    with open(base + ".json", "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")

    lines = [
        "# actif_bench: native x86-64 and emulated aarch64",
        "",
        f"Recorded {stamp} with `{doc['script']}`.",
        "",
        "**The aarch64 rows are QEMU user-mode emulation on the x86 host below, not Jetson or",
        "Raspberry Pi speed.** They show that the cross-built binary runs and how its kernel",
        "sets compare under emulation (QEMU executes each fused multiply-add through a",
        "software helper, which penalises NEON far more than real hardware does).",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores (shared), {machine['system']}; "
        f"{machine['qemu']}; host {machine['host_compiler']}; cross {machine['cross_compiler']}.",
        "",
        "Model: I=38, T=10, one LSTM layer, max pooling, folded BatchNorm, dense 32 -> 1",
        "(cpp/bench/actif_bench.cpp); one thread; median of 7 timed blocks natively, of 3",
        "(--quick) under emulation. Other engineers' jobs share the 2 cores, so expect noise.",
        "",
        "| run | kernels | H | batch | attribution | us / window | us / call |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for run in runs:
        for r in run["rows"]:
            per_window = r.get("us_per_window", r["us_per_call"])
            kind = "step" if r["bench"] == "step" else str(r["batch"])
            lines.append(
                f"| {run['label']} | {r['isa']} | {r['hidden']} | {kind} | {'yes' if r['attribution'] else 'no'} "
                f"| {per_window:.1f} | {r['us_per_call']:.1f} |"
            )
    lines += (
        ["", "Commands:", ""]
        + [f"- `{run['command']}` ({run['seconds']} s)" for run in runs]
        + [""]
    )
    with open(base + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {base}.json and {base}.md")


if __name__ == "__main__":
    main()

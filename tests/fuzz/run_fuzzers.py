"""Run every atheris fuzz target for a bounded time; any crash fails the run.

    python tests/fuzz/run_fuzzers.py                  # 60 s per target
    python tests/fuzz/run_fuzzers.py --seconds 10 fuzz_checkpoint

Each target starts from its seed corpus (tests/fuzz/corpus/<kind>, made by
make_corpus.py) and writes what it discovers to a temporary directory, so the
repository is never modified. A crash (any exception besides ModelFormatError, an
assertion, a timeout or RSS above the limit) leaves its reproducer in the artifacts
directory, printed at the end; replay one with ``python tests/fuzz/<target>.py FILE``.
Needs atheris (``pip install atheris``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# target script -> seed corpus folder
TARGETS = {
    "fuzz_model_spec": "model",
    "fuzz_running_stats": "stats",
    "fuzz_checkpoint": "checkpoint",
    "fuzz_onnx_import": "onnx",
    "fuzz_model_readers": "model",  # Python and C readers side by side (needs libactif built)
    "fuzz_attribution": "attribution",  # the attribution methods and the stream state on hostile samples
}


def run_target(name: str, seconds: int, rss_limit_mb: int, artifacts: str) -> tuple[str, float, str]:
    """Returns (outcome: passed | failed | skipped, seconds, log tail)."""
    seeds = os.path.join(HERE, "corpus", TARGETS[name])
    with tempfile.TemporaryDirectory(prefix=f"actif-{name}-") as found:
        cmd = [
            sys.executable, os.path.join(HERE, f"{name}.py"),
            f"-max_total_time={seconds}", f"-rss_limit_mb={rss_limit_mb}", "-timeout=30",
            f"-artifact_prefix={os.path.join(artifacts, name)}-", "-print_final_stats=1",
            found, *([seeds] if os.path.isdir(seeds) else []),
        ]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
        took = time.monotonic() - t0
    log = (proc.stdout + proc.stderr).splitlines()
    tail = "\n".join(line for line in log[-25:] if not line.startswith("INFO: Instrumenting"))
    if proc.returncode == 0 and any("skipped" in line for line in proc.stdout.splitlines()[:3]):
        return "skipped", took, proc.stdout.strip()
    return ("passed" if proc.returncode == 0 else "failed"), took, tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", default=list(TARGETS), help=f"targets (default: all of {', '.join(TARGETS)})")
    p.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (default 60)")
    p.add_argument("--rss-limit-mb", type=int, default=2048, help="a target above this RSS counts as a crash")
    p.add_argument("--artifacts", default=None, help="where crash reproducers go (default: a new temporary directory)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        p.error(f"unknown targets {unknown}; known: {list(TARGETS)}")
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    artifacts = args.artifacts or tempfile.mkdtemp(prefix="actif-fuzz-artifacts-")
    os.makedirs(artifacts, exist_ok=True)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for name in args.targets:
        outcome, took, tail = run_target(name, args.seconds, args.rss_limit_mb, artifacts)
        counts[outcome] += 1
        print(f"{name}: {outcome} ({took:.0f} s)", flush=True)
        if outcome != "passed":
            print("    " + tail.replace("\n", "\n    "), flush=True)
    if counts["failed"]:
        print(f"crash reproducers: {artifacts}")
    print(f"fuzz: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

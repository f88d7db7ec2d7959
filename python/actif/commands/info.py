"""``actif info``: what this machine offers (backends, CPU kernels, threads)."""

from __future__ import annotations

import argparse
import json
import platform


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="list the backends and CPU kernels this machine has",
                       description="Show the installed backends, the native kernel sets the CPU can "
                       "run, and the default thread count.")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=run)


def collect() -> dict:
    import actif

    info = {
        "actif": actif.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "backends": actif.available_backends(),
        "known_backends": actif.known_backends(),
    }
    from actif import _native

    info.update(isa=_native.isa(), isas=_native.supported_isas(), threads=_native.default_num_threads())
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"actif {info['actif']} on Python {info['python']} ({info['machine']})")
    print(f"backends available: {', '.join(info['backends'])}")
    missing = [b for b in info["known_backends"] if b not in info["backends"]]
    if missing:
        print(f"backends not installed: {', '.join(missing)}")
    if info["isa"]:
        print(f"native kernels: {info['isa']} (supported: {', '.join(info['isas'])}; "
              f"force with ACTIF_ISA=scalar); default threads: {info['threads']}")
    else:
        print("native core: not built (the cpp backend is unavailable)")
    return 0

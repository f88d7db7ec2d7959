"""The ``actif`` command line.

Each subcommand lives in its own module under :mod:`actif.commands` with two functions,
``register(subparsers)`` and ``run(args)``; this file only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under actif.commands, in the order ``actif --help`` lists them.
COMMANDS = ("demo", "explain", "export", "info", "merge", "report", "train")

EPILOG = """\
examples:
  actif demo                         stream a real held-out gaze recording through the bundled model
  actif explain --model m.npz --data windows.npy --out ranking.json
  actif export --model m.npz --to m.onnx    convert to ONNX, TFLite (.tflite) or .npz
  actif info                         backends and CPU kernels this machine has
  actif merge blobs/ --out merged.stats     merge device statistics on a Dask cluster

Run 'actif <command> --help' for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="actif",
        description="Run LSTM sequence models and attribute their predictions to input "
        "features in the same pass (DeepACTIF).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"actif {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        module = importlib.import_module(f"actif.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ImportError) as exc:
        # Bad input, missing files and missing extras get one clear line, not a traceback.
        print(f"actif {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

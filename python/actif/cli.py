"""The ``actif`` command line.

Each subcommand lives in its own module under :mod:`actif.commands` with two functions,
``register(subparsers)`` and ``run(args)``; this file only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    except (ValueError, OSError, EOFError, ImportError) as exc:
        # Bad input, unusable files and missing extras get one clear line naming the
        # file when there is one, exit status 2, not a traceback.
        print(f"actif {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a fault of actif's own, or of a library it drives
        if os.environ.get("ACTIF_TRACEBACK"):
            raise
        print(f"actif {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set ACTIF_TRACEBACK=1 to see where; please report it)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

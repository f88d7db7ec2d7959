"""``python -m actif.lab.data [--write]``: print the gaze feature table, or rewrite FEATURES.md."""

from __future__ import annotations

import argparse
import sys

from .features import FEATURES_MD, features_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actif.lab.data",
        description="Print the gaze feature table (actif.lab.data.features.FEATURES) as Markdown.",
    )
    parser.add_argument("--write", action="store_true", help="rewrite FEATURES.md beside actif/lab/data/features.py")
    args = parser.parse_args(argv)
    text = features_markdown()
    if args.write:
        with open(FEATURES_MD, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {FEATURES_MD}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

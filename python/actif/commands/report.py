"""``actif report``: regenerate benchmark tables, plots and the README section from JSON."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Re-render every benchmark suite's Markdown table and plots from its stored JSON
(benchmarks/results/*.json) and rewrite the README's generated results block, so that
numbers shown anywhere come from the results files. With --check, change nothing and
exit 1 if the README is out of date (CI uses this).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="regenerate benchmark tables, plots and the README results section",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=os.path.join("benchmarks", "results"), help="results directory (default: benchmarks/results)")
    p.add_argument("--readme", default="README.md", help="README to update (default: README.md)")
    p.add_argument("--check", action="store_true", help="only check that the README is up to date")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from actif.lab import report

    if not os.path.isdir(args.results):
        raise FileNotFoundError(f"no results directory {args.results!r} (run from the repository root?)")
    docs = report.load_suites(args.results)
    if args.check:
        with open(args.readme, encoding="utf-8") as fh:
            current = fh.read()
        rel = os.path.relpath(args.results, os.path.dirname(os.path.abspath(args.readme))).replace(os.sep, "/")
        block = report.render_readme_section(docs, rel)
        if block not in current:
            print(f"{args.readme} is out of date with {args.results}: run 'actif report'", file=sys.stderr)
            return 1
        print(f"{args.readme} matches {len(docs)} result suites")
        return 0
    for doc in docs:
        report.render_files(args.results, doc)
    changed = report.update_readme(args.readme, args.results)
    print(f"rendered {len(docs)} suites; README {'updated' if changed else 'unchanged'}")
    return 0

"""What every evidence suite does at its edges: find the recordings (or say it skips),
name its results (a --quick run writes ``<suite>_quick``, never over the full results),
and publish its document through actif.report.write_suite."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

QUICK_NOTE = "QUICK RUN: a smoke test of the suite, not a result."


def results_dir() -> str:
    """benchmarks/results, the default --results of every suite."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def suite_name(suite: str, quick: bool) -> str:
    return suite + ("_quick" if quick else "")


def recordings(flag: str | None) -> str | None:
    """The RobustVision folder (--data-dir or $ACTIF_DATA_DIR); None, after saying the
    suite skips, when neither is set. A folder that is named but wrong raises."""
    from actif.data import data_dir

    directory = data_dir(flag)
    if directory is None:
        print("skipped: no RobustVision data (set ACTIF_DATA_DIR or pass --data-dir)")
    return directory


def publish(results: str, suite: str, doc: dict[str, Any], *, quick: bool, echo: bool = True) -> str:
    """Write the suite's JSON, Markdown and plots; print its summary and where it went."""
    from actif.report import write_suite

    if quick:
        doc.setdefault("notes", []).append(QUICK_NOTE)
    path = write_suite(results, suite_name(suite, quick), doc)
    if echo:
        print("\n".join(doc.get("summary", [])))
        print(f"wrote {path}")
    return path


def mean_sd(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (NaN, NaN if none)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0

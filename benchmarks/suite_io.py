"""What every evidence suite does at its edges: find the recordings (or say it skips),
name its results (a --quick run writes ``<suite>_quick``, never over the full results),
keep its finished units so an interrupted run resumes, and publish its document through
actif.lab.report.write_suite."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Mapping, Sequence

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
    from actif.lab.data import data_dir

    directory = data_dir(flag)
    if directory is None:
        print("skipped: no RobustVision data (set ACTIF_DATA_DIR or pass --data-dir)")
    return directory


def bundled_gap_factor(spec: Any = None) -> float:
    """The gap factor the bundled model's training data was windowed with (its metadata:
    ``windowing.gap_factor``), so the suites cut the recordings into windows exactly as the
    model they explain saw them. ``spec``: the bundled spec when already loaded."""
    if spec is None:
        from actif.bundled import bundled_model_path
        from actif.model import load_spec

        spec = load_spec(bundled_model_path())
    return float(spec.metadata["windowing"]["gap_factor"])


def read_units(path: str, settings: Any) -> list[dict[str, Any]]:
    """The finished units in the JSON-lines file ``path`` whose ``"settings"`` equal
    ``settings`` (in file order); [] when there is no file yet. A line cut short by an
    interruption (or otherwise not a JSON object) is skipped: its unit is simply redone."""
    if not os.path.exists(path):
        return []
    units = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                unit = json.loads(line)
            except json.JSONDecodeError:  # a line cut by an interruption, or a blank one
                continue
            if isinstance(unit, dict) and unit.get("settings") == settings:
                units.append(unit)
    return units


def append_unit(path: str, unit: dict[str, Any]) -> None:
    """Append one finished unit as a JSON line. One write per line, so concurrent appends
    stay whole; after a torn last line the unit starts on a line of its own."""
    torn = False
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(("\n" if torn else "") + json.dumps(unit) + "\n")


def publish(results: str, suite: str, doc: dict[str, Any], *, quick: bool, echo: bool = True) -> str:
    """Write the suite's JSON, Markdown and plots; print its summary and where it went."""
    from actif.lab.report import write_suite

    if quick:
        doc.setdefault("notes", []).append(QUICK_NOTE)
    path = write_suite(results, suite_name(suite, quick), doc)
    if echo:
        print("\n".join(doc.get("summary", [])))
        print(f"wrote {path}")
    return path


def run_worker(cmd: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Run a suite's worker process (one measurement in a process of its own) and return
    the JSON objects it printed, one per line of stdout starting with '{', in order; the
    last is its result where it prints one. A worker that fails, or prints no result,
    raises RuntimeError naming ``what`` with the end of its stderr."""
    out = subprocess.run(list(cmd), capture_output=True, text=True, check=False, env=None if env is None else dict(env))
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed (exit code {out.returncode}):\n{out.stderr[-3000:]}")
    printed = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not printed:
        raise RuntimeError(f"{what} printed no result:\n{out.stdout[-1000:]}{out.stderr[-2000:]}")
    return printed


def mean_sd(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (NaN, NaN if none)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0

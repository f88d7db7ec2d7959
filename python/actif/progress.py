"""Progress bars for long work (attribution of large sets, training, benchmarks).

A thin layer over ``rich.progress`` that stays quiet when output is not a terminal
(CI logs get one line at the end instead of thousands of redraws).
"""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressBar:
    """``bar = ProgressBar(total, "label"); bar.update_to(done); bar.close()``, or use it
    as a context manager. ``enabled=None`` shows it only on a terminal."""

    def __init__(self, total: int, label: str, *, enabled: bool | None = None, unit: str = "items"):
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._start = time.perf_counter()
        self._done = 0
        self._progress: Any = None
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn(unit), TimeRemainingColumn(), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=self.total)

    def update_to(self, done: int) -> None:
        self._done = int(done)
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done)
        if self._done >= self.total:
            self.close()

    def advance(self, n: int = 1) -> None:
        self.update_to(self._done + n)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Loader for the RobustVision fixation-depth recordings (25 subjects).

The recordings were published with the FOVAL model (B. W. Hosp, "FOVAL:
Calibration-Free and Subject-Invariant Fixation Depth Estimation Across Diverse
Eye-Tracking Datasets", 2024), CC BY 4.0. They are not part of this repository: point
``ACTIF_DATA_DIR`` (or a ``--data-dir`` flag) at the folder holding ``P1/`` ..
``P25/``, each with a tab-separated ``depthCalibration.csv``.

Cleaning, in this order (``GazeRecord.counts`` reports what each step removed):

1. rows whose ``Message`` is not ``sample`` (the start/end markers) are skipped;
2. runs of rows identical apart from the timestamp collapse to their first row (15
   of the 25 sessions log every sample 2-5 times, stamped 0-8 ms apart; 35,960 rows
   are unique);
3. tracking-loss rows are dropped: a gaze direction of exactly (0, 0, 1) (the
   tracker's placeholder when it lost an eye) or a non-finite direction, origin or
   ground-truth value;
4. only 0.35 m < ground-truth depth <= 3 m is kept, as in the published FOVAL
   pipeline.

Removed rows start a new segment (``GazeRecord.segment_start``), so windows never
bridge them. Lengths are converted to centimetres; the headset's estimated depth is
NaN where the file says -1 (no estimate). Rows stay in time order: unlike the
published pipeline, nothing is re-ordered by depth.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Sequence

import numpy as np

from .record import GazeRecord

ENV_VAR = "ACTIF_DATA_DIR"
SESSION_FILE = "depthCalibration.csv"
DEPTH_RANGE_M = (0.35, 3.0)
M_TO_CM = 100.0

TIMESTAMP = "System Timestamp"
MESSAGE = "Message"
# Value columns, in the order they are parsed (timestamp first).
VALUE_COLUMNS = (
    TIMESTAMP,
    "GT_depth",
    "World Gaze Point X", "World Gaze Point Y", "World Gaze Point Z",
    "World Gaze Origin R X", "World Gaze Origin R Z",
    "World Gaze Origin L X", "World Gaze Origin L Z",
    "World Gaze Direction R X", "World Gaze Direction R Y", "World Gaze Direction R Z",
    "World Gaze Direction L X", "World Gaze Direction L Y", "World Gaze Direction L Z",
    "Estimated Depth",
)
_COL = {name: k for k, name in enumerate(VALUE_COLUMNS)}
_DIR_R = slice(_COL["World Gaze Direction R X"], _COL["World Gaze Direction R Z"] + 1)
_DIR_L = slice(_COL["World Gaze Direction L X"], _COL["World Gaze Direction L Z"] + 1)
_ORIGINS = slice(_COL["World Gaze Origin R X"], _COL["World Gaze Origin L Z"] + 1)
_POINT = slice(_COL["World Gaze Point X"], _COL["World Gaze Point Z"] + 1)
_TRACKER_PLACEHOLDER = np.array([0.0, 0.0, 1.0])


class RobustVisionFormatError(ValueError):
    """A recording file is malformed; ``path`` and ``line`` (1-based, or None) say where."""

    def __init__(self, path: str, line: int | None, problem: str):
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line


# --------------------------------------------------------------------------- where


def data_dir(path: str | os.PathLike[str] | None = None) -> str | None:
    """The RobustVision folder: ``path`` when given, else ``$ACTIF_DATA_DIR``, else None.

    A folder that is given (by argument or by the variable) but does not exist or holds
    no ``P*/depthCalibration.csv`` raises :class:`FileNotFoundError` naming it.
    """
    if path is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if not env:
            return None
        return _checked_dir(env, f"{ENV_VAR}={env!r}")
    return _checked_dir(os.fspath(path), repr(os.fspath(path)))


def _checked_dir(path: str, described: str) -> str:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"RobustVision data directory not found: {described} is not a directory")
    if not list_subjects(path):
        raise FileNotFoundError(
            f"RobustVision data directory {described} holds no subject folders (expected P1/{SESSION_FILE} ...)"
        )
    return path


def _resolve_dir(directory: str | os.PathLike[str] | None) -> str | os.PathLike[str]:
    """``directory``, or :func:`data_dir` when it is None (and then it must be set)."""
    if directory is None:
        directory = data_dir()
        if directory is None:
            raise FileNotFoundError(f"no RobustVision directory given and {ENV_VAR} is not set")
    return directory


def list_subjects(directory: str | os.PathLike[str]) -> list[str]:
    """Subject ids (sub-folders holding a session file) in natural order: P1, P2, .. P25."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"RobustVision data directory not found: {directory!r}")
    found = [
        name for name in os.listdir(directory)
        if os.path.isfile(os.path.join(directory, name, SESSION_FILE))
    ]
    return sorted(found, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


# ------------------------------------------------------------------------- loading

_cache: dict[tuple[Any, ...], GazeRecord] = {}
_cache_lock = threading.Lock()


def load_subject(
    directory: str | os.PathLike[str] | None,
    subject: str,
    *,
    depth_range_m: tuple[float, float] | None = DEPTH_RANGE_M,
    drop_tracking_loss: bool = True,
) -> GazeRecord:
    """One subject's cleaned session (see the module docstring for the cleaning).

    ``directory`` None means :func:`data_dir` (``$ACTIF_DATA_DIR``). ``depth_range_m``
    None keeps every depth. Parsed files are cached per process (keyed by path, size
    and modification time); records are immutable, so sharing them is safe.
    """
    directory = _resolve_dir(directory)
    path = os.path.join(os.fspath(directory), subject, SESSION_FILE)
    if not os.path.isfile(path):
        known = list_subjects(directory) if os.path.isdir(directory) else []
        hint = f" (subjects there: {', '.join(known)})" if known else ""
        raise FileNotFoundError(f"no session for subject {subject!r}: {path} does not exist{hint}")
    return read_session(path, subject, depth_range_m=depth_range_m, drop_tracking_loss=drop_tracking_loss)


def load_subjects(
    directory: str | os.PathLike[str] | None, subjects: Sequence[str] | None = None, **options: Any
) -> list[GazeRecord]:
    """:func:`load_subject` for each of ``subjects`` (default: all, in natural order)."""
    directory = _resolve_dir(directory)
    names = list_subjects(directory) if subjects is None else list(subjects)
    return [load_subject(directory, s, **options) for s in names]


def read_session(
    path: str | os.PathLike[str],
    subject: str,
    *,
    depth_range_m: tuple[float, float] | None = DEPTH_RANGE_M,
    drop_tracking_loss: bool = True,
) -> GazeRecord:
    """Parse and clean one session file (cached per process)."""
    path = os.fspath(path)
    if depth_range_m is not None:
        lo, hi = (float(v) for v in depth_range_m)
        if not lo < hi:
            raise ValueError(f"depth_range_m must be (low, high) with low < high, got {depth_range_m!r}")
        depth_range_m = (lo, hi)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, subject, depth_range_m, bool(drop_tracking_loss))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    record = _clean(_parse(path, subject), depth_range_m, drop_tracking_loss)
    with _cache_lock:
        _cache[key] = record
    return record


def clear_cache() -> None:
    """Forget every parsed session (the next load reads the files again)."""
    with _cache_lock:
        _cache.clear()


def _parse(path: str, subject: str) -> GazeRecord:
    """Sample rows of one file, de-duplicated, as a record (no other cleaning yet)."""
    with open(path, encoding="utf-8-sig", errors="strict", newline="") as fh:  # -sig: tolerate a BOM
        try:
            text = fh.read()
        except UnicodeDecodeError as exc:
            raise RobustVisionFormatError(path, None, f"not UTF-8 text ({exc})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RobustVisionFormatError(path, 1, "empty file: expected a tab-separated header line")
    header = [name.strip() for name in lines[0].split("\t")]
    missing = [name for name in (*VALUE_COLUMNS, MESSAGE) if name not in header]
    if missing:
        raise RobustVisionFormatError(path, 1, f"header lacks column(s) {', '.join(repr(m) for m in missing)}")
    n_fields = len(header)
    index = [header.index(name) for name in VALUE_COLUMNS]
    msg_index = header.index(MESSAGE)
    ts_index = header.index(TIMESTAMP)

    rows: list[list[str]] = []
    line_numbers: list[int] = []
    n_sample_rows = n_other_rows = 0
    previous_key: list[str] | None = None
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        message = fields[msg_index].strip() if len(fields) > msg_index else ""
        if message != "sample":
            n_other_rows += 1  # "Data collection started/ended" markers
            continue
        n_sample_rows += 1
        if len(fields) != n_fields:
            raise RobustVisionFormatError(
                path, number, f"expected {n_fields} tab-separated fields, found {len(fields)}"
            )
        # Repeated samples differ only in their timestamp: keep the first of each run.
        key = fields[:ts_index] + fields[ts_index + 1:]
        if key == previous_key:
            continue
        previous_key = key
        rows.append([fields[k] for k in index])
        line_numbers.append(number)
    if not rows:
        raise RobustVisionFormatError(path, None, "no sample rows")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        values = _values_or_error(path, rows, line_numbers)
    t = values[:, _COL[TIMESTAMP]]
    if not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise RobustVisionFormatError(path, line_numbers[bad], f"{TIMESTAMP} is not a finite number")
    backwards = np.flatnonzero(np.diff(t) < 0)
    if backwards.size:
        k = int(backwards[0]) + 1
        raise RobustVisionFormatError(path, line_numbers[k], f"{TIMESTAMP} goes back in time ({t[k - 1]:.0f} -> {t[k]:.0f})")
    estimated = values[:, _COL["Estimated Depth"]]
    origins = values[:, _ORIGINS] * M_TO_CM
    return GazeRecord(
        subject=subject,
        timestamp_ms=t,
        gaze_dir_right=values[:, _DIR_R],
        gaze_dir_left=values[:, _DIR_L],
        origin_right_cm=origins[:, 0:2],
        origin_left_cm=origins[:, 2:4],
        gaze_point_cm=values[:, _POINT] * M_TO_CM,
        gt_depth_cm=values[:, _COL["GT_depth"]] * M_TO_CM,
        # -1 is the headset's "no estimate"; no depth is negative.
        estimated_depth_cm=np.where(estimated < 0, np.nan, estimated * M_TO_CM),
        segment_start=np.zeros(len(rows), dtype=bool),
        source=path,
        counts={
            "sample_rows": n_sample_rows,
            "marker_rows": n_other_rows,
            "duplicate_rows": n_sample_rows - len(rows),
            "unique_rows": len(rows),
        },
    )


def _values_or_error(path: str, rows: list[list[str]], line_numbers: list[int]) -> np.ndarray:
    """Row-by-row conversion, to name the first line and column that is not a number."""
    out = np.empty((len(rows), len(VALUE_COLUMNS)))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            try:
                out[r, c] = float(text)
            except ValueError:
                raise RobustVisionFormatError(
                    path, line_numbers[r], f"column {VALUE_COLUMNS[c]!r} is not a number: {text!r}"
                ) from None
    return out


def _clean(record: GazeRecord, depth_range_m: tuple[float, float] | None, drop_tracking_loss: bool) -> GazeRecord:
    keep = np.ones(len(record), dtype=bool)
    counts: dict[str, int] = {}
    if drop_tracking_loss:
        lost = (
            np.all(record.gaze_dir_right == _TRACKER_PLACEHOLDER, axis=1)
            | np.all(record.gaze_dir_left == _TRACKER_PLACEHOLDER, axis=1)
            | ~np.all(np.isfinite(record.gaze_dir_right), axis=1)
            | ~np.all(np.isfinite(record.gaze_dir_left), axis=1)
            | ~np.all(np.isfinite(record.origin_right_cm), axis=1)
            | ~np.all(np.isfinite(record.origin_left_cm), axis=1)
            | ~np.isfinite(record.gt_depth_cm)
        )
        counts["tracking_loss_rows"] = int(np.count_nonzero(lost))  # the first filter: nothing removed yet
        keep &= ~lost
    if depth_range_m is not None:
        lo, hi = depth_range_m[0] * M_TO_CM, depth_range_m[1] * M_TO_CM
        with np.errstate(invalid="ignore"):
            inside = (record.gt_depth_cm > lo) & (record.gt_depth_cm <= hi)
        counts["out_of_depth_range_rows"] = int(np.count_nonzero(~inside & keep))
        keep &= inside
    counts["samples"] = int(np.count_nonzero(keep))
    return record.select(keep, counts)

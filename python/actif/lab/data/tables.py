"""Tables of samples in: CSV, TSV and Parquet files read with pandas (the lab extra).

One row per sample, one column per feature, a header naming the columns. Columns are
matched to the model's feature names (extra columns, e.g. a timestamp, are ignored; their
order does not matter). What is handled for you:

* the delimiter: from the extension (``.csv`` comma, ``.tsv``/``.tab`` tab), or given
  (``delimiter=";"``); ``.txt`` and unknown extensions take the delimiter of the header
  line (tab, comma or semicolon, whichever it holds most);
* a UTF-8 byte-order mark (spreadsheet exports write one), quoted fields, ``\\r\\n``
  line ends, blank lines, spaces around header names;
* Parquet (``.parquet``/``.pq``, through pyarrow).

Every error names the file, and the line (the row for Parquet) and column where it can:
a row with too many fields, a value that is not a number, an empty or non-finite value
in a feature column, a missing column (with a hint when the delimiter looks wrong).
"""

from __future__ import annotations

import csv
import os
import re
from typing import Sequence

import numpy as np

#: Extensions read as delimited text, with their delimiter (None: from the header line).
TEXT_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
PARQUET_EXTENSIONS = (".parquet", ".pq")
_GUESSABLE = ("\t", ",", ";")
_NAMED_DELIMITERS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " ", "pipe": "|"}
_ENCODING = "utf-8-sig"  # reads plain UTF-8 too; drops a leading byte-order mark


class TableFormatError(ValueError):
    """A table file cannot be read as samples; ``path`` and ``line`` (1-based physical
    line of a text file, the row of a Parquet file, or None) say where."""

    def __init__(self, path: str, line: int | None, problem: str, *, unit: str = "line"):
        super().__init__(f"{path}, {unit} {line}: {problem}" if line is not None else f"{path}: {problem}")
        self.path = path
        self.line = line


def is_table(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s extension is one :func:`read_samples` reads."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return ext in TEXT_DELIMITERS or ext in PARQUET_EXTENSIONS


def parse_delimiter(text: str) -> str:
    """A delimiter as typed on a command line: one character, or ``tab``, ``\\t``,
    ``comma``, ``semicolon``, ``space``, ``pipe``."""
    value = _NAMED_DELIMITERS.get(text.lower(), text) if isinstance(text, str) else text
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n\"":
        raise ValueError(f"a delimiter is one character (or tab, comma, semicolon, space, pipe), got {text!r}")
    return value


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("reading CSV, TSV or Parquet files needs pandas: pip install 'actif[lab]'") from None
    return pd


def read_samples(
    path: str | os.PathLike[str],
    feature_names: Sequence[str],
    *,
    delimiter: str | None = None,
) -> np.ndarray:
    """The feature columns of a table file as float32 (M, len(feature_names)), rows in
    file order. Raises :class:`TableFormatError` (a ``ValueError``) naming the file and
    line, :class:`FileNotFoundError`, or :class:`ImportError` naming the extra to install."""
    p = os.fspath(path)
    if os.path.isdir(p):
        raise TableFormatError(p, None, "is a directory; give one data file (.csv, .tsv, .parquet, .npy or .npz)")
    if not os.path.exists(p):
        raise FileNotFoundError(f"no data file at {p!r}")
    names = list(feature_names)
    ext = os.path.splitext(p)[1].lower()
    if ext in PARQUET_EXTENSIONS and delimiter is None:
        return _read_parquet(p, names)
    if delimiter is not None:
        sep = parse_delimiter(delimiter)
    elif ext not in TEXT_DELIMITERS:
        raise TableFormatError(
            p, None, f"unsupported table type {ext or '(no extension)'!r}: use .csv, .tsv, .txt or .parquet, "
            "or give the delimiter (--delimiter)"
        )
    try:
        return _read_text(p, names, sep if delimiter is not None else TEXT_DELIMITERS[ext] or _delimiter_of_header(p))
    except OSError as exc:  # permissions, I/O errors: say which file, in one line
        raise TableFormatError(p, None, f"cannot be read ({exc.strerror or exc})") from None


def _delimiter_of_header(path: str) -> str:
    with open(path, encoding=_ENCODING, newline="") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in _GUESSABLE}
    best = max(_GUESSABLE, key=lambda d: counts[d])
    return best if counts[best] else ","  # a single column has no delimiter


def _read_text(path: str, names: list[str], sep: str) -> np.ndarray:
    pd = _pandas()
    try:
        # Everything as text first: numbers are converted below, where a bad value can be
        # reported with its line and column (pandas would silently make the column text).
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, encoding=_ENCODING,
            skipinitialspace=True, skip_blank_lines=True, on_bad_lines="error",
        )
    except UnicodeDecodeError as exc:
        raise TableFormatError(path, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise TableFormatError(path, None, "is empty: a header line naming the feature columns is needed") from None
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise TableFormatError(
                path, int(m.group(2)), f"{m.group(3)} fields where the header has {m.group(1)} "
                f"(delimiter {sep!r}; a field holding the delimiter must be quoted)"
            ) from None
        m = re.search(r"line (\d+)", msg)
        raise TableFormatError(path, int(m.group(1)) if m else None, msg.replace("Error tokenizing data. ", "")) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(path, list(frame.columns), names, sep)
    out = np.empty((len(frame), len(names)), np.float32)
    for j, name in enumerate(names):
        text = frame[name].str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raw = text.iloc[row]
            what = "is empty" if raw == "" else f"holds {raw!r}, not a finite number"
            raise TableFormatError(path, _physical_line(path, sep, row), f"column {name!r} {what}")
        out[:, j] = values
    return out


def _physical_line(path: str, sep: str, row: int) -> int | None:
    """The 1-based line where data row ``row`` (0-based, after the header) ends, counting
    blank lines and quoted line breaks as pandas skips and joins them."""
    with open(path, encoding=_ENCODING, newline="") as fh:
        reader = csv.reader(fh, delimiter=sep, skipinitialspace=True)
        seen = -1  # the header is record -1
        for record in reader:
            if not any(field.strip() for field in record) and len(record) <= 1:
                continue  # blank line
            if seen == row:
                return reader.line_num
            seen += 1
    return None


def _check_columns(path: str, columns: list[str], names: list[str], sep: str) -> None:
    missing = [f for f in names if f not in columns]
    if not missing:
        return
    shown = ", ".join(repr(f) for f in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    hint = ""
    if len(columns) == 1:
        others = [d for d in _GUESSABLE if d != sep and d in columns[0]]
        if others:
            hint = f"; its header is one column holding {others[0]!r}: pass --delimiter {_delimiter_name(others[0])}"
    raise TableFormatError(path, 1 if sep else None, f"no column for feature(s) {shown}{hint}")


def _delimiter_name(sep: str) -> str:
    return {"\t": "tab", ";": "';'", ",": "','"}.get(sep, repr(sep))


def _read_parquet(path: str, names: list[str]) -> np.ndarray:
    pd = _pandas()
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install 'actif[lab]'") from None
    try:
        columns = [str(c) for c in pq.read_schema(path).names]
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise TableFormatError(path, None, f"is not a readable Parquet file ({exc})") from None
    _check_columns(path, columns, names, "")
    frame = pd.read_parquet(path, columns=names)
    out = np.empty((len(frame), len(names)), np.float32)
    for j, name in enumerate(names):
        try:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise TableFormatError(path, None, f"column {name!r} is not numeric (type {frame[name].dtype})") from None
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise TableFormatError(path, row + 1, f"column {name!r} holds {frame[name].iloc[row]!r}, not a finite number", unit="row")
        out[:, j] = values
    return out


__all__ = ["PARQUET_EXTENSIONS", "TEXT_DELIMITERS", "TableFormatError", "is_table", "parse_delimiter", "read_samples"]

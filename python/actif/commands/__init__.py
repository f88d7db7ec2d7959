"""Subcommands of the ``actif`` CLI (see :mod:`actif.cli`).

The edge rule for every command: a failure is one line naming the file and what is
wrong, exit status 2. Commands check the files they are given before any work
(:func:`input_file`, :func:`output_file`) and read or write them inside :func:`about_file`, which
puts the file's name on whatever the reader says.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from typing import Iterator


class FileArgumentError(ValueError):
    """A file named on the command line cannot be used; the message names it."""


def input_file(path: str, what: str) -> str:
    """``path`` if it is a readable file, else a FileArgumentError saying why."""
    if not os.path.exists(path):
        raise FileArgumentError(f"{path}: no {what} file at this path")
    if os.path.isdir(path):
        raise FileArgumentError(f"{path}: is a directory, expected a {what} file")
    if not os.access(path, os.R_OK):
        raise FileArgumentError(f"{path}: cannot read the {what} file (permission denied)")
    return path


def output_file(path: str, what: str) -> str:
    """``path`` if a file can be written there, else a FileArgumentError saying why;
    checked before any work, so a long run does not end in a failed write."""
    if os.path.isdir(path):
        raise FileArgumentError(f"{path}: is a directory; give a file name for the {what}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileArgumentError(f"{path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise FileArgumentError(f"{path}: cannot write the {what} there (permission denied)")
    return path


def output_directory(path: str, what: str) -> str:
    """``path`` if it is, or can be created as, a writable directory."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileArgumentError(f"{path}: is a file, expected a directory for the {what}")
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(os.path.abspath(probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise FileArgumentError(f"{path}: cannot write the {what} there (permission denied)")
    return path


@contextlib.contextmanager
def about_file(path: str, what: str) -> Iterator[None]:
    """Re-raise what reading or writing ``path`` fails with as one FileArgumentError naming it."""
    try:
        yield
    except FileArgumentError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        text = " ".join(text.split())  # one line, whatever the reader printed
        raise FileArgumentError(f"{path}: {text}" if path not in text else text) from None

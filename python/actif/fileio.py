"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Callable


def write_atomically(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], Any]) -> None:
    """Call ``write(fh)`` on a fresh temporary file beside ``path``, make it durable and
    rename it into place: a crash leaves the old file or the new one, never a mix.

    The temporary name is unique (``mkstemp``), so concurrent writers of one path do
    not collide; the last rename wins.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)

"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import io
import os
import secrets
import stat
from typing import Any, Callable

# Temporary files are ``.<target name>.actif-tmp-<pid>-<random>``: unique per writer, so
# concurrent writers of one path do not collide, and named after their target and
# writer, so the next write to the same target removes those a killed run left behind.
_TEMP_MARK = ".actif-tmp-"


def write_atomically(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], Any]) -> None:
    """Call ``write(fh)`` on a fresh temporary file beside ``path``, make it durable and
    rename it into place: a crash leaves the old file or the new one, never a mix.

    The new file gets the mode an ordinary ``open(path, "w")`` would give it:
    ``0666 & ~umask`` for a new file (the kernel applies the umask), the old file's
    mode when one is replaced. A failed write removes its temporary file; temporary
    files of writers that died (``kill -9``, power loss) are removed by the next write
    to the same target, so they never pile up.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    try:
        keep_mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        keep_mode = None
    tmp = os.path.join(directory, f".{base}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:  # name the file the caller asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, path) from None
    try:
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
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


def _remove_stale_temps(directory: str, base: str) -> None:
    """Remove this target's temporary files whose writer process is gone."""
    prefix = f".{base}{_TEMP_MARK}"
    try:
        entries = [e.name for e in os.scandir(directory) if e.name.startswith(prefix)]
    except OSError:
        return
    for name in entries:
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass  # another writer removed it first, or the directory is read-only


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":
        return True  # a concurrent write from this process; Windows' os.kill would end the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists under another user, or cannot tell: leave it
    return True

"""Shared pieces of the atheris fuzz targets.

Each target is a script: ``python tests/fuzz/fuzz_X.py [libFuzzer flags] [corpus dirs]``.
A target accepts only the documented error type for malformed input
(:class:`actif.errors.ModelFormatError`); any other exception is a crash, which
atheris reports and turns into a non-zero exit (and a reproducer file). Given only
files (no directories), a target replays them once.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zipfile
import zlib

try:
    import atheris
except ImportError:  # replaying the corpus (tests/test_fuzz_corpus.py) needs no fuzzer
    atheris = None

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

from actif import checkpoint as _checkpoint  # noqa: E402,F401
from actif import model_spec as _model_spec  # noqa: E402,F401
from actif import stats as _stats  # noqa: E402,F401


def instrument_actif() -> int:
    """Coverage feedback for actif's own Python code. instrument_imports() misses
    modules loaded through an editable install's custom loader, and instrument_all()
    spends ~20 s on NumPy, so instrument every function actif's modules define."""
    seen: set[int] = set()

    def visit(obj: object, module: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            visit(obj.__func__, module)
        elif isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                if f is not None:
                    visit(f, module)
        elif isinstance(obj, type) and obj.__module__ == module:
            for member in vars(obj).values():
                visit(member, module)
        elif callable(obj) and hasattr(obj, "__code__") and getattr(obj, "__module__", None) == module:
            atheris.instrument_func(obj)

    for name, module in list(sys.modules.items()):
        if name == "actif" or name.startswith("actif."):
            for member in list(vars(module).values()):
                visit(member, name)
    return len(seen)


def with_valid_crc32(data: bytes) -> bytes:
    """Replace the trailing CRC-32 with the right one, so mutations reach the checks
    behind the checksum (half of all inputs go this way)."""
    if len(data) < 4:
        return data
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def split_mode(data: bytes) -> tuple[int, bytes]:
    """The first byte picks a mode; the rest is the payload."""
    return (data[0], data[1:]) if data else (0, b"")


def seed_members(kind: str = "model") -> dict[str, bytes]:
    """The members of the first seed model, to rebuild zips with one part fuzzed."""
    folder = os.path.join(CORPUS, kind)
    with open(os.path.join(folder, sorted(os.listdir(folder))[0]), "rb") as fh:
        data = fh.read()[1:]  # seeds start with the mode byte
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def run(test_one_input) -> None:
    instrument_actif()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

"""Corrupt model and statistics files beyond the fixed cases of test_model_format:
every truncation point, declared sizes far beyond the data, and memory that stays
bounded by what a file really holds."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import actif
from actif.errors import ModelFormatError
from actif.model_spec import MAX_MODEL_BYTES, ModelSpec, random_spec
from actif.stats import RunningStats

IMPLS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])


def model_bytes(spec: ModelSpec) -> bytes:
    buf = io.BytesIO()
    spec.save(buf)
    return buf.getvalue()


def test_every_truncation_of_a_model_is_refused():
    blob = model_bytes(random_spec(2, 2, 1, dense_sizes=(), batchnorm=False, window=3, seed=0))
    for cut in range(0, len(blob), 7):
        with pytest.raises(ModelFormatError):
            ModelSpec.load(blob[:cut])
    assert ModelSpec.load(blob).input_size == 2


@pytest.mark.parametrize("impl", IMPLS)
def test_every_truncation_and_bit_flip_of_a_stats_blob_is_refused(impl):
    blob = RunningStats(3, 5.0, impl="numpy").update(np.arange(12.0).reshape(4, 3)).to_bytes()
    for cut in range(len(blob)):
        with pytest.raises(ModelFormatError):
            RunningStats.from_bytes(blob[:cut], impl=impl)
    for pos in range(len(blob)):
        flipped = bytearray(blob)
        flipped[pos] ^= 0x04
        with pytest.raises(ModelFormatError):
            RunningStats.from_bytes(bytes(flipped), impl=impl)


def npy_header_only(shape: tuple[int, ...], dtype: str = "<f4", body: bytes = b"") -> bytes:
    """A .npy member that declares ``shape`` but carries only ``body``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body


def rebuilt(blob: bytes, members: dict[str, bytes], header_edit=None) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    if header_edit:
        header = json.loads(np.load(io.BytesIO(files["header.npy"])).tobytes())
        header_edit(header)
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(header).encode(), np.uint8))
        files["header.npy"] = buf.getvalue()
    files.update(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return out.getvalue()


def peak_rss_growth_mb(fn) -> float | None:
    """Peak RSS growth (MB) while ``fn`` runs, via /proc (None where unsupported)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark
    except OSError:
        return None

    def read(key: str) -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key))

    before = read("VmRSS:")
    fn()
    return (read("VmHWM:") - before) / 1024


def test_huge_declared_array_with_little_data_allocates_nothing_big():
    # hidden 8192: w_hh declares (32768, 8192) float32 = 1 GiB, within the per-array limit
    spec = random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0)
    blob = rebuilt(
        model_bytes(spec),
        {"lstm.0.w_ih.npy": npy_header_only((32768, 1)), "lstm.0.w_hh.npy": npy_header_only((32768, 8192), body=b"\0" * 4096)},
        header_edit=lambda h: h["layers"][0].update(hidden_size=8192),
    )

    def load():
        with pytest.raises(ModelFormatError, match="truncated"):
            ModelSpec.load(blob)

    growth = peak_rss_growth_mb(load)
    if growth is None:
        pytest.skip("no /proc/self/clear_refs here")
    assert growth < 64, f"refusing a 4 kB file grew peak RSS by {growth:.0f} MB"


def test_total_declared_size_is_bounded():
    # each array under the per-array limit, all of them together beyond MAX_MODEL_BYTES
    big = 4 * 8192 * 8192 * 4  # w_ih and w_hh of hidden 8192, input 8192: 1 GiB each
    assert big <= MAX_MODEL_BYTES < 2 * big
    base = model_bytes(random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0))
    blob = rebuilt(
        base,
        {"lstm.0.w_ih.npy": npy_header_only((32768, 8192), body=b"\0" * 64), "lstm.0.w_hh.npy": npy_header_only((32768, 8192))},
        header_edit=lambda h: h["layers"][0].update(hidden_size=8192, input_size=8192),
    )
    with pytest.raises(ModelFormatError):
        ModelSpec.load(blob)


@pytest.mark.parametrize(
    "shape, dtype",
    [((-1, 2), "<f4"), ((2**40, 2**40), "<f4"), ((2**62,), "<f8"), ((3,), "<i8"), ((3,), "|O"), ((3,), ">f4")],
)
def test_hostile_member_headers(shape, dtype):
    base = model_bytes(random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0))
    for member in ("lstm.0.b_ih.npy", "header.npy"):
        blob = rebuilt(base, {member: npy_header_only(shape, dtype, b"\0" * 64)})
        with pytest.raises(ModelFormatError):
            ModelSpec.load(blob)

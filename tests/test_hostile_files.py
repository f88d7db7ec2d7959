"""Corrupt model and statistics files beyond the fixed cases of test_model_format:
every truncation point, declared sizes far beyond the data, and memory that stays
bounded by what a file really holds."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest

import actif
from actif.errors import ModelFormatError
from actif.lab.report import reset_peak_rss, rss_kib
from actif.model_spec import MAX_MODEL_BYTES, ModelSpec, random_spec
from actif.stats import RunningStats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_model_format import rewrite  # noqa: E402

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


def rebuilt(tmp_path, blob: bytes, members: dict[str, bytes], header_edit=None) -> bytes:
    """``blob`` with members replaced (and the header edited), via test_model_format's rewrite."""
    src = tmp_path / "src.npz"
    src.write_bytes(blob)
    return rewrite(src, tmp_path, edit_header=header_edit, edit_members=lambda m: m.update(members)).read_bytes()


def peak_rss_growth_mb(fn) -> float | None:
    """Peak RSS growth (MB) while ``fn`` runs (None where Linux does not tell)."""
    if not reset_peak_rss():
        return None
    before, _ = rss_kib()
    fn()
    return (rss_kib()[1] - before) / 1024


def test_huge_declared_array_with_little_data_allocates_nothing_big(tmp_path):
    # hidden 8192: w_hh declares (32768, 8192) float32 = 1 GiB, within the per-array limit
    spec = random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0)
    blob = rebuilt(
        tmp_path,
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


def test_total_declared_size_is_bounded(tmp_path):
    # each array under the per-array limit, all of them together beyond MAX_MODEL_BYTES
    big = 4 * 8192 * 8192 * 4  # w_ih and w_hh of hidden 8192, input 8192: 1 GiB each
    assert big <= MAX_MODEL_BYTES < 2 * big
    base = model_bytes(random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0))
    blob = rebuilt(
        tmp_path,
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
def test_hostile_member_headers(shape, dtype, tmp_path):
    base = model_bytes(random_spec(1, 2, 1, dense_sizes=(), batchnorm=False, seed=0))
    for member in ("lstm.0.b_ih.npy", "header.npy"):
        blob = rebuilt(tmp_path, base, {member: npy_header_only(shape, dtype, b"\0" * 64)})
        with pytest.raises(ModelFormatError):
            ModelSpec.load(blob)

"""RunningStats on finite but huge values (issue: hardening): both implementations refuse
a row or a merge whose float64 moments would overflow, with a clear ValueError and the
state unchanged, so every state stays finite and its blob always round-trips; blobs
whose counts, weight and moments contradict each other are refused the same way."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import actif
from actif.errors import ModelFormatError
from actif.stats import RunningStats

IMPLS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("half_life", [None, 3.0])
@pytest.mark.parametrize("rows", [[[1e200]], [[1e155], [-1e155]], [[1.7e308], [1.7e308]]])
def test_rows_that_would_overflow_are_refused_and_change_nothing(impl, half_life, rows):
    rs = RunningStats(1, half_life, impl=impl).update([[2.0], [4.0]])
    before = rs.to_bytes()
    with pytest.raises(ValueError, match="overflow"):
        rs.update(rows)
    assert rs.to_bytes() == before
    assert RunningStats.from_bytes(rs.to_bytes(), impl=impl).to_bytes() == before


@pytest.mark.parametrize("impl", IMPLS)
def test_large_values_that_fit_are_kept_exactly_as_before(impl):
    rs = RunningStats(2, impl=impl).update([[1e150, -3.0], [-1e150, 3.0]])
    assert np.all(np.isfinite(rs.m2)) and rs.m2[0] == pytest.approx(2e300)
    assert RunningStats.from_bytes(rs.to_bytes(), impl=impl).to_bytes() == rs.to_bytes()


@pytest.mark.parametrize("impl", IMPLS)
def test_merging_states_with_means_of_opposite_huge_sign_is_refused(impl):
    a = RunningStats(1, impl=impl).update([[1e154]] * 3)
    b = RunningStats(1, impl=impl).update([[-1e154]] * 3)
    assert np.isfinite(a.m2).all() and np.isfinite(b.m2).all()
    before = a.to_bytes()
    with pytest.raises(ValueError, match="overflow"):
        a.merge(b)
    assert a.to_bytes() == before


@pytest.mark.parametrize("impl", IMPLS)
def test_both_implementations_make_the_same_decision(impl):
    cases = [[[1e153]], [[1e154]], [[1e154], [-1e154]], [[-2e154]], [[1e300]]]
    for rows in cases:
        outcomes = []
        for which in ("numpy", impl):
            rs = RunningStats(1, impl=which).update([[5.0]])
            try:
                rs.update(rows)
                outcomes.append(rs.to_bytes())
            except ValueError:
                outcomes.append(None)
        assert outcomes[0] == outcomes[1], rows


@pytest.mark.parametrize("impl", IMPLS)
def test_count_overflow_is_refused(impl):
    rs = RunningStats(1, impl=impl).update([[1.0]])
    raw = bytearray(rs.to_bytes()[:-4])
    raw[24:32] = struct.pack("<Q", 2**64 - 1)
    huge = RunningStats.from_bytes(with_crc(bytes(raw)), impl=impl)
    before = huge.to_bytes()
    with pytest.raises(ValueError, match="count"):
        huge.merge(rs)
    assert huge.to_bytes() == before


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "count, weight, mean",
    [(0, 1.0, 0.0), (0, 0.0, 1.5), (3, 0.0, 1.0), (3, 0.5, 1.0)],
    ids=["weight-without-samples", "mean-without-samples", "samples-without-weight", "weight-below-one"],
)
def test_blobs_whose_counts_contradict_their_moments_are_refused(impl, count, weight, mean):
    raw = bytearray(RunningStats(1, impl="numpy").to_bytes()[:-4])
    raw[24:40] = struct.pack("<Qd", count, weight)
    raw[48:56] = struct.pack("<d", mean)
    with pytest.raises(ModelFormatError, match="count"):
        RunningStats.from_bytes(with_crc(bytes(raw)), impl=impl)

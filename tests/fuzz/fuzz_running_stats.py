"""Fuzz RunningStats.from_bytes, the NumPy and the native implementation side by side.

Half of the inputs get a valid CRC-32 so mutations reach the checks behind it. Only
ModelFormatError is accepted, both implementations must agree on accept or reject,
and an accepted blob must serialise back to exactly the same bytes.
"""

from __future__ import annotations

import sys

from fuzz_common import run, split_mode, with_valid_crc32

import actif
from actif.errors import ModelFormatError
from actif.stats import RunningStats

IMPLS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])


def test_one_input(data: bytes) -> None:
    mode, blob = split_mode(data)
    if mode & 1:
        blob = with_valid_crc32(blob)
    outcomes = {}
    for impl in IMPLS:
        try:
            rs = RunningStats.from_bytes(blob, impl=impl)
        except ModelFormatError:
            outcomes[impl] = None
            continue
        out = rs.to_bytes()
        if out != blob:
            raise AssertionError(f"{impl}: accepted blob does not round-trip")
        outcomes[impl] = out
    if len(set(outcomes.values())) > 1:
        raise AssertionError(f"implementations disagree: {sorted(k for k, v in outcomes.items() if v is None)} rejected")


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)

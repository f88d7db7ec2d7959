"""Fuzz RunningStats.from_bytes, the NumPy and the native implementation side by side.

Half of the inputs get a valid CRC-32 so mutations reach the checks behind it. Only
ModelFormatError is accepted, both implementations must agree on accept or reject,
and an accepted blob must serialise back to exactly the same bytes. An accepted state
is then used: merged with itself and fed a row; each step either refuses (ValueError,
state unchanged) or leaves a state that serialises back, and both implementations
make the same decision.
"""

from __future__ import annotations

import sys

import numpy as np
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
    if outcomes.get("numpy") is None:
        return
    used = {impl: use(RunningStats.from_bytes(blob, impl=impl)) for impl in IMPLS}
    if len({tuple(v) for v in used.values()}) > 1:
        raise AssertionError(f"implementations decide differently on using the state: {used}")


def use(rs: RunningStats) -> list:
    """Merge the state with itself, then add a row: what each step decided."""
    decisions = []
    for step in (lambda: rs.merge(rs.copy()), lambda: rs.update(np.full((1, rs.n_features), 0.25))):
        before = rs.to_bytes()
        try:
            step()
        except ValueError:
            if rs.to_bytes() != before:
                raise AssertionError("a refused step changed the state") from None
            decisions.append(None)
            continue
        after = rs.to_bytes()
        if RunningStats.from_bytes(after, impl="numpy").to_bytes() != after:
            raise AssertionError("a state reached by merging or updating does not round-trip")
        decisions.append(after[:48])  # the header: count and weight (moments may round differently)
    return decisions


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)

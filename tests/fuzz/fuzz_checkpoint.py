"""Fuzz the StreamingExplainer checkpoint decoder (actif.checkpoint.decode).

Half of the inputs get a valid CRC-32 so mutations reach the header and payload
checks. Only ModelFormatError is accepted; whatever decodes re-encodes to a
checkpoint that decodes to the same contents.
"""

from __future__ import annotations

import sys

from fuzz_common import run, split_mode, with_valid_crc32

from actif import checkpoint as ck
from actif.errors import ModelFormatError


def test_one_input(data: bytes) -> None:
    mode, blob = split_mode(data)
    if mode & 1:
        blob = with_valid_crc32(blob)
    try:
        got = ck.decode(blob)
    except ModelFormatError:
        return
    again = ck.decode(
        ck.encode(
            model_sha256=got.model_sha256,
            input_size=got.input_size,
            options=got.options,
            n_updates=got.n_updates,
            skipped=got.skipped,
            stats_blob=got.stats.to_bytes(),
            state_steps=got.state_steps,
            state_arrays=got.state_arrays,
        )
    )
    if again.stats.to_bytes() != got.stats.to_bytes() or again.options != got.options or again.skipped != got.skipped:
        raise AssertionError("decoded checkpoint does not survive re-encoding")


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)

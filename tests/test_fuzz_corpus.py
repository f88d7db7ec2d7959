"""The fuzz targets' properties, replayed without a fuzzer: every seed file and a few
hundred deterministic mutations of each (bit flips, truncations, splices, with and
without a repaired CRC) go through each target's ``test_one_input``, which raises on
anything but ModelFormatError. The coverage-guided runs are tests/fuzz/run_fuzzers.py."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
sys.path.insert(0, FUZZ)

TARGETS = {"fuzz_model_spec": "model", "fuzz_running_stats": "stats", "fuzz_checkpoint": "checkpoint", "fuzz_onnx_import": "onnx",
           "fuzz_model_readers": "model", "fuzz_attribution": "attribution"}


EXTREMES = [0, 1, 2**31, 2**63 - 1, 2**64 - 1]


def mutations(seed: bytes, rng: np.random.Generator, n: int) -> list[bytes]:
    out = [seed, seed[:1], seed[: len(seed) // 2]]
    for _ in range(n):
        b = bytearray(seed)
        kind = rng.integers(4)
        if kind == 0 and len(b) > 1:  # flip a few bits
            for pos in rng.integers(1, len(b), size=rng.integers(1, 4)):
                b[pos] ^= 1 << int(rng.integers(8))
        elif kind == 1:  # truncate
            b = b[: rng.integers(0, len(b) + 1)]
        elif kind == 2 and len(b) > 9:  # overwrite 8 bytes with an extreme integer
            pos = int(rng.integers(1, len(b) - 8))
            b[pos : pos + 8] = EXTREMES[int(rng.integers(len(EXTREMES)))].to_bytes(8, "little")
        else:  # splice random bytes in
            pos = int(rng.integers(0, len(b) + 1))
            b[pos:pos] = rng.bytes(int(rng.integers(1, 64)))
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seed_corpus_and_mutations_never_crash(target):
    module = __import__(target)
    if getattr(module, "spec_from_onnx", True) is None or getattr(module, "LIB", True) is None:
        pytest.skip(module.MISSING)
    folder = os.path.join(FUZZ, "corpus", TARGETS[target])
    seeds = sorted(os.listdir(folder))
    assert seeds, f"no seed corpus in {folder}: run tests/fuzz/make_corpus.py"
    rng = np.random.default_rng(7)
    for name in seeds:
        with open(os.path.join(folder, name), "rb") as fh:
            seed = fh.read()
        for data in mutations(seed, rng, 150):
            module.test_one_input(data)  # as found: regression seeds replay exactly
            for mode in (0, 1):  # with the original and with a repaired checksum
                module.test_one_input(bytes([mode]) + data[1:] if data else data)

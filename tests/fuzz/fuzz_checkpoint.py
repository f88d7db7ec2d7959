"""Fuzz the StreamingExplainer checkpoint decoder (actif.checkpoint.decode) and restore.

Half of the inputs get a valid CRC-32 so mutations reach the header and payload
checks. Only ModelFormatError is accepted; whatever decodes re-encodes to a
checkpoint that decodes to the same contents. A checkpoint of the seeds' model is
also restored into a stream, which must then take a sample and give finite
predictions and scores: whatever loads can be used (the stream state's meaning).
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from fuzz_common import run, split_mode, with_valid_crc32

import actif
from actif import checkpoint as ck
from actif.errors import ModelFormatError
from actif.model_spec import random_spec

# the model of the seed checkpoints (make_corpus.checkpoint_seeds)
MODEL = actif.Model(random_spec(2, 2, 1, dense_sizes=(), window=3, pooling="mean", seed=0), "numpy")
FINGERPRINT = ck.model_fingerprint(MODEL.spec)
_PATH = os.path.join(tempfile.gettempdir(), f"actif-fuzz-checkpoint-{os.getpid()}.ck")


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
    if got.model_sha256 != FINGERPRINT:
        return
    with open(_PATH, "wb") as fh:
        fh.write(blob)
    try:
        st = actif.StreamingExplainer.restore(_PATH, MODEL, checkpoint_every=None)
    except ModelFormatError:
        return
    sample = np.full((1, 2) if st.stateful else (1, 3, 2), 0.5, np.float32)
    try:
        y = st.update(sample)
    except ValueError:  # e.g. a restored count at 2^64 cannot take one more sample
        return
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(st.scores())):
        raise AssertionError("a restored checkpoint gives non-finite predictions or scores")


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)

"""Fuzz ModelSpec.load (the .npz + JSON header model loader).

Modes (first byte): raw bytes as the whole file; the bytes as the JSON header of an
otherwise valid model; the bytes as one ``.npy`` member of a valid model. Zips are
rebuilt with valid CRCs, so mutations reach the parser rather than the zip checks.
Only ModelFormatError is accepted.
"""

from __future__ import annotations

import io
import sys

import numpy as np
from fuzz_common import run, seed_members, split_mode, zip_bytes

from actif.errors import ModelFormatError
from actif.model_spec import ModelSpec

MEMBERS = seed_members("model")
NAMES = sorted(MEMBERS)


def npy_of_bytes(raw: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(raw, np.uint8))
    return buf.getvalue()


def model_blob(data: bytes) -> bytes:
    """The model file an input stands for (see the modes above)."""
    mode, payload = split_mode(data)
    if mode % 3 == 0:
        return payload
    if mode % 3 == 1:
        return zip_bytes({**MEMBERS, "header.npy": npy_of_bytes(payload)})
    name = NAMES[(payload[0] if payload else 0) % len(NAMES)]
    return zip_bytes({**MEMBERS, name: payload[1:]})


def test_one_input(data: bytes) -> None:
    blob = model_blob(data)
    try:
        spec = ModelSpec.load(blob)
    except ModelFormatError:
        return
    spec.validate()  # whatever loads is a valid model


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)

"""Fuzz the ONNX importer (actif.interchange.onnx_import.spec_from_onnx).

The importer is being written in parallel: while ``actif.interchange.onnx_import`` (or
the ``onnx`` package) is missing, this target says so and exits 0 without fuzzing.
Only ModelFormatError is accepted (malformed graphs and unsupported ops alike).
"""

from __future__ import annotations

import os
import sys
import tempfile

from fuzz_common import run

from actif.errors import ModelFormatError

try:
    import onnx  # noqa: F401

    from actif.interchange.onnx_import import spec_from_onnx
except ImportError as exc:
    spec_from_onnx = None
    MISSING = f"the ONNX importer is not available ({exc})"

_PATH = os.path.join(tempfile.gettempdir(), f"actif-fuzz-onnx-{os.getpid()}.onnx")


def test_one_input(data: bytes) -> None:
    with open(_PATH, "wb") as fh:  # the importer reads files
        fh.write(data)
    try:
        spec_from_onnx(_PATH)
    except ModelFormatError:
        return


if __name__ == "__main__":
    if spec_from_onnx is None:
        print(f"fuzz_onnx_import: skipped, {MISSING}")
        sys.exit(0)
    run(test_one_input)
    sys.exit(0)

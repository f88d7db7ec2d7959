"""Differential fuzzing of the two model readers: Python's ModelSpec.load and the C
API's actif_model_load_memory (libactif, through ctypes) must accept and reject
exactly the same files, and agree on what an accepted file holds (sizes, window,
layers, feature and output names).

Inputs are built as fuzz_model_spec builds them (raw file, fuzzed JSON header, one
fuzzed member). libactif is found through ACTIF_C_LIBRARY, else in the build trees
cpp/check.sh and CMake use (build/ci-native, build); without it this target says so
and exits 0 without fuzzing.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

from fuzz_common import HERE, run
from fuzz_model_spec import model_blob

from actif.errors import ModelFormatError
from actif.model_spec import ModelSpec

ROOT = os.path.dirname(os.path.dirname(HERE))


def find_library() -> str | None:
    candidates = [os.environ.get("ACTIF_C_LIBRARY", "")]
    for pattern in ("build/ci-native/libactif.so", "build/*/libactif.so", "build/libactif.so"):
        candidates += sorted(glob.glob(os.path.join(ROOT, pattern)))
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def load_library(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.actif_model_load_memory.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
    lib.actif_model_load_memory.restype = ctypes.c_int
    lib.actif_last_error.restype = ctypes.c_char_p
    lib.actif_model_free.argtypes = [ctypes.c_void_p]
    for name in ("input_size", "output_size", "window", "num_layers"):
        fn = getattr(lib, f"actif_model_{name}")
        fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int64
    lib.actif_model_hidden_size.argtypes, lib.actif_model_hidden_size.restype = [ctypes.c_void_p, ctypes.c_int64], ctypes.c_int64
    for name in ("feature_name", "output_name"):
        fn = getattr(lib, f"actif_model_{name}")
        fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_int64], ctypes.c_char_p
    return lib


LIBRARY = find_library()
LIB = load_library(LIBRARY) if LIBRARY else None
MISSING = "libactif is not built (set ACTIF_C_LIBRARY or run cpp/check.sh native)"


def c_reader(blob: bytes) -> tuple[dict | None, str]:
    """What the C reader makes of the file: (summary or None, error message)."""
    handle = ctypes.c_void_p()
    status = LIB.actif_model_load_memory(blob, len(blob), ctypes.byref(handle))
    if status != 0:
        return None, (LIB.actif_last_error() or b"").decode("utf-8", "replace")
    try:
        n_in, n_out, layers = (LIB.actif_model_input_size(handle), LIB.actif_model_output_size(handle),
                               LIB.actif_model_num_layers(handle))
        return {
            "input_size": n_in, "output_size": n_out, "window": LIB.actif_model_window(handle),
            "hidden_sizes": [LIB.actif_model_hidden_size(handle, k) for k in range(layers)],
            "features": [LIB.actif_model_feature_name(handle, i).decode("utf-8") for i in range(n_in)],
            "outputs": [LIB.actif_model_output_name(handle, j).decode("utf-8") for j in range(n_out)],
        }, ""
    finally:
        LIB.actif_model_free(handle)


def py_reader(blob: bytes) -> tuple[dict | None, str]:
    try:
        spec = ModelSpec.load(blob)
    except ModelFormatError as exc:
        return None, str(exc)
    return {
        "input_size": spec.input_size, "output_size": spec.output_size, "window": int(spec.window),
        "hidden_sizes": spec.hidden_sizes, "features": spec.features, "outputs": spec.outputs,
    }, ""


def test_one_input(data: bytes) -> None:
    blob = model_blob(data)
    py, py_err = py_reader(blob)
    c, c_err = c_reader(blob)
    if (py is None) != (c is None):
        raise AssertionError(f"readers disagree: Python {'accepts' if py else 'rejects: ' + py_err}; "
                             f"C {'accepts' if c else 'rejects: ' + c_err}")
    if py != c:
        raise AssertionError(f"readers read different models: Python {py}, C {c}")


if __name__ == "__main__":
    if LIB is None:
        print(f"fuzz_model_readers: skipped, {MISSING}")
        sys.exit(0)
    run(test_one_input)
    sys.exit(0)

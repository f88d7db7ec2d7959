"""Fuzz the ONNX importer (actif.interchange.onnx_import.spec_from_onnx).

Two kinds of input: raw bytes read as an ONNX file, and (first byte 0xF1) a node built
from the bytes (an op, up to three constant operands of fuzzed shapes and values, an
integer attribute) placed in front of a small valid LSTM graph, so the fuzzer reaches
constant folding and its bounds (folded sizes, Loop/Scan refused, external data).
While ``actif.interchange.onnx_import`` (or the ``onnx`` package) is missing, this
target says so and exits 0 without fuzzing. Only ModelFormatError is accepted
(malformed graphs and unsupported ops alike); the runner's RSS limit and timeout
catch unbounded work.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from fuzz_common import run

from actif.errors import ModelFormatError

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from actif.interchange.onnx_import import spec_from_onnx
except ImportError as exc:
    spec_from_onnx = None
    MISSING = f"the ONNX importer is not available ({exc})"

_PATH = os.path.join(tempfile.gettempdir(), f"actif-fuzz-onnx-{os.getpid()}.onnx")
STRUCTURED = 0xF1
OPS = (
    "ConstantOfShape Expand Tile Range Reshape Concat Gather Slice Transpose Squeeze Unsqueeze Cast Add Mul Div Pow "
    "MatMul Gemm ReduceSum Where Split Shape Loop Scan If OneHot Pad Resize TopK Einsum Conv NonZero Unique CumSum"
).split()


def _tensor(raw: bytes, k: int) -> tuple[np.ndarray, bytes]:
    """An int64 or float32 constant of a fuzzed shape (dims small, or a power of two)."""
    if len(raw) < 3:
        return np.zeros(1, np.int64), raw
    kind, rank, raw = raw[0], raw[1] % 4, raw[2:]
    dims = []
    for b in raw[:rank]:
        dims.append(1 << (b % 40) if b & 0x80 else b % 5)
    raw = raw[rank:]
    count = int(np.prod(dims)) if dims else 1
    if count > 64:  # the shape stays as declared in values below, so keep the data small
        values = np.frombuffer(raw[:8].ljust(8, b"\0"), np.int64)
        arr = np.asarray(values[:1], np.int64)  # a vector of sizes: what ConstantOfShape and friends read
        return arr if kind & 1 else arr.astype(np.float32), raw[8:]
    take = raw[: 8 * count].ljust(8 * count, b"\0")
    arr = np.frombuffer(take, np.int64).reshape(dims).copy()
    if kind & 1:
        arr = (arr % (1 << 41)) * (1 if kind & 2 else -1) if kind & 4 else arr
        return arr, raw[8 * count :]
    with np.errstate(over="ignore"):
        return np.nan_to_num(arr.view(np.float64)).astype(np.float32), raw[8 * count :]


def structured_model(payload: bytes) -> bytes:
    """A valid LSTM graph with one fuzzed node in front."""
    op = OPS[payload[0] % len(OPS)] if payload else "Add"
    n_in = payload[1] % 4 if len(payload) > 1 else 1
    attr = int.from_bytes(payload[2:4].ljust(2, b"\0"), "little", signed=True) if len(payload) > 2 else 0
    raw = payload[4:]
    inits, names = [], []
    for k in range(n_in):
        arr, raw = _tensor(raw, k)
        names.append(f"c{k}")
        inits.append(numpy_helper.from_array(arr, f"c{k}"))
    attrs = {"axis": attr % 3} if op in ("Concat", "Gather", "Split", "CumSum") else {}
    if op == "Cast":
        attrs = {"to": attr % 17}
    node = helper.make_node(op, names, ["z"], **attrs)
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [node,
         helper.make_node("Transpose", ["x"], ["x_tm"], perm=[1, 0, 2]),
         helper.make_node("LSTM", ["x_tm", "W", "R"], ["y_seq", "h_last"], hidden_size=3),
         helper.make_node("Squeeze", ["h_last", "axis0"], ["y"])],
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 12, 2)).astype(np.float32), "W"),
         numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 12, 3)).astype(np.float32), "R"),
         numpy_helper.from_array(np.zeros(1, np.int64), "axis0"), *inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString()


def test_one_input(data: bytes) -> None:
    if data[:1] == bytes([STRUCTURED]):
        try:
            data = structured_model(data[1:])
        except (ValueError, TypeError, OverflowError, onnx.onnx_cpp2py_export.checker.ValidationError):
            return  # the fuzzed bytes do not make a node onnx can even build
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

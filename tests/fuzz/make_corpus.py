"""Write the fuzzers' seed corpus: small valid files of every kind they read.

    python tests/fuzz/make_corpus.py          # rewrites tests/fuzz/corpus/

corpus/model/       .npz models (one layer, stacked with affines, mean/max pooling)
corpus/stats/       RunningStats blobs (plain, forgetting, one feature), each with a
                    leading mode byte as the stats fuzzer expects
corpus/checkpoint/  StreamingExplainer checkpoints (window and stateful), mode byte first
corpus/onnx/        a tiny ONNX LSTM graph (only when the onnx package is installed)

The model fuzzer takes a leading mode byte too; the model seeds carry mode 0 (raw file).
"""

from __future__ import annotations

import io
import os
import struct
import sys
import tempfile
import zlib

import numpy as np

import actif
from actif.model_spec import random_spec

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def model_seeds() -> dict[str, bytes]:
    specs = {
        "one_layer_last": random_spec(2, 2, 1, dense_sizes=(), batchnorm=False, window=3, seed=0),
        "stacked_affine_mean": random_spec(3, [4, 2], 2, pooling="mean", normalization=True, dense_sizes=(3,), window=4, seed=1,
                                           feature_names=["gaze_x", "gaze_y", "pupil"]),
        "max_pool_float64": random_spec(2, 3, 1, pooling="max", dense_sizes=(), window=2, seed=2).astype(np.float64),
    }
    out = {}
    for name, spec in specs.items():
        buf = io.BytesIO()
        spec.save(buf)
        out[f"{name}.npz"] = bytes([0]) + buf.getvalue()  # mode 0: the raw file
    return out


def stats_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    plain = actif.RunningStats(3, impl="numpy").update(rng.normal(size=(5, 3)))
    forgetting = actif.RunningStats(2, 4.0, impl="numpy").update(rng.normal(size=(7, 2)))
    single = actif.RunningStats(1, impl="numpy").update([[2.5]])
    blobs = {"plain": plain.to_bytes(), "forgetting": forgetting.to_bytes(), "one_feature": single.to_bytes()}
    # regression: a half-life of -0.0 was accepted and did not serialise back (found by fuzzing)
    raw = bytearray(single.to_bytes())
    raw[40:48] = struct.pack("<d", -0.0)
    blobs["negative_zero_half_life"] = bytes(raw[:-4]) + struct.pack("<I", zlib.crc32(bytes(raw[:-4])))
    # mode byte 0: as is; 1: the fuzzer rewrites the CRC (start some seeds there too)
    return {f"{name}_{mode}.bin": bytes([mode]) + blob for name, blob in blobs.items() for mode in (0, 1)}


def checkpoint_seeds() -> dict[str, bytes]:
    model = actif.Model(random_spec(2, 2, 1, dense_sizes=(), window=3, pooling="mean", seed=0), "numpy")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stateful in (False, True):
            st = actif.StreamingExplainer(model, stateful=stateful, on_invalid="skip", half_life=None if stateful else 8.0)
            x = np.linspace(-1, 1, 12 if stateful else 36, dtype=np.float32).reshape((6, 2) if stateful else (6, 3, 2))
            x[4] = np.nan
            st.update(x)
            path = st.checkpoint(os.path.join(tmp, "ck"))
            with open(path, "rb") as fh:
                out[f"{'stateful' if stateful else 'window'}.ck"] = bytes([1]) + fh.read()
    return out


def onnx_seeds() -> dict[str, bytes]:
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return {}
    rng = np.random.default_rng(0)
    n_in, hidden, t = 2, 3, 4
    inits = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * hidden, n_in)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 4 * hidden, hidden)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 8 * hidden)).astype(np.float32), "B"),
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (hidden, 1)).astype(np.float32), "Wd"),
        numpy_helper.from_array(np.zeros(1, np.float32), "bd"),
        numpy_helper.from_array(np.zeros(1, np.int64), "axis0"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_tm"], perm=[1, 0, 2]),  # (N,T,I) -> (T,N,I)
        helper.make_node("LSTM", ["x_tm", "W", "R", "B"], ["y_seq", "h_last"], hidden_size=hidden),
        helper.make_node("Squeeze", ["h_last", "axis0"], ["h"]),  # (1, N, H) -> (N, H)
        helper.make_node("MatMul", ["h", "Wd"], ["yd"]),
        helper.make_node("Add", ["yd", "bd"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "actif_seed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", t, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="actif-corpus")
    return {"lstm_dense.onnx": model.SerializeToString()}


def main() -> int:
    kinds = {"model": model_seeds(), "stats": stats_seeds(), "checkpoint": checkpoint_seeds(), "onnx": onnx_seeds()}
    for kind, files in kinds.items():
        folder = os.path.join(CORPUS, kind)
        # Replace the generated seeds; keep 'regression-*' files: inputs that once
        # crashed a target, committed so the corpus replay keeps them fixed.
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if not name.startswith("regression-"):
                os.remove(os.path.join(folder, name))
        if not files:
            continue
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(data)
        print(f"{kind}: {len(files)} files, {sum(map(len, files.values()))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

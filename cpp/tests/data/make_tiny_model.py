"""Write the C API fixture: a tiny model saved by Python and what the float64 NumPy
reference says it computes.

    python cpp/tests/data/make_tiny_model.py [OUT_DIR]   (default: this directory)

tiny_model.npz          ModelSpec.save of a 2-layer model (I=6, H=9 then 5, mean
                        pooling, input normalisation, folded BatchNorm, a dense layer,
                        2 outputs, a non-ASCII feature name)
tiny_model_expected.txt whitespace-separated sections "name count v1 v2 ...":
                        x (3 windows x 8 steps x 6), y (3 x 2) of those windows,
                        trace_mean / trace_std (weighted trace over all 24 steps),
                        scores_inverse, stream_x (12 samples x 6) and stream_y (12 x 2)
                        from stateful steps, one stream from a zero state.
The C++ test test_c_api.cpp loads both; tests/test_c_api_fixture.py checks that the
committed files still agree with the Python reference.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from actif.backends.numpy_ref import NumpyBackend
from actif.model_spec import random_spec
from actif.stats import scores_from_moments

FEATURES = ["gaze_x", "gaze_y", "héad_yaw", "head_pitch", "pupil", "blink"]


def make_spec():
    return random_spec(
        6,
        [9, 5],
        output_size=2,
        pooling="mean",
        num_layers=2,
        dense_sizes=(4,),
        activation="tanh",
        output_activation="identity",
        batchnorm=True,
        normalization=True,
        window=8,
        feature_names=FEATURES,
        seed=2025,
    )


def expected(spec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    ref = NumpyBackend(spec, dtype=np.float64)
    x = rng.normal(size=(3, 8, 6)).astype(np.float32)
    res = ref.forward(x, trace="weighted")
    rows = res.trace.reshape(-1, 6)
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    stream_x = rng.normal(size=(12, 6)).astype(np.float32)
    state = ref.new_state(1)
    stream_y = np.concatenate([ref.step(stream_x[i : i + 1], state)[0] for i in range(12)])
    return {
        "x": x,
        "y": res.y,
        "trace_mean": mean,
        "trace_std": std,
        "scores_inverse": scores_from_moments(mean, std, "inverse"),
        "stream_x": stream_x,
        "stream_y": stream_y,
    }


def write(out_dir: str) -> None:
    spec = make_spec()
    spec.save(os.path.join(out_dir, "tiny_model.npz"))
    with open(os.path.join(out_dir, "tiny_model_expected.txt"), "w", encoding="ascii") as fh:
        for name, arr in expected(spec).items():
            flat = np.asarray(arr, dtype=np.float64).ravel()
            fh.write(f"{name} {flat.size}\n")
            fh.write(
                "\n".join(
                    " ".join(f"{v:.17g}" for v in flat[i : i + 6]) for i in range(0, flat.size, 6)
                )
            )
            fh.write("\n")


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))

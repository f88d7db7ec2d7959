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
tiny_model_attribution.txt  the same format: the attributions of output 1
                        (expected_attribution) the C API must give.
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


def expected_attribution(spec) -> dict[str, np.ndarray]:
    """The native attributions' expected values (tiny_model_attribution.txt), all of
    output 1 with the default baseline: gradient x input, integrated gradients
    (16 Gauss-Legendre steps) with its delta, occlusion, deeplift (the float64 NumPy
    engine's, held to Captum's DeepLift in tests/test_attribution.py) and lrp (the float64
    reference's, held to the rules and to conservation there) of the windows ``x`` of
    :func:`expected`; and in stateful mode, after the 12 samples ``stream_x``, the
    current prediction attributed (gradient x input) to the last 8 (the model's window)
    from the state the first 4 left."""
    from actif.attribution import default_baseline, ig_nodes, input_gradient, lrp_relevance

    base = expected(spec)
    x = base["x"].astype(np.float64)
    b = np.broadcast_to(default_baseline(spec), x.shape)
    y, grad = input_gradient(spec, x, 1)
    alphas, weights = ig_nodes(16, "gausslegendre")
    ig = (x - b) * sum(w * input_gradient(spec, b + a * (x - b), 1)[1] for a, w in zip(alphas, weights))
    y_base = input_gradient(spec, np.array(b), 1)[0][:, 1]
    occ = np.empty_like(x)
    for j in range(x.shape[-1]):
        ablated = x.copy()
        ablated[..., j] = b[..., j]
        occ[..., j] = (y[:, 1] - input_gradient(spec, ablated, 1)[0][:, 1])[:, None]
    ref = NumpyBackend(spec, dtype=np.float64)
    state = ref.new_state(1)
    stream_x = base["stream_x"]
    for i in range(4):
        ref.step(stream_x[i : i + 1], state)
    last = stream_x[None, 4:].astype(np.float64)
    stream_y, stream_grad = input_gradient(spec, last, 1, list(zip(state.h, state.c)))
    return {
        "attr_gradient": x * grad,
        "attr_integrated": ig,
        "attr_delta": ig.reshape(3, -1).sum(axis=1) - (y[:, 1] - y_base),
        "attr_occlusion": occ,
        "attr_deeplift": ref.attribute(x, "deeplift", target=1).values,
        "attr_lrp": lrp_relevance(spec, x, 1)[1],
        "stream_attr_y": stream_y,
        "stream_attr_gradient": last * stream_grad,
    }


def _write_sections(path: str, sections: dict[str, np.ndarray]) -> None:
    with open(path, "w", encoding="ascii") as fh:
        for name, arr in sections.items():
            flat = np.asarray(arr, dtype=np.float64).ravel()
            fh.write(f"{name} {flat.size}\n")
            fh.write(
                "\n".join(
                    " ".join(f"{v:.17g}" for v in flat[i : i + 6]) for i in range(0, flat.size, 6)
                )
            )
            fh.write("\n")


def write(out_dir: str) -> None:
    spec = make_spec()
    spec.save(os.path.join(out_dir, "tiny_model.npz"))
    _write_sections(os.path.join(out_dir, "tiny_model_attribution.txt"), expected_attribution(spec))
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

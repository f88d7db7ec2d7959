"""An engine file is checked against its model at load (issue: hardening): the
onnxruntime and tflite backends refuse a ``model_path`` exported from another model,
of the same sizes (the fingerprint ``actif export`` embeds differs) or of other sizes
(the graph's widths differ), and a file that carries no fingerprint, with a
ModelFormatError naming the file, before any predict."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.constants import TOLERANCES
from actif.errors import ModelFormatError
from actif.model_spec import random_spec

PREDICTION_RTOL, PREDICTION_ATOL = TOLERANCES["prediction"]  # constants.json

ENGINES = [("onnxruntime", ".onnx"), ("tflite", ".tflite")]


def export(spec, backend: str, path) -> None:
    if backend == "onnxruntime":
        from actif.interchange.onnx_export import save_onnx

        save_onnx(spec, path)
    else:
        from actif.interchange.tflite_export import save_tflite

        save_tflite(spec, path, batch_size=2, window=4)


def need(backend: str) -> None:
    if backend not in actif.available_backends():
        pytest.skip(f"{backend} is not available here")


@pytest.mark.parametrize("backend, ext", ENGINES)
def test_the_file_of_this_model_loads_and_runs(backend, ext, tmp_path):
    need(backend)
    spec = random_spec(3, 4, 2, dense_sizes=(), window=4, seed=0)
    path = tmp_path / f"m{ext}"
    export(spec, backend, path)
    X = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    got = actif.Model(spec, backend, model_path=str(path)).predict(X)
    np.testing.assert_allclose(got, actif.Model(spec, "numpy").predict(X), rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL)
    # the float64 copy of the same model runs the same float32 engine file
    actif.Model(spec.astype(np.float64), backend, model_path=str(path))


@pytest.mark.parametrize("backend, ext", ENGINES)
def test_a_file_from_another_model_of_the_same_size_is_refused_at_load(backend, ext, tmp_path):
    need(backend)
    ours, theirs = (random_spec(3, 4, 2, dense_sizes=(), window=4, seed=s) for s in (0, 1))
    path = tmp_path / f"theirs{ext}"
    export(theirs, backend, path)
    with pytest.raises(ModelFormatError, match="exported from another model"):
        actif.Model(ours, backend, model_path=str(path))


@pytest.mark.parametrize("backend, ext", ENGINES)
@pytest.mark.parametrize("sizes", [(5, 4, 2), (3, 6, 2), (3, 4, 1)], ids=["inputs", "hidden", "outputs"])
def test_a_file_of_other_sizes_is_refused_at_load_not_at_predict(backend, ext, sizes, tmp_path):
    need(backend)
    ours = random_spec(3, 4, 2, dense_sizes=(), window=4, seed=0)
    path = tmp_path / f"other{ext}"
    export(random_spec(*sizes, dense_sizes=(), window=4, seed=0), backend, path)
    with pytest.raises(ModelFormatError, match=str(path.name)):
        actif.Model(ours, backend, model_path=str(path))


def test_an_onnx_file_without_a_fingerprint_is_refused(tmp_path):
    need("onnxruntime")
    import onnx

    from actif.interchange.onnx_export import spec_to_onnx

    spec = random_spec(3, 4, 2, dense_sizes=(), window=4, seed=0)
    model = spec_to_onnx(spec)
    kept = [p for p in model.metadata_props if not p.key.endswith("model_sha256")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    path = tmp_path / "bare.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFormatError, match="no actif model fingerprint"):
        actif.Model(spec, "onnxruntime", model_path=str(path))

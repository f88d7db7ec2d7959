"""The bundled model: every backend and every bundled file reproduces its golden
activations, and its card and metadata say what it was trained on."""

from __future__ import annotations

import os

import numpy as np
import pytest

import actif
from actif.bundled import DEFAULT_MODEL, bundled_model_path, models_dir
from actif.constants import tolerance
from conftest import has_module

GOLDEN = os.path.join(models_dir(), DEFAULT_MODEL + "_golden.npz")


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


@pytest.mark.parametrize("backend", actif.available_backends())
def test_every_backend_reproduces_the_golden_activations(backend, golden):
    m = actif.load(bundled_model_path(), backend=backend)
    y, acts = m.forward(golden["x"], return_activations=True)
    # outputs are in cm (order 100): compare relative to that scale
    np.testing.assert_allclose(y, golden["y"], rtol=1e-5, atol=2e-3)
    np.testing.assert_allclose(acts.layers[0].h, golden["h0"], **tolerance("h"))


@pytest.mark.parametrize(
    "ext, backend, module",
    [(".onnx", "onnxruntime", "onnxruntime"), (".tflite", "tflite", "ai_edge_litert")],
)
def test_bundled_engine_files_reproduce_the_golden_activations(ext, backend, module, golden):
    if not has_module(module) and not (backend == "tflite" and has_module("tflite_runtime")):
        pytest.skip(f"{module} not installed")
    path = bundled_model_path(ext=ext)
    m = actif.load(bundled_model_path(), backend=backend, model_path=path)
    for k in range(len(golden["x"])):  # the .tflite file is exported for batch 1
        y, acts = m.forward(golden["x"][k : k + 1], return_activations=True)
        np.testing.assert_allclose(y, golden["y"][k : k + 1], rtol=1e-5, atol=2e-3)
        np.testing.assert_allclose(acts.layers[0].h, golden["h0"][k : k + 1], **tolerance("h"))


def test_imported_onnx_equals_the_npz():
    if not has_module("onnx"):
        pytest.skip("onnx not installed")
    a = actif.load(bundled_model_path()).spec
    b = actif.load(bundled_model_path(ext=".onnx")).spec
    for name, arr in a.arrays().items():
        np.testing.assert_array_equal(b.arrays()[name], arr, err_msg=name)


def test_metadata_and_card_describe_the_training():
    spec = actif.load(bundled_model_path()).spec
    from actif.lab.data import FEATURE_NAMES

    assert spec.feature_names == list(FEATURE_NAMES)
    meta = spec.metadata
    held = meta["data"]["held_out_subjects"]
    assert held and not set(held) & set(meta["data"]["train_subjects"])
    assert meta["data"]["license"] == "CC BY 4.0"
    pooled = meta["holdout_results"]["pooled"]
    assert {"mae_model", "mae_mean", "mae_geometric"} <= set(pooled)
    card = open(os.path.join(models_dir(), "README.md"), encoding="utf-8").read()
    assert "CC BY 4.0" in card and all(s in card for s in held)
    assert f"**{pooled['mae_model']:.1f}**" in card

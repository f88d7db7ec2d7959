"""TFLite export without TensorFlow: the flatbuffer's structure, the interpreter's results
against the float64 reference, state handling, and the tflite backend's file option.

Runs with ai-edge-litert, or with tflite-runtime plus the pure-Python ``tflite`` schema
package (see tests/tflite_runtime_env.sh)."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.constants import tolerance
from actif.model_spec import random_spec


@pytest.fixture(scope="module")
def interpreter():
    try:
        from actif.backends.tflite_rt import check_available, interpreter_class

        check_available()
    except ImportError as exc:
        pytest.skip(f"no TFLite interpreter or schema: {exc}")
    return interpreter_class()


def tflite_modules():
    from actif.interchange import tflite_export

    return tflite_export


def run(interp_cls, data: bytes, X: np.ndarray) -> dict[str, np.ndarray]:
    it = interp_cls(model_content=data, num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], X)
    it.invoke()
    return {o["name"]: it.get_tensor(o["index"]) for o in it.get_output_details()}


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("activation", ["relu", "elu", "tanh", "sigmoid", "identity"])
def test_interpreter_matches_reference(interpreter, pooling, activation, rng):
    spec = random_spec(5, [9, 4], 3, pooling=pooling, num_layers=2, normalization=True, activation=activation,
                       output_activation=activation, dense_sizes=(6,), seed=len(activation))
    X = rng.normal(size=(4, 10, 5)).astype(np.float32)
    out = run(interpreter, tflite_modules().spec_to_tflite(spec, batch_size=4), X)
    y_ref, acts = actif.Model(spec, "numpy").forward(X, return_activations=True)
    np.testing.assert_allclose(out["y"], y_ref, **tolerance("prediction"))
    for k in range(2):
        np.testing.assert_allclose(out[f"hidden_{k}"], acts.layers[k].h, **tolerance("h"))


def test_model_without_head_or_batchnorm(interpreter, rng):
    spec = random_spec(3, 4, 4, dense_sizes=(), batchnorm=False, seed=9)
    spec.dense = []
    spec.validate()
    X = rng.normal(size=(2, 6, 3)).astype(np.float32)
    out = run(interpreter, tflite_modules().spec_to_tflite(spec, batch_size=2, window=6), X)
    np.testing.assert_allclose(out["y"], actif.Model(spec, "numpy").predict(X), rtol=1e-4, atol=2e-6)


def test_flatbuffer_uses_the_native_lstm_op_with_24_inputs(interpreter):
    export = tflite_modules()
    schema = export.load_schema()
    spec = random_spec(5, 7, 1, num_layers=2, seed=1)
    data = export.spec_to_tflite(spec)
    model = schema.Model.GetRootAs(data, 0)
    assert schema.Model.ModelBufferHasIdentifier(data, 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    graph = model.Subgraphs(0)
    lstm_ops = [graph.Operators(i) for i in range(graph.OperatorsLength())
                if codes[graph.Operators(i).OpcodeIndex()] == schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM]
    assert len(lstm_ops) == 2
    for op in lstm_ops:
        inputs = [op.Inputs(i) for i in range(op.InputsLength())]
        assert len(inputs) == 24
        assert all(inputs[i] == -1 for i in (9, 10, 11, 16, 17, 20, 21, 22, 23))  # no peephole/projection/norm
        for slot in (18, 19):  # output and cell state are variables of shape (batch, H)
            tensor = graph.Tensors(inputs[slot])
            assert tensor.IsVariable() and list(tensor.ShapeAsNumpy()) == [1, 7]
        forget_bias = graph.Tensors(inputs[13])
        want = (spec.lstm[0].b_ih + spec.lstm[0].b_hh)[7:14] if op is lstm_ops[0] else None
        if want is not None:
            raw = model.Buffers(forget_bias.Buffer()).DataAsNumpy().tobytes()
            np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), want.astype(np.float32))


def test_state_variables_carry_over_unless_reset(interpreter, rng):
    """The LSTM state lives in variable tensors: a second invoke continues from it, and
    reset_all_variables() restores independent windows (what the backend does)."""
    spec = random_spec(4, 6, 1, pooling="last", seed=5)
    X = rng.normal(size=(2, 5, 4)).astype(np.float32)
    it = interpreter(model_content=tflite_modules().spec_to_tflite(spec, batch_size=2, window=5), num_threads=1)
    it.allocate_tensors()
    idx_in, idx_y = it.get_input_details()[0]["index"], next(o["index"] for o in it.get_output_details() if o["name"] == "y")
    ref = actif.Model(spec, "numpy")
    it.set_tensor(idx_in, X)
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(idx_y), ref.predict(X), **tolerance("prediction"))
    it.set_tensor(idx_in, X)
    it.invoke()
    continued = ref.predict(np.concatenate([X, X], axis=1))  # 10 steps from zero
    np.testing.assert_allclose(it.get_tensor(idx_y), continued, **tolerance("prediction"))
    it.reset_all_variables()
    it.set_tensor(idx_in, X)
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(idx_y), ref.predict(X), **tolerance("prediction"))


def test_backend_resizes_for_any_batch_and_window(interpreter, rng):
    spec = random_spec(5, 8, 2, pooling="last", num_layers=2, normalization=True, seed=6)
    model, ref = actif.Model(spec, "tflite"), actif.Model(spec, "numpy")
    for n, t in [(1, 10), (6, 3), (2, 17), (6, 3)]:
        X = rng.normal(size=(n, t, 5)).astype(np.float32)
        np.testing.assert_allclose(model.predict(X), ref.predict(X), **tolerance("prediction"))


def test_backend_runs_an_exported_file(interpreter, tmp_path, rng):
    spec = random_spec(5, 8, 2, pooling="max", normalization=True, seed=7)
    path = tmp_path / "m.tflite"
    tflite_modules().save_tflite(spec, path, batch_size=3, window=10)
    X = rng.normal(size=(5, 10, 5)).astype(np.float32)
    got = actif.Model(spec, "tflite", model_path=str(path)).predict(X)
    np.testing.assert_allclose(got, actif.Model(spec, "numpy").predict(X), **tolerance("prediction"))


def test_cli_export_writes_a_runnable_tflite_file(interpreter, tmp_path, rng, capsys):
    from actif.cli import main

    spec = random_spec(4, 6, 1, pooling="mean", seed=8)
    spec.save(tmp_path / "m.npz")
    assert main(["export", "--model", str(tmp_path / "m.npz"), "--to", str(tmp_path / "m.tflite"), "--batch-size", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    X = rng.normal(size=(2, int(spec.window), 4)).astype(np.float32)
    out = run(interpreter, (tmp_path / "m.tflite").read_bytes(), X)
    np.testing.assert_allclose(out["y"], actif.Model(spec, "numpy").predict(X), **tolerance("prediction"))


def test_runtime_info_lines_do_not_leak(tmp_path):
    """The runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line (written to fd 2
    on the first allocation in a process) does not reach the user; a fresh process, so
    the first allocation happens under test."""
    import subprocess
    import sys

    pytest.importorskip("ai_edge_litert")
    random_spec(3, 4, 1).save(tmp_path / "m.npz")
    proc = subprocess.run([sys.executable, "-m", "actif.cli", "export", "--model", str(tmp_path / "m.npz"),
                           "--to", str(tmp_path / "m.tflite"), "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "check: PASS: tflite" in proc.stdout
    assert "INFO:" not in proc.stdout + proc.stderr


def test_other_runtime_messages_pass_through(capfd):
    import os

    from actif.backends.tflite_rt import _without_info_lines

    with _without_info_lines():
        os.write(2, b"INFO: Created a delegate\nERROR: something real\n")
    err = capfd.readouterr().err
    assert "ERROR: something real" in err and "INFO:" not in err

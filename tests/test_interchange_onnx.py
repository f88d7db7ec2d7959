"""ONNX round trips: spec -> ONNX -> spec, the exported graph in onnxruntime against the
float64 reference, torch.onnx exports imported, and malformed or unsupported graphs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import actif
from actif.model_spec import random_spec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from actif.constants import tolerance  # noqa: E402
from actif.interchange.onnx_export import save_onnx, spec_to_onnx, step_to_onnx  # noqa: E402
from actif.interchange.onnx_import import spec_from_onnx  # noqa: E402

ACTIVATIONS = ["relu", "elu", "tanh", "sigmoid", "identity"]


def assert_same_spec(a: actif.ModelSpec, b: actif.ModelSpec) -> None:
    """Equal arrays (bit for bit, float32), structure and names."""
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_b[key].dtype == np.float32, key
        np.testing.assert_array_equal(arrays_b[key], np.asarray(arrays_a[key], np.float32), err_msg=key)
    assert (a.pooling, int(a.window), a.features, a.outputs) == (b.pooling, int(b.window), b.features, b.outputs)
    assert [d.activation for d in a.dense] == [d.activation for d in b.dense]


def sweep_spec(k: int) -> actif.ModelSpec:
    return random_spec(
        5, [7, 9, 4][: 1 + k % 3], output_size=1 + k % 3, pooling=("last", "mean", "max")[k % 3],
        normalization=k % 2 == 0, batchnorm=k % 4 != 3, dense_sizes=((), (6,), (6, 4))[k % 3],
        activation=ACTIVATIONS[k % 5], output_activation=ACTIVATIONS[(k + 1) % 5], window=3 + k,
        feature_names=[f"feat{i}" for i in range(5)], seed=k,
    )


@pytest.mark.parametrize("k", range(10))
def test_spec_onnx_spec_round_trip_is_exact(k):
    spec = sweep_spec(k)
    assert_same_spec(spec, spec_from_onnx(spec_to_onnx(spec).SerializeToString()))


def test_round_trip_through_a_file_and_actif_load(tmp_path):
    spec = sweep_spec(4)
    path = tmp_path / "m.onnx"
    save_onnx(spec, path)
    assert_same_spec(spec, actif.load(path, backend="numpy").spec)


def test_exported_graph_in_onnxruntime_matches_reference(rng):
    ort = pytest.importorskip("onnxruntime")
    spec = random_spec(6, [9, 5], 2, pooling="mean", num_layers=2, normalization=True, activation="elu", seed=4)
    session = ort.InferenceSession(spec_to_onnx(spec).SerializeToString(), providers=["CPUExecutionProvider"])
    ref = actif.Model(spec, "numpy")
    for n, t in [(1, 3), (7, 10), (2, 25)]:  # dynamic batch and window
        X = rng.normal(size=(n, t, 6)).astype(np.float32)
        y, h0, h1 = session.run(["y", "hidden_0", "hidden_1"], {"x": X})
        y_ref, acts = ref.forward(X, return_activations=True)
        np.testing.assert_allclose(y, y_ref, **tolerance("prediction"))
        np.testing.assert_allclose(h0, acts.layers[0].h, **tolerance("h"))
        np.testing.assert_allclose(h1, acts.layers[1].h, **tolerance("h"))


def test_step_graph_carries_state_like_the_reference(rng):
    ort = pytest.importorskip("onnxruntime")
    spec = random_spec(4, 6, 1, num_layers=2, normalization=True, seed=2)
    session = ort.InferenceSession(step_to_onnx(spec).SerializeToString(), providers=["CPUExecutionProvider"])
    ref = actif.Model(spec, "numpy")
    state = ref.new_state(3)
    feeds = {f"{s}_in_{k}": np.zeros((3, 6), np.float32) for k in range(2) for s in "hc"}
    for _ in range(5):
        x = rng.normal(size=(3, 4)).astype(np.float32)
        ref.step(x, state)
        out = session.run([f"{s}_out_{k}" for k in range(2) for s in "hc"], {"x": x, **feeds})
        feeds = {f"{s}_in_{k}": out[2 * k + j] for k in range(2) for j, s in enumerate("hc")}
    for k in range(2):
        np.testing.assert_allclose(feeds[f"h_in_{k}"], state.h[k], **tolerance("h"))
        np.testing.assert_allclose(feeds[f"c_in_{k}"], state.c[k], **tolerance("c"))


def test_onnxruntime_backend_runs_an_exported_file(tmp_path, rng):
    pytest.importorskip("onnxruntime")
    spec = sweep_spec(5)
    path = tmp_path / "m.onnx"
    save_onnx(spec, path)
    X = rng.normal(size=(3, 8, 5)).astype(np.float32)
    got = actif.Model(spec, "onnxruntime", model_path=str(path)).predict(X)
    np.testing.assert_allclose(got, actif.Model(spec, "numpy").predict(X), **tolerance("prediction"))


def test_onnxruntime_backend_refuses_a_file_without_hidden_outputs(tmp_path):
    pytest.importorskip("onnxruntime")
    spec = sweep_spec(1)
    model = spec_to_onnx(spec)
    keep = [o for o in model.graph.output if o.name == "y"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    path = tmp_path / "y_only.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(actif.ModelFormatError, match="hidden_0"):
        actif.Model(spec, "onnxruntime", model_path=str(path))


# ------------------------------------------------------------------ malformed / unsupported


def test_truncated_file_is_a_model_format_error(tmp_path):
    data = spec_to_onnx(sweep_spec(2)).SerializeToString()
    for cut in (len(data) // 2, 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(actif.ModelFormatError):
            actif.load(path, backend="numpy")


def test_garbage_bytes_are_a_model_format_error():
    with pytest.raises(actif.ModelFormatError):
        spec_from_onnx(b"\x00not an onnx model at all\xff" * 10)


def _with_extra_node(spec, op_type: str, **attrs) -> bytes:
    """The exported graph with one more node applied to the prediction."""
    model = spec_to_onnx(spec)
    for node in model.graph.node:
        node.output[:] = ["y_inner" if o == "y" else o for o in node.output]
    model.graph.node.append(helper.make_node(op_type, ["y_inner"], ["y"], **attrs))
    return model.SerializeToString()


def test_unsupported_op_is_named():
    spec = random_spec(4, 5, 3, dense_sizes=(), seed=1)
    with pytest.raises(actif.ModelFormatError, match="Softmax"):
        spec_from_onnx(_with_extra_node(spec, "Softmax", axis=1))


def test_unsupported_lstm_options_are_named():
    spec = random_spec(4, 5, 3, seed=1)
    model = spec_to_onnx(spec)
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    lstm.attribute.append(helper.make_attribute("clip", 3.0))
    with pytest.raises(actif.ModelFormatError, match="LSTM.*clip"):
        spec_from_onnx(model)


def test_activation_after_activation_is_not_representable():
    spec = random_spec(4, 5, 3, dense_sizes=(), output_activation="tanh", seed=1)
    with pytest.raises(actif.ModelFormatError, match="Relu"):
        spec_from_onnx(_with_extra_node(spec, "Relu"))


def test_graph_with_two_inputs_is_refused():
    spec = random_spec(4, 5, 1, seed=1)
    model = spec_to_onnx(spec)
    model.graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    with pytest.raises(actif.ModelFormatError, match="one graph input"):
        spec_from_onnx(model)


@pytest.mark.parametrize("initializer", ["dense.0.weight", "lstm.0.B", "lstm.0.W"])
def test_signalling_nan_weight_is_a_model_format_error_without_warnings(initializer):
    """Widening a signalling NaN to float64 sets NumPy's invalid flag; the importer must
    still report the bad weight as a ModelFormatError, not a RuntimeWarning."""
    model = spec_to_onnx(random_spec(4, 5, 1, dense_sizes=(3,), seed=2))
    tensor = next(t for t in model.graph.initializer if t.name == initializer)
    values = onnx.numpy_helper.to_array(tensor).copy()
    values.reshape(-1).view(np.uint32)[1] = 0x7FA00000  # float32 signalling NaN
    tensor.CopyFrom(onnx.numpy_helper.from_array(values, initializer))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(actif.ModelFormatError, match="NaN or Inf"):
            spec_from_onnx(model)


def test_affine_ops_on_the_prediction_fold_into_the_last_dense_layer(rng):
    """Mul/Add after a dense layer without activation fold into its weights."""
    spec = random_spec(4, 5, 2, dense_sizes=(3,), output_activation="identity", seed=3)
    model = spec_to_onnx(spec)
    for node in model.graph.node:
        node.output[:] = ["y_inner" if o == "y" else o for o in node.output]
    model.graph.initializer.extend([
        onnx.numpy_helper.from_array(np.array([2.0, -0.5], np.float32), "out_scale"),
        onnx.numpy_helper.from_array(np.array([0.25, 1.0], np.float32), "out_shift"),
    ])
    model.graph.node.extend([
        helper.make_node("Mul", ["y_inner", "out_scale"], ["y_scaled"]),
        helper.make_node("Sub", ["y_scaled", "out_shift"], ["y"]),
    ])
    X = rng.normal(size=(3, 10, 4)).astype(np.float32)
    want = actif.Model(spec, "numpy").predict(X) * [2.0, -0.5] - [0.25, 1.0]
    got = actif.Model(spec_from_onnx(model), "numpy").predict(X)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ torch.onnx exports


@pytest.mark.parametrize("pooling", ["max", "mean", "last", "h_n"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_onnx_export_of_foval_shaped_module_imports(pooling, batch_first, rng):
    torch = pytest.importorskip("torch")
    import io

    class Foval(torch.nn.Module):
        """LSTM (2 layers) -> pooling over time -> BatchNorm -> Linear -> ELU -> Linear."""

        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 12, num_layers=2, batch_first=batch_first)
            self.bn = torch.nn.BatchNorm1d(12)
            self.fc1 = torch.nn.Linear(12, 8)
            self.act = torch.nn.ELU()
            self.fc2 = torch.nn.Linear(8, 2)

        def forward(self, x):
            if pooling == "h_n":
                _, (h_n, _) = self.lstm(x)
                pooled = h_n[-1]
            else:
                h, _ = self.lstm(x)
                if not batch_first:
                    h = h.transpose(0, 1)
                pooled = {"max": lambda v: v.max(dim=1).values, "mean": lambda v: v.mean(dim=1), "last": lambda v: v[:, -1]}[pooling](h)
            return self.fc2(self.act(self.fc1(self.bn(pooled))))

    torch.manual_seed(0)
    module = Foval().eval()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
    example = torch.zeros((2, 5, 6) if batch_first else (5, 2, 6))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and LSTM-batch notes
        torch.onnx.export(module, (example,), buf, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "a", 1: "b"}})
    spec = spec_from_onnx(buf.getvalue())
    assert spec.num_layers == 2 and spec.pooling == ("last" if pooling == "h_n" else pooling)
    X = rng.normal(size=(4, 10, 6)).astype(np.float32)
    x_torch = torch.from_numpy(X if batch_first else X.transpose(1, 0, 2).copy())
    with torch.no_grad():
        want = module.double()(x_torch.double()).numpy()
    np.testing.assert_allclose(actif.Model(spec, "numpy").predict(X), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the export command


def test_cli_export_to_onnx_and_back(tmp_path, capsys):
    from actif.cli import main

    spec = sweep_spec(6)
    spec.save(tmp_path / "m.npz")
    assert main(["export", "--model", str(tmp_path / "m.npz"), "--to", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", "--model", str(tmp_path / "m.onnx"), "--to", str(tmp_path / "back.npz"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "check: PASS: the file reloads with identical weights" in out
    assert_same_spec(spec, actif.ModelSpec.load(tmp_path / "back.npz"))


def test_cli_export_check_runs_the_file_in_onnxruntime(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from actif.cli import main

    sweep_spec(2).save(tmp_path / "m.npz")
    assert main(["export", "--model", str(tmp_path / "m.npz"), "--to", str(tmp_path / "m.onnx"), "--check"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("check: PASS: onnxruntime on 4 random windows")
    assert "tolerance |y - reference| <= 0.0001 + 0.0001 x |reference|" in line


def test_cli_export_check_fails_beyond_the_tolerance(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from actif.cli import main

    sweep_spec(2).save(tmp_path / "m.npz")
    # float32 cannot match the float64 reference to 1e-15: the verdict must say FAIL
    assert main(["export", "--model", str(tmp_path / "m.npz"), "--to", str(tmp_path / "m.onnx"), "--check",
                 "--rtol", "0", "--atol", "1e-15"]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("check: FAIL: onnxruntime") and "<= 1e-15 + 0 x |reference|" in line


def test_cli_export_refuses_unknown_formats(tmp_path, capsys):
    from actif.cli import main

    sweep_spec(0).save(tmp_path / "m.npz")
    assert main(["export", "--model", str(tmp_path / "m.npz"), "--to", str(tmp_path / "m.pb")]) == 2
    assert "use .onnx, .tflite or .npz" in capsys.readouterr().err
    assert not (tmp_path / "m.pb").exists()

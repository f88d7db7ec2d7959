"""Export a :class:`~actif.model_spec.ModelSpec` to ONNX with the ``onnx`` package (no torch).

The window graph (:func:`spec_to_onnx`) is::

    x (N, T, I) -> [Mul, Add: input affine] -> Transpose (T, N, I)
      -> LSTM -> Squeeze -> ... one LSTM op per layer (ONNX gate order i, o, f, c)
      -> pooling: last = the top layer's Y_h; mean/max = ReduceMean/ReduceMax over T
      -> [Mul, Add: folded BatchNorm] -> Gemm (+ Relu | Elu | Tanh | Sigmoid) ...

Outputs: ``y`` (N, O) and ``hidden_k`` (N, T, H_k) for every layer k; ``hidden_0`` is
the first layer's hidden sequence, the one the traces read. Batch and time are dynamic
(``N``, ``T``). Feature names, output names and the window length ride along as
``metadata_props`` so :func:`~actif.interchange.onnx_import.spec_from_onnx` restores
them.

Two more graphs serve the onnxruntime backend's stateful mode:
:func:`step_to_onnx` (one sample per stream, every layer's state in and out through
the LSTM op's ``initial_h``/``initial_c`` inputs and ``Y_h``/``Y_c`` outputs) and
:func:`head_to_onnx` (pooled features to predictions).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..fileio import write_atomically
from ..model_spec import LSTMLayer, ModelSpec
from . import (
    FINGERPRINT_KEY,
    ONNX_ACTIVATION_OPS,
    ONNX_METADATA_PREFIX,
    TORCH_TO_ONNX_GATES,
    exported_fingerprint,
    reorder_gates,
)

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"ONNX export needs the onnx package: pip install 'actif[onnx]' ({exc})") from exc

# Opset 17 (onnxruntime >= 1.13) still takes reduction axes as an attribute; IR 8 is the
# oldest IR version that carries it, so older runtimes on Jetson images read the files.
OPSET = 17
IR_VERSION = 8


class _GraphBuilder:
    """Collects nodes and float32 initializers under unique names."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec.validate()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def name(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def const(self, base: str, value: np.ndarray, dtype: type = np.float32) -> str:
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str, n_out: int = 1, out: list[str] | None = None, **attrs) -> list[str]:
        outputs = out if out is not None else [self.name(f"{base}_out{k}" if n_out > 1 else base) for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.name(f"{base}_node"), **attrs))
        return outputs

    def affine(self, x: str, scale: np.ndarray, shift: np.ndarray, base: str, out: str | None = None) -> str:
        scaled = self.op("Mul", [x, self.const(f"{base}.scale", scale)], f"{base}_scaled")[0]
        return self.op("Add", [scaled, self.const(f"{base}.shift", shift)], base, out=[out] if out else None)[0]

    def lstm(self, k: int, x_tni: str, initial: tuple[str, str] | None = None) -> tuple[str, str, str]:
        """One forward LSTM op on a time-major input; returns (Y, Y_h, Y_c)."""
        layer = lstm_weights_onnx(self.spec.lstm[k])
        w = self.const(f"lstm.{k}.W", layer["W"])
        r = self.const(f"lstm.{k}.R", layer["R"])
        b = self.const(f"lstm.{k}.B", layer["B"])
        h0, c0 = initial if initial is not None else ("", "")
        inputs = [x_tni, w, r, b, "", h0, c0] if initial is not None else [x_tni, w, r, b]
        y, y_h, y_c = self.op("LSTM", inputs, f"lstm_{k}", n_out=3, hidden_size=int(layer["R"].shape[2]), direction="forward")
        return y, y_h, y_c

    def squeeze(self, x: str, axis: int, base: str, out: str | None = None) -> str:
        return self.op("Squeeze", [x, self.const(f"{base}.axes", [axis], np.int64)], base, out=[out] if out else None)[0]

    def unsqueeze(self, x: str, axis: int, base: str) -> str:
        return self.op("Unsqueeze", [x, self.const(f"{base}.axes", [axis], np.int64)], base)[0]

    def head(self, pooled: str, out: str) -> None:
        """Folded BatchNorm affine and the dense layers, ending in the tensor ``out``."""
        spec = self.spec
        v = pooled
        if spec.post_scale is not None:
            v = self.affine(v, spec.post_scale, spec.post_shift, "post")  # type: ignore[arg-type]
        if not spec.dense:
            self.op("Identity", [v], "y", out=[out])
            return
        for k, d in enumerate(spec.dense):
            last = k == len(spec.dense) - 1
            w = self.const(f"dense.{k}.weight", d.weight)
            b = self.const(f"dense.{k}.bias", d.bias)
            gemm_out = [out] if last and d.activation == "identity" else None
            v = self.op("Gemm", [v, w, b], f"dense_{k}", out=gemm_out, transB=1)[0]
            if d.activation != "identity":
                attrs = {"alpha": 1.0} if d.activation == "elu" else {}
                v = self.op(ONNX_ACTIVATION_OPS[d.activation], [v], f"dense_{k}_{d.activation}", out=[out] if last else None, **attrs)[0]

    def model(self, name: str, inputs: list, outputs: list, metadata: dict[str, str]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="actif", ir_version=IR_VERSION
        )
        helper.set_model_props(model, metadata)
        onnx.checker.check_model(model)
        return model


def lstm_weights_onnx(layer: LSTMLayer) -> dict[str, np.ndarray]:
    """One layer's weights in ONNX layout: W (1, 4H, I), R (1, 4H, H), B (1, 8H) = [Wb, Rb],
    gate blocks reordered from i, f, g, o to ONNX's i, o, f, c."""
    return {
        "W": reorder_gates(layer.w_ih, TORCH_TO_ONNX_GATES)[None].astype(np.float32),
        "R": reorder_gates(layer.w_hh, TORCH_TO_ONNX_GATES)[None].astype(np.float32),
        "B": np.concatenate(
            [reorder_gates(layer.b_ih, TORCH_TO_ONNX_GATES), reorder_gates(layer.b_hh, TORCH_TO_ONNX_GATES)]
        )[None].astype(np.float32),
    }


def _metadata(spec: ModelSpec) -> dict[str, str]:
    return {
        f"{ONNX_METADATA_PREFIX}window": str(int(spec.window)),
        f"{ONNX_METADATA_PREFIX}feature_names": json.dumps(spec.features),
        f"{ONNX_METADATA_PREFIX}output_names": json.dumps(spec.outputs),
        f"{ONNX_METADATA_PREFIX}metadata": json.dumps(spec.metadata),
        f"{ONNX_METADATA_PREFIX}{FINGERPRINT_KEY}": exported_fingerprint(spec),
    }


def _value(name: str, *dims) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def spec_to_onnx(spec: ModelSpec) -> onnx.ModelProto:
    """The window graph: ``x`` (N, T, I) -> ``y`` (N, O) and ``hidden_k`` (N, T, H_k)."""
    b = _GraphBuilder(spec)
    x = "x"
    if spec.input_scale is not None:
        x = b.affine(x, spec.input_scale, spec.input_shift, "input")  # type: ignore[arg-type]
    seq = b.op("Transpose", [x], "x_time_major", perm=[1, 0, 2])[0]
    outputs = []
    y_h = ""
    for k in range(spec.num_layers):
        y, y_h, _ = b.lstm(k, seq)
        seq = b.squeeze(y, 1, f"lstm_{k}_seq")  # (T, 1, N, H) -> (T, N, H)
        b.op("Transpose", [seq], f"hidden_{k}", out=[f"hidden_{k}"], perm=[1, 0, 2])
        outputs.append(_value(f"hidden_{k}", "N", "T", spec.hidden_sizes[k]))
    if spec.pooling == "last":
        pooled = b.squeeze(y_h, 0, "pooled")  # Y_h (1, N, H): the top layer's last step
    else:
        op = "ReduceMax" if spec.pooling == "max" else "ReduceMean"
        pooled = b.op(op, [seq], "pooled", axes=[0], keepdims=0)[0]
    b.head(pooled, "y")
    return b.model(
        "actif_lstm", [_value("x", "N", "T", spec.input_size)], [_value("y", "N", spec.output_size), *outputs], _metadata(spec)
    )


def step_to_onnx(spec: ModelSpec) -> onnx.ModelProto:
    """The stateful step graph: ``x`` (B, I), ``h_in_k``/``c_in_k`` (B, H_k) ->
    ``h_out_k``/``c_out_k`` (B, H_k) for every layer (pooling and head: :func:`head_to_onnx`)."""
    b = _GraphBuilder(spec)
    x = "x"
    if spec.input_scale is not None:
        x = b.affine(x, spec.input_scale, spec.input_shift, "input")  # type: ignore[arg-type]
    seq = b.unsqueeze(x, 0, "x_one_step")  # (1, B, I)
    inputs, outputs = [_value("x", "B", spec.input_size)], []
    for k, hidden in enumerate(spec.hidden_sizes):
        inputs += [_value(f"h_in_{k}", "B", hidden), _value(f"c_in_{k}", "B", hidden)]
        h0 = b.unsqueeze(f"h_in_{k}", 0, f"h_in_{k}_3d")
        c0 = b.unsqueeze(f"c_in_{k}", 0, f"c_in_{k}_3d")
        _, y_h, y_c = b.lstm(k, seq, (h0, c0))
        b.squeeze(y_h, 0, f"h_out_{k}", out=f"h_out_{k}")
        b.squeeze(y_c, 0, f"c_out_{k}", out=f"c_out_{k}")
        outputs += [_value(f"h_out_{k}", "B", hidden), _value(f"c_out_{k}", "B", hidden)]
        seq = y_h  # (1, B, H): a one-step sequence for the next layer
    return b.model("actif_lstm_step", inputs, outputs, _metadata(spec))


def head_to_onnx(spec: ModelSpec) -> onnx.ModelProto:
    """The head alone: pooled features ``pooled`` (B, H_top) -> ``y`` (B, O)."""
    b = _GraphBuilder(spec)
    b.head("pooled", "y")
    return b.model(
        "actif_head", [_value("pooled", "B", spec.hidden_sizes[-1])], [_value("y", "B", spec.output_size)], _metadata(spec)
    )


def save_onnx(spec: ModelSpec, path: str | os.PathLike[str]) -> None:
    """Write the window graph to ``path`` (atomically: a temporary file renamed into place)."""
    data = spec_to_onnx(spec).SerializeToString()
    write_atomically(path, lambda fh: fh.write(data))


__all__ = ["OPSET", "head_to_onnx", "lstm_weights_onnx", "save_onnx", "spec_to_onnx", "step_to_onnx"]

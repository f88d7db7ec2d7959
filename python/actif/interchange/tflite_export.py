"""Export a :class:`~actif.model_spec.ModelSpec` to a TFLite flatbuffer, without TensorFlow.

The file is written with the flatbuffer schema module that ships with ai-edge-litert
(``ai_edge_litert.schema_py_generated``) and the ``flatbuffers`` package. On devices that
only have tflite-runtime, the pure-Python ``tflite`` package provides the same generated
schema functions and is used instead.

The window graph (fixed batch ``B`` and window ``T``; TFLite sizes every tensor ahead)::

    x (B, T, I) -> [MUL, ADD: input affine]
      -> UNIDIRECTIONAL_SEQUENCE_LSTM (batch-major) -> ... one op per layer
      -> pooling: last = STRIDED_SLICE x[:, -1]; mean = MEAN; max = REDUCE_MAX (over T)
      -> [MUL, ADD: folded BatchNorm] -> FULLY_CONNECTED (+ RELU fused | ELU | TANH | LOGISTIC) ...

Outputs ``y`` (B, O) and ``hidden_k`` (B, T, H_k) for every layer (``hidden_0`` feeds the
traces). The LSTM op takes 24 inputs: the sequence, four input-to-gate weights (H, I)
and four recurrent weights (H, H) split per gate (input, forget, cell, output = PyTorch's
i, f, g, o), three absent peephole weights, four gate biases (b_ih + b_hh), absent
projection weights and bias, the output and cell *state* tensors (variables, shape
(B, H), zero-initialised and updated in place by every invoke), and four absent
layer-norm coefficient tensors. Absent inputs are index -1.

Because the state tensors are variables, an interpreter carries state across invokes:
callers running independent windows must reset them (``reset_all_variables()``) first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ModelFormatError
from ..fileio import write_atomically
from ..model_spec import ModelSpec
from . import FINGERPRINT_KEY, exported_fingerprint


def load_schema() -> Any:
    """The generated TFLite schema module: ai-edge-litert's, else the ``tflite`` package's."""
    try:
        from ai_edge_litert import schema_py_generated as schema

        return schema
    except ImportError as litert_exc:
        try:
            import tflite as schema  # pure-Python generated schema (pip install tflite)

            return schema
        except ImportError:
            raise ImportError(
                "TFLite export needs the LiteRT flatbuffer schema: pip install 'actif[tflite]' "
                f"(ai-edge-litert), or 'pip install tflite flatbuffers' beside tflite-runtime ({litert_exc})"
            ) from litert_exc


# The 24 inputs of UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's lstm_shared.h order).
LSTM_INPUT_SLOTS = 24
_LSTM_SLOT_INPUT = 0
_LSTM_SLOT_INPUT_WEIGHTS = 1  # 1..4: input, forget, cell, output gate
_LSTM_SLOT_RECURRENT_WEIGHTS = 5  # 5..8
_LSTM_SLOT_GATE_BIAS = 12  # 12..15
_LSTM_SLOT_OUTPUT_STATE = 18
_LSTM_SLOT_CELL_STATE = 19
_TFLITE_ALIGNMENT = 16  # weight buffers are read in place (mmap): keep SIMD loads aligned


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # "float32" | "int32"
    buffer: int
    variable: bool = False


@dataclass
class _Operator:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: int = 0
    options: Callable[[Any], int] | None = None  # builds the options table, returns its offset


@dataclass
class FlatbufferGraph:
    """One subgraph under construction: tensors, constant buffers and operators."""

    schema: Any
    tensors: list[_Tensor] = field(default_factory=list)
    buffers: list[bytes] = field(default_factory=lambda: [b""])  # buffer 0: the empty sentinel
    operators: list[_Operator] = field(default_factory=list)

    def tensor(self, name: str, shape, data: np.ndarray | None = None, *, dtype: str = "float32", variable: bool = False) -> int:
        buffer = 0
        if data is not None:
            arr = np.array(data, dtype=np.dtype(dtype).newbyteorder("<"), order="C")
            if arr.shape != tuple(shape):
                raise ValueError(f"tensor {name}: data shape {arr.shape} != {tuple(shape)}")
            self.buffers.append(arr.tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append(_Tensor(name, tuple(int(d) for d in shape), dtype, buffer, variable))
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray, dtype: str = "float32") -> int:
        arr = np.asarray(data)
        return self.tensor(name, arr.shape, arr, dtype=dtype)

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None) -> None:
        self.operators.append(_Operator(code, inputs, outputs, options_type, options))

    # ------------------------------------------------------------------ ops
    def _options(self, table: str, **fields: Any) -> Callable[[Any], int]:
        s = self.schema

        def build(b: Any) -> int:
            getattr(s, f"{table}Start")(b)
            for key, value in fields.items():
                getattr(s, f"{table}Add{key}")(b, value)
            return getattr(s, f"{table}End")(b)

        return build

    def binary(self, kind: str, a: int, b: int, name: str, shape) -> int:
        """Elementwise MUL or ADD (broadcasting the constant over the last axis)."""
        s = self.schema
        out = self.tensor(name, shape)
        table = "MulOptions" if kind == "MUL" else "AddOptions"
        self.op(getattr(s.BuiltinOperator, kind), [a, b], [out], getattr(s.BuiltinOptions, table),
                self._options(table, FusedActivationFunction=s.ActivationFunctionType.NONE))
        return out

    def affine(self, x: int, scale: np.ndarray, shift: np.ndarray, name: str, shape) -> int:
        scaled = self.binary("MUL", x, self.const(f"{name}.scale", scale), f"{name}_scaled", shape)
        return self.binary("ADD", scaled, self.const(f"{name}.shift", shift), name, shape)

    def lstm(self, k: int, spec: ModelSpec, x: int, batch: int, steps: int, out_name: str) -> int:
        s = self.schema
        layer = spec.lstm[k]
        hidden = layer.hidden_size
        bias = layer.b_ih.astype(np.float64) + layer.b_hh
        inputs = [-1] * LSTM_INPUT_SLOTS
        inputs[_LSTM_SLOT_INPUT] = x
        for g, gate in enumerate(("input", "forget", "cell", "output")):
            rows = slice(g * hidden, (g + 1) * hidden)
            inputs[_LSTM_SLOT_INPUT_WEIGHTS + g] = self.const(f"lstm.{k}.input_to_{gate}", layer.w_ih[rows])
            inputs[_LSTM_SLOT_RECURRENT_WEIGHTS + g] = self.const(f"lstm.{k}.recurrent_to_{gate}", layer.w_hh[rows])
            inputs[_LSTM_SLOT_GATE_BIAS + g] = self.const(f"lstm.{k}.{gate}_gate_bias", bias[rows])
        inputs[_LSTM_SLOT_OUTPUT_STATE] = self.tensor(f"lstm.{k}.output_state", (batch, hidden), variable=True)
        inputs[_LSTM_SLOT_CELL_STATE] = self.tensor(f"lstm.{k}.cell_state", (batch, hidden), variable=True)
        out = self.tensor(out_name, (batch, steps, hidden))
        self.op(
            s.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, inputs, [out],
            s.BuiltinOptions.UnidirectionalSequenceLSTMOptions,
            self._options("UnidirectionalSequenceLSTMOptions", FusedActivationFunction=s.ActivationFunctionType.TANH,
                          CellClip=0.0, ProjClip=0.0, TimeMajor=False),
        )
        return out

    def input_and_lstm_stack(self, spec: ModelSpec, batch: int, steps: int) -> tuple[int, list[int]]:
        """The graph input ``x`` (batch, steps, I), its input affine and every LSTM layer;
        returns ``x`` and the layers' hidden sequences ``hidden_k`` (batch, steps, H_k)."""
        x_in = self.tensor("x", (batch, steps, spec.input_size))
        x = x_in
        if spec.input_scale is not None:
            x = self.affine(x, spec.input_scale, spec.input_shift, "input", (batch, steps, spec.input_size))  # type: ignore[arg-type]
        hidden = []
        for k in range(spec.num_layers):
            x = self.lstm(k, spec, x, batch, steps, f"hidden_{k}")
            hidden.append(x)
        return x_in, hidden

    def head(self, spec: ModelSpec, pooled: int, batch: int) -> int:
        """Folded BatchNorm affine and the dense layers; returns the ``y`` tensor."""
        s = self.schema
        width = spec.hidden_sizes[-1]
        v = pooled
        if spec.post_scale is not None:
            v = self.affine(v, spec.post_scale, spec.post_shift, "post", (batch, width))  # type: ignore[arg-type]
        if not spec.dense:
            v = self.binary("MUL", v, self.const("y.one", np.ones(width)), "y", (batch, width))
        for k, d in enumerate(spec.dense):
            last = k == len(spec.dense) - 1
            fused = s.ActivationFunctionType.RELU if d.activation == "relu" else s.ActivationFunctionType.NONE
            separate = d.activation in ("elu", "tanh", "sigmoid")
            out = self.tensor("y" if last and not separate else f"dense_{k}", (batch, d.out_features))
            self.op(
                s.BuiltinOperator.FULLY_CONNECTED,
                [v, self.const(f"dense.{k}.weight", d.weight), self.const(f"dense.{k}.bias", d.bias)], [out],
                s.BuiltinOptions.FullyConnectedOptions,
                self._options("FullyConnectedOptions", FusedActivationFunction=fused, KeepNumDims=False),
            )
            v = out
            if separate:
                code = {"elu": s.BuiltinOperator.ELU, "tanh": s.BuiltinOperator.TANH, "sigmoid": s.BuiltinOperator.LOGISTIC}
                act = self.tensor("y" if last else f"dense_{k}_{d.activation}", (batch, d.out_features))
                self.op(code[d.activation], [v], [act])
                v = act
        return v

    # ------------------------------------------------------------------ bytes
    def serialize(self, inputs: list[int], outputs: list[int], description: str, metadata: dict[str, bytes]) -> bytes:
        import flatbuffers

        s = self.schema
        b = flatbuffers.Builder(1024)

        def int_vector(start: Callable[[Any, int], None], values: list[int]) -> int:
            start(b, len(values))
            for v in reversed(values):
                b.PrependInt32(int(v))
            return b.EndVector()

        def table_vector(start: Callable[[Any, int], None], offsets: list[int]) -> int:
            start(b, len(offsets))
            for off in reversed(offsets):
                b.PrependUOffsetTRelative(off)
            return b.EndVector()

        buffer_offsets = []
        for data in self.buffers:
            data_off = None
            if data:
                b.StartVector(1, len(data), _TFLITE_ALIGNMENT)
                b.head -= len(data)
                b.Bytes[b.head : b.head + len(data)] = data
                data_off = b.EndVector()
            s.BufferStart(b)
            if data_off is not None:
                s.BufferAddData(b, data_off)
            buffer_offsets.append(s.BufferEnd(b))

        type_codes = {"float32": s.TensorType.FLOAT32, "int32": s.TensorType.INT32}
        tensor_offsets = []
        for t in self.tensors:
            name = b.CreateString(t.name)
            shape = int_vector(s.TensorStartShapeVector, list(t.shape))
            s.TensorStart(b)
            s.TensorAddShape(b, shape)
            s.TensorAddType(b, type_codes[t.dtype])
            s.TensorAddBuffer(b, t.buffer)
            s.TensorAddName(b, name)
            if t.variable:
                s.TensorAddIsVariable(b, True)
            tensor_offsets.append(s.TensorEnd(b))

        codes: list[int] = []
        op_offsets = []
        for o in self.operators:
            if o.code not in codes:
                codes.append(o.code)
            ins = int_vector(s.OperatorStartInputsVector, o.inputs)
            outs = int_vector(s.OperatorStartOutputsVector, o.outputs)
            opts = o.options(b) if o.options is not None else None
            s.OperatorStart(b)
            s.OperatorAddOpcodeIndex(b, codes.index(o.code))
            s.OperatorAddInputs(b, ins)
            s.OperatorAddOutputs(b, outs)
            if opts is not None:
                s.OperatorAddBuiltinOptionsType(b, o.options_type)
                s.OperatorAddBuiltinOptions(b, opts)
            op_offsets.append(s.OperatorEnd(b))

        tensors = table_vector(s.SubGraphStartTensorsVector, tensor_offsets)
        operators = table_vector(s.SubGraphStartOperatorsVector, op_offsets)
        sg_inputs = int_vector(s.SubGraphStartInputsVector, inputs)
        sg_outputs = int_vector(s.SubGraphStartOutputsVector, outputs)
        sg_name = b.CreateString("main")
        s.SubGraphStart(b)
        s.SubGraphAddTensors(b, tensors)
        s.SubGraphAddInputs(b, sg_inputs)
        s.SubGraphAddOutputs(b, sg_outputs)
        s.SubGraphAddOperators(b, operators)
        s.SubGraphAddName(b, sg_name)
        subgraph = s.SubGraphEnd(b)

        code_offsets = []
        placeholder = s.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
        for code in codes:
            s.OperatorCodeStart(b)
            # codes above 127 live in builtin_code; the old int8 field holds the placeholder
            s.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, placeholder))
            s.OperatorCodeAddBuiltinCode(b, code)
            s.OperatorCodeAddVersion(b, 1)
            code_offsets.append(s.OperatorCodeEnd(b))

        # metadata entries point at extra buffers appended after the tensors' buffers
        meta_offsets = []
        for k, name in enumerate(metadata):
            name_off = b.CreateString(name)
            s.MetadataStart(b)
            s.MetadataAddName(b, name_off)
            s.MetadataAddBuffer(b, len(self.buffers) + k)
            meta_offsets.append(s.MetadataEnd(b))
        for data in metadata.values():
            data_off = b.CreateByteVector(data)
            s.BufferStart(b)
            s.BufferAddData(b, data_off)
            buffer_offsets.append(s.BufferEnd(b))

        opcodes = table_vector(s.ModelStartOperatorCodesVector, code_offsets)
        subgraphs = table_vector(s.ModelStartSubgraphsVector, [subgraph])
        buffers = table_vector(s.ModelStartBuffersVector, buffer_offsets)
        meta = table_vector(s.ModelStartMetadataVector, meta_offsets)
        desc = b.CreateString(description)
        s.ModelStart(b)
        s.ModelAddVersion(b, 3)
        s.ModelAddOperatorCodes(b, opcodes)
        s.ModelAddSubgraphs(b, subgraphs)
        s.ModelAddDescription(b, desc)
        s.ModelAddBuffers(b, buffers)
        s.ModelAddMetadata(b, meta)
        b.Finish(s.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _metadata(spec: ModelSpec) -> dict[str, bytes]:
    header = {"window": int(spec.window), "feature_names": spec.features, "output_names": spec.outputs,
              "pooling": spec.pooling, "hidden_sizes": spec.hidden_sizes, FINGERPRINT_KEY: exported_fingerprint(spec)}
    return {"actif.header": json.dumps(header).encode("utf-8")}


def tflite_header(data: bytes) -> dict[str, Any] | None:
    """The ``actif.header`` metadata of a TFLite flatbuffer (None when it has none).
    A malformed buffer or header raises ModelFormatError."""
    schema = load_schema()
    try:
        root = schema.Model.GetRootAs(data, 0) if hasattr(schema.Model, "GetRootAs") else schema.Model.GetRootAsModel(data, 0)
        for k in range(root.MetadataLength()):
            meta = root.Metadata(k)
            if meta.Name() in (b"actif.header", "actif.header"):
                raw = root.Buffers(meta.Buffer()).DataAsNumpy()
                header = json.loads(bytes(raw).decode("utf-8"))
                if not isinstance(header, dict):
                    raise ValueError("actif.header is not a JSON object")
                return header
    except Exception as exc:  # noqa: BLE001 - a hostile flatbuffer may fail in any way
        raise ModelFormatError(f"the TFLite file's metadata cannot be read: {type(exc).__name__}: {exc}") from None
    return None


def spec_to_tflite(spec: ModelSpec, *, batch_size: int = 1, window: int | None = None) -> bytes:
    """The window graph as TFLite flatbuffer bytes: ``x`` (batch_size, window, I) ->
    ``y`` (batch_size, O) and ``hidden_k`` (batch_size, window, H_k)."""
    spec.validate()
    steps = int(spec.window if window is None else window)
    batch = int(batch_size)
    if batch < 1 or steps < 1:
        raise ValueError(f"batch_size and window must be positive, got {batch} and {steps}")
    g = FlatbufferGraph(load_schema())
    s = g.schema
    x_in, hidden = g.input_and_lstm_stack(spec, batch, steps)
    x = hidden[-1]
    width = spec.hidden_sizes[-1]
    pooled = g.tensor("pooled", (batch, width))
    if spec.pooling == "last":
        # x[:, -1, :]: a negative begin keeps the graph right when the interpreter is
        # resized to another window length
        begin = g.const("last_step.begin", np.asarray([0, -1, 0]), dtype="int32")
        end = g.const("last_step.end", np.asarray([0, 0, 0]), dtype="int32")
        strides = g.const("last_step.strides", np.asarray([1, 1, 1]), dtype="int32")
        g.op(s.BuiltinOperator.STRIDED_SLICE, [x, begin, end, strides], [pooled], s.BuiltinOptions.StridedSliceOptions,
             g._options("StridedSliceOptions", BeginMask=0b101, EndMask=0b101, ShrinkAxisMask=0b010))
    else:
        code = s.BuiltinOperator.REDUCE_MAX if spec.pooling == "max" else s.BuiltinOperator.MEAN
        axis = g.const("time_axis", np.asarray([1]), dtype="int32")
        g.op(code, [x, axis], [pooled], s.BuiltinOptions.ReducerOptions, g._options("ReducerOptions", KeepDims=False))
    y = g.head(spec, pooled, batch)
    return g.serialize([x_in], [y, *hidden], "actif LSTM model", _metadata(spec))


def step_to_tflite(spec: ModelSpec, *, batch_size: int = 1) -> bytes:
    """The stateful step graph: ``x`` (B, 1, I) -> ``hidden_k`` (B, 1, H_k); each layer's
    state stays in its variable tensors ``lstm.k.output_state`` / ``lstm.k.cell_state``,
    which the caller reads and writes between invokes."""
    spec.validate()
    g = FlatbufferGraph(load_schema())
    x_in, hidden = g.input_and_lstm_stack(spec, batch_size, 1)
    return g.serialize([x_in], hidden, "actif LSTM step", _metadata(spec))


def head_to_tflite(spec: ModelSpec, *, batch_size: int = 1) -> bytes:
    """The head alone: ``pooled`` (B, H_top) -> ``y`` (B, O)."""
    spec.validate()
    g = FlatbufferGraph(load_schema())
    pooled = g.tensor("pooled", (batch_size, spec.hidden_sizes[-1]))
    y = g.head(spec, pooled, batch_size)
    return g.serialize([pooled], [y], "actif head", _metadata(spec))


def save_tflite(spec: ModelSpec, path: str | os.PathLike[str], *, batch_size: int = 1, window: int | None = None) -> None:
    """Write the window graph to ``path`` (atomically)."""
    data = spec_to_tflite(spec, batch_size=batch_size, window=window)
    write_atomically(path, lambda fh: fh.write(data))


__all__ = ["FlatbufferGraph", "head_to_tflite", "load_schema", "save_tflite", "spec_to_tflite", "step_to_tflite"]

"""Import an ONNX graph as a :class:`~actif.model_spec.ModelSpec`.

The importer walks the graph in order and follows the one data path from the input to
the prediction output, folding what it meets into the model's stages:

* elementwise ``Mul``/``Add``/``Sub``/``Div`` by per-feature constants: the input affine
  (before the first LSTM), the post affine (after pooling), or into the preceding dense
  layer when it has no activation yet; ``BatchNormalization`` folds the same way;
* ``LSTM`` (forward, default activations, no peepholes, clip or sequence lengths; zero or
  absent initial state), gate blocks reordered from ONNX's i, o, f, c;
* pooling: ``ReduceMax``/``ReduceMean`` over time, or the last step (``Y_h``, ``Gather``
  or ``Slice`` at index -1);
* ``Gemm``, ``MatMul`` (+ ``Add``) and ``Relu``/``Elu``/``Tanh``/``Sigmoid``;
* layout ops (``Transpose``, ``Squeeze``, ``Unsqueeze``, ``Reshape``, ``Flatten``) and the
  shape arithmetic torch.onnx emits for zero initial states (``Shape``, ``Gather``,
  ``Concat``, ``ConstantOfShape``), tracked symbolically.

Nodes whose inputs are all constant are evaluated (``onnx.reference``), so weight
preprocessing in the graph is fine. Anything else raises
:class:`~actif.errors.ModelFormatError` naming the op, as do malformed or truncated files.

The importer is a bounded loader (README, "Reliability"): it reads only the file or bytes
it is given (a tensor kept in external data is refused, wherever it sits in the graph);
it folds only ops whose cost is bounded by their operands and output (no ``Loop``,
``Scan``, ``If``, nothing with a subgraph), after checking each output's size, as ONNX
shape inference declares it, against :data:`MAX_FOLDED_BYTES`; the graph input's feature
count must be within the model format's limits. Every failure, whatever the ``onnx``
package raised, is a :class:`~actif.errors.ModelFormatError`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ModelFormatError
from ..model_spec import (
    MAX_DIM,
    DenseLayer,
    LSTMLayer,
    ModelSpec,
    batchnorm_to_affine,
    compose_affine,
    fold_affine_into_dense,
)
from . import ONNX_ACTIVATION_OPS, ONNX_METADATA_PREFIX, ONNX_TO_TORCH_GATES, reorder_gates

try:
    import onnx
    from onnx import numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(f"ONNX import needs the onnx package: pip install 'actif[onnx]' ({exc})") from exc

MAX_ONNX_BYTES = 1 << 30
# Constants evaluated during the import, all together: a few-KB file must not make the
# importer allocate gigabytes (a folded ConstantOfShape allocates what it declares).
MAX_FOLDED_BYTES = 1 << 28
# Multiply-adds of one folded MatMul/Gemm: bounded output can still hide cubic work.
MAX_FOLD_WORK = 1 << 30
# Shapes of folded operands: an empty tensor can declare a dimension of 2^31 and the
# evaluator then walks that axis (ConstantOfShape iterates its input), so rank and every
# dimension are bounded too, whatever the size. A supported model's largest constant is
# W_ih (4H, I) with H, I <= MAX_DIM.
MAX_FOLD_RANK = 8
MAX_FOLD_DIM = 4 * MAX_DIM
# Ops whose integer operands are sizes (a shape, repeats, a range's ends): their values
# are bounded like an output's size, before anything is evaluated.
_SHAPE_VALUED = frozenset(("Expand", "ConstantOfShape", "Tile", "Reshape", "Range"))
_ACTIVATIONS = {op: name for name, op in ONNX_ACTIVATION_OPS.items()}
_UNIT = ("1", "D")  # axis labels of size one: a kept reduced axis, ONNX's num_directions


@dataclass(frozen=True)
class _Data:
    """A tensor on the data path, with the model built up to it.

    ``axes`` labels each axis: ``N`` batch, ``T`` time, ``F`` features (size ``width``),
    ``1``/``D`` size one; before the first LSTM the graph input's first two axes are
    ``S0``/``S1`` until the LSTM's layout says which is time.
    """

    axes: tuple[str, ...]
    width: int
    input_scale: np.ndarray | None = None
    input_shift: np.ndarray | None = None
    lstm: tuple[LSTMLayer, ...] = ()
    pooling: str | None = None
    post_scale: np.ndarray | None = None
    post_shift: np.ndarray | None = None
    dense: tuple[DenseLayer, ...] = ()
    time_axis_of_input: int | None = None

    @property
    def core_axes(self) -> tuple[str, ...]:
        return tuple(a for a in self.axes if a not in _UNIT)


@dataclass(frozen=True)
class _Shape:
    """A shape vector computed from a data tensor: entries are ints or axis labels."""

    entries: tuple[Any, ...]
    scalar: bool = False


@dataclass(frozen=True)
class _Zeros:
    """A zero tensor whose shape depends on the batch (torch's zero initial state)."""


@dataclass(frozen=True)
class _LayerStack:
    """Every layer's last hidden state stacked on axis 0 (torch's ``h_n``)."""

    layers: tuple[_Data, ...]


@dataclass(frozen=True)
class _Unusable:
    """An output the model format cannot carry further (e.g. the LSTM's Y_c)."""

    what: str


@dataclass
class _Graph:
    opset: int
    values: dict[str, Any] = field(default_factory=dict)
    fold_budget: int = MAX_FOLDED_BYTES  # bytes the remaining folds may still produce


# What interpreting a malformed graph can raise (protobuf strings that are not UTF-8,
# attributes of the wrong kind, out-of-range axes ...): a bad file, never a crash.
_MALFORMED = (IndexError, KeyError, ValueError, TypeError, AttributeError, OverflowError, RecursionError)


def spec_from_onnx(source: str | os.PathLike[str] | bytes | onnx.ModelProto) -> ModelSpec:
    """Import an ONNX model (path, serialized bytes or ModelProto) as a validated spec.
    Anything unsupported or malformed raises :class:`ModelFormatError`."""
    model = _load(source)
    try:
        _refuse_external_data(model)
        return _import(model)
    except ModelFormatError:
        raise
    except _MALFORMED as exc:
        raise ModelFormatError(f"malformed ONNX model: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - onnx's own errors (ValidationError ...) are a bad file too
        raise ModelFormatError(f"malformed ONNX model: {type(exc).__name__}: {exc}") from None


def _import(model: onnx.ModelProto) -> ModelSpec:
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ModelFormatError("ONNX model declares no default-domain opset")
    state = _Graph(opset)
    for init in graph.initializer:
        state.values[init.name] = _array(init)
    inputs = [i for i in graph.input if i.name not in state.values]
    if len(inputs) != 1:
        raise ModelFormatError(f"expected one graph input (the windows), found {[i.name for i in inputs]}")
    dims = _static_dims(inputs[0])
    if len(dims) != 3 or not isinstance(dims[2], int):
        raise ModelFormatError(f"graph input {inputs[0].name!r} must be (batch, time, features) with known features, got {dims}")
    if not 1 <= dims[2] <= MAX_DIM:  # checked before any per-feature vector is allocated
        raise ModelFormatError(f"graph input {inputs[0].name!r} declares {dims[2]} features (allowed 1..{MAX_DIM})")
    state.values[inputs[0].name] = _Data(("S0", "S1", "F"), dims[2])
    for node in graph.node:
        _run_node(node, state)
    data = _prediction_output(graph, state)
    meta = {p.key: p.value for p in model.metadata_props}
    return _to_spec(data, dims, meta)


# ----------------------------------------------------------------------------- loading


def _load(source: Any) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            path = os.fspath(source)
            if os.path.getsize(path) > MAX_ONNX_BYTES:
                raise ModelFormatError(f"{path}: larger than {MAX_ONNX_BYTES} bytes")
            with open(path, "rb") as fh:
                data = fh.read()
        model = onnx.load_model_from_string(data)
    except ModelFormatError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # protobuf raises DecodeError and others on corrupt bytes
        raise ModelFormatError(f"not a readable ONNX model: {exc}") from exc
    if not model.HasField("graph") or not model.graph.node:
        raise ModelFormatError("not a readable ONNX model: it has no graph (truncated or not ONNX)")
    return model


def _is_external(t: onnx.TensorProto) -> bool:
    return t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) > 0


def _tensors_of(attr: onnx.AttributeProto):
    yield from ([attr.t] if attr.HasField("t") else [])
    yield from attr.tensors
    for sparse in ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) + list(attr.sparse_tensors):
        yield sparse.values
        yield sparse.indices


def _refuse_external_data(model: onnx.ModelProto) -> None:
    """Refuse any tensor stored outside the file, wherever it is (initializers, Constant
    values, attributes, subgraphs, functions): reading one would open a path the file
    names (relative to the working directory, absolute or with ``..``), not the caller."""
    graphs = [model.graph]
    nodes: list[onnx.NodeProto] = [n for f in model.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            tensors = list(graph.initializer)
            for sparse in graph.sparse_initializer:
                tensors += [sparse.values, sparse.indices]
            nodes.extend(graph.node)
        else:
            tensors = []
            for attr in nodes.pop().attribute:
                tensors.extend(_tensors_of(attr))
                graphs.extend(([attr.g] if attr.HasField("g") else []) + list(attr.graphs))
        for t in tensors:
            if _is_external(t):
                raise ModelFormatError(
                    f"tensor {t.name!r} keeps its data in an external file; actif reads only the model file "
                    "itself: save the model with the weights inside"
                )


def _array(t: onnx.TensorProto) -> np.ndarray:
    """The one place a TensorProto becomes an array: external data refused, size bounded."""
    if _is_external(t):
        raise ModelFormatError(f"tensor {t.name!r} keeps its data in an external file; save the model with the weights inside")
    if any(d < 0 for d in t.dims):
        raise ModelFormatError(f"tensor {t.name!r} declares a negative dimension {list(t.dims)}")
    count = 1
    for d in t.dims:
        count *= int(d)
    if count * 8 > MAX_ONNX_BYTES:  # the data would have to be in the file: it cannot be
        raise ModelFormatError(f"tensor {t.name!r} declares {count} elements, more than the file can hold")
    try:
        return numpy_helper.to_array(t)
    except Exception as exc:  # noqa: BLE001 - a malformed tensor may fail in any way
        raise ModelFormatError(f"tensor {t.name!r} cannot be read: {type(exc).__name__}: {exc}") from None


def _static_dims(value: onnx.ValueInfoProto) -> list[Any]:
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


# ----------------------------------------------------------------------------- nodes


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fail(node: onnx.NodeProto, why: str) -> ModelFormatError:
    label = f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node"
    return ModelFormatError(f"unsupported ONNX graph: {label}: {why}")


def _run_node(node: onnx.NodeProto, g: _Graph) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise ModelFormatError(f"unsupported ONNX op {node.domain}.{node.op_type} (node {node.name!r})")
    try:
        ins = [g.values[name] if name else None for name in node.input]
    except KeyError as exc:
        raise ModelFormatError(f"{node.op_type} node {node.name!r} reads undefined tensor {exc}") from None
    for v in ins:
        if isinstance(v, _Unusable):
            raise _fail(node, f"reads {v.what}, which the actif model format cannot represent")
    try:
        if node.op_type == "Constant":
            outs = [_constant(node)]
            g.fold_budget -= sum(a.nbytes for a in outs)
        elif node.op_type in _ZERO_PRESERVING and isinstance(ins[0], _Zeros):
            outs = [_Zeros()]  # slicing torch's (layers, N, H) zero state per layer
        elif all(v is None or isinstance(v, np.ndarray) for v in ins):
            outs = _fold(node, ins, g)
        else:
            handler = _HANDLERS.get(node.op_type)
            if handler is None:
                raise ModelFormatError(f"unsupported ONNX op {node.op_type!r} (node {node.name!r}) on the model's data path")
            outs = handler(node, ins, _attrs(node), g)
    except ModelFormatError:
        raise
    except _MALFORMED as exc:  # name the node: more useful than the entry point's message
        raise ModelFormatError(f"{node.op_type} node {node.name!r} is malformed: {type(exc).__name__}: {exc}") from None
    for name, value in zip(node.output, outs):
        if name:
            g.values[name] = value


def _constant(node: onnx.NodeProto) -> np.ndarray:
    attrs = _attrs(node)
    if "value" in attrs:
        return _array(attrs["value"])
    for key in ("value_float", "value_int"):
        if key in attrs:
            return np.asarray(attrs[key], np.float32 if key == "value_float" else np.int64)
    for key in ("value_floats", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key], np.float32 if key == "value_floats" else np.int64)
    raise _fail(node, "only tensor, float and int constants are supported")


# Ops folded on constants: each costs about its operands plus its output, which
# _fold checks before evaluating. Control flow (Loop, Scan, If), anything with a
# subgraph and ops whose work is not bounded that way are refused.
_FOLDABLE = frozenset(
    """
    Abs Neg Sqrt Exp Log Reciprocal Sigmoid Tanh Relu Elu LeakyRelu Softplus Erf Floor Ceil Round Sign Not
    Identity Cast CastLike Clip Add Sub Mul Div Pow Mod Min Max Sum Mean Where Equal Less Greater LessOrEqual
    GreaterOrEqual And Or Xor BatchNormalization Dropout Softmax LogSoftmax
    Transpose Reshape Squeeze Unsqueeze Flatten Concat Split Slice Gather Expand Tile ConstantOfShape Range Shape Size
    ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd MatMul Gemm
    """.split()
)


def _fold(node: onnx.NodeProto, ins: list[np.ndarray | None], g: _Graph) -> list[np.ndarray]:
    """Evaluate a node whose inputs are all constant with ONNX's reference evaluator,
    after checking that its outputs fit the remaining fold budget."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    if node.op_type not in _FOLDABLE:
        raise _fail(node, "is not evaluated on constants during import (its cost is not bounded by its size)")
    feeds = {n: v for n, v in zip(node.input, ins) if v is not None}
    for name, v in feeds.items():
        if v.ndim > MAX_FOLD_RANK or any(d > MAX_FOLD_DIM for d in v.shape):
            raise _fail(
                node, f"operand {name!r} has shape {tuple(v.shape)}: folding takes rank <= {MAX_FOLD_RANK} "
                f"and dimensions <= {MAX_FOLD_DIM}"
            )
    if node.op_type in _SHAPE_VALUED:
        # The evaluator allocates what these operands' values say (Expand builds
        # np.ones(shape) before broadcasting), whatever the output turns out to be.
        limit = MAX_FOLDED_BYTES // 4
        for name, v in feeds.items():
            if v.dtype.kind in "iu" and v.size:
                if v.size > MAX_FOLD_RANK or float(np.prod(np.maximum(np.abs(v.astype(np.float64)), 1.0))) > limit:
                    raise _fail(node, f"operand {name!r} asks for more than {limit} elements ({MAX_FOLDED_BYTES} bytes of float32)")
    outputs = [o for o in node.output if o]
    try:
        inits = [numpy_helper.from_array(v, n) for n, v in feeds.items()]
        graph = helper.make_graph(
            [node], "fold", [], [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outputs], inits
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)])
        declared = _declared_output_bytes(model, outputs)
    except ModelFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - shape inference rejects malformed nodes in many ways
        raise _fail(node, f"cannot evaluate it on constants ({type(exc).__name__}: {exc})") from None
    total = sum(nbytes for nbytes, _ in declared)
    if total > g.fold_budget:
        raise _fail(node, f"its constant outputs would take {total} bytes (limit {MAX_FOLDED_BYTES} for all folded constants)")
    if node.op_type in ("MatMul", "Gemm"):
        inner = max(ins[0].shape, default=1) if ins[0] is not None else 1
        work = sum(count for _, count in declared) * inner
        if work > MAX_FOLD_WORK:
            raise _fail(node, f"folding it on constants takes {work} multiply-adds (limit {MAX_FOLD_WORK})")
    try:
        outs = list(ReferenceEvaluator(model).run(None, {}))
    except Exception as exc:  # noqa: BLE001 - the evaluator may fail in any way on a bad node
        raise _fail(node, f"cannot evaluate it on constants ({type(exc).__name__}: {exc})") from None
    g.fold_budget -= sum(np.asarray(o).nbytes for o in outs)
    return outs


def _declared_output_bytes(model: onnx.ModelProto, outputs: list[str]) -> list[tuple[int, int]]:
    """(bytes, elements) of each output as ONNX shape inference (with constant
    propagation) declares it; an output whose size it cannot tell is refused."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    infos = {v.name: v for v in [*inferred.graph.output, *inferred.graph.value_info]}
    out = []
    for name in outputs:
        info = infos.get(name)
        t = info.type.tensor_type if info is not None else None
        if t is None or not t.HasField("shape") or not all(d.HasField("dim_value") and d.dim_value >= 0 for d in t.shape.dim):
            raise ModelFormatError(f"cannot tell the size of constant {name!r} before computing it")
        if t.elem_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
            # a string costs a Python object per element, not its itemsize: never folded
            raise ModelFormatError(f"constant {name!r} would be a tensor of strings or of an unknown type")
        count = 1
        for d in t.shape.dim:
            count *= d.dim_value
        item = np.dtype(_np_dtype(t.elem_type)).itemsize
        out.append((count * item, count))
    return out


def _np_dtype(elem_type: int) -> Any:
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except Exception:  # noqa: BLE001 - an unknown element type: count it as 8 bytes
        return np.float64


def _const_f64(node: onnx.NodeProto, v: Any, what: str) -> np.ndarray:
    """A constant operand as float64. Non-finite values pass through: the finished
    spec's validate() reports them as a ModelFormatError naming the array."""
    if not isinstance(v, np.ndarray):
        raise _fail(node, f"{what} must be constant")
    with np.errstate(invalid="ignore"):  # widening a signalling NaN sets the invalid flag
        return np.asarray(v, np.float64)


def _int_list(v: Any, node: onnx.NodeProto, what: str) -> list[int]:
    if not isinstance(v, np.ndarray):
        raise _fail(node, f"{what} must be constant")
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _axes(node, ins, attrs, rank: int, input_index: int = 1) -> list[int] | None:
    """Axes from the attribute (old opsets) or the input (new opsets); None when absent."""
    if "axes" in attrs:
        raw = list(attrs["axes"])
    elif len(ins) > input_index and ins[input_index] is not None:
        raw = _int_list(ins[input_index], node, "axes")
    else:
        return None
    return sorted(a % rank for a in raw)


def _data_arg(node, ins) -> tuple[_Data, list[Any]]:
    datas = [i for i, v in enumerate(ins) if isinstance(v, _Data)]
    if len(datas) != 1:
        raise _fail(node, "combines two data tensors (only a single chain of layers is supported)")
    return ins[datas[0]], [v for i, v in enumerate(ins) if i != datas[0]]


# --------------------------------------------------------------------- affine folding


def _per_feature(node, d: _Data, c: Any) -> np.ndarray:
    """A constant that broadcasts over the feature axis only, as a (width,) float64 vector."""
    arr = _const_f64(node, c, "the other operand")
    if arr.size == 1:
        return np.full(d.width, float(arr.reshape(-1)[0]))
    if arr.ndim > len(d.axes) or arr.shape[-1] != d.width or arr.size != d.width or d.axes[-1] != "F":
        raise _fail(node, f"constant of shape {arr.shape} does not broadcast per feature over axes {d.axes}")
    return arr.reshape(-1)


def _affine(node, d: _Data, scale: np.ndarray, shift: np.ndarray) -> _Data:
    """Compose ``v * scale + shift`` (per feature) into the stage the data is in."""
    if not d.lstm:
        input_scale, input_shift = compose_affine(d.input_scale, d.input_shift, scale, shift)
        return replace(d, input_scale=input_scale, input_shift=input_shift)
    if d.pooling is None:
        raise _fail(node, "an elementwise op between LSTM layers is not representable")
    if not d.dense:
        post_scale, post_shift = compose_affine(d.post_scale, d.post_shift, scale, shift)
        return replace(d, post_scale=post_scale, post_shift=post_shift)
    last = d.dense[-1]
    if last.activation != "identity":
        raise _fail(node, f"an affine op after the {last.activation} activation is not representable")
    return replace(d, dense=(*d.dense[:-1], fold_affine_into_dense(last, scale, shift)))


def _elementwise(node, ins, attrs, g):
    d, (other,) = _data_arg(node, ins)
    c = _per_feature(node, d, other)
    data_first = isinstance(ins[0], _Data)
    op = node.op_type
    if op == "Mul":
        return [_affine(node, d, c, np.zeros(d.width))]
    if op == "Add":
        return [_affine(node, d, np.ones(d.width), c)]
    if op == "Sub":
        return [_affine(node, d, np.ones(d.width), -c) if data_first else _affine(node, d, -np.ones(d.width), c)]
    if not data_first:  # Div
        raise _fail(node, "dividing a constant by the data is not representable")
    return [_affine(node, d, 1.0 / c, np.zeros(d.width))]


def _batchnorm(node, ins, attrs, g):
    d, params = _data_arg(node, ins)
    if d.core_axes != ("N", "F") or d.axes[1] != "F":
        raise _fail(node, f"only BatchNormalization of pooled features (N, C) is supported, got axes {d.axes}")
    if attrs.get("training_mode", 0):
        raise _fail(node, "training_mode=1 is not an inference graph")
    gamma, beta, mean, var = (_per_feature(node, d, p) for p in params[:4])
    return [_affine(node, d, *batchnorm_to_affine(gamma, beta, mean, var, float(attrs.get("epsilon", 1e-5))))]


# ----------------------------------------------------------------------- dense layers


def _check_vector(node, d: _Data) -> None:
    if d.pooling is None or d.core_axes != ("N", "F"):
        raise _fail(node, f"dense layers must act on pooled features (N, F), got axes {d.axes}")


def _add_dense(node, d: _Data, weight: np.ndarray, bias: np.ndarray) -> _Data:
    if weight.shape[1] != d.width:
        raise _fail(node, f"weight takes {weight.shape[1]} inputs but the data has {d.width} features")
    return replace(d, axes=("N", "F"), width=int(weight.shape[0]), dense=(*d.dense, DenseLayer(weight, bias, "identity")))


def _gemm(node, ins, attrs, g):
    d = ins[0]
    if not isinstance(d, _Data) or attrs.get("transA", 0):
        raise _fail(node, "expects the data as its first, untransposed operand")
    _check_vector(node, d)
    weight = _const_f64(node, ins[1], "the weight")
    weight = (weight if attrs.get("transB", 0) else weight.T) * float(attrs.get("alpha", 1.0))
    bias = np.zeros(weight.shape[0])
    if len(ins) > 2 and ins[2] is not None:
        bias = np.broadcast_to(_const_f64(node, ins[2], "the bias").reshape(-1), (weight.shape[0],)) * float(attrs.get("beta", 1.0))
    return [_add_dense(node, d, weight, bias.copy())]


def _matmul(node, ins, attrs, g):
    d, b = ins
    if not isinstance(d, _Data) or not isinstance(b, np.ndarray) or b.ndim != 2:
        raise _fail(node, "expects data times a constant 2-D weight")
    _check_vector(node, d)
    weight = _const_f64(node, b, "the weight").T
    return [_add_dense(node, d, weight, np.zeros(weight.shape[0]))]


def _activation(node, ins, attrs, g):
    (d,) = ins
    name = _ACTIVATIONS[node.op_type]
    if name == "elu" and not np.isclose(float(attrs.get("alpha", 1.0)), 1.0):
        raise _fail(node, "only alpha=1 is supported")
    if not d.dense or d.dense[-1].activation != "identity":
        where = "before the first dense layer" if not d.dense else "after another activation"
        raise _fail(node, f"an activation {where} is not representable")
    last = d.dense[-1]
    return [replace(d, dense=(*d.dense[:-1], DenseLayer(last.weight, last.bias, name)))]


def _passthrough(node, ins, attrs, g):
    return [ins[0]] + [None] * (len(node.output) - 1)


# --------------------------------------------------------------------------- LSTM


def _lstm(node, ins, attrs, g):
    x = ins[0]
    if not isinstance(x, _Data):
        raise _fail(node, "its input X must be the data")
    if x.pooling is not None:
        raise _fail(node, "an LSTM after pooling is not representable")
    if attrs.get("direction", b"forward") not in (b"forward", "forward"):
        raise _fail(node, f"direction={attrs['direction']!r}: only forward LSTMs are supported")
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    if acts and acts != ["Sigmoid", "Tanh", "Tanh"]:
        raise _fail(node, f"activations {acts}: only the default Sigmoid, Tanh, Tanh are supported")
    if "clip" in attrs or attrs.get("input_forget", 0):
        raise _fail(node, "clip and input_forget are not supported")
    padded = list(ins) + [None] * (8 - len(ins))
    _, w, r, b, seq_lens, h0, c0, peep = padded
    if seq_lens is not None:
        raise _fail(node, "sequence_lens is not supported (windows have one length)")
    for what, v in (("initial_h", h0), ("initial_c", c0), ("P (peepholes)", peep)):
        if v is None or isinstance(v, _Zeros) or (isinstance(v, np.ndarray) and not np.any(v)):
            continue
        raise _fail(node, f"{what} must be absent or zero")
    w, r = _const_f64(node, w, "W"), _const_f64(node, r, "R")
    if w.ndim != 3 or w.shape[0] != 1 or r.ndim != 3 or r.shape[0] != 1:
        raise _fail(node, f"W {w.shape} and R {r.shape} must be (1, 4H, I) and (1, 4H, H)")
    hidden = int(attrs.get("hidden_size", r.shape[2]))
    if w.shape[1] != 4 * hidden or r.shape[1:] != (4 * hidden, hidden):
        raise _fail(node, f"W {w.shape} / R {r.shape} do not match hidden_size={hidden}")
    if w.shape[2] != x.width:
        raise _fail(node, f"W takes {w.shape[2]} inputs but the data has {x.width} features")
    bias = np.zeros(8 * hidden) if b is None else _const_f64(node, b, "B").reshape(-1)
    if bias.shape != (8 * hidden,):
        raise _fail(node, f"B has shape {np.shape(b)}, expected (1, {8 * hidden})")
    layer = LSTMLayer(
        reorder_gates(w[0], ONNX_TO_TORCH_GATES),
        reorder_gates(r[0], ONNX_TO_TORCH_GATES),
        reorder_gates(bias[: 4 * hidden], ONNX_TO_TORCH_GATES),
        reorder_gates(bias[4 * hidden :], ONNX_TO_TORCH_GATES),
    )
    batch_major = int(attrs.get("layout", 0)) == 1
    x = _bind_time_axis(node, x, batch_major)
    want = ("N", "T", "F") if batch_major else ("T", "N", "F")
    if x.axes != want:
        raise _fail(node, f"input axes {x.axes} do not match layout={int(batch_major)} {want}")
    seq = replace(x, lstm=(*x.lstm, layer), width=hidden, axes=("N", "T", "D", "F") if batch_major else ("T", "D", "N", "F"))
    last = replace(seq, axes=("N", "D", "F") if batch_major else ("D", "N", "F"), pooling="last")
    return [seq, last, _Unusable("the LSTM's final cell state Y_c")]


def _bind_time_axis(node, x: _Data, batch_major: bool) -> _Data:
    """At the first LSTM, name the graph input's S0/S1 axes time and batch."""
    if "S0" not in x.axes:
        return x
    if len(x.axes) != 3 or x.axes[2] != "F":
        raise _fail(node, f"cannot tell time from batch in input axes {x.axes}")
    time_label = x.axes[1] if batch_major else x.axes[0]
    names = {time_label: "T", ("S1" if time_label == "S0" else "S0"): "N"}
    return replace(x, axes=tuple(names.get(a, a) for a in x.axes), time_axis_of_input=int(time_label[1]))


# ----------------------------------------------------------------- layout and pooling


def _rename(d: _Data, axes: list[str] | tuple[str, ...]) -> _Data:
    return replace(d, axes=tuple(axes))


def _transpose(node, ins, attrs, g):
    d = ins[0]
    if isinstance(d, _Data):
        perm = [int(p) for p in attrs.get("perm", list(range(len(d.axes)))[::-1])]
        if sorted(perm) != list(range(len(d.axes))):
            raise _fail(node, f"has perm {perm}, which is not a permutation of the input's {len(d.axes)} axes")
        return [_rename(d, [d.axes[p] for p in perm])]
    raise _fail(node, "transposes a shape")


def _squeeze(node, ins, attrs, g):
    d = ins[0]
    if isinstance(d, _Shape):
        return [_Shape(d.entries, scalar=True)] if len(d.entries) == 1 else _unsupported_shape(node)
    axes = _axes(node, ins, attrs, len(d.axes))
    if axes is None:
        axes = [k for k, a in enumerate(d.axes) if a in _UNIT]
    if any(d.axes[k] not in _UNIT for k in axes):
        raise _fail(node, f"squeezes axes {axes} of {d.axes}, not all of size one")
    return [_rename(d, [a for k, a in enumerate(d.axes) if k not in axes])]


def _unsqueeze(node, ins, attrs, g):
    d = ins[0]
    if isinstance(d, _Shape):
        return [_Shape(d.entries)] if d.scalar else _unsupported_shape(node)
    rank = len(d.axes)
    raw = list(attrs["axes"]) if "axes" in attrs else _int_list(ins[1], node, "axes")
    new_rank = rank + len(raw)
    axes = sorted(a % new_rank for a in raw)
    labels = list(d.axes)
    for a in axes:
        labels.insert(a, "1")
    return [_rename(d, labels)]


def _reshape(node, ins, attrs, g):
    d, target = ins[0], ins[1]
    if not isinstance(d, _Data):
        raise _fail(node, "reshapes a shape")
    if isinstance(target, np.ndarray):
        entries = [int(v) for v in target.reshape(-1)]
    elif isinstance(target, _Shape):
        entries = list(target.entries)
    else:
        raise _fail(node, "the target shape must be constant or computed from the data's shape")
    labels: list[str] = []
    for k, e in enumerate(entries):
        if isinstance(e, str):
            labels.append(e)
        elif e == 0 and not attrs.get("allowzero", 0):
            labels.append(d.axes[k])
        elif e == 1:
            labels.append("1")
        elif e == -1:
            labels.append("?")
        elif e == d.width:
            labels.append("F")
        else:
            raise _fail(node, f"target shape {entries} merges or splits axes of {d.axes}")
    return [_rename(d, _resolve_labels(node, d, labels))]


def _resolve_labels(node, d: _Data, labels: list[str]) -> list[str]:
    """Fill a -1 entry and check that only size-one axes were added or removed."""
    core = [a for a in d.axes if a not in _UNIT]
    missing = [a for a in core if a not in labels]
    if labels.count("?") > 1 or (labels.count("?") == 1 and len(missing) > 1):
        raise _fail(node, f"cannot resolve shape {labels} from axes {d.axes}")
    labels = [(missing[0] if missing else "1") if a == "?" else a for a in labels]
    if [a for a in labels if a not in _UNIT] != core:
        raise _fail(node, f"reshape from axes {d.axes} to {labels} reorders or merges axes")
    return labels


def _flatten(node, ins, attrs, g):
    d = ins[0]
    axis = int(attrs.get("axis", 1)) % max(len(d.axes), 1)
    groups = [d.axes[:axis], d.axes[axis:]]
    labels = []
    for grp in groups:
        core = [a for a in grp if a not in _UNIT]
        if len(core) > 1:
            raise _fail(node, f"flattens axes {grp} together")
        labels.append(core[0] if core else "1")
    return [_rename(d, labels)]


def _pool(node, d: _Data, mode: str, keep_axis: bool) -> _Data:
    if not d.lstm or d.pooling is not None:
        raise _fail(node, "pools something other than an LSTM's hidden sequence")
    t = d.axes.index("T")
    labels = list(d.axes)
    if keep_axis:
        labels[t] = "1"
    else:
        del labels[t]
    return replace(d, axes=tuple(labels), pooling=mode)


def _reduce(node, ins, attrs, g):
    d = ins[0]
    if not isinstance(d, _Data) or "T" not in d.axes:
        raise _fail(node, "only reductions over the time axis of an LSTM's output are supported")
    axes = _axes(node, ins, attrs, len(d.axes))
    if axes is None or [d.axes[a] for a in axes if d.axes[a] not in _UNIT] != ["T"]:
        raise _fail(node, f"reduces axes {axes} of {d.axes}; only the time axis is supported")
    if len(axes) > 1:
        raise _fail(node, "reduces more than the time axis")
    mode = "max" if node.op_type == "ReduceMax" else "mean"
    return [_pool(node, d, mode, bool(attrs.get("keepdims", 1)))]


def _gather(node, ins, attrs, g):
    d, idx = ins[0], ins[1]
    if not isinstance(idx, np.ndarray) or idx.size != 1:
        raise _fail(node, "only a single constant index is supported")
    index = int(idx.reshape(-1)[0])
    scalar = idx.ndim == 0
    if isinstance(d, _Shape):
        return [_Shape((d.entries[index],), scalar=scalar)]
    if isinstance(d, _LayerStack):  # h_n[k]: layer k's last hidden state
        if int(attrs.get("axis", 0)) != 0 or not scalar:
            raise _fail(node, "only h_n[k] (a scalar index on the layer axis) is supported")
        picked = d.layers[index]
        return [_rename(picked, [a for a in picked.axes if a != "D"])]
    axis = int(attrs.get("axis", 0)) % len(d.axes)
    label = d.axes[axis]
    if label == "T" and index == -1:
        return [_pool(node, d, "last", keep_axis=not scalar)]
    if label in _UNIT and index in (0, -1):
        return [_rename(d, [a for k, a in enumerate(d.axes) if k != axis] if scalar else d.axes)]
    raise _fail(node, f"gathers index {index} on axis {label!r}; only the last time step is supported")


def _slice(node, ins, attrs, g):
    d = ins[0]
    if isinstance(d, _Shape):
        starts, ends = _int_list(ins[1], node, "starts"), _int_list(ins[2], node, "ends")
        return [_Shape(tuple(d.entries[starts[0] : ends[0]]))]
    if "starts" in attrs:  # opset < 10
        starts, ends, axes, steps = list(attrs["starts"]), list(attrs["ends"]), list(attrs.get("axes", [])), []
    else:
        starts, ends = _int_list(ins[1], node, "starts"), _int_list(ins[2], node, "ends")
        axes = _int_list(ins[3], node, "axes") if len(ins) > 3 and ins[3] is not None else []
        steps = _int_list(ins[4], node, "steps") if len(ins) > 4 and ins[4] is not None else []
    axes = axes or list(range(len(starts)))
    out = d
    for k, (s, e, a) in enumerate(zip(starts, ends, axes)):
        step = steps[k] if steps else 1
        label = d.axes[a % len(d.axes)]
        if label in _UNIT or (label != "T" and s == 0 and e >= 2**31 - 1 and step == 1):
            continue
        if label == "T" and s == -1 and e >= 2**31 - 1 and step == 1:
            out = _pool(node, out, "last", keep_axis=True)
            continue
        raise _fail(node, f"slices [{s}:{e}:{step}] on axis {label!r}; only the last time step is supported")
    return [out]


# ------------------------------------------------------------------ shape arithmetic


def _unsupported_shape(node):
    raise _fail(node, "shape arithmetic beyond Shape/Gather/Unsqueeze/Concat is not supported")


def _shape(node, ins, attrs, g):
    d = ins[0]
    if not isinstance(d, _Data):
        raise _fail(node, "takes the shape of a non-data tensor")
    entries = tuple(d.width if a == "F" else (1 if a in _UNIT else a) for a in d.axes)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return [_Shape(entries[start : None if end is None else int(end)])]


def _concat(node, ins, attrs, g):
    if all(isinstance(v, (_Shape, np.ndarray)) for v in ins):
        entries: list[Any] = []
        for v in ins:
            entries.extend(v.entries if isinstance(v, _Shape) else [int(a) for a in np.asarray(v).reshape(-1)])
        return [_Shape(tuple(entries))]
    last_states = all(isinstance(v, _Data) and v.pooling == "last" and v.axes[0] == "D" for v in ins)
    if last_states and int(attrs.get("axis", 0)) == 0:
        return [_LayerStack(tuple(ins))]
    raise _fail(node, "concatenates data tensors (only a single chain of layers is supported)")


def _constant_of_shape(node, ins, attrs, g):
    value = attrs.get("value")
    if value is not None and np.any(_array(value)):
        raise _fail(node, "only zero-filled tensors of a data-dependent shape are supported")
    return [_Zeros()]


def _cast(node, ins, attrs, g):
    return [ins[0]]


_ZERO_PRESERVING = ("Slice", "Gather", "Squeeze", "Unsqueeze", "Reshape", "Transpose", "Identity", "Cast")

_HANDLERS = {
    "Mul": _elementwise, "Add": _elementwise, "Sub": _elementwise, "Div": _elementwise,
    "BatchNormalization": _batchnorm,
    "Gemm": _gemm, "MatMul": _matmul,
    **dict.fromkeys(_ACTIVATIONS, _activation),
    "LSTM": _lstm,
    "Transpose": _transpose, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Reshape": _reshape, "Flatten": _flatten,
    "ReduceMax": _reduce, "ReduceMean": _reduce, "Gather": _gather, "Slice": _slice,
    "Identity": _passthrough, "Dropout": _passthrough, "Cast": _cast,
    "Shape": _shape, "Concat": _concat, "ConstantOfShape": _constant_of_shape,
}


# ----------------------------------------------------------------------------- result


def _prediction_output(graph: onnx.GraphProto, g: _Graph) -> _Data:
    """The graph output carrying pooled predictions (``y`` when several do)."""
    candidates = [(o.name, g.values.get(o.name)) for o in graph.output]
    pooled = [(n, v) for n, v in candidates if isinstance(v, _Data) and v.pooling is not None]
    if not pooled:
        raise ModelFormatError(
            "unsupported ONNX graph: no output is a prediction from pooled LSTM features "
            f"(outputs: {[n for n, _ in candidates]})"
        )
    name, data = next(((n, v) for n, v in pooled if n == "y"), pooled[0])
    if data.core_axes != ("N", "F"):
        raise ModelFormatError(f"ONNX output {name!r} has axes {data.axes}; expected (batch, outputs)")
    return data


def _to_spec(d: _Data, input_dims: list[Any], meta: dict[str, str]) -> ModelSpec:
    ours = {k[len(ONNX_METADATA_PREFIX) :]: v for k, v in meta.items() if k.startswith(ONNX_METADATA_PREFIX)}
    try:
        window = int(ours["window"]) if "window" in ours else None
        names = {k: json.loads(ours[k]) for k in ("feature_names", "output_names", "metadata") if k in ours}
    except (ValueError, TypeError) as exc:
        raise ModelFormatError(f"ONNX metadata_props from actif are malformed: {exc}") from exc
    if window is None:
        t_dim = input_dims[d.time_axis_of_input] if d.time_axis_of_input is not None else None
        window = t_dim if isinstance(t_dim, int) and t_dim > 0 else 10
    metadata = names.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFormatError(f"ONNX metadata '{ONNX_METADATA_PREFIX}metadata' must be a JSON object")
    if d.time_axis_of_input == 0:
        metadata = {**metadata, "onnx_input_layout": "time_major"}
    spec = ModelSpec(
        lstm=list(d.lstm), dense=list(d.dense), pooling=d.pooling or "last",
        input_scale=d.input_scale, input_shift=d.input_shift, post_scale=d.post_scale, post_shift=d.post_shift,
        window=window, feature_names=names.get("feature_names"), output_names=names.get("output_names"), metadata=metadata,
    )
    # folding ran in float64; ONNX weights are float32, so this rounds nothing away
    spec = spec.astype(np.float32)
    return spec.validate()


__all__ = ["spec_from_onnx"]

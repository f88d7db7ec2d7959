"""The model format: a small explicit graph and its ``.npz`` file.

A model is, in order (see docs/architecture.md, "The native core owns the contract"):

1. an optional input affine ``x * input_scale + input_shift`` (normalisation),
2. one or more stacked LSTM layers with PyTorch conventions (gate order i, f, g, o;
   ``w_ih`` (4H, I), ``w_hh`` (4H, H), ``b_ih``, ``b_hh``),
3. temporal pooling of the top layer's hidden sequence: ``last``, ``mean`` or ``max``,
4. an optional per-channel affine ``p * post_scale + post_shift`` (a folded BatchNorm),
5. dense layers ``act(W p + b)`` with ``identity | relu | elu | tanh | sigmoid``.

The file is an uncompressed ``.npz`` (a zip of ``.npy`` members, readable from C++ too)
with a JSON header in the member ``header`` (uint8 bytes). Loading never unpickles and
checks every member's declared shape and dtype before reading its data, so a corrupt or
hostile file raises :class:`~actif.errors.ModelFormatError` instead of allocating
whatever it declares.
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from . import constants
from .constants import MAX_ARRAYS_BYTES, MAX_DIM, MAX_HEADER_BYTES, MAX_LAYERS
from .errors import ModelFormatError
from .fileio import write_atomically
from .stored_zip import MAX_MODEL_FILE_BYTES, StoredZip, parse_npy

FORMAT_NAME = "actif.model"
FORMAT_VERSION = 1
POOLINGS = ("last", "mean", "max")
ACTIVATIONS = ("identity", "relu", "elu", "tanh", "sigmoid")

# Limits that keep a hostile file from making us allocate or parse without bound
# (constants.json, which the native reader reads too). MAX_MODEL_BYTES bounds all arrays
# together: many members each under the limit stay bounded.
MAX_MODEL_BYTES = MAX_ARRAYS_BYTES


@dataclass
class LSTMLayer:
    """One LSTM layer in PyTorch layout (gate order i, f, g, o)."""

    w_ih: np.ndarray  # (4H, I)
    w_hh: np.ndarray  # (4H, H)
    b_ih: np.ndarray  # (4H,)
    b_hh: np.ndarray  # (4H,)

    @property
    def input_size(self) -> int:
        return int(self.w_ih.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.shape[1])


@dataclass
class DenseLayer:
    """``activation(weight @ x + bias)``; weight is (out, in) as in ``torch.nn.Linear``."""

    weight: np.ndarray  # (out, in)
    bias: np.ndarray  # (out,)
    activation: str = "identity"

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class ModelSpec:
    """Weights and structure of a model, independent of any backend."""

    lstm: list[LSTMLayer]
    dense: list[DenseLayer] = field(default_factory=list)
    pooling: str = "last"
    input_scale: np.ndarray | None = None
    input_shift: np.ndarray | None = None
    post_scale: np.ndarray | None = None
    post_shift: np.ndarray | None = None
    window: int = 10
    feature_names: list[str] | None = None
    output_names: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- shape facts
    @property
    def input_size(self) -> int:
        return self.lstm[0].input_size

    @property
    def hidden_size(self) -> int:
        """Hidden size of the first LSTM layer (the one the traces read)."""
        return self.lstm[0].hidden_size

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.hidden_size for layer in self.lstm]

    @property
    def num_layers(self) -> int:
        return len(self.lstm)

    @property
    def output_size(self) -> int:
        return self.dense[-1].out_features if self.dense else self.lstm[-1].hidden_size

    @property
    def features(self) -> list[str]:
        """Feature names, generated as ``f0, f1, ...`` when the model has none."""
        if self.feature_names is not None:
            return list(self.feature_names)
        return [f"f{i}" for i in range(self.input_size)]

    @property
    def outputs(self) -> list[str]:
        if self.output_names is not None:
            return list(self.output_names)
        return [f"y{i}" for i in range(self.output_size)]

    # ------------------------------------------------------------------ validation
    def validate(self) -> ModelSpec:
        """Check every shape, name and option; raise :class:`ModelFormatError`."""
        if not self.lstm:
            raise ModelFormatError("a model needs at least one LSTM layer")
        if len(self.lstm) + len(self.dense) > MAX_LAYERS:
            raise ModelFormatError(f"too many layers (limit {MAX_LAYERS})")
        if self.pooling not in POOLINGS:
            raise ModelFormatError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not isinstance(self.window, (int, np.integer)) or not 1 <= int(self.window) <= MAX_DIM:
            raise ModelFormatError(f"window must be an integer in [1, {MAX_DIM}], got {self.window!r}")
        n_in = self.input_size
        _check_vec("input_scale", self.input_scale, n_in, optional=True)
        _check_vec("input_shift", self.input_shift, n_in, optional=True)
        if (self.input_scale is None) != (self.input_shift is None):
            raise ModelFormatError("input_scale and input_shift must be given together")
        for k, layer in enumerate(self.lstm):
            name = f"lstm.{k}"
            for arr_name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                _check_array(f"{name}.{arr_name}", getattr(layer, arr_name))
            if layer.w_ih.ndim != 2 or layer.w_hh.ndim != 2:
                raise ModelFormatError(f"{name}: w_ih and w_hh must be 2-D")
            hidden = layer.w_hh.shape[1]
            if not 1 <= hidden <= MAX_DIM or not 1 <= layer.w_ih.shape[1] <= MAX_DIM:
                raise ModelFormatError(f"{name}: sizes out of range")
            if layer.w_hh.shape != (4 * hidden, hidden):
                raise ModelFormatError(f"{name}.w_hh has shape {layer.w_hh.shape}, expected (4H, H)")
            if layer.w_ih.shape != (4 * hidden, n_in):
                raise ModelFormatError(
                    f"{name}.w_ih has shape {layer.w_ih.shape}, expected ({4 * hidden}, {n_in})"
                )
            _check_vec(f"{name}.b_ih", layer.b_ih, 4 * hidden)
            _check_vec(f"{name}.b_hh", layer.b_hh, 4 * hidden)
            n_in = hidden
        _check_vec("post_scale", self.post_scale, n_in, optional=True)
        _check_vec("post_shift", self.post_shift, n_in, optional=True)
        if (self.post_scale is None) != (self.post_shift is None):
            raise ModelFormatError("post_scale and post_shift must be given together")
        for k, layer in enumerate(self.dense):
            name = f"dense.{k}"
            _check_array(f"{name}.weight", layer.weight)
            if layer.weight.ndim != 2 or layer.weight.shape[1] != n_in:
                raise ModelFormatError(
                    f"{name}.weight has shape {layer.weight.shape}, expected (out, {n_in})"
                )
            if not 1 <= layer.weight.shape[0] <= MAX_DIM:
                raise ModelFormatError(f"{name}: output size out of range")
            _check_vec(f"{name}.bias", layer.bias, layer.weight.shape[0])
            if layer.activation not in ACTIVATIONS:
                raise ModelFormatError(
                    f"{name}: activation must be one of {ACTIVATIONS}, got {layer.activation!r}"
                )
            n_in = layer.weight.shape[0]
        if self.feature_names is not None:
            _check_names("feature_names", self.feature_names, self.input_size)
        if self.output_names is not None:
            _check_names("output_names", self.output_names, self.output_size)
        return self

    # ------------------------------------------------------------------ conversion
    def astype(self, dtype: Any) -> ModelSpec:
        """A copy with every array cast to ``dtype`` (C-contiguous)."""

        def cast(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a, dtype=dtype)

        return replace(
            self,
            lstm=[LSTMLayer(*(cast(getattr(layer, n)) for n in ("w_ih", "w_hh", "b_ih", "b_hh"))) for layer in self.lstm],
            dense=[DenseLayer(cast(d.weight), cast(d.bias), d.activation) for d in self.dense],
            input_scale=cast(self.input_scale),
            input_shift=cast(self.input_shift),
            post_scale=cast(self.post_scale),
            post_shift=cast(self.post_shift),
            feature_names=None if self.feature_names is None else list(self.feature_names),
            output_names=None if self.output_names is None else list(self.output_names),
            metadata=json.loads(json.dumps(self.metadata)),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Every weight array under its file member name."""
        out: dict[str, np.ndarray] = {}
        if self.input_scale is not None:
            out["input.scale"] = self.input_scale
            out["input.shift"] = self.input_shift  # type: ignore[assignment]
        for k, layer in enumerate(self.lstm):
            for n in ("w_ih", "w_hh", "b_ih", "b_hh"):
                out[f"lstm.{k}.{n}"] = getattr(layer, n)
        if self.post_scale is not None:
            out["post.scale"] = self.post_scale
            out["post.shift"] = self.post_shift  # type: ignore[assignment]
        for k, layer in enumerate(self.dense):
            out[f"dense.{k}.weight"] = layer.weight
            out[f"dense.{k}.bias"] = layer.bias
        return out

    def header(self) -> dict[str, Any]:
        """The JSON header: format, version and the explicit layer list."""
        layers: list[dict[str, Any]] = []
        if self.input_scale is not None:
            layers.append({"type": "input_affine", "size": self.input_size})
        n_in = self.input_size
        for layer in self.lstm:
            layers.append({"type": "lstm", "input_size": n_in, "hidden_size": layer.hidden_size})
            n_in = layer.hidden_size
        layers.append({"type": "pool", "mode": self.pooling})
        if self.post_scale is not None:
            layers.append({"type": "affine", "size": n_in})
        for layer in self.dense:
            layers.append(
                {
                    "type": "dense",
                    "in": layer.in_features,
                    "out": layer.out_features,
                    "activation": layer.activation,
                }
            )
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "window": int(self.window),
            "layers": layers,
            "feature_names": self.features,
            "output_names": self.outputs,
            "metadata": self.metadata,
        }

    # ------------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str] | io.IOBase) -> None:
        """Write the model as an uncompressed ``.npz`` with a JSON header.

        Writing goes to a temporary file that is renamed into place, so a crash
        never leaves a half-written model under ``path``.
        """
        self.validate()
        header = json.dumps(self.header(), sort_keys=True).encode("utf-8")
        members = {"header": np.frombuffer(header, dtype=np.uint8)}
        for name, arr in self.arrays().items():
            a = np.asarray(arr)
            members[name] = np.ascontiguousarray(a, dtype=np.float64 if a.dtype == np.float64 else np.float32)
        if isinstance(path, io.IOBase):
            np.savez(path, **members)
            return
        write_atomically(path, lambda fh: np.savez(fh, **members))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | bytes | io.IOBase) -> ModelSpec:
        """Read and validate a model file (path, bytes or binary file object).

        The file is read by the native reader's rules (:mod:`actif.stored_zip`), so both
        accept and reject the same files; it is held in memory while it is read (files
        up to :data:`~actif.stored_zip.MAX_MODEL_FILE_BYTES`)."""
        if isinstance(path, (bytes, bytearray, memoryview)):
            return _spec_from_bytes(path)
        if isinstance(path, io.IOBase):
            data = path.read(MAX_MODEL_FILE_BYTES + 1)
            if len(data) > MAX_MODEL_FILE_BYTES:
                raise ModelFormatError(f"model file is larger than {MAX_MODEL_FILE_BYTES} bytes")
            return _spec_from_bytes(data)
        path = os.fspath(path)
        with open(path, "rb") as fh:  # FileNotFoundError, IsADirectoryError ... stay OSErrors
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_MODEL_FILE_BYTES:
                raise ModelFormatError(f"model file {path!r} is larger than {MAX_MODEL_FILE_BYTES} bytes")
            data = fh.read(MAX_MODEL_FILE_BYTES + 1)  # the file's real size bounds it, not a declared one
        return _spec_from_bytes(data)


def _spec_from_bytes(data: bytes | bytearray | memoryview) -> ModelSpec:
    try:
        return _spec_from_zip(StoredZip(data))
    except ModelFormatError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, struct.error) as exc:
        raise ModelFormatError(f"corrupt actif model file: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------- affine folding
# The importers and training fold per-feature affines ``v * scale + shift`` into a
# model's stages; they share these so every path rounds the same way.


def compose_affine(
    scale: np.ndarray | None, shift: np.ndarray | None, then_scale: np.ndarray, then_shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, shift)`` of the affine ``scale, shift`` followed by ``then_scale, then_shift``;
    ``scale`` None (no affine yet) gives the second one unchanged."""
    if scale is None or shift is None:
        return then_scale, then_shift
    return scale * then_scale, shift * then_scale + then_shift


def fold_affine_into_dense(layer: DenseLayer, scale: Any, shift: Any) -> DenseLayer:
    """One dense layer computing ``layer`` followed by ``v * scale + shift`` per output
    (scalars apply to every output). Only exact before an activation, so ``layer`` must
    have none."""
    if layer.activation != "identity":
        raise ValueError(f"cannot fold an affine through the {layer.activation} activation")
    scale = np.asarray(scale)
    return DenseLayer(layer.weight * scale[..., None], layer.bias * scale + shift, "identity")


def batchnorm_to_affine(
    weight: np.ndarray | None, bias: np.ndarray | None, mean: np.ndarray, var: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Inference-mode batch normalisation ``(v - mean) / sqrt(var + eps) * weight + bias`` as
    ``(scale, shift)``; ``weight``/``bias`` None (no learnt affine) mean 1 and 0."""
    weight = np.ones(mean.shape[0]) if weight is None else weight
    bias = np.zeros(mean.shape[0]) if bias is None else bias
    denom = var + eps
    if not np.all(denom > 0):  # NaN fails too; sqrt would only warn and pass NaN on
        raise ModelFormatError("batch normalisation needs running variance + eps > 0 in every channel")
    scale = weight / np.sqrt(denom)
    return scale, bias - mean * scale


# --------------------------------------------------------------------------- helpers


def _check_array(name: str, a: Any) -> None:
    if not isinstance(a, np.ndarray):
        raise ModelFormatError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype.kind != "f":
        raise ModelFormatError(f"{name} must be floating point, got dtype {a.dtype}")
    if a.size and not np.all(np.isfinite(a)):
        raise ModelFormatError(f"{name} contains NaN or Inf")
    if a.dtype != np.float32 and a.size:
        with np.errstate(over="ignore"):  # the engines run float32: a weight beyond it is Inf there
            if not np.all(np.isfinite(a.astype(np.float32))):
                raise ModelFormatError(f"{name} holds values beyond float32's range (|v| > {np.finfo(np.float32).max:.4g})")


def _check_vec(name: str, a: Any, n: int, optional: bool = False) -> None:
    if a is None:
        if optional:
            return
        raise ModelFormatError(f"{name} is missing")
    _check_array(name, a)
    if a.shape != (n,):
        raise ModelFormatError(f"{name} has shape {a.shape}, expected ({n},)")


def _check_names(what: str, names: Sequence[str], n: int) -> None:
    if len(names) != n or not all(isinstance(s, str) and 0 < len(s) <= 256 for s in names):
        raise ModelFormatError(f"{what} must be {n} non-empty strings")
    if len(set(names)) != len(names):
        raise ModelFormatError(f"{what} must be unique")


def _read_member(zf: StoredZip, name: str, shape: tuple[int, ...] | None, budget: list[int] | None = None) -> np.ndarray:
    """Read one ``.npy`` member after checking its declared shape, dtype and size (the
    container and header rules are the C reader's: :mod:`actif.stored_zip`)."""
    dshape, dtype, data = parse_npy(zf.read(f"{name}.npy"), name)
    allowed = ("<f4", "<f8") if shape is not None else ("u1",)
    if dtype not in allowed:
        raise ModelFormatError(f"array {name!r} has dtype {dtype}, expected one of {list(allowed)}")
    if shape is not None and tuple(dshape) != tuple(shape):
        raise ModelFormatError(f"array {name!r} has shape {tuple(dshape)}, header says {tuple(shape)}")
    nbytes = len(data)
    if budget is not None:
        if nbytes > budget[0]:
            raise ModelFormatError(f"model arrays declare more than {MAX_MODEL_BYTES} bytes in total")
        budget[0] -= nbytes
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(dshape).copy()


MAX_JSON_DEPTH = constants.MAX_JSON_DEPTH  # the top value is at depth 0, as in the C reader


def _check_json_depth(value: Any) -> None:
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ModelFormatError(f"model header is not valid JSON: nesting deeper than {MAX_JSON_DEPTH}")
        if isinstance(v, dict):
            stack.extend((c, depth + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, depth + 1) for c in v)


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise ModelFormatError(f"{where}: missing {key!r}")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ModelFormatError(f"{where}: {key!r} has the wrong type")
    return value


def _dim(d: dict[str, Any], key: str, where: str) -> int:
    v = _get(d, key, int, where)
    if not 1 <= v <= MAX_DIM:
        raise ModelFormatError(f"{where}: {key}={v} out of range [1, {MAX_DIM}]")
    return v


def _spec_from_zip(zf: StoredZip) -> ModelSpec:
    raw = _read_member(zf, "header", None)
    if raw.ndim != 1 or raw.size > MAX_HEADER_BYTES:
        raise ModelFormatError("model header is malformed or too large")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFormatError(f"model header is not valid JSON: {type(exc).__name__}: {exc}") from None
    _check_json_depth(header)
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFormatError("not an actif model (header 'format' is missing or wrong)")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format version {version!r} is not supported (this actif reads version {FORMAT_VERSION})"
        )
    layers = _get(header, "layers", list, "header")
    if len(layers) > MAX_LAYERS + 3:
        raise ModelFormatError("too many layers")
    window = _dim(header, "window", "header")

    spec_kwargs: dict[str, Any] = {"lstm": [], "dense": [], "window": window}
    budget = [MAX_MODEL_BYTES]
    stage = 0  # 0 input affine, 1 lstm, 2 pool, 3 affine, 4 dense: layers must come in this order
    n_in: int | None = None
    for pos, layer in enumerate(layers):
        where = f"layer {pos}"
        if not isinstance(layer, dict):
            raise ModelFormatError(f"{where}: not an object")
        kind = _get(layer, "type", str, where)
        if kind == "input_affine" and stage == 0 and pos == 0:
            n = _dim(layer, "size", where)
            spec_kwargs["input_scale"] = _read_member(zf, "input.scale", (n,), budget)
            spec_kwargs["input_shift"] = _read_member(zf, "input.shift", (n,), budget)
            n_in = n
        elif kind == "lstm" and stage <= 1:
            stage = 1
            i, h = _dim(layer, "input_size", where), _dim(layer, "hidden_size", where)
            if n_in is not None and i != n_in:
                raise ModelFormatError(f"{where}: input_size {i} does not match the previous layer ({n_in})")
            k = len(spec_kwargs["lstm"])
            spec_kwargs["lstm"].append(
                LSTMLayer(
                    _read_member(zf, f"lstm.{k}.w_ih", (4 * h, i), budget),
                    _read_member(zf, f"lstm.{k}.w_hh", (4 * h, h), budget),
                    _read_member(zf, f"lstm.{k}.b_ih", (4 * h,), budget),
                    _read_member(zf, f"lstm.{k}.b_hh", (4 * h,), budget),
                )
            )
            n_in = h
        elif kind == "pool" and stage == 1:
            stage = 2
            spec_kwargs["pooling"] = _get(layer, "mode", str, where)
        elif kind == "affine" and stage == 2:
            stage = 3
            n = _dim(layer, "size", where)
            spec_kwargs["post_scale"] = _read_member(zf, "post.scale", (n,), budget)
            spec_kwargs["post_shift"] = _read_member(zf, "post.shift", (n,), budget)
        elif kind == "dense" and stage >= 2:
            stage = 4
            i, o = _dim(layer, "in", where), _dim(layer, "out", where)
            k = len(spec_kwargs["dense"])
            spec_kwargs["dense"].append(
                DenseLayer(
                    _read_member(zf, f"dense.{k}.weight", (o, i), budget),
                    _read_member(zf, f"dense.{k}.bias", (o,), budget),
                    _get(layer, "activation", str, where),
                )
            )
        else:
            raise ModelFormatError(f"{where}: unexpected layer type {kind!r} at this position")
    if stage < 2:
        raise ModelFormatError("model has no LSTM layer or no pooling layer")
    for key in ("feature_names", "output_names"):
        if key in header:
            names = header[key]
            if not isinstance(names, list):
                raise ModelFormatError(f"header: {key} must be a list")
            spec_kwargs[key] = names
    meta = header.get("metadata", {})
    if not isinstance(meta, dict):
        raise ModelFormatError("header: metadata must be an object")
    spec_kwargs["metadata"] = meta
    return ModelSpec(**spec_kwargs).validate()


# ----------------------------------------------------------------------- generation


def random_spec(
    input_size: int,
    hidden_size: int | Sequence[int],
    output_size: int = 1,
    *,
    pooling: str = "last",
    num_layers: int = 1,
    dense_sizes: Iterable[int] = (32,),
    activation: str = "relu",
    output_activation: str = "identity",
    batchnorm: bool = True,
    normalization: bool = False,
    window: int = 10,
    feature_names: Sequence[str] | None = None,
    seed: int | None = 0,
) -> ModelSpec:
    """A randomly initialised model (PyTorch-style uniform(-1/sqrt(H), 1/sqrt(H)) init)."""
    rng = np.random.default_rng(seed)
    sizes = [hidden_size] * num_layers if isinstance(hidden_size, (int, np.integer)) else list(hidden_size)
    if not sizes:
        raise ValueError("need at least one LSTM layer")
    lstm = []
    n_in = input_size
    for h in sizes:
        bound = 1.0 / np.sqrt(h)

        def u(*shape: int, b: float = bound) -> np.ndarray:
            return rng.uniform(-b, b, size=shape).astype(np.float32)

        lstm.append(LSTMLayer(u(4 * h, n_in), u(4 * h, h), u(4 * h), u(4 * h)))
        n_in = h
    post_scale = post_shift = None
    if batchnorm:
        post_scale = rng.uniform(0.5, 1.5, n_in).astype(np.float32)
        post_shift = rng.uniform(-0.1, 0.1, n_in).astype(np.float32)
    dense = []
    widths = [*list(dense_sizes), output_size]
    for k, w in enumerate(widths):
        bound = 1.0 / np.sqrt(n_in)
        act = output_activation if k == len(widths) - 1 else activation
        dense.append(
            DenseLayer(
                rng.uniform(-bound, bound, (w, n_in)).astype(np.float32),
                rng.uniform(-bound, bound, w).astype(np.float32),
                act,
            )
        )
        n_in = w
    in_scale = in_shift = None
    if normalization:
        in_scale = rng.uniform(0.5, 2.0, input_size).astype(np.float32)
        in_shift = rng.uniform(-0.5, 0.5, input_size).astype(np.float32)
    return ModelSpec(
        lstm=lstm,
        dense=dense,
        pooling=pooling,
        input_scale=in_scale,
        input_shift=in_shift,
        post_scale=post_scale,
        post_shift=post_shift,
        window=window,
        feature_names=None if feature_names is None else list(feature_names),
    ).validate()

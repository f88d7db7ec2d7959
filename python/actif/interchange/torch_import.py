"""Import PyTorch models: a module, a state dict with a small description, or a ``.pt`` file.

Supported layers, in this order: an optional input affine (actif's ``InputAffine``),
``nn.LSTM`` (one or more layers, ``batch_first`` either way; not bidirectional, no
projections), pooling over time (``last``, ``mean`` or ``max``: it lives in ``forward()``,
so it is given, read from a ``pooling`` attribute, or detected by running the module),
``nn.BatchNorm1d`` (folded into the post affine with its running statistics, or into
the preceding ``nn.Linear``), ``nn.Linear`` and ``nn.ReLU``/``nn.ELU``/``nn.Tanh``/
``nn.Sigmoid``; ``nn.Dropout``, ``nn.Identity`` and ``nn.Flatten`` are skipped. That
covers the FOVAL shape, LSTM -> max over time -> BatchNorm -> Linear/ELU/... .
Any other layer raises :class:`~actif.errors.ModelFormatError` naming it.

Layers are read in registration order, which is the order ``forward()`` uses them in
well-written modules; ``verify=True`` (default for modules) runs the module and the
imported spec on the same random windows in float64 and refuses a mismatch, so a
forward() that does something the layers do not show (a functional activation, a skip
connection) is caught instead of silently mis-imported.

A state dict needs a description: ``{"layers": [...], "pooling": ...}``, where each
layer is a key prefix in the state dict (its type follows from its keys) or an
activation name, e.g. ``{"layers": ["lstm", "bn", "fc1", "elu", "fc2"], "pooling": "max"}``.
Optional: ``"window"``, ``"batchnorm_eps"`` (default 1e-5), ``"feature_names"``,
``"output_names"``. :func:`checkpoint_from_module` writes that form for actif's own module.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ModelFormatError
from ..model_spec import (
    ACTIVATIONS,
    POOLINGS,
    DenseLayer,
    LSTMLayer,
    ModelSpec,
    batchnorm_to_affine,
    compose_affine,
    fold_affine_into_dense,
)

try:
    import torch
    from torch import nn
except ImportError as exc:  # torch is optional
    raise ImportError(f"importing PyTorch models needs PyTorch: pip install torch==2.13.0 (a CPU build) ({exc})") from exc

from .torch_module import ACTIVATION_MODULES, ActifLSTMModel, InputAffine

CHECKPOINT_FORMAT = "actif.torch"
_ACTIVATION_NAMES = {cls: name for name, cls in ACTIVATION_MODULES.items()}
_SKIPPED = (nn.Dropout, nn.Identity, nn.Flatten)

# Items of the layer list: ("affine", scale, shift), ("lstm", [LSTMLayer]),
# ("batchnorm", scale, shift), ("linear", weight, bias), ("act", name).
Item = tuple


def spec_from_torch(
    source: nn.Module | Mapping[str, Any],
    *,
    pooling: str | None = None,
    description: Mapping[str, Any] | None = None,
    window: int | None = None,
    feature_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    verify: bool = True,
) -> ModelSpec:
    """A validated :class:`ModelSpec` from a module or a state dict (+ ``description``)."""
    desc = dict(description or {})
    if isinstance(source, nn.Module):
        items = _items_from_module(source)
        pooling = pooling or desc.get("pooling") or _str_attr(source, "pooling")
        window = window or desc.get("window") or _int_attr(source, "window")
    elif isinstance(source, Mapping):
        if "layers" not in desc:
            raise ModelFormatError(
                "a state dict needs a description naming its layers, e.g. "
                "{'layers': ['lstm', 'bn', 'fc1', 'elu', 'fc2'], 'pooling': 'max'}"
            )
        items = _items_from_state_dict(source, desc)
        pooling = pooling or desc.get("pooling")
        window = window or desc.get("window")
        verify = False
        if pooling is None:
            raise ModelFormatError("a state dict does not show how forward() pools over time: give pooling=")
    else:
        raise TypeError(f"expected a torch.nn.Module or a state dict, got {type(source).__name__}")
    names = {
        "window": int(window or 10),
        "feature_names": list(feature_names) if feature_names is not None else desc.get("feature_names"),
        "output_names": list(output_names) if output_names is not None else desc.get("output_names"),
    }
    if pooling is not None and pooling not in POOLINGS:
        raise ModelFormatError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    spec = _assemble(items, pooling or POOLINGS[0], **names)
    if not verify:
        return spec
    assert isinstance(source, nn.Module)
    # pooling changes no weight: one assembly and one run of the module serve every candidate
    candidates = [spec] if pooling else [replace(spec, pooling=p) for p in POOLINGS]
    X, out = _module_output(source, spec)
    match = None if out is None else next((s for s in candidates if _computes(s, X, out)), None)
    if match is None:
        raise ModelFormatError(
            "the module's forward() does not compute what its layers describe"
            + ("" if pooling else " with any pooling (last, mean, max)")
            + ": use activation modules (nn.ELU, ...) rather than functional calls, and only the "
            "supported layers; or pass verify=False if forward() takes other arguments"
        )
    return match


def spec_from_torch_file(path: str | os.PathLike[str], *, description: Mapping[str, Any] | None = None, **options: Any) -> ModelSpec:
    """Import a ``.pt``/``.pth`` file: an actif checkpoint (:func:`checkpoint_from_module`)
    or a plain state dict with ``description``. Files are read with ``weights_only=True``:
    pickled modules (arbitrary code) are refused; save ``module.state_dict()`` instead."""
    try:
        obj = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pickle and zip errors of every kind on a bad file
        raise ModelFormatError(
            f"{path}: not a readable PyTorch checkpoint of tensors ({exc}); whole pickled modules "
            "are not loaded, save module.state_dict() or actif's checkpoint_from_module()"
        ) from exc
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
        return spec_from_torch(obj["state_dict"], description=description or obj.get("description"), **options)
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise ModelFormatError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return spec_from_torch(obj, description=description, **options)


def checkpoint_from_module(module: ActifLSTMModel) -> dict[str, Any]:
    """A ``torch.save``-able dict of actif's module: its state dict and the description
    :func:`spec_from_torch_file` needs to import it without the class."""
    layers: list[str] = []
    if module.input_affine is not None:
        layers.append("input_affine")
    layers += [f"lstm.{k}" for k in range(len(module.lstm))]
    if module.batchnorm is not None:
        layers.append("batchnorm")
    for k, m in enumerate(module.head):
        layers.append(f"head.{k}" if isinstance(m, nn.Linear) else _ACTIVATION_NAMES[type(m)])
    eps = module.batchnorm.eps if module.batchnorm is not None else 1e-5
    description = {"layers": layers, "pooling": module.pooling, "window": module.window, "batchnorm_eps": eps}
    return {"format": CHECKPOINT_FORMAT, "description": description, "state_dict": module.state_dict()}


# ------------------------------------------------------------------------- reading


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().to(torch.float64).numpy()


def _str_attr(module: nn.Module, name: str) -> str | None:
    v = getattr(module, name, None)
    return v if isinstance(v, str) else None


def _int_attr(module: nn.Module, name: str) -> int | None:
    v = getattr(module, name, None)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _lstm_layers(get, num_layers: int, bias: bool, hidden: int) -> list[LSTMLayer]:
    layers = []
    for k in range(num_layers):
        zeros = np.zeros(4 * hidden)
        layers.append(
            LSTMLayer(
                get(f"weight_ih_l{k}"), get(f"weight_hh_l{k}"),
                get(f"bias_ih_l{k}") if bias else zeros, get(f"bias_hh_l{k}") if bias else zeros,
            )
        )
    return layers


def _items_from_module(module: nn.Module) -> list[Item]:
    items: list[Item] = []
    for name, m in module.named_modules():
        if isinstance(m, InputAffine):
            items.append(("affine", _np(m.scale), _np(m.shift)))
        elif isinstance(m, nn.LSTM):
            if m.bidirectional or m.proj_size:
                raise ModelFormatError(f"layer {name!r}: bidirectional or projected LSTMs are not supported")

            def get(key: str, m: nn.LSTM = m) -> np.ndarray:
                return _np(getattr(m, key))  # type: ignore[return-value]

            items.append(("lstm", _lstm_layers(get, m.num_layers, m.bias, m.hidden_size), m.batch_first))
        elif isinstance(m, nn.BatchNorm1d):
            if m.running_mean is None or m.running_var is None:
                raise ModelFormatError(f"layer {name!r}: BatchNorm1d without running statistics cannot be folded")
            items.append(("batchnorm", *batchnorm_to_affine(_np(m.weight), _np(m.bias), _np(m.running_mean), _np(m.running_var), m.eps)))
        elif isinstance(m, nn.Linear):
            bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_features)
            items.append(("linear", _np(m.weight), bias))
        elif type(m) in _ACTIVATION_NAMES:
            if isinstance(m, nn.ELU) and m.alpha != 1.0:
                raise ModelFormatError(f"layer {name!r}: ELU with alpha={m.alpha} (only alpha=1 is supported)")
            items.append(("act", _ACTIVATION_NAMES[type(m)]))
        elif isinstance(m, _SKIPPED) or (len(list(m.children())) > 0 and not list(m.parameters(recurse=False))):
            continue  # containers and inference no-ops
        else:
            raise ModelFormatError(f"unsupported PyTorch layer {name!r}: {type(m).__name__}")
    return items


def _items_from_state_dict(sd: Mapping[str, Any], desc: Mapping[str, Any]) -> list[Item]:
    def get(key: str) -> np.ndarray:
        if key not in sd:
            raise ModelFormatError(f"state dict has no {key!r}")
        v = sd[key]
        return _np(v) if isinstance(v, torch.Tensor) else np.asarray(v, np.float64)

    eps = float(desc.get("batchnorm_eps", 1e-5))
    items: list[Item] = []
    for entry in desc["layers"]:
        if entry in ACTIVATIONS:
            if entry != "identity":
                items.append(("act", entry))
            continue
        p = f"{entry}." if entry else ""
        if f"{p}weight_ih_l0" in sd:
            num_layers = 1 + max(int(k[len(p) + len("weight_ih_l") :]) for k in sd if k.startswith(f"{p}weight_ih_l") and k[len(p) + 11 :].isdigit())
            hidden = get(f"{p}weight_hh_l0").shape[1]
            items.append(("lstm", _lstm_layers(lambda k, p=p: get(p + k), num_layers, f"{p}bias_ih_l0" in sd, hidden), True))
        elif f"{p}running_mean" in sd:
            mean = get(f"{p}running_mean")
            weight = get(f"{p}weight") if f"{p}weight" in sd else None
            bias = get(f"{p}bias") if f"{p}bias" in sd else None
            items.append(("batchnorm", *batchnorm_to_affine(weight, bias, mean, get(f"{p}running_var"), eps)))
        elif f"{p}scale" in sd and f"{p}shift" in sd:
            items.append(("affine", get(f"{p}scale"), get(f"{p}shift")))
        elif f"{p}weight" in sd and get(f"{p}weight").ndim == 2:
            weight = get(f"{p}weight")
            items.append(("linear", weight, get(f"{p}bias") if f"{p}bias" in sd else np.zeros(weight.shape[0])))
        else:
            raise ModelFormatError(f"description layer {entry!r}: no LSTM, BatchNorm, affine or Linear weights under that prefix")
    return items


# ------------------------------------------------------------------------ assembly


def _assemble(items: list[Item], pooling: str, *, window: int, feature_names, output_names) -> ModelSpec:
    """Fold the layer list into a spec; the order must be affine*, lstm+, then the head."""
    in_scale = in_shift = post_scale = post_shift = None
    lstm: list[LSTMLayer] = []
    dense: list[DenseLayer] = []
    for item in items:
        kind = item[0]
        if kind == "affine" and not lstm:
            in_scale, in_shift = compose_affine(in_scale, in_shift, item[1], item[2])
        elif kind == "lstm" and not dense and post_scale is None:
            lstm.extend(item[1])
        elif kind in ("batchnorm", "affine") and lstm and not dense:
            post_scale, post_shift = compose_affine(post_scale, post_shift, item[1], item[2])
        elif kind == "batchnorm" and dense and dense[-1].activation == "identity":
            dense[-1] = fold_affine_into_dense(dense[-1], item[1], item[2])
        elif kind == "linear" and lstm:
            dense.append(DenseLayer(item[1], item[2], "identity"))
        elif kind == "act" and dense and dense[-1].activation == "identity":
            dense[-1] = DenseLayer(dense[-1].weight, dense[-1].bias, item[1])
        else:
            what = item[1] if kind == "act" else kind
            raise ModelFormatError(f"a {what} layer at this position is not representable (order: affine, LSTM, pooling, BatchNorm, Linear/activation)")
    if not lstm:
        raise ModelFormatError("the model has no nn.LSTM layer")

    spec = ModelSpec(
        lstm=lstm, dense=dense, pooling=pooling,
        input_scale=in_scale, input_shift=in_shift, post_scale=post_scale, post_shift=post_shift,
        window=int(window), feature_names=feature_names, output_names=output_names,
    )
    return spec.astype(np.float32).validate()  # folding ran in float64


def _module_output(module: nn.Module, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """Random windows for ``spec`` and the module's float64 output on them (None when
    it is not one prediction per window of the spec's output size)."""
    # 32 windows of wide-ranging inputs, so activations and poolings see both signs
    X = np.random.default_rng(0).normal(scale=2.0, size=(32, min(int(spec.window), 12), spec.input_size))
    probe = copy.deepcopy(module).to(torch.float64).eval()
    time_major = any(isinstance(m, nn.LSTM) and not m.batch_first for m in probe.modules())
    x = torch.from_numpy(X.transpose(1, 0, 2).copy() if time_major else X)
    try:
        with torch.no_grad():
            out = probe(x)
    except Exception as exc:
        raise ModelFormatError(f"running the module on windows {tuple(x.shape)} failed ({exc}); pass verify=False and pooling=") from exc
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (X.shape[0], spec.output_size):
        return X, None
    return X, out.numpy()


def _computes(spec: ModelSpec, X: np.ndarray, module_out: np.ndarray) -> bool:
    """Does the spec give the module's output on ``X``? (See :func:`_module_output`.)"""
    from ..reference import forward_outputs

    want = forward_outputs(spec.astype(np.float64), X)
    # the spec holds float32 weights: compare against the module with the same rounding
    return bool(np.allclose(module_out, want, rtol=1e-4, atol=1e-5))


__all__ = ["CHECKPOINT_FORMAT", "checkpoint_from_module", "spec_from_torch", "spec_from_torch_file"]

"""Backend registry: which engines exist, which this machine has, and how to get one.

Each entry names the module and class implementing :class:`~actif.backends.base.Backend`
and the install hint shown when it is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import BackendUnavailableError
from .base import Activations, Backend, ForwardResult, LayerActivations, StreamState

# name -> (module, class, how to get it)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "cpp": (
        "actif.backends.cpp",
        "CppBackend",
        "the compiled core is missing: reinstall actif from source with a C++17 compiler "
        "(pip install --force-reinstall actif), or use backend='numba' or 'numpy'",
    ),
    "numba": ("actif.backends.numba_jit", "NumbaBackend", "pip install 'actif[numba]'"),
    "numpy": ("actif.backends.numpy_ref", "NumpyBackend", "NumPy is always installed"),
    "onnxruntime": ("actif.backends.onnx_rt", "OnnxRuntimeBackend", "pip install 'actif[onnx]'"),
    "tflite": (
        "actif.backends.tflite_rt",
        "TFLiteBackend",
        "pip install 'actif[tflite]' (ai-edge-litert), or tflite-runtime on NumPy<2 devices",
    ),
}
_ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime", "litert": "tflite", "reference": "numpy"}
# preference order for backend="auto"
_AUTO_ORDER = ("cpp", "numba", "numpy")

__all__ = [
    "Activations",
    "Backend",
    "ForwardResult",
    "LayerActivations",
    "StreamState",
    "available_backends",
    "backend_class",
    "known_backends",
    "resolve_backend_name",
]


def known_backends() -> list[str]:
    return list(_REGISTRY)


def resolve_backend_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "auto":
        for cand in _AUTO_ORDER:
            if _probe(cand):
                return cand
        return "numpy"
    if key not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(_REGISTRY)} (or 'auto')")
    return key


def backend_class(name: str) -> Any:
    """The backend class for ``name``; :class:`BackendUnavailableError` names the extra."""
    key = resolve_backend_name(name)
    module, cls, hint = _REGISTRY[key]
    try:
        mod = importlib.import_module(module)
        klass = getattr(mod, cls)
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {key!r} is not available ({exc}); {hint}") from exc
    check = getattr(mod, "check_available", None)
    if check is not None:
        try:
            check()
        except ImportError as exc:
            raise BackendUnavailableError(f"backend {key!r} is not available ({exc}); {hint}") from exc
    return klass


def _probe(name: str) -> bool:
    try:
        backend_class(name)
    except BackendUnavailableError:
        return False
    return True


def available_backends() -> list[str]:
    """Backends this machine can run, in preference order."""
    return [n for n in _REGISTRY if _probe(n)]

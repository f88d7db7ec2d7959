"""Numbers the Python package and the native core share, read from ``constants.json``.

That file is the one place they are written: the coefficients of the float32 tanh,
sigmoid and exp approximations (the SIMD kernels and the numba backend), the model and
statistics file limits (``model_spec.py``, ``stats.py`` and the native reader), and the
named parity tolerances per quantity (``tests/test_parity.py`` and the C++ tests). The
native build generates ``actif/constants.hpp`` from the same file
(``cpp/cmake/constants_header.cmake``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _load() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("constants.json").read_text(encoding="utf-8")
    return json.loads(text)


_DATA = _load()
_APPROX = _DATA["approximation"]
_LIMITS = _DATA["limits"]

# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= TANH_CLAMP; coefficients in increasing degree.
TANH_CLAMP: float = float(_APPROX["tanh"]["clamp"])
TANH_P: tuple[float, ...] = tuple(float(c) for c in _APPROX["tanh"]["p"])
TANH_Q: tuple[float, ...] = tuple(float(c) for c in _APPROX["tanh"]["q"])

MAX_DIM: int = int(_LIMITS["max_dim"])  # every layer size and the window
MAX_LAYERS: int = int(_LIMITS["max_layers"])
MAX_HEADER_BYTES: int = int(_LIMITS["max_header_bytes"])
MAX_MEMBER_BYTES: int = int(_LIMITS["max_member_bytes"])
MAX_ARRAYS_BYTES: int = int(_LIMITS["max_arrays_bytes"])  # all arrays of a model file together
MAX_FEATURES: int = int(_LIMITS["max_features"])  # of a RunningStats
# what the model-file readers take at all (python/actif/stored_zip.py and the native reader)
MAX_FILE_BYTES: int = int(_LIMITS["max_file_bytes"])
MAX_ZIP_MEMBERS: int = int(_LIMITS["max_zip_members"])
MAX_NPY_HEADER_BYTES: int = int(_LIMITS["max_npy_header_bytes"])
MAX_JSON_DEPTH: int = int(_LIMITS["max_json_depth"])  # of a model file's JSON header
MAX_INTEGRAL_STEPS: int = int(_LIMITS["max_integral_steps"])  # integrated gradients' n_steps

# The input rule: max_abs's default, and the largest magnitude any value computed from an
# accepted input may reach (the overflow-safe bound is derived against it).
DEFAULT_MAX_ABS: float = float(_DATA["input_rule"]["default_max_abs"])
DEEPLIFT_RESCALE_EPS: float = float(_DATA["attribution"]["deeplift_rescale_eps"])
LRP_EPSILON: float = float(_DATA["attribution"]["lrp_epsilon"])
FLOAT32_BUDGET: float = float(_DATA["input_rule"]["float32_budget"])

# quantity -> (rtol, atol): |got - want| <= atol + rtol |want| for float32 engines
# against the float64 reference.
TOLERANCES: dict[str, tuple[float, float]] = {
    name: (float(bound["rtol"]), float(bound["atol"]))
    for name, bound in _DATA["tolerances"].items()
    if not name.startswith("_")
}


def tolerance(quantity: str) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` of a named quantity, for ``numpy.testing.assert_allclose``."""
    rtol, atol = TOLERANCES[quantity]
    return {"rtol": rtol, "atol": atol}


__all__ = [
    "DEEPLIFT_RESCALE_EPS",
    "DEFAULT_MAX_ABS",
    "FLOAT32_BUDGET",
    "LRP_EPSILON",
    "MAX_ARRAYS_BYTES",
    "MAX_DIM",
    "MAX_FEATURES",
    "MAX_FILE_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_LAYERS",
    "MAX_MEMBER_BYTES",
    "MAX_NPY_HEADER_BYTES",
    "MAX_ZIP_MEMBERS",
    "TANH_CLAMP",
    "TANH_P",
    "TANH_Q",
    "TOLERANCES",
    "tolerance",
]

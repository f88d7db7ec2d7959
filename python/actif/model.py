"""``Model``: a model spec bound to a backend, with checked inputs."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from .backends import StreamState, backend_class, resolve_backend_name
from .model_spec import ModelSpec, random_spec
from .traces import check_trace
from .validation import DEFAULT_MAX_ABS, as_float32


class Model:
    """An LSTM model ready to run.

    ``backend``: ``"auto"`` (the fastest this machine has: cpp, then numba, then numpy),
    or one of :func:`actif.available_backends`. ``num_threads``: threads for batch work
    (default: all cores; backends without threading ignore it). ``max_abs``: inputs
    with a larger magnitude are rejected as sensor garbage (``None`` disables it).
    Inputs so large that the model's float32 arithmetic could overflow are rejected
    whatever ``max_abs`` says: :attr:`input_limit` is the bound actually applied.
    """

    def __init__(
        self,
        spec: ModelSpec,
        backend: str = "auto",
        *,
        num_threads: int | None = None,
        max_abs: float | None = DEFAULT_MAX_ABS,
        **backend_options: Any,
    ):
        self.spec = spec.validate()
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive integer or None, got {num_threads!r}")
        if max_abs is not None and not (isinstance(max_abs, (int, float)) and not isinstance(max_abs, bool) and max_abs > 0):
            raise ValueError(f"max_abs must be a positive number or None, got {max_abs!r}")  # NaN fails > 0
        self.backend_name = resolve_backend_name(backend)
        self._backend = backend_class(self.backend_name)(self.spec, num_threads=num_threads, **backend_options)
        self.num_threads = num_threads
        self.max_abs = max_abs
        # An accepted input must never turn into Inf/NaN inside the model: cap the limit.
        self.input_limit = min(math.inf if max_abs is None else float(max_abs), overflow_safe_abs(self.spec))
        self._feature_names = self.spec.features  # cached: read on every input check

    # ------------------------------------------------------------------ facts
    @property
    def input_size(self) -> int:
        return self.spec.input_size

    @property
    def hidden_size(self) -> int:
        return self.spec.hidden_size

    @property
    def output_size(self) -> int:
        return self.spec.output_size

    @property
    def num_layers(self) -> int:
        return self.spec.num_layers

    @property
    def window(self) -> int:
        """The window length T the model was built or trained for."""
        return int(self.spec.window)

    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    @property
    def output_names(self) -> list[str]:
        return self.spec.outputs

    @property
    def backend(self) -> Any:
        return self._backend

    def __repr__(self) -> str:
        return (
            f"Model(input_size={self.input_size}, hidden={self.spec.hidden_sizes}, "
            f"pooling={self.spec.pooling!r}, output_size={self.output_size}, backend={self.backend_name!r})"
        )

    # ------------------------------------------------------------------ running
    def check_windows(self, X: Any, what: str = "X", allow_empty: bool = True) -> np.ndarray:
        """``X`` as float32 (N, T, I), or a clear :class:`ValueError`."""
        return as_float32(
            X, ndim=3, n_features=self.spec.lstm[0].w_ih.shape[1], what=what,
            feature_names=self._feature_names, max_abs=self.input_limit, allow_empty=allow_empty,
        )

    def check_samples(self, x: Any, what: str = "x", allow_empty: bool = True) -> np.ndarray:
        """``x`` as float32 (B, I) (a single (I,) sample becomes (1, I))."""
        arr = as_float32(
            x, ndim=(1, 2), n_features=self.spec.lstm[0].w_ih.shape[1], what=what,
            feature_names=self._feature_names, max_abs=self.input_limit, allow_empty=allow_empty,
        )
        return arr[None, :] if arr.ndim == 1 else arr

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (N, output_size) for windows ``X`` (N, T, I), each from a zero state."""
        return self._backend.forward(self.check_windows(X)).y

    def forward(self, X: Any, return_activations: bool = False, trace: str | None = None):
        """Run windows; with ``return_activations`` also return :class:`Activations`
        (``acts.h``, ``acts.c`` (N,T,H) and ``acts.gates`` (N,T,4H) of the top layer,
        ``acts.layers[k]`` for each). With ``trace`` also return the per-step trace
        (N, T, I) (see :mod:`actif.traces`)."""
        trace = check_trace(trace, self.spec, forward_only=True)
        res = self._backend.forward(self.check_windows(X), activations=return_activations, trace=trace)
        out: list[Any] = [res.y]
        if return_activations:
            out.append(res.activations)
        if trace is not None:
            out.append(res.trace)
        return out[0] if len(out) == 1 else tuple(out)

    def new_state(self, batch: int = 1) -> StreamState:
        """A zero state for ``batch`` independent streams (stateful mode)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        return self._backend.new_state(int(batch))

    def step(self, x: Any, state: StreamState | None = None):
        """Stateful mode: advance each stream by one sample ``x`` (B, I) or (I,).

        Returns ``(y, state)`` with y (B, output_size); the state is updated in place
        (and created when ``None``). A rejected input leaves the state untouched.
        """
        xs = self.check_samples(x)
        if state is None:
            state = self.new_state(xs.shape[0])
        elif state.batch != xs.shape[0]:
            raise ValueError(f"state holds {state.batch} streams but x has {xs.shape[0]} samples")
        y, _ = self._backend.step(xs, state)
        return y, state

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the canonical ``.npz`` model file."""
        self.spec.save(path)

    def with_backend(self, backend: str, **options: Any) -> Model:
        """The same weights on another backend."""
        return Model(self.spec, backend, num_threads=self.num_threads, max_abs=self.max_abs, **options)

    def close(self) -> None:
        self._backend.close()


# Largest value any intermediate may reach: float32's maximum is 3.4e38, and the bound
# below ignores rounding, so keep a wide margin.
_FLOAT32_BUDGET = 1e36


def overflow_safe_abs(spec: ModelSpec) -> float:
    """The largest input magnitude B for which no value computed from the inputs can
    overflow float32: the input affine, the first layer's pre-activations and every
    trace. A conservative bound from the weights (|h|, |gates| <= 1); deeper layers
    see only bounded activations. Typical models give ~1e34."""
    layer = spec.lstm[0]
    a = np.abs(layer.w_ih.astype(np.float64))  # (4H, I)
    n_in = a.shape[1]
    scale = np.ones(n_in) if spec.input_scale is None else np.abs(spec.input_scale.astype(np.float64))
    shift = np.zeros(n_in) if spec.input_shift is None else np.abs(spec.input_shift.astype(np.float64))
    recurrent = np.abs(layer.w_hh.astype(np.float64)).sum(axis=1) + np.abs(layer.b_ih.astype(np.float64) + layer.b_hh)
    route = a.sum(axis=0)  # per input: bounds the weighted and gates traces' factor
    # each constraint: B * gain + fixed <= budget
    constraints = [
        (scale, shift),  # |x * scale + shift|
        (a @ scale, a @ shift + recurrent),  # |z| of the first layer
        (scale * route, shift * route),  # traces: |x_norm| * (routing of |h| or |gates|)
    ]
    bound = math.inf
    for gain, fixed in constraints:
        room = np.maximum(_FLOAT32_BUDGET - fixed, 0.0)
        with np.errstate(divide="ignore"):
            per = np.where(gain > 0, room / np.where(gain > 0, gain, 1.0), math.inf)
        bound = min(bound, float(per.min()))
    return min(bound, _FLOAT32_BUDGET)


def load(
    path: str | os.PathLike[str] | bytes,
    backend: str = "auto",
    *,
    num_threads: int | None = None,
    max_abs: float | None = DEFAULT_MAX_ABS,
    **backend_options: Any,
) -> Model:
    """Load a model: an actif ``.npz``, an ``.onnx`` file (imported), or a PyTorch
    checkpoint (``.pt``/``.pth``, needs torch)."""
    spec = load_spec(path)
    return Model(spec, backend, num_threads=num_threads, max_abs=max_abs, **backend_options)


def load_spec(path: str | os.PathLike[str] | bytes) -> ModelSpec:
    if isinstance(path, (bytes, bytearray, memoryview)):
        return ModelSpec.load(bytes(path))
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no model file at {p!r}")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".onnx":
        from .interchange.onnx_import import spec_from_onnx

        return spec_from_onnx(p)
    if ext in (".pt", ".pth"):
        from .interchange.torch_import import spec_from_torch_file

        return spec_from_torch_file(p)
    return ModelSpec.load(p)


def random_model(
    input_size: int,
    hidden_size: int | Sequence[int],
    output_size: int = 1,
    *,
    pooling: str = "last",
    seed: int | None = 0,
    backend: str = "auto",
    num_threads: int | None = None,
    **spec_options: Any,
) -> Model:
    """A randomly initialised model (see :func:`actif.model_spec.random_spec` for options:
    ``num_layers``, ``dense_sizes``, ``activation``, ``batchnorm``, ``normalization``,
    ``window``, ``feature_names``)."""
    spec = random_spec(input_size, hidden_size, output_size, pooling=pooling, seed=seed, **spec_options)
    return Model(spec, backend, num_threads=num_threads)

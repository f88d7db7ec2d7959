"""``Model``: a model spec bound to a backend, with checked inputs."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from . import _native
from .backends import StreamState, backend_class, resolve_backend_name
from .errors import InvalidInputError
from .model_spec import ModelSpec, random_spec
from .traces import check_trace
from .validation import DEFAULT_MAX_ABS, as_float32

#: Poolings that read windows of any length the way they read the training length:
#: ``last`` takes the state after the final step (what stateful streaming does at every
#: step), ``mean`` averages over however many steps there are. ``max`` is not among them:
#: the maximum over a window grows with its length, so other lengths move the pooled
#: features away from what the layers after it were trained on.
LENGTH_FREE_POOLINGS = ("last", "mean")


class Model:
    """An LSTM model ready to run.

    ``backend``: ``"auto"`` (the fastest this machine has: cpp, then numba, then numpy),
    or one of :func:`actif.available_backends`. ``num_threads``: threads for batch work
    (default: up to one per core, used only when a batch is large enough to pay for
    them; stateful steps always run on the calling thread; backends without threading
    ignore it). ``max_abs``: inputs
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
        klass = backend_class(self.backend_name)
        if getattr(klass, "applies_input_rule", False):  # a native model derives and applies the limit
            backend_options = {**backend_options, "max_abs": max_abs}
        self._backend = klass(self.spec, num_threads=num_threads, **backend_options)
        self.num_threads = num_threads
        self.max_abs = max_abs
        # An accepted input must never turn into Inf/NaN inside the model: the limit is
        # min(max_abs, the overflow-safe bound), derived by the core (the native model's
        # own when the backend is cpp); the NumPy twin only when the core is not built.
        native_limit = getattr(self._backend, "input_limit", None)
        if native_limit is not None:
            self.input_limit = float(native_limit)
        else:
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

    def check_window_length(self, length: int, any_length: bool = False, what: str = "X") -> None:
        """Refuse windows of ``length`` steps unless it is the model's :attr:`window`, or
        ``any_length`` is set and the pooling reads any length (:data:`LENGTH_FREE_POOLINGS`).
        Raises :class:`~actif.errors.InvalidInputError` (reason ``bad_shape``)."""
        if length == self.window:
            return
        if any_length:
            refusal = any_window_length_refusal(self.spec.pooling)
            if refusal is None:
                return
            raise InvalidInputError(refusal, reason="bad_shape")
        allow = (
            "; any_window_length=True accepts other lengths for this model (its pooling is "
            f"{self.spec.pooling!r})" if any_window_length_refusal(self.spec.pooling) is None else
            f" (its {self.spec.pooling!r} pooling does not allow other lengths)"
        )
        raise InvalidInputError(
            f"{what} holds windows of {length} steps; the model takes windows of {self.window} "
            f"(its training length): cut windows of {self.window} samples{allow}; nothing was changed",
            reason="bad_shape",
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


def any_window_length_refusal(pooling: str) -> str | None:
    """Why ``any_window_length`` is refused for a model with ``pooling``, or None when
    that pooling reads any window length (:data:`LENGTH_FREE_POOLINGS`)."""
    if pooling in LENGTH_FREE_POOLINGS:
        return None
    return (
        f"any_window_length is refused for a model with {pooling!r} pooling: the maximum over "
        "a window grows with its length, so other lengths give pooled features the layers "
        f"after it never saw in training (allowed for {' and '.join(map(repr, LENGTH_FREE_POOLINGS))} pooling)"
    )


def overflow_safe_abs(spec: ModelSpec) -> float:
    """The largest input magnitude B for which no value computed from the inputs can
    overflow float32: the input affine, the first layer's pre-activations and every
    trace. A conservative bound from the weights (|h|, |gates| <= 1); deeper layers
    see only bounded activations. Typical models give ~1e34.

    Derived by the core (cpp/src/model.cpp, overflow_safe_bound), the same function a
    native model applies; :func:`overflow_safe_abs_numpy` when the core is not built."""
    return _native.overflow_safe_abs(spec)


overflow_safe_abs_numpy = _native.overflow_safe_abs_numpy  # the NumPy twin (no core built)


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

"""The TFLite backend: the model exported to a TFLite flatbuffer and run by the LiteRT
interpreter (``ai_edge_litert``), or by ``tflite_runtime`` where that is what the device
has (many Raspberry Pi images, on NumPy < 2). Float32.

At construction the spec is exported in memory (:mod:`actif.interchange.tflite_export`,
no TensorFlow needed); ``model_path=`` runs a ``.tflite`` file written by ``actif export``
instead. The interpreter is resized to each call's (N, T): the graph's ops and its LSTM
state tensors take any batch and window.

The native UNIDIRECTIONAL_SEQUENCE_LSTM op keeps its (h, c) state in variable tensors
that survive between invokes, so every window call first resets them to zero
(``reset_all_variables``): windows are independent, as in the other backends.

The interpreter computes the predictions and every layer's hidden sequence; cell states
and gates are recomputed from the inputs and those hidden sequences in NumPy (see
:mod:`actif.backends.exported_graph`).

Stateful mode is native: a one-step graph whose state variables are written from the
:class:`StreamState` before each invoke and read back after it, then a head graph on the
pooled features; only the ring pooling runs in NumPy.

Threads: one interpreter thread unless ``num_threads`` is given.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from ..errors import ModelFormatError
from ..model_spec import ModelSpec
from .exported_graph import ExportedGraphBackend


def interpreter_class():
    """LiteRT's interpreter, else tflite-runtime's; ImportError when neither is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as litert_exc:
        try:
            from tflite_runtime.interpreter import Interpreter

            return Interpreter
        except ImportError:
            raise ImportError(f"neither ai-edge-litert nor tflite-runtime is installed ({litert_exc})") from None


def check_available() -> None:
    """Raise ImportError unless an interpreter and the flatbuffer schema (the exporter) import."""
    from ..interchange.tflite_export import load_schema

    interpreter_class()
    load_schema()
    import flatbuffers  # noqa: F401


_STDERR_LOCK = threading.Lock()


@contextmanager
def _without_info_lines() -> Iterator[None]:
    """Drop the ``INFO: ...`` lines the TFLite runtime writes to file descriptor 2 (e.g.
    "Created TensorFlow Lite XNNPACK delegate for CPU") while allocating; everything else
    it writes there is passed on to ``sys.stderr`` unchanged. fd 2 belongs to the whole
    process, so one redirection at a time (the lock)."""
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded interpreters)
            yield
            return
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(True)
                        if not line.startswith("INFO: ")]
                if kept:
                    sys.stderr.write("".join(kept))


class _Runner:
    """One interpreter with its tensors by name, resized on demand.

    A TFLite interpreter is not thread-safe (resize, set, invoke and get share its
    buffers), so every use holds ``lock``: threads sharing a model are serialised here.
    """

    def __init__(self, model: bytes, threads: int):
        self.lock = threading.Lock()
        try:
            with _without_info_lines():
                self.interp = interpreter_class()(model_content=model, num_threads=threads)
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFormatError(f"the TFLite interpreter rejected the model: {exc}") from exc
        details = self.interp.get_tensor_details()
        self.index = {t["name"]: t["index"] for t in details}
        self.input = self.interp.get_input_details()[0]["index"]
        self.outputs = {o["name"]: o["index"] for o in self.interp.get_output_details()}
        # the LSTM state variables (batch, H) resize with the batch: name -> H
        self.state_widths = {
            t["name"]: int(t["shape"][-1]) for t in details if t["name"].endswith(("output_state", "cell_state"))
        }
        self.shape = tuple(self.interp.get_input_details()[0]["shape"])

    def resize(self, shape: tuple[int, ...]) -> None:
        if shape == self.shape:
            return
        self.interp.resize_tensor_input(self.input, list(shape))
        for name, width in self.state_widths.items():
            self.interp.resize_tensor_input(self.index[name], [shape[0], width])
        with _without_info_lines():
            self.interp.allocate_tensors()
        self.shape = shape

    def get(self, name: str) -> np.ndarray:
        # get_tensor copies, so the result survives the next invoke
        return self.interp.get_tensor(self.outputs.get(name, self.index.get(name)))


class TFLiteBackend(ExportedGraphBackend):
    name = "tflite"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None, model_path: str | os.PathLike[str] | None = None):
        super().__init__(spec, num_threads)
        from ..interchange.tflite_export import head_to_tflite, spec_to_tflite, step_to_tflite

        self._windows = _Runner(self.window_model(model_path, lambda: spec_to_tflite(spec)), self.threads)
        self.check_outputs(self._windows.outputs, model_path)
        self._step_builders = (lambda: step_to_tflite(spec), lambda: head_to_tflite(spec))
        self._step_runners: tuple[_Runner, _Runner] | None = None
        self._step_lock = threading.Lock()

    def run_windows(self, X):
        r = self._windows
        with r.lock:
            r.resize(X.shape)
            r.interp.reset_all_variables()  # each window starts from a zero state
            r.interp.set_tensor(r.input, X)
            r.interp.invoke()
            return r.get("y"), [r.get(n) for n in self.hidden_names]

    def _stepping(self) -> tuple[_Runner, _Runner]:
        with self._step_lock:
            if self._step_runners is None:
                step, head = (build() for build in self._step_builders)
                self._step_runners = (_Runner(step, self.threads), _Runner(head, self.threads))
            return self._step_runners

    def run_step(self, x, h, c):
        r, _ = self._stepping()
        batch = x.shape[0]
        with r.lock:
            r.resize((batch, 1, x.shape[1]))
            for k in range(len(h)):
                r.interp.set_tensor(r.index[f"lstm.{k}.output_state"], np.ascontiguousarray(h[k], np.float32))
                r.interp.set_tensor(r.index[f"lstm.{k}.cell_state"], np.ascontiguousarray(c[k], np.float32))
            r.interp.set_tensor(r.input, x[:, None, :])
            r.interp.invoke()
            new_h = [r.get(f"hidden_{k}")[:, 0] for k in range(len(h))]
            new_c = [r.get(f"lstm.{k}.cell_state") for k in range(len(h))]
            return new_h, new_c

    def run_head(self, pooled):
        _, r = self._stepping()
        with r.lock:
            r.resize(pooled.shape)
            r.interp.set_tensor(r.input, pooled)
            r.interp.invoke()
            return r.get("y")

    def close(self) -> None:
        self._windows = None  # type: ignore[assignment]
        self._step_runners = None

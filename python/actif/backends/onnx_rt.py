"""The onnxruntime backend: the model exported to ONNX and run by onnxruntime (float32).

At construction the spec is exported in memory (:mod:`actif.interchange.onnx_export`);
``model_path=`` runs an ONNX file written by ``actif export`` instead (it must have
the ``y`` and ``hidden_k`` outputs that export writes).

onnxruntime computes the predictions and every layer's hidden sequence; the cell states
and gates that ``activations`` and the ``gates`` trace need are recomputed from the
inputs and those hidden sequences in NumPy (see :mod:`actif.backends.exported_graph`).

Stateful mode is native: a one-step graph passes every layer's (h, c) through the LSTM
op's ``initial_h``/``initial_c`` inputs and ``Y_h``/``Y_c`` outputs, and a head graph
maps the pooled features to predictions; only the ring pooling runs in NumPy.

Threads: one intra-op thread unless ``num_threads`` is given.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ModelFormatError
from ..model_spec import ModelSpec
from .exported_graph import ExportedGraphBackend

try:
    import onnxruntime as ort
except ImportError as exc:  # reported through the registry with an install hint
    raise ImportError(f"onnxruntime is not installed ({exc})") from exc


def check_available() -> None:
    """Raise ImportError unless both onnxruntime and the onnx package (the exporter) import."""
    import onnx  # noqa: F401


class OnnxRuntimeBackend(ExportedGraphBackend):
    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, num_threads: int | None = None, model_path: str | os.PathLike[str] | None = None):
        super().__init__(spec, num_threads)
        from ..interchange.onnx_export import head_to_onnx, spec_to_onnx, step_to_onnx

        self._windows = self._session(self.window_model(model_path, lambda: spec_to_onnx(spec).SerializeToString()))
        self.check_outputs((o.name for o in self._windows.get_outputs()), model_path)
        if model_path is not None:
            from ..interchange import FINGERPRINT_KEY, ONNX_METADATA_PREFIX

            meta = self._windows.get_modelmeta().custom_metadata_map
            widths = {v.name: (v.shape[-1] if v.shape else None) for v in [*self._windows.get_inputs(), *self._windows.get_outputs()]}
            self.check_exported_from_this_model(model_path, meta.get(f"{ONNX_METADATA_PREFIX}{FINGERPRINT_KEY}"), widths)
        # built on first use: most callers never step
        self._step_builders = (lambda: step_to_onnx(spec), lambda: head_to_onnx(spec))
        self._step_sessions: tuple[ort.InferenceSession, ort.InferenceSession] | None = None

    def _session(self, model_bytes: bytes) -> ort.InferenceSession:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise ModelFormatError(f"onnxruntime rejected the model: {exc}") from exc

    def run_windows(self, X):
        y, *hidden = self._windows.run(["y", *self.hidden_names], {"x": X})
        return y, hidden

    def _stepping(self) -> tuple[ort.InferenceSession, ort.InferenceSession]:
        if self._step_sessions is None:
            step, head = (build().SerializeToString() for build in self._step_builders)
            self._step_sessions = (self._session(step), self._session(head))
        return self._step_sessions

    def run_step(self, x, h, c):
        step, _ = self._stepping()
        feeds = {"x": x}
        for k in range(len(h)):
            feeds[f"h_in_{k}"] = np.ascontiguousarray(h[k], np.float32)
            feeds[f"c_in_{k}"] = np.ascontiguousarray(c[k], np.float32)
        names = [f"{s}_out_{k}" for k in range(len(h)) for s in ("h", "c")]
        out = step.run(names, feeds)
        return out[0::2], out[1::2]

    def run_head(self, pooled):
        _, head = self._stepping()
        return head.run(["y"], {"pooled": pooled})[0]

    def close(self) -> None:
        self._windows = None  # type: ignore[assignment]
        self._step_sessions = None

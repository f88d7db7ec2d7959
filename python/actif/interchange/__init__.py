"""Model interchange: PyTorch import, ONNX export and import, TFLite export.

Every converter maps between a :class:`~actif.model_spec.ModelSpec` and another
format's graph; none of them needs TensorFlow, and only the PyTorch module needs torch.

* :mod:`.onnx_export` / :mod:`.onnx_import`: the ``onnx`` package (``pip install 'actif[onnx]'``);
* :mod:`.tflite_export`: the LiteRT flatbuffer schema (``pip install 'actif[tflite]'``);
* :mod:`.torch_import`: ``torch`` (optional, never required by the rest of actif).

The exported graphs output the predictions *and* every LSTM layer's hidden sequence
(``hidden_0`` is the first layer's, the one the traces read), so any engine can feed the
attribution.
"""

from __future__ import annotations

import numpy as np

# Gate blocks of a (4H, ...) array. actif and PyTorch: i, f, g, o. ONNX: i, o, f, c.
TORCH_TO_ONNX_GATES = (0, 3, 1, 2)  # ONNX block k is PyTorch block TORCH_TO_ONNX_GATES[k]
ONNX_TO_TORCH_GATES = (0, 2, 3, 1)  # PyTorch block k is ONNX block ONNX_TO_TORCH_GATES[k]

# The ONNX op of each dense-layer activation ("identity" has none; the importer reads
# the table backwards), and the prefix of actif's keys in an ONNX model's metadata_props.
ONNX_ACTIVATION_OPS = {"relu": "Relu", "elu": "Elu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
ONNX_METADATA_PREFIX = "actif."
# Key (in ONNX metadata_props after the prefix, in TFLite's actif.header JSON) of the
# fingerprint of the model an engine file was exported from: the onnxruntime and tflite
# backends refuse a model_path exported from another model.
FINGERPRINT_KEY = "model_sha256"


def exported_fingerprint(spec) -> str:
    """The fingerprint an exported file carries: of the float32 model the engine runs,
    so a float64 spec and its float32 copy match the same file."""
    from ..checkpoint import model_fingerprint

    return model_fingerprint(spec.astype(np.float32))


def reorder_gates(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """Permute the four gate blocks along axis 0 of a (4H, ...) array."""
    blocks = np.split(np.asarray(a), 4, axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


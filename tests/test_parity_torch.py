"""Parity with PyTorch's nn.LSTM plus the head, where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.constants import tolerance
from actif.model_spec import random_spec

torch = pytest.importorskip("torch")


def torch_forward(spec: actif.ModelSpec, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model built from torch.nn layers (float64), returning (y, top-layer h)."""
    x = torch.from_numpy(X.astype(np.float64))
    if spec.input_scale is not None:
        x = x * torch.from_numpy(spec.input_scale.astype(np.float64)) + torch.from_numpy(spec.input_shift.astype(np.float64))
    for layer in spec.lstm:
        lstm = torch.nn.LSTM(layer.input_size, layer.hidden_size, batch_first=True).double()
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                src = {"weight_ih_l0": layer.w_ih, "weight_hh_l0": layer.w_hh, "bias_ih_l0": layer.b_ih, "bias_hh_l0": layer.b_hh}[name]
                getattr(lstm, name).copy_(torch.from_numpy(src.astype(np.float64)))
        x, _ = lstm(x)
    h = x
    pooled = {"last": lambda v: v[:, -1], "mean": lambda v: v.mean(1), "max": lambda v: v.max(1).values}[spec.pooling](h)
    if spec.post_scale is not None:
        pooled = pooled * torch.from_numpy(spec.post_scale.astype(np.float64)) + torch.from_numpy(spec.post_shift.astype(np.float64))
    acts = {"identity": lambda v: v, "relu": torch.relu, "elu": torch.nn.functional.elu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
    for d in spec.dense:
        pooled = acts[d.activation](pooled @ torch.from_numpy(d.weight.T.astype(np.float64)) + torch.from_numpy(d.bias.astype(np.float64)))
    return pooled.detach().numpy(), h.detach().numpy()


@pytest.mark.parametrize("backend", [b for b in actif.available_backends()])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_matches_torch_lstm(backend, pooling, rng):
    spec = random_spec(38, 65, 2, pooling=pooling, num_layers=2, activation="elu", normalization=True, seed=11)
    X = rng.normal(size=(6, 10, 38)).astype(np.float32)
    y_t, h_t = torch_forward(spec, X)
    y, acts = actif.Model(spec, backend).forward(X, return_activations=True)
    np.testing.assert_allclose(y, y_t, **tolerance("prediction"))
    np.testing.assert_allclose(acts.h, h_t, **tolerance("h"))

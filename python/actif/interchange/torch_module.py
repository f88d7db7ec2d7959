"""A trainable PyTorch module with exactly the structure of a :class:`ModelSpec`.

:func:`torch_module_from_spec` builds it with a spec's weights (or a fresh one to train);
:func:`actif.interchange.torch_import.spec_from_torch` folds it back into a spec.

Layout: input affine (fixed buffers: normalisation is not trained) -> one ``nn.LSTM`` per
layer (batch-first; a ModuleList, so layers may differ in width) -> pooling over time ->
``nn.BatchNorm1d`` (when the spec has a post affine) -> ``nn.Sequential`` of ``nn.Linear``
and activation modules.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..model_spec import ACTIVATIONS, POOLINGS, ModelSpec

try:
    import torch
    from torch import nn
except ImportError as exc:  # torch is optional; the registry and CLI say how to get it
    raise ImportError(f"this needs PyTorch: pip install torch==2.13.0 (a CPU build) ({exc})") from exc

# BatchNorm epsilon and the running variance that stands for "no scaling": both exact
# in float32 and summing to exactly 1, so a spec's post affine survives spec -> module
# -> spec bit for bit. 2**-17 (7.6e-6) is as good a training epsilon as torch's 1e-5.
BATCHNORM_EPS = 2.0**-17
_UNIT_RUNNING_VAR = 1.0 - BATCHNORM_EPS

ACTIVATION_MODULES = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class InputAffine(nn.Module):
    """``x * scale + shift`` per feature, with fixed (non-trained) buffers."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", shift.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class ActifLSTMModel(nn.Module):
    """Input affine, stacked LSTMs, temporal pooling, BatchNorm1d, dense head.

    ``forward(x)`` takes windows (N, T, I) and returns predictions (N, O).
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        *,
        pooling: str = "last",
        dense: Sequence[tuple[int, str]] = (),
        batchnorm: bool = True,
        input_affine: bool = False,
        window: int = 10,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.window = int(window)
        self.input_affine = InputAffine(torch.ones(input_size), torch.zeros(input_size)) if input_affine else None
        layers, n_in = [], input_size
        for hidden in hidden_sizes:
            layers.append(nn.LSTM(n_in, hidden, batch_first=True))
            n_in = hidden
        self.lstm = nn.ModuleList(layers)
        self.batchnorm = nn.BatchNorm1d(n_in, eps=BATCHNORM_EPS) if batchnorm else None
        head: list[nn.Module] = []
        for out, activation in dense:
            if activation not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
            head.append(nn.Linear(n_in, out))
            if activation != "identity":
                head.append(ACTIVATION_MODULES[activation]())
            n_in = out
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_affine is not None:
            x = self.input_affine(x)
        for layer in self.lstm:
            x, _ = layer(x)
        if self.pooling == "last":
            pooled = x[:, -1]
        elif self.pooling == "mean":
            pooled = x.mean(dim=1)
        else:
            pooled = x.max(dim=1).values
        if self.batchnorm is not None:
            pooled = self.batchnorm(pooled)
        return self.head(pooled)


def torch_module_from_spec(spec: ModelSpec, dtype: torch.dtype = torch.float32) -> ActifLSTMModel:
    """An :class:`ActifLSTMModel` holding the spec's weights (in eval mode)."""
    spec.validate()
    module = ActifLSTMModel(
        spec.input_size, spec.hidden_sizes, pooling=spec.pooling,
        dense=[(d.out_features, d.activation) for d in spec.dense],
        batchnorm=spec.post_scale is not None, input_affine=spec.input_scale is not None, window=int(spec.window),
    ).to(dtype)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    with torch.no_grad():
        if module.input_affine is not None:
            module.input_affine.scale.copy_(t(spec.input_scale))  # type: ignore[arg-type]
            module.input_affine.shift.copy_(t(spec.input_shift))  # type: ignore[arg-type]
        for layer, lstm in zip(spec.lstm, module.lstm):
            lstm.weight_ih_l0.copy_(t(layer.w_ih))
            lstm.weight_hh_l0.copy_(t(layer.w_hh))
            lstm.bias_ih_l0.copy_(t(layer.b_ih))
            lstm.bias_hh_l0.copy_(t(layer.b_hh))
        if module.batchnorm is not None:
            module.batchnorm.weight.copy_(t(spec.post_scale))  # type: ignore[arg-type]
            module.batchnorm.bias.copy_(t(spec.post_shift))  # type: ignore[arg-type]
            module.batchnorm.running_mean.zero_()
            module.batchnorm.running_var.fill_(_UNIT_RUNNING_VAR)
        linears = [m for m in module.head if isinstance(m, nn.Linear)]
        for d, linear in zip(spec.dense, linears):
            linear.weight.copy_(t(d.weight))
            linear.bias.copy_(t(d.bias))
    return module.eval()


__all__ = ["ACTIVATION_MODULES", "BATCHNORM_EPS", "ActifLSTMModel", "InputAffine", "torch_module_from_spec"]

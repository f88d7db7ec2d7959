"""Per-feature standardisation, fitted on training subjects only, that a model carries.

A fitted :class:`Normalizer` maps ``x`` to ``(x - mean) / std``. The model format
applies ``x * input_scale + input_shift`` before its first LSTM layer, so the same map
is ``scale = 1 / std`` and ``shift = -mean / std`` (:meth:`Normalizer.apply_to`): a
model then takes raw features, on the edge as in training.

A feature whose spread is below ``min_std`` (constant on the training subjects, e.g.
the IPD when training on one subject) is only centred (``std`` taken as 1), so it
neither divides by zero nor blows small test-time differences up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ...model_spec import ModelSpec


@dataclass(frozen=True, eq=False)
class Normalizer:
    """``mean``, ``std`` (float64, per feature) and the feature names they belong to."""

    mean: np.ndarray
    std: np.ndarray
    feature_names: list[str] | None = None

    @classmethod
    def fit(
        cls, features: Any, feature_names: Sequence[str] | None = None, *, min_std: float = 1e-6
    ) -> Normalizer:
        """Fit on training data only: (M, I) samples or (N, T, I) windows (every step of
        every window counts once). Non-finite values are an error."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim not in (2, 3) or x.shape[-1] == 0:
            raise ValueError(f"features must be (samples, I) or (windows, T, I), got shape {x.shape}")
        x = x.reshape(-1, x.shape[-1])
        if x.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on zero samples")
        if not np.all(np.isfinite(x)):
            row, col = np.argwhere(~np.isfinite(x))[0]
            name = feature_names[col] if feature_names is not None else f"index {col}"
            raise ValueError(f"cannot fit a normaliser: feature {name} is not finite at flattened row {row}")
        if feature_names is not None and len(feature_names) != x.shape[1]:
            raise ValueError(f"{len(feature_names)} feature names for {x.shape[1]} features")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std >= min_std, std, 1.0)
        return cls(mean, std, None if feature_names is None else list(feature_names))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, x: Any) -> np.ndarray:
        """``(x - mean) / std`` over the last axis, as float32."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.shape[-1:] != (self.n_features,):
            raise ValueError(f"expected {self.n_features} features on the last axis, got shape {arr.shape}")
        return ((arr - self.mean) / self.std).astype(np.float32)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """``(input_scale, input_shift)`` float32 with ``x * scale + shift == transform(x)``."""
        scale = 1.0 / self.std
        return scale.astype(np.float32), (-self.mean * scale).astype(np.float32)

    def apply_to(self, spec: ModelSpec) -> ModelSpec:
        """A copy of ``spec`` whose input affine is this normalisation (any previous one is
        replaced) and whose feature names are these (when known)."""
        if spec.input_size != self.n_features:
            raise ValueError(f"model takes {spec.input_size} features, the normaliser has {self.n_features}")
        scale, shift = self.scale_shift()
        names = self.feature_names if self.feature_names is not None else spec.feature_names
        return replace(spec, input_scale=scale, input_shift=shift, feature_names=names).validate()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (model metadata, checkpoints)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "feature_names": self.feature_names}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a normaliser description: {exc}") from None
        finite = np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
        if mean.ndim != 1 or mean.shape != std.shape or not finite or not np.all(std > 0):
            raise ValueError("normaliser mean/std must be equal-length finite vectors with std > 0")
        names = d.get("feature_names")
        if names is not None and len(names) != mean.shape[0]:
            raise ValueError(f"{len(names)} feature names for {mean.shape[0]} features")
        return cls(mean, std, None if names is None else list(names))

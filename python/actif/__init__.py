"""actif: run LSTM sequence models on the edge and explain them in the same pass.

The DeepACTIF method (Hosp, 2025): per-feature statistics of forward activations,
aggregated into a score per feature. The default score is ``"mean"`` (the min-max
scaled mean, chosen by the faithfulness benchmarks); the paper's inverse-weighted
combination of mean and spread is ``aggregation="inverse"``.

>>> import actif, numpy as np
>>> m = actif.random_model(input_size=4, hidden_size=8, seed=0)
>>> X = np.random.default_rng(0).normal(size=(16, 10, 4)).astype(np.float32)
>>> res = actif.Explainer(m).attribute(X)
>>> len(res.ranking)
4
"""

from __future__ import annotations

from ._version import __version__
from .backends import available_backends, known_backends
from .errors import (
    BackendUnavailableError,
    CheckpointMismatchError,
    InvalidInputError,
    ModelFormatError,
)
from .explain import Attribution, Explainer, NodeCount, StreamingExplainer, choose_n_steps
from .model import Model, load, random_model
from .model_spec import DenseLayer, LSTMLayer, ModelSpec
from .stats import DEFAULT_AGGREGATION, RunningStats, rank, scores, scores_from_moments
from .traces import DEFAULT_TRACE, FORWARD_TRACES, METHODS, TRACES

__all__ = [
    "DEFAULT_AGGREGATION",
    "DEFAULT_TRACE",
    "FORWARD_TRACES",
    "METHODS",
    "TRACES",
    "Attribution",
    "BackendUnavailableError",
    "CheckpointMismatchError",
    "DenseLayer",
    "Explainer",
    "InvalidInputError",
    "LSTMLayer",
    "Model",
    "ModelFormatError",
    "ModelSpec",
    "NodeCount",
    "RunningStats",
    "StreamingExplainer",
    "__version__",
    "available_backends",
    "choose_n_steps",
    "known_backends",
    "load",
    "random_model",
    "rank",
    "scores",
    "scores_from_moments",
]

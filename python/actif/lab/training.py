"""Training an edge-sized FOVAL-style fixation-depth model (needs the ``torch`` extra).

The architecture follows FOVAL (B. W. Hosp, 2024): an LSTM over windows of gaze
features, max pooling over time, batch normalisation and a small dense head with ELU,
sized for the edge (one LSTM layer, H=64 by default). Inputs are normalised with a
:class:`~actif.lab.data.Normalizer` fitted on the training subjects only and folded into
the model's input affine; the target (depth in cm) is standardised during training and
the de-standardisation folded into the last dense layer, so the saved model maps raw
features to centimetres.

Evaluation is leave-one-subject-out: for each held-out subject, a model trained on the
others is scored by mean absolute error (cm), beside two baselines measured on the
same windows: predicting the training mean, and the geometric vergence-depth estimate
(the ``vergence_depth_cm`` feature of the window's last sample, clipped to the
training depth range).

Training is deterministic for a seed: fixed torch/NumPy seeds, deterministic
algorithms and a fixed thread count (default 1).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..model_spec import ModelSpec, fold_affine_into_dense, random_spec
from .data import Normalizer

GEOMETRIC_FEATURE = "vergence_depth_cm"


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 64
    dense: tuple[int, ...] = (32,)
    pooling: str = "max"
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    # Gaussian noise added to each input feature during training, in units of that
    # feature's training standard deviation (regularises against subject-specific offsets).
    input_noise: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists), so stored configurations compare equal."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# How the bundled model (models/make_models.py) is trained; `actif train` defaults to it.
BUNDLED_CONFIG = TrainConfig(
    hidden=64, epochs=15, input_noise=0.5, lr=3e-3, weight_decay=1e-4, batch_size=256, seed=0, threads=1
)
BUNDLED_HOLDOUT = ("P3", "P8", "P13", "P18", "P23")
BUNDLED_GAP_FACTOR = 6.0


@dataclass
class FoldResult:
    subject: str
    n_windows: int
    mae_model: float
    mae_mean: float
    mae_geometric: float
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def result_row(self) -> dict[str, Any]:
        """The row without wall time: what a model file records about itself, so that
        regenerating the model gives the same bytes."""
        return {k: v for k, v in self.row().items() if k != "seconds"}


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "training needs PyTorch: pip install torch==2.13.0 (a CPU build; see the README)"
        ) from exc
    return torch


def train_depth_model(
    windows: np.ndarray,
    targets_cm: np.ndarray,
    feature_names: Sequence[str],
    config: TrainConfig = TrainConfig(),
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> ModelSpec:
    """Train on raw-feature windows (N, T, I) and depth targets (N,) in cm; return the
    model (normalisation and target scaling folded in)."""
    torch = _torch()
    from ..interchange.torch_import import spec_from_torch
    from ..interchange.torch_module import torch_module_from_spec

    windows = np.ascontiguousarray(windows, dtype=np.float32)
    targets = np.asarray(targets_cm, dtype=np.float64)
    if windows.ndim != 3 or len(windows) != len(targets) or len(windows) < 2:
        raise ValueError(f"need windows (N, T, I) and N targets with N >= 2, got {windows.shape} and {targets.shape}")
    n, t, n_in = windows.shape
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        norm = Normalizer.fit(windows, list(feature_names))
        spec0 = norm.apply_to(random_spec(
            n_in, config.hidden, 1, pooling=config.pooling, dense_sizes=config.dense, activation="elu",
            batchnorm=True, window=t, feature_names=list(feature_names), seed=config.seed,
        ))
        module = torch_module_from_spec(spec0)
        module.train()
        y_mean, y_std = float(targets.mean()), float(targets.std() or 1.0)
        X = torch.from_numpy(windows)
        y = torch.from_numpy(((targets - y_mean) / y_std).astype(np.float32))
        noise_sd = torch.from_numpy((config.input_noise * norm.std).astype(np.float32))
        opt = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch)
        gen = torch.Generator().manual_seed(config.seed)
        loss_fn = torch.nn.L1Loss()  # the metric we report is the mean absolute error
        for epoch in range(config.epochs):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, config.batch_size):
                idx = order[start : start + config.batch_size]
                if len(idx) < 2:  # BatchNorm needs two samples
                    continue
                opt.zero_grad()
                xb = X[idx]
                if config.input_noise > 0:
                    xb = xb + torch.randn(xb.shape, generator=gen) * noise_sd
                loss = loss_fn(module(xb).squeeze(-1), y[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            if progress is not None:
                progress(epoch + 1, config.epochs, total / n * y_std)
        module.eval()
        spec = spec_from_torch(module, pooling=config.pooling, window=t, feature_names=list(feature_names),
                               output_names=["depth_cm"])
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(False)
    spec = spec.astype(np.float64)  # fold the de-standardisation in float64, round once
    spec.dense[-1] = fold_affine_into_dense(spec.dense[-1], y_std, y_mean)
    spec = spec.astype(np.float32)
    spec.metadata = {
        "task": "fixation depth (cm) from binocular gaze features",
        "train": {"windows": int(n), "config": config.to_dict(), "target_mean_cm": y_mean, "target_std_cm": y_std},
        "normalization": norm.to_dict(),
    }
    return spec.validate()


def predict_cm(spec: ModelSpec, windows: np.ndarray, backend: str = "auto") -> np.ndarray:
    from ..model import Model

    return Model(spec, backend).predict(windows)[:, 0].astype(np.float64)


def baseline_errors(
    train_targets: np.ndarray, windows: np.ndarray, targets: np.ndarray, feature_names: Sequence[str]
) -> tuple[float, float]:
    """(MAE of predicting the training mean, MAE of the clipped geometric vergence depth)."""
    targets = np.asarray(targets, dtype=np.float64)
    mean_mae = float(np.mean(np.abs(float(np.mean(train_targets)) - targets)))
    lo, hi = float(np.min(train_targets)), float(np.max(train_targets))
    geometric = np.clip(windows[:, -1, list(feature_names).index(GEOMETRIC_FEATURE)].astype(np.float64), lo, hi)
    return mean_mae, float(np.mean(np.abs(geometric - targets)))


def evaluate_holdout(dataset, held_out: Sequence[str], config: TrainConfig, progress=None) -> tuple[ModelSpec, list[FoldResult]]:
    """Train once on every subject not in ``held_out``; score each held-out subject."""
    held = np.isin(dataset.subjects, list(held_out))
    if not held.any() or held.all():
        raise ValueError(f"held-out subjects {list(held_out)} leave no training or no test windows")
    t0 = time.perf_counter()
    spec = train_depth_model(dataset.windows[~held], dataset.targets[~held], dataset.feature_names, config, progress=progress)
    seconds = time.perf_counter() - t0
    results = []
    for subject in held_out:
        mask = dataset.subjects == subject
        if not mask.any():
            continue
        results.append(_score(spec, dataset, mask, ~held, subject, seconds))
    return spec, results


def train_holdout_model(
    dataset, held_out: Sequence[str], config: TrainConfig, *, gap_factor: float, progress=None
) -> tuple[ModelSpec, list[FoldResult]]:
    """:func:`evaluate_holdout` on RobustVision windows (stride 1, built with ``gap_factor``),
    the spec's metadata completed with the data, the subjects, the windowing and the errors."""
    spec, folds = evaluate_holdout(dataset, held_out, config, progress=progress)
    held_out = list(held_out)
    spec.metadata.update({
        "data": {"name": "RobustVision (FOVAL, B. W. Hosp 2024)", "license": "CC BY 4.0", "gap_factor": gap_factor,
                 "held_out_subjects": held_out, "train_subjects": sorted(set(dataset.subjects) - set(held_out))},
        "holdout_results": {"folds": [f.result_row() for f in folds], "pooled": Summary(folds).pooled()},
        "windowing": {"T": int(dataset.windows.shape[1]), "stride": 1, "gap_factor": gap_factor},
    })
    return spec, folds


def loso_evaluation(dataset, subjects: Sequence[str], config: TrainConfig, progress=None, done: dict[str, dict] | None = None) -> list[FoldResult]:
    """Leave-one-subject-out over ``subjects`` (each a fold trained on all others), in
    the order of ``subjects``. ``done`` maps subjects already evaluated to their rows
    (resuming a run); after each trained fold, ``progress(k, len(subjects), results)``
    gets every result known so far, resumed ones included, so saving it keeps them all."""
    by_subject = {s: FoldResult(**done[s]) for s in subjects if done and s in done}

    def results() -> list[FoldResult]:
        return [by_subject[s] for s in subjects if s in by_subject]

    for k, subject in enumerate(subjects):
        test = dataset.subjects == subject
        if subject in by_subject or not test.any():
            continue
        t0 = time.perf_counter()
        spec = train_depth_model(dataset.windows[~test], dataset.targets[~test], dataset.feature_names, config)
        by_subject[subject] = _score(spec, dataset, test, ~test, subject, time.perf_counter() - t0)
        if progress is not None:
            progress(k + 1, len(subjects), results())
    return results()


def _score(spec: ModelSpec, dataset, test: np.ndarray, train: np.ndarray, subject: str, seconds: float) -> FoldResult:
    pred = predict_cm(spec, dataset.windows[test])
    y = dataset.targets[test].astype(np.float64)
    mean_mae, geo_mae = baseline_errors(dataset.targets[train], dataset.windows[test], y, dataset.feature_names)
    return FoldResult(subject, int(test.sum()), float(np.mean(np.abs(pred - y))), mean_mae, geo_mae, seconds)


@dataclass
class Summary:
    folds: list[FoldResult] = field(default_factory=list)

    def pooled(self) -> dict[str, float]:
        """Window-weighted MAE over all folds for the model and both baselines."""
        w = np.array([f.n_windows for f in self.folds], dtype=np.float64)
        out = {}
        for key in ("mae_model", "mae_mean", "mae_geometric"):
            v = np.array([getattr(f, key) for f in self.folds])
            out[key] = float((v * w).sum() / w.sum())
            out[key + "_subject_mean"] = float(v.mean())
        return out

"""Feature-attribution methods side by side, for the evidence suites.

Every method turns a model (a :class:`~actif.model_spec.ModelSpec`) and windows
``X`` (N, T, I) of raw features into one global importance per input feature (I,),
higher = more important:

``actif:<trace>/<aggregation>``
    actif's Explainer (the compiled backend unless told otherwise): running statistics
    of the per-step trace, scored by the aggregation.
``reference:<trace>/<aggregation>``
    :class:`ReferenceDeepACTIF`: DeepACTIF implemented the way the published code
    works (PyTorch forward hooks keep every activation of every batch in memory, the
    statistics are computed with NumPy afterwards). Same scores as actif, different cost.
``ig``, ``deeplift``, ``gradientshap``
    Captum's IntegratedGradients (n_steps=50, internal_batch_size), DeepLift and
    GradientShap on ``torch_module_from_spec(spec)``; per-window attributions (N, T, I)
    reduced to ``mean over windows of sum over steps of |attribution|``.
``shap``
    SHAP's GradientExplainer (expected gradients), reduced the same way.
``random:<seed>``
    a random ranking (the floor every method must beat).

IG and DeepLift use the training mean of each feature as the baseline (read from the
model's folded normalisation: it maps to a normalised zero); GradientShap and SHAP use
a background sample of training windows.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

import actif
from actif.model_spec import ModelSpec
from actif.stats import SCORE_METHODS, scores
from actif.traces import TRACES

ACTIF_VARIANTS = [f"actif:{t}/{a}" for t in TRACES for a in SCORE_METHODS]
# actif's defaults (chosen by these very suites), DeepACTIF's inverse-weighted score on
# the same trace, and the published code's reading of hidden units as features.
DEFAULT_ACTIF = f"actif:{actif.DEFAULT_TRACE}/{actif.stats.DEFAULT_AGGREGATION}"
DEEPACTIF_SCORE = "actif:weighted/inverse"
PUBLISHED_ACTIF = "actif:paper/inverse"  # hidden unit j read as feature j, as the published code
HEADLINE_ACTIF = tuple(dict.fromkeys((DEFAULT_ACTIF, DEEPACTIF_SCORE, PUBLISHED_ACTIF)))
# The two actif scorings every summary names, with how it names them.
NAMED_ACTIF = (("actif default", DEFAULT_ACTIF), ("DeepACTIF score", DEEPACTIF_SCORE))
GRADIENT_METHODS = ("ig", "deeplift", "gradientshap", "shap")
LABELS = {
    "reference": "reference-style DeepACTIF (PyTorch hooks, keeps every activation)",
    "ig": "Captum IntegratedGradients",
    "deeplift": "Captum DeepLift",
    "gradientshap": "Captum GradientShap",
    "shap": "SHAP GradientExplainer",
}
IG_STEPS = 50
GRADIENTSHAP_SAMPLES = 20
SHAP_SAMPLES = 200
BACKGROUND_WINDOWS = 100

# Captum says, on every call, that it hooks the model's non-linear modules: not news here
warnings.filterwarnings("ignore", message="Setting forward, backward hooks")


def label(method: str) -> str:
    """A readable name for a method key."""
    if method in LABELS:
        return LABELS[method]
    if method.startswith("reference:"):
        return f"reference-style DeepACTIF ({method.split(':', 1)[1]})"
    if method.startswith("random:"):
        return f"random ranking (seed {method.split(':', 1)[1]})"
    return method


# ------------------------------------------------------------------------- reductions


def global_importance(attributions: np.ndarray) -> np.ndarray:
    """Per-window attributions (N, T, I) -> ``mean_n sum_t |a[n, t, i]|`` (I,)."""
    a = np.abs(np.asarray(attributions, dtype=np.float64))
    return a.sum(axis=1).mean(axis=0)


def ranking(score: np.ndarray) -> np.ndarray:
    """Feature indices, most important first (ties by index, as actif ranks)."""
    return np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")


def training_mean(spec: ModelSpec) -> np.ndarray:
    """The raw-feature value that the model's input affine maps to zero (the training
    mean when the normalisation was folded in); zeros for a model without one."""
    if spec.input_scale is None:
        return np.zeros(spec.input_size, np.float32)
    scale = np.asarray(spec.input_scale, np.float64)
    return (-np.asarray(spec.input_shift, np.float64) / np.where(scale != 0, scale, 1.0)).astype(np.float32)


# --------------------------------------------------------------------------- actif


def actif_scores_all(spec: ModelSpec, X: np.ndarray, traces: Sequence[str] = TRACES, backend: str = "cpp") -> dict[str, np.ndarray]:
    """Scores of every ``actif:<trace>/<aggregation>`` from one pass per trace."""
    model = actif.Model(spec, backend if backend in actif.available_backends() else "auto", max_abs=None)
    out = {}
    for trace in traces:
        if trace == "paper" and spec.hidden_size < spec.input_size:
            continue
        stats = actif.Explainer(model, trace=trace).attribute(X).stats
        for agg in SCORE_METHODS:
            out[f"actif:{trace}/{agg}"] = scores(stats, agg)
    return out


# ----------------------------------------------------------------- reference-style


class ReferenceDeepACTIF:
    """DeepACTIF as the published reference code computes it: forward hooks on the
    first LSTM layer append each batch's input and hidden sequence to lists, all of it
    is concatenated once the data set has been run, and the per-feature statistics and
    scores are computed with NumPy at the end. Memory grows with the data (N*T*(I+H)
    values kept, plus the trace); the scores equal actif's for the same trace and
    aggregation (checked in tests/test_evidence.py)."""

    def __init__(self, module: Any, trace: str = "weighted", aggregation: str = "inverse"):
        if trace not in ("input", "weighted", "paper"):
            raise ValueError(f"the reference-style implementation supports input/weighted/paper, not {trace!r}")
        self.module = module
        self.trace = trace
        self.aggregation = aggregation
        self.inputs: list[Any] = []
        self.hidden: list[Any] = []
        lstm = module.lstm[0]
        self._w_ih = lstm.weight_ih_l0.detach().numpy().astype(np.float64)
        self._handle = lstm.register_forward_hook(self._keep)

    def _keep(self, _module: Any, inputs: tuple, output: Any) -> None:
        self.inputs.append(inputs[0].detach().clone())
        self.hidden.append(output[0].detach().clone())

    def close(self) -> None:
        self._handle.remove()

    def feed(self, X: np.ndarray) -> None:
        """Run a batch of windows; the hooks keep its activations."""
        import torch

        with torch.no_grad():
            self.module(torch.from_numpy(np.ascontiguousarray(X, np.float32)))

    def scores(self) -> np.ndarray:
        """Concatenate everything kept, compute the trace and the scores with NumPy."""
        import torch

        x = torch.cat(self.inputs).numpy()  # (N, T, I): everything, kept
        h = torch.cat(self.hidden).numpy()  # (N, T, H)
        n_in = x.shape[-1]
        if self.trace == "input":
            trace = np.abs(x)
        elif self.trace == "paper":
            trace = np.abs(h[..., :n_in])
        else:
            hidden = h.shape[-1]
            routing = np.abs(self._w_ih).reshape(4, hidden, n_in).sum(axis=0)  # (H, I)
            trace = np.abs(x) * (np.abs(h) @ routing.astype(np.float32))
        flat = trace.reshape(-1, n_in).astype(np.float64)
        mu, sigma = flat.mean(axis=0), flat.std(axis=0)
        return reference_score(mu, sigma, self.aggregation)

    def run(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        self.inputs, self.hidden = [], []
        for start in range(0, len(X), batch_size):
            self.feed(X[start : start + batch_size])
        return self.scores()


def reference_score(mu: np.ndarray, sigma: np.ndarray, aggregation: str) -> np.ndarray:
    """The DeepACTIF scores written out again (independently of actif.stats)."""

    def mm(v: np.ndarray) -> np.ndarray:
        return (v - v.min()) / (v.max() - v.min() + 1e-8)

    if aggregation == "inverse":
        return (mm(mu) + 1.0 - mm(sigma)) / 2.0
    if aggregation == "mean":
        return mm(mu)
    if aggregation == "meanstd":
        return mu * sigma
    if aggregation == "pen":
        return mm(mu) * (1.0 - np.exp(-sigma / 0.01))
    raise ValueError(f"unknown aggregation {aggregation!r}")


# ------------------------------------------------------------ gradient baselines


def torch_module(spec: ModelSpec, threads: int = 1) -> Any:
    import torch

    from actif.interchange.torch_module import torch_module_from_spec

    torch.set_num_threads(threads)
    return torch_module_from_spec(spec).eval()


def gradient_attributions(
    method: str,
    module: Any,
    X: np.ndarray,
    *,
    baseline: np.ndarray,
    background: np.ndarray,
    seed: int = 0,
    batch_size: int = 512,
) -> np.ndarray:
    """Per-window attributions (N, T, I) of one gradient method, in batches."""
    import torch

    torch.manual_seed(seed)
    parts = []
    base = torch.from_numpy(np.broadcast_to(baseline, X.shape[1:]).astype(np.float32)[None])
    bg = torch.from_numpy(np.ascontiguousarray(background, np.float32))
    if method == "shap":
        import shap

        explainer = shap.GradientExplainer(module, bg)
    else:
        from captum.attr import DeepLift, GradientShap, IntegratedGradients

        explainer = {"ig": IntegratedGradients, "deeplift": DeepLift, "gradientshap": GradientShap}[method](module)
    for start in range(0, len(X), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(X[start : start + batch_size], np.float32)).requires_grad_(True)
        if method == "ig":
            a = explainer.attribute(xb, baselines=base.expand_as(xb), target=0, n_steps=IG_STEPS,
                                    internal_batch_size=batch_size)
        elif method == "deeplift":
            # Captum announces on every call that it hooks the model's nonlinearities
            # for the duration of the attribution; it is information, not a fault.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Setting forward, backward hooks",
                                        category=UserWarning)
                a = explainer.attribute(xb, baselines=base.expand_as(xb), target=0)
        elif method == "gradientshap":
            a = explainer.attribute(xb, baselines=bg, target=0, n_samples=GRADIENTSHAP_SAMPLES)
        else:
            a = explainer.shap_values(xb, nsamples=SHAP_SAMPLES, rseed=seed + start)
        arr = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
        parts.append(arr.reshape(xb.shape))
    return np.concatenate(parts) if parts else np.zeros((0, *X.shape[1:]))


def background_windows(X: np.ndarray, seed: int = 0, n: int = BACKGROUND_WINDOWS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), size=min(n, len(X)), replace=False)]


# --------------------------------------------------------------------- dispatching


def method_scores(
    methods: Sequence[str],
    spec: ModelSpec,
    X: np.ndarray,
    background: np.ndarray,
    *,
    seed: int = 0,
    backend: str = "cpp",
) -> dict[str, np.ndarray]:
    """Global scores (I,) of each method on windows ``X``."""
    out: dict[str, np.ndarray] = {}
    actif_wanted = [m for m in methods if m.startswith("actif:")]
    if actif_wanted:
        traces = sorted({m.split(":", 1)[1].split("/")[0] for m in actif_wanted}, key=TRACES.index)
        allv = actif_scores_all(spec, X, traces, backend)
        out.update({m: allv[m] for m in actif_wanted if m in allv})
    module = None
    for m in methods:
        if m.startswith("actif:"):
            continue
        if m.startswith("random:"):
            out[m] = np.random.default_rng(int(m.split(":", 1)[1]) + 10_000).random(spec.input_size)
            continue
        module = module if module is not None else torch_module(spec)
        if m.startswith("reference:"):
            trace, agg = m.split(":", 1)[1].split("/")
            ref = ReferenceDeepACTIF(module, trace, agg)
            out[m] = ref.run(X)
            ref.close()
        elif m in GRADIENT_METHODS:
            out[m] = global_importance(gradient_attributions(
                m, module, X, baseline=training_mean(spec), background=background, seed=seed))
        else:
            raise ValueError(f"unknown method {m!r}")
    return out

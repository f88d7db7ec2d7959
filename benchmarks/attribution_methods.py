"""Feature-attribution methods side by side, for the evidence suites.

Every method turns a model (a :class:`~actif.model_spec.ModelSpec`) and windows
``X`` (N, T, I) of raw features into one global importance per input feature (I,),
higher = more important:

``actif:<mode>/<aggregation>``
    actif's Explainer (the compiled backend unless told otherwise): running statistics
    of the per-step trace, scored by the aggregation. A mode is a trace
    (``weighted``, ``integrated``, ...) or a trace with a node count:
    ``integrated@8`` (8 Gauss-Legendre nodes instead of Captum's 50), ``integrated@auto``
    (as many as the model needs, :func:`actif.choose_n_steps` on training windows).
``reference:<trace>/<aggregation>``
    :class:`ReferenceDeepACTIF`: DeepACTIF implemented the way the published code
    works (PyTorch forward hooks keep every activation of every batch in memory, the
    statistics are computed with NumPy afterwards). Same scores as actif, different cost.
``ig``, ``deeplift``, ``gradientshap``, ``ixg``, ``ablation``
    Captum's IntegratedGradients (n_steps=50, internal_batch_size), DeepLift,
    GradientShap, InputXGradient and FeatureAblation (one feature group per input
    feature across the window, all I perturbations in one batch) on
    ``torch_module_from_spec(spec)``; per-window attributions (N, T, I) reduced to
    ``mean over windows of sum over steps of |attribution|``.
``shap``
    SHAP's GradientExplainer (expected gradients), reduced the same way.
``random:<seed>``
    a random ranking (the floor every method must beat).

IG, DeepLift and FeatureAblation use the training mean of each feature as the baseline
(read from the model's folded normalisation: it maps to a normalised zero), as actif's
``integrated`` and ``occlusion`` do by default; GradientShap and SHAP use a background
sample of training windows. Every targeted method attributes one output (``target``,
default 0: a classifier's class logit).

:func:`time_methods` measures what each method costs per window on one thread, for the
cost-faithfulness plots every faithfulness suite draws.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
import warnings
from typing import Any, Sequence

import numpy as np

import actif
from actif.attribution import METHODS
from actif.model_spec import ModelSpec
from actif.stats import SCORE_METHODS, scores
from actif.traces import TRACES

# The attributions of one chosen output (issue 11): a reverse pass (gradient x input,
# integrated gradients) or batched forwards (occlusion); the forward-only traces have no target.
TARGETED_TRACES = METHODS


def actif_traces() -> tuple[str, ...]:
    """Every trace actif offers, forward-only first."""
    return TRACES


# Integrated gradients on a device: as many Gauss-Legendre nodes as the model needs for
# its attributions to add up (actif.choose_n_steps on the suite's training windows, within
# 5 %), instead of Captum's fixed 50. Measured as a mode of its own.
EDGE_IG_MODE = "integrated@auto"
MODE_STEPS = "@"  # "integrated@auto", "integrated@8": a trace with its node count


def actif_modes() -> tuple[str, ...]:
    """Every mode the suites measure: each trace at its defaults (integrated gradients at
    Captum's step count), then integrated gradients with the node count chosen per model."""
    return (*actif_traces(), EDGE_IG_MODE)


def mode_options(mode: str) -> tuple[str, dict[str, Any]]:
    """A mode's trace and the options beyond the suites' defaults: ``"integrated@8"`` ->
    ``("integrated", {"n_steps": 8})``, ``"integrated@auto"`` -> ``n_steps="auto"``; a bare
    trace -> ``(trace, {})``."""
    trace, _, steps = mode.partition(MODE_STEPS)
    if not steps:
        return trace, {}
    return trace, {"n_steps": steps if steps == "auto" else int(steps)}


def mode_of(method: str) -> str:
    """The mode of an ``actif:<mode>/<aggregation>`` key."""
    return method.split(":", 1)[1].split("/")[0]


ACTIF_VARIANTS = [f"actif:{m}/{a}" for m in actif_modes() for a in SCORE_METHODS]
# actif's defaults (chosen by these very suites), DeepACTIF's inverse-weighted score on
# the same trace, and the published code's reading of hidden units as features.
DEFAULT_ACTIF = f"actif:{actif.DEFAULT_TRACE}/{actif.stats.DEFAULT_AGGREGATION}"
DEEPACTIF_SCORE = "actif:weighted/inverse"
PUBLISHED_ACTIF = "actif:paper/inverse"  # hidden unit j read as feature j, as the published code
HEADLINE_ACTIF = tuple(dict.fromkeys((DEFAULT_ACTIF, DEEPACTIF_SCORE, PUBLISHED_ACTIF)))
# The two actif scorings every summary names, with how it names them.
NAMED_ACTIF = (("actif default", DEFAULT_ACTIF), ("DeepACTIF score", DEEPACTIF_SCORE))
# Every Captum/SHAP method the suites compare with (the "baselines")
BASELINES = ("ig", "deeplift", "gradientshap", "shap", "ixg", "ablation")
LABELS = {
    "reference": "reference-style DeepACTIF (PyTorch hooks, keeps every activation)",
    "ig": "Captum IntegratedGradients",
    "deeplift": "Captum DeepLift",
    "gradientshap": "Captum GradientShap",
    "shap": "SHAP GradientExplainer",
    "ixg": "Captum InputXGradient",
    "ablation": "Captum FeatureAblation",
}
IG_STEPS = 50
GRADIENTSHAP_SAMPLES = 20
SHAP_SAMPLES = 200
BACKGROUND_WINDOWS = 100
# Captum IG's internal batch: every step of a batch of windows in one pass, up to this
# many interpolated windows (the fastest setting we measured that stays within memory)
IG_INTERNAL_ROWS = 8192

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


def actif_explainer(model: Any, mode: str, *, target: int = 0, calibration: np.ndarray | None = None) -> Any:
    """actif's Explainer for one mode (:func:`mode_options`): the targeted attributions
    explain output ``target`` (integrated gradients with Captum's step count unless the
    mode names one; ``auto``: :func:`actif.choose_n_steps` on the ``calibration``
    windows), from actif's default baseline (the training means, as :func:`training_mean`)."""
    trace, options = mode_options(mode)
    if trace not in TARGETED_TRACES:
        return actif.Explainer(model, trace=trace, **options)
    options = {"target": target, **options}
    if trace == "integrated":
        options.setdefault("n_steps", IG_STEPS)
        if options["n_steps"] == "auto":
            if calibration is None:
                raise ValueError(f"mode {mode!r} chooses its node count on calibration windows: none given")
            options["n_steps"] = chosen_n_steps(model, calibration, target)
    return actif.Explainer(model, trace=trace, **options)


# (model fingerprint, target, calibration windows' digest) -> the count choose_n_steps picked:
# a suite asks for the same model's count once per unit and again to time it
_CHOSEN: dict[tuple[str, int, str], int] = {}


def chosen_n_steps(model: Any, calibration: np.ndarray, target: int) -> int:
    """:func:`actif.choose_n_steps` of ``model`` on ``calibration`` for ``target``, run
    once per model, target and calibration windows (deterministic, so kept)."""
    from actif.checkpoint import model_fingerprint

    windows = np.ascontiguousarray(calibration, np.float32)
    key = (model_fingerprint(model.spec), int(target), hashlib.sha256(repr(windows.shape).encode() + windows.tobytes()).hexdigest())
    if key not in _CHOSEN:
        _CHOSEN[key] = actif.choose_n_steps(model, windows, target=target).n_steps
    return _CHOSEN[key]


def actif_scores_all(spec: ModelSpec, X: np.ndarray, modes: Sequence[str] | None = None, backend: str = "cpp",
                     *, target: int = 0, calibration: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Scores of every ``actif:<mode>/<aggregation>`` from one pass per mode
    (``calibration``: the windows a mode that chooses its node count chooses it on)."""
    model = actif.Model(spec, backend if backend in actif.available_backends() else "auto", max_abs=None)
    out = {}
    for mode in actif_modes() if modes is None else modes:
        if mode_options(mode)[0] == "paper" and spec.hidden_size < spec.input_size:
            continue
        stats = actif_explainer(model, mode, target=target, calibration=calibration).attribute(X).stats
        for agg in SCORE_METHODS:
            out[f"actif:{mode}/{agg}"] = scores(stats, agg)
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


@contextlib.contextmanager
def denormals_flushed():
    """PyTorch at its fastest: denormal floats flushed to zero on this thread while the
    block runs, then PyTorch's default (kept) restored, so no training that follows
    inherits the setting. On an Intel Xeon host, denormals in the bundled model's reverse
    pass slow Captum down several-fold (benchmarks/bench_timing_conditions.py measures
    it); the values flushed are below 1.2e-38, far under every tolerance the suites use."""
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def gradient_attributions(
    method: str,
    module: Any,
    X: np.ndarray,
    *,
    baseline: np.ndarray,
    background: np.ndarray,
    seed: int = 0,
    batch_size: int = 512,
    target: int = 0,
) -> np.ndarray:
    """Per-window attributions (N, T, I) of one baseline method of output ``target``, in
    batches of ``batch_size`` windows (Captum's internal batching on: IG runs all its
    steps of a batch in one pass, FeatureAblation all I perturbations)."""
    import torch

    torch.manual_seed(seed)
    parts = []
    base = torch.from_numpy(np.broadcast_to(baseline, X.shape[1:]).astype(np.float32)[None])
    bg = torch.from_numpy(np.ascontiguousarray(background, np.float32))
    n_in = X.shape[-1]
    if method == "shap":
        import shap

        explainer = shap.GradientExplainer(module, bg)
    else:
        from captum.attr import (
            DeepLift,
            FeatureAblation,
            GradientShap,
            InputXGradient,
            IntegratedGradients,
        )

        explainer = {"ig": IntegratedGradients, "deeplift": DeepLift, "gradientshap": GradientShap,
                     "ixg": InputXGradient, "ablation": FeatureAblation}[method](module)
    # FeatureAblation: feature j is one group over the whole window
    mask = torch.arange(n_in).expand(1, X.shape[1], n_in)
    with denormals_flushed():
        for start in range(0, len(X), batch_size):
            parts.append(_baseline_batch(method, explainer, X[start : start + batch_size], base, bg, mask, seed + start, target))
    return np.concatenate(parts) if parts else np.zeros((0, *X.shape[1:]))


def _baseline_batch(method: str, explainer: Any, X: np.ndarray, base: Any, bg: Any, mask: Any, rseed: int,
                    target: int) -> np.ndarray:
    """One batch of a baseline method's attributions (N, T, I)."""
    import torch

    xb = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    if method != "ablation":
        xb.requires_grad_(True)
    if method == "ig":
        a = explainer.attribute(xb, baselines=base.expand_as(xb), target=target, n_steps=IG_STEPS,
                                internal_batch_size=min(len(xb) * IG_STEPS, IG_INTERNAL_ROWS))
    elif method == "deeplift":
        # Captum announces on every call that it hooks the model's nonlinearities
        # for the duration of the attribution; it is information, not a fault.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks",
                                    category=UserWarning)
            a = explainer.attribute(xb, baselines=base.expand_as(xb), target=target)
    elif method == "gradientshap":
        a = explainer.attribute(xb, baselines=bg, target=target, n_samples=GRADIENTSHAP_SAMPLES)
    elif method == "ixg":
        a = explainer.attribute(xb, target=target)
    elif method == "ablation":
        with torch.no_grad():
            a = explainer.attribute(xb, baselines=base.expand_as(xb), target=target, feature_mask=mask,
                                    perturbations_per_eval=X.shape[-1])
    else:
        a = explainer.shap_values(xb, nsamples=SHAP_SAMPLES, rseed=rseed)
        # a multi-output model: a list per output (older SHAP) or outputs last (newer)
        a = a[target] if isinstance(a, list) else a[..., target] if np.ndim(a) == xb.ndim + 1 else a
    arr = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    return arr.reshape(xb.shape)


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
    target: int = 0,
) -> dict[str, np.ndarray]:
    """Global scores (I,) of each method on windows ``X``, explaining output ``target``
    (the forward-only traces have no target: they read the whole hidden state).
    ``background``: training windows (GradientShap's and SHAP's background, and what
    ``integrated@auto`` chooses its node count on)."""
    out: dict[str, np.ndarray] = {}
    actif_wanted = [m for m in methods if m.startswith("actif:")]
    if actif_wanted:
        modes = list(dict.fromkeys(mode_of(m) for m in actif_wanted))
        allv = actif_scores_all(spec, X, modes, backend, target=target, calibration=background)
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
        elif m in BASELINES:
            out[m] = global_importance(gradient_attributions(
                m, module, X, baseline=training_mean(spec), background=background, seed=seed, target=target))
        else:
            raise ValueError(f"unknown method {m!r}")
    return out


# --------------------------------------------------------------------------- cost


def cost_key(method: str) -> str:
    """What a method's cost depends on: actif's aggregations share one pass of a trace."""
    return method.rsplit("/", 1)[0] if method.startswith("actif:") else method


def time_methods(
    methods: Sequence[str],
    spec: ModelSpec,
    X: np.ndarray,
    background: np.ndarray,
    *,
    repeats: int = 3,
    target: int = 0,
) -> dict[str, float]:
    """Median µs per window of each method attributing all of ``X`` on one thread (actif
    on its compiled backend, torch with one thread), repetitions interleaved across
    methods so machine noise hits all alike. Each timed call comes right after an untimed
    call of the same method on the same windows: what is timed is the method's steady
    cost on a stream, not the first call after other work, which on the virtual machines
    we measure on is slower for every engine (bench_timing_conditions.py measures by how
    much). Random rankings cost
    nothing and are left out. ``integrated@auto`` chooses its node count on
    ``background`` first, once, outside the timing (a set-up before deployment)."""
    module = torch_module(spec, threads=1) if any(not m.startswith(("actif:", "random:")) for m in methods) else None
    model = actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", max_abs=None, num_threads=1)
    calls: dict[str, Any] = {}  # key -> a function of the windows
    for m in methods:
        key = cost_key(m)
        if key in calls or m.startswith("random:"):
            continue
        if key.startswith("actif:"):
            calls[key] = actif_explainer(model, key.split(":", 1)[1], target=target, calibration=background).attribute
        elif key.startswith("reference:"):
            trace, agg = key.split(":", 1)[1].split("/")
            calls[key] = functools.partial(_reference_run, module, trace, agg)
        else:
            calls[key] = functools.partial(_baseline_run, key, module, baseline=training_mean(spec), background=background,
                                           target=target)
    seconds: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            call(X)  # untimed: the same call just before, so the timed one runs warm
            t0 = time.perf_counter()
            call(X)
            seconds[key].append(time.perf_counter() - t0)
    per_key = {k: float(np.median(v)) * 1e6 / len(X) for k, v in seconds.items()}
    return {m: per_key[cost_key(m)] for m in methods if cost_key(m) in per_key}


def _baseline_run(method: str, module: Any, X: np.ndarray, **options: Any) -> np.ndarray:
    return gradient_attributions(method, module, X, **options)


def _reference_run(module: Any, trace: str, aggregation: str, X: np.ndarray) -> np.ndarray:
    ref = ReferenceDeepACTIF(module, trace, aggregation)
    try:
        return ref.run(X)
    finally:
        ref.close()


# ------------------------------------------------------------ cost-faithfulness plots

SHORT = {"ig": "Captum IG", "deeplift": "Captum DeepLift", "gradientshap": "Captum GradientShap", "shap": "SHAP",
         "ixg": "Captum InputXGradient", "ablation": "Captum FeatureAblation"}


TARGETED_FAMILY = "actif, targeted (gradient / DeepLIFT / IG / occlusion / LRP)"
FAMILY_COLORS = {"actif, forward-only traces": "#d95f02", TARGETED_FAMILY: "#1b9e77",
                 "Captum / SHAP": "#7570b3", "reference-style DeepACTIF": "#666666"}


def family(method: str) -> str:
    """The legend group of a method on the cost-faithfulness plots."""
    if method.startswith("actif:"):
        return TARGETED_FAMILY if mode_options(mode_of(method))[0] in TARGETED_TRACES else "actif, forward-only traces"
    if method in BASELINES:
        return "Captum / SHAP"
    if method.startswith("reference:"):
        return "reference-style DeepACTIF"
    return "random"


def short_label(method: str) -> str:
    if method.startswith("actif:"):
        return method.split(":", 1)[1]
    return SHORT.get(method, label(method))


def on_cost_plot(method: str) -> bool:
    """The plots show every actif mode (trace) with the default aggregation, DeepACTIF's
    score, and every baseline; the other aggregations of a trace cost the same."""
    if method.startswith("actif:"):
        return method.endswith("/" + actif.stats.DEFAULT_AGGREGATION) or method == DEEPACTIF_SCORE
    return method in BASELINES


def cost_faithfulness_plot(file: str, rows: Sequence[dict], y: str, yerr: str | None, ylabel: str, title: str,
                           random_level: float | None = None) -> dict:
    """The plot description (actif.lab.report's "scatter" kind) of µs per window (log)
    against a faithfulness figure, one labelled point per method; ``rows`` carry
    ``us_per_window``, ``y``, ``short`` and ``family``. Shown in the README too."""
    plot = {"kind": "scatter", "file": file, "x": "us_per_window", "y": y, "label": "short", "series": "family",
            "rows": [dict(r) for r in rows], "logx": True, "readme": True, "colors": FAMILY_COLORS,
            "xlabel": "µs per window, one thread (log scale)", "ylabel": ylabel, "title": title}
    if yerr:
        plot["yerr"] = yerr
    if random_level is not None:
        plot["hlines"] = [{"y": random_level, "label": "random ranking"}]
    return plot

"""The attribution methods (gradient x input, integrated gradients, occlusion).

The float64 NumPy reverse pass is checked against central finite differences; the
references of the methods built on it are checked against Captum on the equivalent
PyTorch module (float64 for the oracle, float32 for every backend); then every backend
against the reference, integrated gradients' completeness, streaming against batch,
the stateful definition against the reference from the carried state, and that a
rejected input changes nothing.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import actif
from actif.attribution import (
    IG_METHODS,
    METHODS,
    default_baseline,
    ig_nodes,
    input_gradient,
    lrp_relevance,
)
from actif.constants import TOLERANCES
from actif.model_spec import random_spec
from actif.reference import apply_activation
from conftest import backend_variants, variant_id

PREDICTION_RTOL, PREDICTION_ATOL = TOLERANCES["prediction"]  # constants.json

POOLINGS = ("last", "mean", "max")
ACTIVATIONS = ("identity", "relu", "elu", "tanh", "sigmoid")
VARIANTS = [("numpy", None), *backend_variants()]
# max |error| / max |reference| of a float32 engine against the float64 reference
RTOL32 = 1e-4
# The methods Captum has for this module (its LRP has no rule for nn.LSTM)
CAPTUM_METHODS = ("gradient", "deeplift", "integrated", "occlusion")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These are many tiny problems: one BLAS and one torch thread each is fastest, and
    avoids thread contention on a loaded machine."""
    import contextlib
    import importlib.util

    with contextlib.ExitStack() as stack:
        if importlib.util.find_spec("threadpoolctl"):
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(1))
        if importlib.util.find_spec("torch"):
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, before)
        yield


@pytest.fixture(params=VARIANTS, ids=[variant_id(v) for v in VARIANTS])
def variant(request):
    name, isa = request.param
    if isa is None:
        yield name
        return
    from actif.backends.cpp import set_isa

    set_isa(isa)
    try:
        yield name
    finally:
        set_isa("auto")


def rel_err(got, want) -> float:
    want = np.asarray(want, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


def spec_case(pooling="mean", activation="tanh", layers=2, hidden=6, n_in=4, outputs=3, seed=0, window=10):
    return random_spec(
        n_in, hidden, outputs, pooling=pooling, num_layers=layers, activation=activation, output_activation=activation,
        dense_sizes=(5,), batchnorm=True, normalization=True, window=window, seed=seed,
    )


def random_state(spec, n, rng):
    return [(0.5 * rng.normal(size=(n, h)), 0.5 * rng.normal(size=(n, h))) for h in spec.hidden_sizes]


# ------------------------------------------------------------------ the float64 reference


def central_differences(spec, X, target, state, eps=1e-6):
    out = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += eps
        down[idx] -= eps
        y_up = input_gradient(spec, up, target, state)[0]
        y_down = input_gradient(spec, down, target, state)[0]
        out[idx] = (y_up[idx[0], target] - y_down[idx[0], target]) / (2 * eps)
    return out


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_matches_finite_differences(pooling, activation, rng):
    spec = spec_case(pooling, activation, layers=2, hidden=4, n_in=3, seed=len(pooling) + len(activation))
    X = rng.normal(size=(2, 4, 3))
    for target, state in ((2, None), (1, random_state(spec, 2, rng))):
        y, grad = input_gradient(spec, X, target, state)
        assert y.shape == (2, 3) and grad.shape == X.shape and grad.dtype == np.float64
        fd = central_differences(spec, X, target, state)
        assert rel_err(grad, fd) < 1e-6, (pooling, activation, target)


def test_gradient_without_affines_or_head_matches_finite_differences(rng):
    """No input affine, no folded BN, no dense layer: y is the pooled top-layer h."""
    spec = random_spec(3, [5, 2], 2, pooling="last", num_layers=2, dense_sizes=(), batchnorm=False, seed=4)
    spec.dense = []
    spec.validate()
    X = rng.normal(size=(2, 3, 3))
    for target in (0, 1):
        assert rel_err(input_gradient(spec, X, target)[1], central_differences(spec, X, target, None)) < 1e-6


def test_gradient_targets_per_window(rng):
    spec = spec_case(outputs=3)
    X = rng.normal(size=(3, 5, 4))
    _, per = input_gradient(spec, X, np.array([0, 2, 1]))
    for n, t in enumerate((0, 2, 1)):
        np.testing.assert_allclose(per[n], input_gradient(spec, X[n : n + 1], t)[1][0], rtol=1e-12, atol=1e-15)


def test_initial_state_truncates_the_gradient(rng):
    """From a state, the prediction equals the continued forward; the gradient reaches
    only the window's own samples."""
    spec = spec_case(pooling="last", layers=2)
    X = rng.normal(size=(1, 8, 4)).astype(np.float32).astype(np.float64)  # the model's inputs are float32
    ref = actif.Model(spec, "numpy")
    state = ref.new_state(1)
    for t in range(8):
        y_cont, _ = ref.step(X[:, t], state)
        if t == 4:
            init = [(h.copy(), c.copy()) for h, c in zip(state.h, state.c)]
    y, grad = input_gradient(spec, X[:, 5:], 0, init)
    np.testing.assert_allclose(y, y_cont, rtol=1e-12)
    # from a state, the gradient is the derivative with that state held fixed
    fd = central_differences(spec, X[:, 5:], 0, init)
    assert rel_err(grad, fd) < 1e-6
    assert grad.shape == (1, 3, 4)


@pytest.mark.parametrize("backend", actif.available_backends())
def test_a_backend_casts_its_spec_once(backend):
    # the generic attribution path asks for the float64 weights on every call
    spec = random_spec(5, 8, 1, seed=2)
    engine = actif.Model(spec, backend).backend
    cast = engine.spec_in(np.float64)
    assert cast is engine.spec_in(np.float64) and cast.lstm[0].w_ih.dtype == np.float64
    np.testing.assert_array_equal(cast.lstm[0].w_ih, spec.lstm[0].w_ih)
    assert engine.spec_in(np.float32).lstm[0].w_hh.dtype == np.float32


def test_default_baseline_is_the_normalised_zero():
    spec = spec_case()
    b = default_baseline(spec)
    np.testing.assert_allclose(b * spec.input_scale + spec.input_shift, 0.0, atol=1e-6)
    spec.input_scale[1] = 0.0  # a feature the model ignores: baseline 0, no division by zero
    assert default_baseline(spec)[1] == 0.0
    assert np.array_equal(default_baseline(random_spec(3, 4, normalization=False)), np.zeros(3))


def test_ig_nodes_are_quadratures():
    for method in IG_METHODS:
        alphas, weights = ig_nodes(8, method)
        assert alphas.shape == weights.shape == (8,)
        assert np.all((alphas >= 0) & (alphas <= 1))
        # Captum's trapezoid rule halves the end weights of n equal steps of 1/n (not 1/(n-1))
        assert weights.sum() == pytest.approx(7 / 8 if method == "riemann_trapezoid" else 1.0)
        if method in ("gausslegendre", "riemann_middle"):  # exact on a line over [0, 1]
            assert weights @ alphas == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n_steps >= 2"):
        ig_nodes(1, "riemann_left")
    with pytest.raises(ValueError, match="ig_method"):
        ig_nodes(4, "simpson")
    with pytest.raises(ValueError, match="n_steps"):
        ig_nodes(0)


def test_ig_nodes_match_captum():
    pytest.importorskip("torch")
    approximation = pytest.importorskip("captum.attr._utils.approximation_methods")
    for method in IG_METHODS:
        for n in (2, 7, 50):
            step_sizes, alphas = approximation.approximation_parameters(method)
            a, w = ig_nodes(n, method)
            np.testing.assert_allclose(a, alphas(n), atol=1e-7)  # Captum's Riemann nodes pass through float32
            np.testing.assert_allclose(w, step_sizes(n), atol=1e-12)


# ------------------------------------------------------------------ Captum


def captum_attribution(module, X, method, target, baseline, n_steps=20, ig_method="gausslegendre"):
    import torch
    from captum.attr import DeepLift, FeatureAblation, InputXGradient, IntegratedGradients

    dtype = next(module.parameters()).dtype
    x = torch.tensor(X, dtype=dtype)
    b = torch.tensor(np.broadcast_to(baseline, X.shape).copy(), dtype=dtype)
    if method == "gradient":
        out = InputXGradient(module).attribute(x.requires_grad_(), target=target)
    elif method == "deeplift":
        with warnings.catch_warnings():  # Captum announces the hooks it sets on every call
            warnings.simplefilter("ignore", UserWarning)
            out = DeepLift(module).attribute(x.requires_grad_(), b, target=target)
    elif method == "integrated":
        out = IntegratedGradients(module).attribute(x, b, target=target, n_steps=n_steps, method=ig_method)
    else:
        n_in = X.shape[-1]
        mask = torch.arange(n_in).expand(1, X.shape[1], n_in)  # one group per feature, across time
        out = FeatureAblation(module).attribute(x, b, target=target, feature_mask=mask)
    return out.detach().numpy().astype(np.float64)


CAPTUM_CASES = [  # (pooling, activation, layers, hidden)
    ("last", "relu", 1, 1),
    ("mean", "elu", 2, 7),
    ("max", "tanh", 1, 8),
    ("last", "sigmoid", 2, 9),
    ("mean", "identity", 1, 65),
]


@pytest.mark.parametrize("case", CAPTUM_CASES, ids=lambda c: "-".join(map(str, c)))
def test_reference_equals_captum_in_float64(case, rng):
    torch = pytest.importorskip("torch")
    pytest.importorskip("captum")
    from actif.interchange.torch_module import torch_module_from_spec

    pooling, activation, layers, hidden = case
    spec = spec_case(pooling, activation, layers, hidden, seed=hidden)
    module = torch_module_from_spec(spec, torch.float64)
    ref = actif.Model(spec, "numpy").backend  # float64
    X = rng.normal(size=(3, 6, 4))
    base = default_baseline(spec)
    for method in CAPTUM_METHODS:
        for ig_method in ("gausslegendre", "riemann_trapezoid") if method == "integrated" else ("gausslegendre",):
            got = ref.attribute(X, method, target=2, n_steps=16, ig_method=ig_method).values
            want = captum_attribution(module, X, method, 2, base, 16, ig_method)
            # Captum rounds the quadrature weights (and its Riemann nodes) to float32
            assert rel_err(got, want) < (1e-6 if method == "integrated" else 1e-10), (method, ig_method)
    # the completeness error is Captum's convergence delta: sum(A) - (y(x) - y(b))
    from captum.attr import IntegratedGradients

    b = torch.tensor(np.broadcast_to(base, X.shape).copy())
    _, delta = IntegratedGradients(module).attribute(torch.tensor(X), b, target=2, n_steps=4, return_convergence_delta=True)
    got = ref.attribute(X, "integrated", target=2, n_steps=4).delta
    np.testing.assert_allclose(got, delta.numpy(), rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("case", CAPTUM_CASES, ids=lambda c: "-".join(map(str, c)))
def test_backends_equal_captum_in_float32(variant, case, rng):
    torch = pytest.importorskip("torch")
    pytest.importorskip("captum")
    from actif.interchange.torch_module import torch_module_from_spec

    pooling, activation, layers, hidden = case
    spec = spec_case(pooling, activation, layers, hidden, seed=hidden)
    module = torch_module_from_spec(spec, torch.float32)
    module64 = torch_module_from_spec(spec, torch.float64)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(4, 6, 4)).astype(np.float32)
    base = default_baseline(spec).astype(np.float32)
    for method in CAPTUM_METHODS:
        got = model.backend.attribute(X, method, target=1, n_steps=16, ig_method="riemann_middle")
        # Captum's DeepLift in float32 divides two rounded differences, which loses every
        # digit where the input and the baseline pre-activations are close; actif takes
        # the divided difference accurately, so it is held to Captum's float64 answer.
        want = captum_attribution(module64 if method == "deeplift" else module, X, method, 1, base, 16, "riemann_middle")
        assert got.values.shape == X.shape
        err = np.abs(got.values - want).max()
        bound = RTOL32 * np.abs(want).max()
        if method == "occlusion":
            # a difference of two float32 predictions: where the effects are far smaller
            # than y, both sides' rounding of y (a few ulps) dominates
            bound += 4 * np.finfo(np.float32).eps * np.abs(got.y[:, 1]).max()
        assert err <= bound, (method, err, bound)
    model.close()


# ------------------------------------------------------------------ every backend against the reference


def reference_attribution(spec, X, method, target, base, state=None, n_steps=16, ig_method="gausslegendre"):
    """The methods built from input_gradient and its forward alone (float64); deeplift
    from the float64 NumPy backend (checked against Captum's DeepLift in float64 above);
    lrp from its float64 reference (checked below by conservation and a plain loop)."""
    X = np.asarray(X, np.float64)
    base = np.broadcast_to(base, X.shape)
    if method == "gradient":
        return X * input_gradient(spec, X, target, state)[1]
    if method == "lrp":
        return lrp_relevance(spec, X, target, state)[1]
    if method == "deeplift":
        numpy_backend = actif.Model(spec, "numpy").backend
        return numpy_backend.attribute(X, method, target=target, baseline=base, initial_state=state).values
    if method == "integrated":
        alphas, weights = ig_nodes(n_steps, ig_method)
        grads = [input_gradient(spec, base + a * (X - base), target, state)[1] for a in alphas]
        return (X - base) * np.tensordot(weights, np.stack(grads), axes=1)
    y = input_gradient(spec, X, target, state)[0][:, target]
    out = np.empty_like(X)
    for j in range(X.shape[-1]):
        ablated = X.copy()
        ablated[..., j] = base[..., j]
        out[..., j] = (y - input_gradient(spec, ablated, target, state)[0][:, target])[:, None]
    return out


@pytest.mark.parametrize("method", METHODS)
def test_backends_match_reference(variant, method, rng):
    spec = spec_case("max", "elu", layers=2, hidden=9, seed=3)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(5, 7, 4)).astype(np.float32)
    base = default_baseline(spec)
    res = model.backend.attribute(X, method, target=np.array([0, 1, 2, 0, 1]), n_steps=16)
    want = np.concatenate([reference_attribution(spec, X[n : n + 1], method, t, base) for n, t in enumerate((0, 1, 2, 0, 1))])
    assert rel_err(res.values, want) <= (1e-10 if variant == "numpy" else RTOL32)
    np.testing.assert_allclose(res.y, actif.Model(spec, "numpy").predict(X), rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL)
    assert (res.delta is not None) == (method == "integrated")
    model.close()


@pytest.mark.parametrize("method", METHODS)
def test_backends_from_an_initial_state_match_reference(variant, method, rng):
    spec = spec_case("mean", "tanh", layers=2, hidden=8, seed=5, window=6)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(3, 5, 4)).astype(np.float32)
    state = [(h.astype(np.float32), c.astype(np.float32)) for h, c in random_state(spec, 3, rng)]
    res = model.backend.attribute(X, method, target=2, n_steps=8, initial_state=state)
    want = reference_attribution(spec, X, method, 2, default_baseline(spec), state, n_steps=8)
    assert rel_err(res.values, want) <= (1e-10 if variant == "numpy" else RTOL32)
    with pytest.raises(ValueError, match="at most the model's window"):  # mean pooling over a stream's window
        model.backend.attribute(rng.normal(size=(1, 7, 4)).astype(np.float32), method, initial_state=[(h[:1], c[:1]) for h, c in state])
    model.close()


def test_integrated_gradients_completeness(variant, rng):
    spec = spec_case("last", "tanh", layers=2, hidden=8, seed=6)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(4, 6, 4)).astype(np.float32)
    deltas = {}
    for n_steps in (2, 8, 64):
        res = model.backend.attribute(X, "integrated", target=1, n_steps=n_steps)
        deltas[n_steps] = np.abs(res.delta).max()
        np.testing.assert_allclose(res.values.reshape(4, -1).sum(1) - res.delta,
                                   res.y[:, 1] - model.predict(np.broadcast_to(default_baseline(spec), X.shape))[:, 1],
                                   rtol=1e-3, atol=1e-5)
    scale = np.abs(res.values.reshape(4, -1).sum(1)).max()
    assert deltas[64] < deltas[2]
    assert deltas[64] <= (1e-9 if variant == "numpy" else 1e-4) * max(scale, 1e-3)
    model.close()


# ------------------------------------------------------------------ the explainers


@pytest.mark.parametrize("method", METHODS)
def test_explainer_feeds_abs_and_signed_statistics(method, rng):
    spec = spec_case(seed=7, window=5)  # the explainers take windows of the model's length
    model = actif.Model(spec, "numpy")
    X = rng.normal(size=(9, 5, 4)).astype(np.float32)
    ex = actif.Explainer(model, method, target=2, n_steps=8, batch_size=4)
    res = ex.attribute(X)
    A = ex.attribute_steps(X).reshape(-1, 4).astype(np.float64)
    assert res.stats.count == res.signed_stats.count == 9 * 5
    np.testing.assert_allclose(res.stats.mean, np.abs(A).mean(0), rtol=1e-10)
    np.testing.assert_allclose(res.signed_mean, A.mean(0), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ex.attribute_windows(X), ex.attribute_steps(X).sum(axis=1), rtol=1e-12)
    values, delta = ex.attribute_steps(X, return_convergence_delta=True)
    assert (delta is not None) == (method == "integrated")
    doc = res.to_dict()
    assert all("signed_mean" in f for f in doc["features"])
    forward = actif.Explainer(model, "weighted").attribute(X)
    assert forward.signed_mean is None and all("signed_mean" not in f for f in forward.to_dict()["features"])


def test_target_and_baseline_options(rng):
    spec = spec_case(outputs=3, window=5)
    model = actif.Model(spec, "numpy")
    X = rng.normal(size=(2, 5, 4)).astype(np.float32)
    ex = actif.Explainer(model, "integrated", target=1, baseline=np.ones(4), n_steps=8)
    np.testing.assert_allclose(ex.attribute_steps(X), reference_attribution(spec, X, "integrated", 1, np.ones(4), n_steps=8), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(ex.attribute_steps(X, target=0, baseline=0.0),
                               reference_attribution(spec, X, "integrated", 0, np.zeros(4), n_steps=8), rtol=1e-9, atol=1e-14)
    with pytest.raises(ValueError, match="out of range"):
        actif.Explainer(model, "gradient", target=3)
    with pytest.raises(ValueError, match="out of range"):
        ex.attribute_steps(X, target=-1)
    with pytest.raises(ValueError, match="target must be"):
        actif.Explainer(model, "gradient", target=1.5)
    with pytest.raises(ValueError, match="NaN"):
        actif.Explainer(model, "occlusion", baseline=[0, np.nan, 0, 0])
    with pytest.raises(ValueError, match="input limit"):
        actif.Explainer(model, "occlusion", baseline=np.full(4, 1e30))
    with pytest.raises(ValueError, match="shape"):
        actif.Explainer(model, "occlusion", baseline=np.zeros(3))
    far = spec_case(outputs=3, window=5)
    far.input_scale[0] = 1e-30  # the raw value normalised to 0 is astronomically far away
    with pytest.raises(ValueError, match="default baseline"):
        actif.Explainer(actif.Model(far, "numpy"), "integrated")
    actif.Explainer(actif.Model(far, "numpy"), "integrated", baseline=0.0)
    with pytest.raises(ValueError, match="takes no target"):
        actif.Explainer(model, "weighted", target=1)
    with pytest.raises(ValueError, match="not computed by a forward pass"):
        model.forward(X, trace="gradient")


def test_classifier_targets_per_class(rng):
    """A classifier with one logit per class: each class attributed on its own."""
    spec = spec_case(outputs=4, activation="identity", window=5)
    model = actif.Model(spec, "numpy")
    X = rng.normal(size=(3, 5, 4)).astype(np.float32)
    per_class = [actif.Explainer(model, "gradient", target=c).attribute_steps(X) for c in range(4)]
    chosen = actif.Explainer(model, "gradient", target=np.array([3, 0, 2])).attribute_steps(X)
    for n, c in enumerate((3, 0, 2)):
        np.testing.assert_array_equal(chosen[n], per_class[c][n])
    assert not np.allclose(per_class[0], per_class[1])


@pytest.mark.parametrize("method", METHODS)
def test_streaming_windows_equal_batch(variant, method, rng):
    spec = spec_case("last", "relu", seed=8, window=5)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(10, 5, 4)).astype(np.float32)
    batch = actif.Explainer(model, method, target=1, n_steps=8).attribute(X)
    stream = actif.StreamingExplainer(model, method, target=1, n_steps=8)
    for chunk in (X[:3], X[3], X[4:]):
        stream.update(chunk)
    got = stream.result()
    assert got.stats.count == batch.stats.count == 50
    # the same windows give the same attributions; TFLite's kernels, and the float32 BLAS
    # products of lrp's NumPy reverse on the float32 engines, round differently for
    # different batch sizes, so there only float32 agreement holds
    rtol = 1e-5 if variant == "tflite" or (method == "lrp" and variant not in ("numpy", "cpp")) else 1e-9
    np.testing.assert_allclose(got.stats.mean, batch.stats.mean, rtol=rtol)
    np.testing.assert_allclose(got.signed_mean, batch.signed_mean, rtol=10 * rtol, atol=1e-15)
    model.close()


@pytest.mark.parametrize("method", METHODS)
def test_stateful_attributes_the_last_window_from_the_carried_state(variant, method, rng):
    """Each sample's prediction attributed to the last T samples from the state carried
    into the oldest of them, compared with the reference on that same window."""
    spec = spec_case("max", "tanh", layers=2, hidden=6, seed=9, window=4)
    model = actif.Model(spec, variant)
    samples = rng.normal(size=(9, 4)).astype(np.float32)
    stream = actif.StreamingExplainer(model, method, stateful=True, target=2, n_steps=8)
    ys = [stream.update(s) for s in samples[:3]] + list(stream.update(samples[3:]))
    # the reference: states from the float64 model stepped from zero
    ref = actif.Model(spec, "numpy")
    state, carried, y_ref = ref.new_state(1), [], []
    for s in samples:
        carried.append([(h.copy(), c.copy()) for h, c in zip(state.h, state.c)])
        y_ref.append(ref.step(s, state)[0][0])
    rows = []
    for s in range(len(samples)):
        first = max(0, s - 3)
        rows.append(reference_attribution(spec, samples[None, first : s + 1], method, 2, default_baseline(spec), carried[first], n_steps=8)[0])
    A = np.concatenate(rows)
    assert stream.stats.count == len(A) == 1 + 2 + 3 + 4 * 6
    tol = 1e-9 if variant == "numpy" else RTOL32
    assert rel_err(stream.stats.mean, np.abs(A).mean(0)) <= tol
    assert rel_err(stream.result().signed_mean, A.mean(0)) <= 10 * tol
    # the stream's predictions are the model's, as without attribution
    np.testing.assert_allclose(np.stack(ys), np.stack(y_ref), rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL)
    model.close()


@pytest.mark.parametrize("method", METHODS)
def test_rejected_input_changes_nothing(variant, method, rng):
    spec = spec_case("mean", "relu", seed=10, window=3)
    model = actif.Model(spec, variant)
    good = rng.normal(size=(2, 3, 4)).astype(np.float32)
    bad = good.copy()
    bad[1, 2, 3] = np.nan
    ex = actif.Explainer(model, method, n_steps=4)
    stats, signed = actif.RunningStats(4), actif.RunningStats(4)
    ex.attribute(good, stats=stats, signed_stats=signed)
    before = stats.to_bytes(), signed.to_bytes()
    with pytest.raises(ValueError, match="NaN"):
        ex.attribute(bad, stats=stats, signed_stats=signed)
    assert (stats.to_bytes(), signed.to_bytes()) == before
    def held(stream):  # the stateful samples a stream keeps for its attributions
        return 0 if stream._history is None else stream._history.length

    for stateful, data, bad_data, usable in ((False, good, bad, bad[:1]), (True, good[0], bad[1], bad[1, :2])):
        stream = actif.StreamingExplainer(model, method, stateful=stateful, n_steps=4)
        stream.update(data)
        snap = (stream.stats.to_bytes(), stream.signed_stats.to_bytes(), held(stream), stream.n_updates)
        state = None if stream.state is None else [a.copy() for a in (*stream.state.h, *stream.state.c)]
        with pytest.raises(ValueError):
            stream.update(bad_data)
        assert (stream.stats.to_bytes(), stream.signed_stats.to_bytes(), held(stream), stream.n_updates) == snap
        if state is not None:
            assert all(np.array_equal(a, b) for a, b in zip(state, (*stream.state.h, *stream.state.c)))
        # skipping: the bad window (sample) is dropped, the others are fed as alone
        skipping = actif.StreamingExplainer(model, method, stateful=stateful, n_steps=4, on_invalid="skip")
        y = skipping.update(bad_data)
        assert skipping.skipped["non_finite"] == 1 and np.isnan(y[-1]).all() and not np.isnan(y[:-1]).any()
        alone = actif.StreamingExplainer(model, method, stateful=stateful, n_steps=4)
        alone.update(usable)
        assert skipping.stats.to_bytes() == alone.stats.to_bytes()
        assert skipping.signed_stats.to_bytes() == alone.signed_stats.to_bytes()
    model.close()


@pytest.mark.parametrize("split", [2, 5], ids=["fewer-than-window", "full-window"])
@pytest.mark.parametrize("stateful", [False, True])
@pytest.mark.parametrize("method", ["gradient", "integrated"])
def test_checkpoint_resumes_a_method_stream(variant, method, stateful, split, tmp_path, rng):
    """Interrupted at ``split`` samples (windows) and resumed from the checkpoint, a stream
    gives the bytes of one never interrupted: in stateful mode the samples it keeps for
    its attributions, and the states they started from, come back too."""
    spec = spec_case("mean", "tanh", seed=11, window=3)
    model = actif.Model(spec, variant)
    data = rng.normal(size=(7, 4) if stateful else (7, 3, 4)).astype(np.float32)
    options = dict(stateful=stateful, target=1, baseline=np.linspace(-1, 1, 4), n_steps=6, ig_method="riemann_trapezoid")
    whole = actif.StreamingExplainer(model, method, **options)
    for row in data:
        whole.update(row)
    first = actif.StreamingExplainer(model, method, **options)
    for row in data[:split]:
        first.update(row)
    path = first.checkpoint(tmp_path / "ck.bin")
    resumed = actif.StreamingExplainer.restore(path, model)
    assert resumed.method == first.method
    for row in data[split:]:
        resumed.update(row)
    assert resumed.stats.to_bytes() == whole.stats.to_bytes()
    assert resumed.signed_stats.to_bytes() == whole.signed_stats.to_bytes()
    # a forward trace's checkpoint carries no method options, and a method's needs them
    plain = actif.StreamingExplainer(model, stateful=stateful)
    plain.update(data[0])
    assert actif.StreamingExplainer.restore(plain.checkpoint(tmp_path / "plain.bin"), model).method is None
    model.close()


@pytest.mark.parametrize("method", METHODS)
def test_native_stateful_methods_equal_the_generic_path(method, monkeypatch, rng):
    """The cpp backend steps a sample and attributes it in one core call, keeping the
    samples and states in the core (as the C API's streams do); the generic path keeps
    them in Python and calls the core's attribution per sample. Same bytes: predictions,
    both statistics, and what a checkpoint keeps; also after a restore whose first
    sample started from a state that is not zero."""
    if "cpp" not in actif.available_backends():
        pytest.skip("needs the compiled core")
    from actif.backends.base import Backend, SampleHistory

    spec = spec_case("max", "elu", layers=2, hidden=9, seed=13, window=4)
    native_model, generic_model = actif.Model(spec, "cpp"), actif.Model(spec, "cpp")
    generic = generic_model.backend
    monkeypatch.setattr(generic, "new_history", lambda: SampleHistory(spec))
    monkeypatch.setattr(generic, "try_step_attribute_stats", lambda *args: None)
    monkeypatch.setattr(generic, "step_attribute_stats", functools.partial(Backend.step_attribute_stats, generic))
    samples = rng.normal(size=(11, 4)).astype(np.float32)
    options = dict(stateful=True, target=2, baseline=np.linspace(-1, 1, 4), n_steps=5)
    streams = [actif.StreamingExplainer(m, method, **options) for m in (native_model, generic_model)]
    ys = [[st.update(samples[0]), st.update(samples[1:3].tolist()), st.update(samples[3:7])] for st in streams]
    for a, b in zip(*ys):
        np.testing.assert_array_equal(a, b)

    def kept(st):
        x, h, c = st._history.held()
        return [st.stats.to_bytes(), st.signed_stats.to_bytes(), x.tobytes()] + [a.astype(np.float32).tobytes() for a in h + c]

    assert kept(streams[0]) == kept(streams[1])
    assert streams[0]._history.length == 4
    # a restore whose oldest sample did not start from zero: samples 2..4 and their states
    x, h, c = streams[1]._history.held()
    for st in streams:
        st._history.assign(x[1:], [a[1:] for a in h], [a[1:] for a in c], st.state)
        assert st._history.length == 3
    assert kept(streams[0]) == kept(streams[1])
    for a, b in zip(*[[st.update(samples[7:])] for st in streams]):
        np.testing.assert_array_equal(a, b)
    assert kept(streams[0]) == kept(streams[1])
    native_model.close()
    generic_model.close()


def test_shapes_at_the_edges(variant, rng):
    """One feature, one hidden unit, one step, one output; empty batches; slicing by
    internal_batch_size and the explainer's batch_size change nothing."""
    spec = random_spec(1, 1, 1, pooling="max", dense_sizes=(), normalization=True, window=1, seed=12)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(5, 1, 1)).astype(np.float32)
    for method in METHODS:
        res = model.backend.attribute(X, method, n_steps=4)
        want = reference_attribution(spec, X, method, 0, default_baseline(spec), n_steps=4)
        assert rel_err(res.values, want) <= (1e-10 if variant == "numpy" else RTOL32)
        empty = model.backend.attribute(X[:0], method)
        assert empty.values.shape == (0, 1, 1) and empty.y.shape == (0, 1)
        with pytest.raises(ValueError, match="no samples yet"):  # as for the forward traces
            actif.Explainer(model, method, n_steps=4).attribute(X[:0])
    spec = spec_case("mean", "elu", seed=13, window=5)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(7, 5, 4)).astype(np.float32)
    baseline = rng.normal(size=(7, 5, 4))
    for method in METHODS:
        whole = model.backend.attribute(X, method, n_steps=6, baseline=baseline)
        for rows in (1, 5, 13):
            sliced = model.backend.attribute(X, method, n_steps=6, baseline=baseline, internal_batch_size=rows)
            # float32 engines may round differently for another batch composition
            assert rel_err(sliced.values, whole.values) <= (1e-12 if variant == "numpy" else RTOL32)
        chunked = actif.Explainer(model, method, n_steps=6, baseline=baseline, target=np.arange(7) % 3, batch_size=3)
        single = actif.Explainer(model, method, n_steps=6, baseline=baseline, target=np.arange(7) % 3)
        err = rel_err(chunked.attribute(X).stats.mean, single.attribute(X).stats.mean)
        assert err <= (1e-9 if variant == "numpy" else RTOL32), err


def test_invariants(rng):
    """At the baseline there is nothing to attribute; occlusion of an ignored feature is
    zero; gradient x input is zero where the input is zero."""
    spec = spec_case("max", "relu", seed=14)
    ref = actif.Model(spec, "numpy").backend
    X = rng.normal(size=(3, 5, 4))
    for method in ("integrated", "occlusion"):
        res = ref.attribute(X, method, baseline=X, n_steps=8)
        assert np.abs(res.values).max() == 0.0
    spec.lstm[0].w_ih[:, 2] = 0.0  # feature 2 never reaches the model
    ref = actif.Model(spec, "numpy").backend
    for method in METHODS:
        assert np.abs(ref.attribute(X, method, n_steps=8).values[..., 2]).max() == 0.0
    X[:, :, 1] = 0.0
    assert np.abs(ref.attribute(X, "gradient").values[..., 1]).max() == 0.0


def hot_path_case(rng, baseline: str | None, hook: str):
    """A cpp model, five float32 windows, a baseline of the kind named (None, one (I,)
    row, or (T, I) steps) and the list of what the backend's hot-path method ``hook``
    returns on each call (recorded as it runs)."""
    pytest.importorskip("actif._core")
    model = actif.Model(spec_case("max", "elu", seed=12, window=4), "cpp")
    X = rng.normal(size=(5, 4, 4)).astype(np.float32)
    base = {None: None, "row": rng.normal(size=4), "steps": rng.normal(size=(4, 4))}[baseline]
    calls: list = []
    original = getattr(model.backend, hook)
    setattr(model.backend, hook, lambda *a: calls.append(original(*a)) or calls[-1])
    return model, X, base, calls


@pytest.mark.parametrize("baseline", [None, "row", "steps"])
@pytest.mark.parametrize("method", METHODS)
def test_stream_hot_path_equals_the_general_path(method, baseline, rng):
    """Plain float32 windows take the native hot path (the input rule applied in the
    core, one call); anything else the general path. Both give the same bytes, the same
    predictions and the same refusal."""
    model, X, base, calls = hot_path_case(rng, baseline, "try_attribute_stats")
    hot = actif.StreamingExplainer(model, method, target=1, n_steps=6, baseline=base)
    general = actif.StreamingExplainer(model, method, target=1, n_steps=6, baseline=base)
    y_hot = [hot.update(X[0]), hot.update(X[1:])]
    y_general = [general.update(X[0].tolist()), general.update(X[1:].astype(np.float64))]
    # the hot path ran natively for an (I,) baseline, declined (None) for a (T, I) one,
    # and for float64 windows (the general path converts them)
    assert len(calls) == 3 and calls[2] is None
    assert all((c is None) == (baseline == "steps") for c in calls[:2])
    for a, b in zip(y_hot, y_general):
        np.testing.assert_array_equal(a, b)
    assert hot.stats.to_bytes() == general.stats.to_bytes()
    assert hot.signed_stats.to_bytes() == general.signed_stats.to_bytes()
    assert hot.n_updates == general.n_updates == 5
    bad = X[:2].copy()
    bad[1, 3, 2] = 1e30
    before = hot.stats.to_bytes(), hot.signed_stats.to_bytes(), hot.n_updates
    with pytest.raises(ValueError) as hot_error:
        hot.update(bad)
    with pytest.raises(ValueError) as general_error:
        general.update(bad.tolist())
    assert str(hot_error.value) == str(general_error.value)
    assert (hot.stats.to_bytes(), hot.signed_stats.to_bytes(), hot.n_updates) == before
    model.close()


@pytest.mark.parametrize("baseline", [None, "row", "steps"])
@pytest.mark.parametrize("method", METHODS)
def test_attribute_steps_hot_path_equals_the_general_path(method, baseline, rng):
    """attribute_steps on plain float32 windows with one output index in range takes the
    native hot path (one call, the input rule applied in the core); anything else (lists,
    float64, a numpy integer target, a per-window target) the general path. Both give the
    same bytes and the same refusal."""
    model, X, base, calls = hot_path_case(rng, baseline, "try_attribute")
    ex = actif.Explainer(model, method, target=1, n_steps=6, baseline=base)
    hot = [ex.attribute_steps(X, return_convergence_delta=True), ex.attribute_steps(X, target=0, return_convergence_delta=True)]
    # an (I,) baseline runs natively; a (T, I) one declines (None)
    assert len(calls) == 2 and all((c is None) == (baseline == "steps") for c in calls)
    general = [ex.attribute_steps(X.tolist(), return_convergence_delta=True),
               ex.attribute_steps(X.astype(np.float64), target=np.int64(0), return_convergence_delta=True)]
    assert len(calls) == 2  # neither reached the hot path
    per_window = ex.attribute_steps(X, target=np.array([1, 1, 1, 1, 1]))
    assert len(calls) == 2
    for (a, da), (b, db) in zip(hot, general):
        assert a.dtype == b.dtype == np.float32 and a.shape == X.shape
        np.testing.assert_array_equal(a, b)
        assert (da is None) == (db is None) == (method != "integrated")
        if da is not None:
            np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(per_window, hot[0][0])
    bad = X[:2].copy()
    bad[1, 3, 2] = np.nan
    with pytest.raises(ValueError) as hot_error:
        ex.attribute_steps(bad)
    with pytest.raises(ValueError) as general_error:
        ex.attribute_steps(bad.tolist())
    assert str(hot_error.value) == str(general_error.value)
    assert str(hot_error.value).startswith("X has NaN at window 1, step 3, feature 'f2' (index 2)")
    for wrong in (model.output_size, -1):  # out of range: the general path's message, not the core's
        with pytest.raises(ValueError, match="out of range"):
            ex.attribute_steps(X, target=wrong)
    model.close()


def test_hot_paths_keep_each_explainers_baseline(rng):
    """Explainers taking turns on one model (a stream and a Captum-shaped call, with
    different baselines) each get their own baseline on the hot path, derived once."""
    pytest.importorskip("actif._core")
    spec = spec_case("max", "elu", seed=12, window=4)
    model = actif.Model(spec, "cpp")
    X = rng.normal(size=(3, 4, 4)).astype(np.float32)
    row = rng.normal(size=4)
    stream = actif.StreamingExplainer(model, "deeplift", target=1)
    steps = actif.Explainer(model, "deeplift", target=1, baseline=row)
    derived = []
    original = model.backend._native_baseline
    model.backend._native_baseline = lambda *a: derived.append(a) or original(*a)
    for _ in range(3):
        stream.update(X)
        got = steps.attribute_steps(X)
    assert len(derived) == 2
    want = actif.Model(spec, "numpy").backend.attribute(X.astype(np.float64), "deeplift", target=1, baseline=row).values
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    alone = actif.StreamingExplainer(model, "deeplift", target=1)
    for _ in range(3):
        alone.update(X)
    assert alone.stats.to_bytes() == stream.stats.to_bytes()
    model.close()


def test_numba_compiled_layer_reverse_equals_the_numpy_reference(rng):
    """The numba backend brings its own compiled reverse pass for one LSTM layer; it
    computes the float64 reference's equations window by window, so it equals it to
    rounding, and a window gives the same bytes alone as in a batch (so any split of the
    batch over threads does too)."""
    pytest.importorskip("numba")
    from actif.attribution import LayerTape, lstm_backward

    spec = random_spec(5, 7, 1, pooling="last", window=6, seed=13).astype(np.float64)
    layer = spec.lstm[0]
    n, t, h = 9, 6, 7
    gates = rng.uniform(0.05, 0.95, size=(n, t, 4 * h))
    gates[..., 2 * h : 3 * h] = rng.uniform(-0.9, 0.9, size=(n, t, h))  # the cell candidate is a tanh
    tape = LayerTape(rng.normal(size=(n, t, h)), rng.normal(size=(n, t, h)), gates, rng.normal(size=(n, h)))
    dh_out = rng.normal(size=(n, t, h))
    want = lstm_backward(layer, tape, dh_out)
    one = actif.Model(spec, "numba", num_threads=1).backend
    got = one.lstm_backward(layer, tape, dh_out)
    assert got.shape == want.shape == (n, t, 5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())
    alone = np.concatenate([one.lstm_backward(layer, LayerTape(*(a[r : r + 1] for a in (tape.h, tape.c, tape.gates, tape.c0))), dh_out[r : r + 1]) for r in range(n)])
    assert np.array_equal(got, alone)


@pytest.mark.parametrize("variant", ["numpy", "cpp"])
def test_deeplift_reference_per_window_or_shared(variant, rng):
    """A baseline of one window (or (I,)) runs its reference forward once for all windows;
    a baseline per window runs one each: both give what attributing window by window gives."""
    spec = spec_case("max", "tanh", layers=2, hidden=9, seed=5)
    model = actif.Model(spec, variant)
    X = rng.normal(size=(5, 6, 4))
    per_window = rng.normal(size=(5, 6, 4))
    for base in (per_window, per_window[0], default_baseline(spec)):
        got = model.backend.attribute(X, "deeplift", target=1, baseline=base).values
        rows = np.broadcast_to(base, X.shape)
        want = np.concatenate([model.backend.attribute(X[n : n + 1], "deeplift", target=1, baseline=rows[n]).values for n in range(5)])
        assert rel_err(got, want) <= (1e-12 if variant == "numpy" else RTOL32), np.shape(base)
    model.close()


# ------------------------------------------------------------------ LRP


def zero_biases(spec):
    """The model with every bias and shift zero: LRP's rules then conserve relevance."""
    for layer in spec.lstm:
        layer.b_ih[:] = 0.0
        layer.b_hh[:] = 0.0
    for layer in spec.dense:
        layer.bias[:] = 0.0
    for shift in (spec.input_shift, spec.post_shift):
        if shift is not None:
            shift[:] = 0.0
    return spec


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("activation", ("identity", "relu", "elu", "tanh"))
def test_lrp_conserves_the_output_without_biases(pooling, activation, rng):
    """With no bias to absorb relevance and a vanishing epsilon, the relevance of every
    input step and feature sums to the attributed output, window by window (the rules'
    conservation property); the default epsilon absorbs some of it."""
    spec = zero_biases(spec_case(pooling, activation, layers=2, hidden=6, seed=len(pooling) + len(activation)))
    X = rng.normal(size=(4, 5, 4))
    for target in (0, 2):
        y, relevance = lrp_relevance(spec, X, target, eps=1e-12)
        np.testing.assert_allclose(relevance.reshape(4, -1).sum(axis=1), y[:, target], rtol=1e-7, atol=1e-12)
    y, stabilised = lrp_relevance(spec, X, 0)
    total = stabilised.reshape(4, -1).sum(axis=1)
    dead = y[:, 0] == 0  # a relu output at zero: nothing to hand back
    assert np.all(total[dead] == 0)
    assert dead.all() or np.abs(total - y[:, 0])[~dead].max() > 1e-6


def plain_lrp(spec, X, target, eps):
    """LRP written connection by connection (one window, scalar loops), as the rules are
    stated: a weighted sum z_k = sum_j a_j w_kj + b_k gives input j the share
    a_j w_kj / (z_k + eps sign z_k) of R_k; c = f c_prev + i g splits by its two terms."""
    spec = spec.astype(np.float64)

    def stab(z):
        return z + (eps if z >= 0 else -eps)

    def linear(a_in, w, z, r_out):
        r_in = np.zeros(len(a_in))
        for k in range(len(z)):
            for j in range(len(a_in)):
                r_in[j] += a_in[j] * w[k, j] / stab(z[k]) * r_out[k]
        return r_in

    x = X * spec.input_scale + spec.input_shift
    tapes, layer_in = [], x
    for layer in spec.lstm:
        hidden = layer.hidden_size
        h, c = np.zeros(hidden), np.zeros(hidden)
        steps = []
        for t in range(len(layer_in)):
            z = layer.w_ih @ layer_in[t] + layer.w_hh @ h + layer.b_ih + layer.b_hh
            i, f, g, o = 1 / (1 + np.exp(-z[:hidden])), 1 / (1 + np.exp(-z[hidden : 2 * hidden])), np.tanh(z[2 * hidden : 3 * hidden]), 1 / (1 + np.exp(-z[3 * hidden :]))
            c_new = f * c + i * g
            steps.append(dict(h_prev=h, c_prev=c, i=i, f=f, g=g, c=c_new, z_g=z[2 * hidden : 3 * hidden]))
            c, h = c_new, o * np.tanh(c_new)
            steps[-1]["h"] = h
        tapes.append(steps)
        layer_in = np.array([s["h"] for s in steps])
    hs = layer_in
    pooled = {"last": hs[-1], "mean": hs.mean(axis=0), "max": hs.max(axis=0)}[spec.pooling]
    v = pooled * spec.post_scale + spec.post_shift
    acts, pres = [v], []
    for layer in spec.dense:
        pres.append(layer.weight @ acts[-1] + layer.bias)
        acts.append(apply_activation(layer.activation, pres[-1]))
    r = np.zeros(len(acts[-1]))
    r[target] = acts[-1][target]
    for k in range(len(spec.dense) - 1, -1, -1):
        r = linear(acts[k], spec.dense[k].weight, pres[k], r)
    r_h = np.zeros_like(hs)
    for u in range(hs.shape[1]):
        if spec.pooling == "mean":
            for t in range(len(hs)):
                r_h[t, u] = hs[t, u] / len(hs) / stab(pooled[u]) * r[u]
        else:
            r_h[len(hs) - 1 if spec.pooling == "last" else int(np.argmax(hs[:, u])), u] = r[u]
    inputs = [x] + [np.array([s["h"] for s in steps]) for steps in tapes[:-1]]
    for layer, steps, layer_in in zip(reversed(spec.lstm), reversed(tapes), reversed(inputs)):
        hidden = layer.hidden_size
        w_ig, w_hg = layer.w_ih[2 * hidden : 3 * hidden], layer.w_hh[2 * hidden : 3 * hidden]
        r_x = np.zeros_like(layer_in)
        r_c_carry, r_h_carry = np.zeros(hidden), np.zeros(hidden)
        for t in range(len(steps) - 1, -1, -1):
            s = steps[t]
            r_c = r_h[t] + r_h_carry + r_c_carry
            r_c_carry = np.array([s["f"][u] * s["c_prev"][u] / stab(s["c"][u]) * r_c[u] for u in range(hidden)])
            r_g = np.array([s["i"][u] * s["g"][u] / stab(s["c"][u]) * r_c[u] for u in range(hidden)])
            both = linear(np.concatenate([layer_in[t], s["h_prev"]]), np.hstack([w_ig, w_hg]), s["z_g"], r_g)
            r_x[t], r_h_carry = both[: layer_in.shape[1]], both[layer_in.shape[1] :]
        r_h = r_x
    return r_h


@pytest.mark.parametrize("pooling", POOLINGS)
def test_lrp_reference_equals_the_rules_written_connection_by_connection(pooling, rng):
    spec = spec_case(pooling, "elu", layers=2, hidden=4, n_in=3, seed=21)
    X = rng.normal(size=(2, 4, 3))
    for eps in (1e-3, 0.1):
        _, got = lrp_relevance(spec, X, 1, eps=eps)
        want = np.stack([plain_lrp(spec, X[n], 1, eps) for n in range(2)])
        assert rel_err(got, want) < 1e-12, eps


def test_lrp_gives_a_feature_at_its_mean_no_relevance(rng):
    spec = spec_case("mean", "tanh", seed=22)
    X = rng.normal(size=(3, 5, 4))
    X[:, 2, 1] = default_baseline(spec)[1]  # feature 1 at its training mean at step 2
    relevance = actif.Model(spec, "numpy").backend.attribute(X, "lrp", target=1).values
    assert np.all(relevance[:, 2, 1] == 0.0) and np.abs(relevance[:, [0, 1, 3, 4], 1]).min() > 0


# ------------------------------------------------ choosing integrated gradients' node count


def _completeness_errors_by_hand(spec, X, counts, target=0):
    """The pooled completeness error of each node count, from the float64 reference:
    predictions of the windows and of the baseline window, and the attributions' sums."""
    model = actif.Model(spec, "numpy")
    base = np.broadcast_to(default_baseline(spec), X.shape).astype(np.float32)
    change = np.abs(model.predict(X)[:, target].astype(np.float64) - model.predict(base)[:, target])
    out = {}
    for n in counts:
        A = actif.Explainer(model, "integrated", target=target, n_steps=n).attribute_steps(X)
        total = A.astype(np.float64).sum(axis=(1, 2))
        out[n] = np.abs(total - (model.predict(X)[:, target] - model.predict(base)[:, target])).sum() / change.sum()
    return out


def test_completeness_error_by_hand():
    from actif.attribution import completeness_error

    values = np.zeros((2, 3, 2))
    values[0, 0, 0], values[1, 2, 1] = 3.0, -1.0  # sums 3 and -1
    delta = np.array([1.0, 0.5])  # so y(x) - y(b) = 2 and -1.5
    assert completeness_error(values, delta) == pytest.approx(1.5 / 3.5)
    assert completeness_error(np.zeros((2, 3, 2)), np.zeros(2)) == 0.0  # nothing moves: nothing to add up


def test_node_ladder_grows_by_about_half_and_ends_at_the_cap():
    from actif.explain import node_ladder

    assert node_ladder(256) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    assert node_ladder(50) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 50]
    assert node_ladder(1) == [1]
    assert node_ladder(5, "riemann_middle") == [2, 3, 4, 5]  # the Riemann rules need two nodes


def test_choose_n_steps_follows_its_rule_on_errors_computed_by_hand():
    """The count returned is the smaller of the first two consecutive ladder counts whose
    completeness errors (computed here from predictions, independently) are within the
    tolerance; the errors it reports are those errors."""
    spec = random_spec(4, 12, 3, pooling="max", dense_sizes=(6,), activation="elu", normalization=True, window=6, seed=4)
    X = np.random.default_rng(3).normal(scale=2.0, size=(24, 6, 4)).astype(np.float32)
    for target in (0, 2):
        choice = actif.choose_n_steps(actif.Model(spec, "numpy"), X, target=target, tolerance=0.02, max_steps=64)
        ladder = list(choice.errors)
        by_hand = _completeness_errors_by_hand(spec, X, ladder, target)
        assert choice.errors == pytest.approx(by_hand, rel=1e-6, abs=1e-9)
        within = [by_hand[n] <= 0.02 for n in ladder]
        first = next(k for k in range(1, len(ladder)) if within[k - 1] and within[k])
        assert choice.converged and choice.n_steps == ladder[first - 1] and ladder[-1] == ladder[first]
        assert choice.error == pytest.approx(by_hand[choice.n_steps], rel=1e-6)
    assert choice.n_steps > 1  # a model that bends: one node is not enough at 2 %


def test_choose_n_steps_reports_when_nothing_adds_up():
    spec = random_spec(4, 12, 1, pooling="max", dense_sizes=(6,), activation="elu", normalization=True, window=6, seed=4)
    X = np.random.default_rng(3).normal(scale=2.0, size=(8, 6, 4)).astype(np.float32)
    choice = actif.choose_n_steps(actif.Model(spec, "numpy"), X, tolerance=1e-9, max_steps=4)
    assert not choice.converged and choice.n_steps == 4 and list(choice.errors) == [1, 2, 3, 4]
    assert choice.error == choice.errors[4] > 1e-9


def test_choose_n_steps_takes_one_node_for_a_model_that_does_not_bend():
    """Tiny weights keep every gate near its linear region: the path integrand is nearly
    constant, so one node already adds up."""
    spec = random_spec(3, 5, 1, pooling="last", dense_sizes=(), activation="identity", window=4, seed=1)
    for layer in spec.lstm:
        for name in ("w_ih", "w_hh"):
            setattr(layer, name, (getattr(layer, name) * 1e-3).astype(np.float32))
    X = np.random.default_rng(0).normal(size=(10, 4, 3)).astype(np.float32)
    choice = actif.choose_n_steps(actif.Model(spec, "numpy"), X)
    assert choice.converged and choice.n_steps == 1 and choice.errors[1] <= 0.05 and choice.errors[2] <= 0.05


@pytest.mark.parametrize("options,message", [
    ({"tolerance": 0}, "tolerance"), ({"tolerance": -0.1}, "tolerance"), ({"tolerance": float("nan")}, "tolerance"),
    ({"tolerance": "5%"}, "tolerance"), ({"max_steps": 0}, "max_steps"), ({"max_steps": True}, "max_steps"),
    ({"max_steps": 2.5}, "max_steps"), ({"max_steps": 10**9}, "max_steps"), ({"target": 3}, "target"),
    ({"ig_method": "simpson"}, "ig_method"), ({"ig_method": "riemann_left", "max_steps": 1}, "n_steps >= 2"),
])
def test_choose_n_steps_refuses_bad_options(options, message):
    m = actif.random_model(input_size=3, hidden_size=4, window=5, seed=0)
    X = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=message):
        actif.choose_n_steps(m, X, **options)


def test_choose_n_steps_refuses_bad_windows():
    m = actif.random_model(input_size=3, hidden_size=4, window=5, seed=0)
    with pytest.raises(ValueError, match="at least one window"):
        actif.choose_n_steps(m, np.zeros((0, 5, 3), np.float32))
    with pytest.raises(ValueError):
        actif.choose_n_steps(m, np.zeros((2, 5, 4), np.float32))  # the model takes 3 features
    with pytest.raises(ValueError):
        actif.choose_n_steps(m, np.full((2, 5, 3), np.nan, np.float32))

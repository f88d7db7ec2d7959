"""The native attributions of the C++ core (``_core.Model.attribute`` and
``attribute_stats``, reached through ``CppBackend.attribute``) against the float64
NumPy reference (:mod:`actif.attribution`), on every kernel set this CPU runs, at
hidden sizes straddling the SIMD widths; their statistics path; rejected requests.

tests/test_attribution.py holds the cross-backend checks (Captum, finite differences,
explainers); this file covers what only the native path has.
"""

from __future__ import annotations

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
from actif.model_spec import random_spec

pytest.importorskip("actif._core")
from actif import _core  # noqa: E402
from actif.backends.cpp import core_model, set_isa, supported_isas  # noqa: E402
from actif.constants import TOLERANCES

PREDICTION_RTOL, PREDICTION_ATOL = TOLERANCES["prediction"]  # constants.json

RTOL32 = 1e-4  # max |error| / max |reference|, float32 against float64
POOLINGS = ("last", "mean", "max")
ACTIVATIONS = ("identity", "relu", "elu", "tanh", "sigmoid")


@pytest.fixture(params=supported_isas())
def isa(request):
    set_isa(request.param)
    try:
        yield request.param
    finally:
        set_isa("auto")


def rel_err(got, want) -> float:
    want = np.asarray(want, np.float64)
    return float(np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


def reference(spec, X, method, target, base, state=None, n_steps=8, ig_method="gausslegendre"):
    """(values, delta) of a method from the float64 reverse pass and forward alone."""
    X = np.asarray(X, np.float64)
    base = np.broadcast_to(np.asarray(base, np.float64), X.shape)
    y = input_gradient(spec, X, target, state)[0][:, target]
    if method == "gradient":
        return X * input_gradient(spec, X, target, state)[1], None
    if method == "lrp":
        return lrp_relevance(spec, X, target, state)[1], None
    if method == "deeplift":  # the float64 NumPy engine (held to Captum's DeepLift in test_attribution.py)
        ref = actif.Model(spec, "numpy").backend.attribute(X, method, target=target, baseline=base, initial_state=state)
        return ref.values, None
    if method == "integrated":
        alphas, weights = ig_nodes(n_steps, ig_method)
        grads = [input_gradient(spec, base + a * (X - base), target, state)[1] for a in alphas]
        values = (X - base) * np.tensordot(weights, np.stack(grads), axes=1)
        y_base = input_gradient(spec, np.array(base), target, state)[0][:, target]
        return values, values.reshape(len(X), -1).sum(1) - (y - y_base)
    out = np.empty_like(X)
    for j in range(X.shape[-1]):
        ablated = X.copy()
        ablated[..., j] = base[..., j]
        out[..., j] = (y - input_gradient(spec, ablated, target, state)[0][:, target])[:, None]
    return out, None


@pytest.mark.parametrize("hidden", [1, 7, 8, 9, 63, 64, 65])
def test_every_method_matches_reference_across_simd_widths(isa, hidden, rng):
    k = hidden % 5
    spec = random_spec(
        5, [hidden, 6] if hidden % 2 else [hidden], 3, pooling=POOLINGS[hidden % 3], num_layers=1 + hidden % 2,
        dense_sizes=(7,), activation=ACTIVATIONS[k], output_activation=ACTIVATIONS[(k + 2) % 5],
        batchnorm=hidden % 3 != 1, normalization=hidden % 2 == 0, window=6, seed=hidden,
    )
    model = core_model(spec)
    X = rng.normal(size=(4, 6, 5)).astype(np.float32)
    base = default_baseline(spec)
    y_ref = input_gradient(spec, X, 0)[0]
    for method in METHODS:
        y, values, delta = model.attribute(X, method, 2, base.astype(np.float32), 8, "gausslegendre", 1)
        want, want_delta = reference(spec, X, method, 2, base.astype(np.float32))
        tol = RTOL32 if method != "occlusion" else RTOL32 + 1e-6 * np.abs(y_ref).max() / np.abs(want).max()
        assert rel_err(values, want) <= tol, method
        np.testing.assert_allclose(y, y_ref, rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL)
        assert (delta is None) == (method != "integrated")
        if delta is not None:
            assert np.abs(delta - want_delta).max() <= 1e-5 * np.abs(want).sum(axis=(1, 2)).max() + 1e-6


@pytest.mark.parametrize("ig_method", IG_METHODS)
def test_integral_points_are_captums(ig_method):
    for n in (2, 3, 16, 50):
        alphas, weights = _core.integral_points(ig_method, n)
        want_a, want_w = ig_nodes(n, ig_method)
        np.testing.assert_allclose(alphas, want_a, rtol=0, atol=1e-14)
        np.testing.assert_allclose(weights, want_w, rtol=0, atol=1e-14)


def test_default_baseline_is_pythons(rng):
    spec = random_spec(5, 8, 2, normalization=True, seed=4)
    model = core_model(spec)
    X = rng.normal(size=(2, 5, 5)).astype(np.float32)
    for method in METHODS:
        _, implicit, _ = model.attribute(X, method, 1, None, 8, "gausslegendre", 1)
        _, explicit, _ = model.attribute(X, method, 1, default_baseline(spec).astype(np.float32), 8, "gausslegendre", 1)
        np.testing.assert_array_equal(implicit, explicit)


@pytest.mark.parametrize("method", METHODS)
def test_initial_state_matches_reference(isa, method, rng):
    spec = random_spec(4, [8, 5], 2, pooling="max", num_layers=2, normalization=True, window=6, seed=9)
    model = core_model(spec)
    X = rng.normal(size=(3, 6, 4)).astype(np.float32)
    state = [(rng.normal(scale=0.5, size=(3, h)).astype(np.float32), rng.normal(size=(3, h)).astype(np.float32))
             for h in spec.hidden_sizes]
    base = default_baseline(spec).astype(np.float32)
    y, values, _ = model.attribute(X, method, 1, base, 8, "gausslegendre", 1, state)
    want, _ = reference(spec, X, method, 1, base, state)
    assert rel_err(values, want) <= RTOL32 * 2
    np.testing.assert_allclose(y, input_gradient(spec, X, 1, state)[0], rtol=PREDICTION_RTOL, atol=PREDICTION_ATOL)


@pytest.mark.parametrize("method", METHODS)
def test_attribute_stats_feeds_the_rows_attribute_gives(method, rng):
    spec = random_spec(6, 16, 3, pooling="mean", normalization=True, seed=2)
    model = core_model(spec)
    X = rng.normal(size=(50, 10, 6)).astype(np.float32)
    y, values, _ = model.attribute(X, method, 2, None, 6, "riemann_trapezoid", 0)
    abs_stats, signed_stats = _core.RunningStats(6), _core.RunningStats(6)
    y2 = model.attribute_stats(X, method, 2, None, 6, "riemann_trapezoid", abs_stats, signed_stats, 0)
    want_abs, want_signed = _core.RunningStats(6), _core.RunningStats(6)
    want_abs.update(np.abs(values).reshape(-1, 6))
    want_signed.update(values.reshape(-1, 6))
    np.testing.assert_array_equal(y, y2)
    assert abs_stats.to_bytes() == want_abs.to_bytes()
    assert signed_stats.to_bytes() == want_signed.to_bytes()
    only_abs = _core.RunningStats(6)
    model.attribute_stats(X, method, 2, None, 6, "riemann_trapezoid", only_abs, None, 1)
    assert only_abs.to_bytes() == want_abs.to_bytes()  # one thread or all: the same bytes


def test_backend_matches_core_and_handles_per_window_targets(rng):
    spec = random_spec(4, 8, 3, pooling="last", normalization=True, seed=5)
    backend = actif.Model(spec, "cpp").backend
    model = core_model(spec)
    X = rng.normal(size=(6, 5, 4)).astype(np.float32)
    targets = np.array([2, 0, 2, 1, 0, 2])
    for method in METHODS:
        res = backend.attribute(X, method, target=targets, n_steps=8)
        for n, t in enumerate(targets):
            _, values, delta = model.attribute(X[n : n + 1], method, int(t), default_baseline(spec).astype(np.float32),
                                               8, "gausslegendre", 1)
            np.testing.assert_allclose(res.values[n], values[0], rtol=1e-6, atol=1e-7)
            if delta is not None:
                np.testing.assert_allclose(res.delta[n], delta[0], rtol=1e-5, atol=1e-7)


def test_rejected_requests_change_nothing(rng):
    spec = random_spec(4, 8, 2, normalization=True, seed=6)
    model = core_model(spec)
    X = rng.normal(size=(3, 5, 4)).astype(np.float32)
    stats = _core.RunningStats(4)
    model.attribute_stats(X, "gradient", 0, None, 8, "gausslegendre", stats, None, 1)
    before = stats.to_bytes()
    bad_x = X.copy()
    bad_x[1, 2, 3] = np.nan
    cases = [
        ((bad_x, "gradient", 0, None, 8, "gausslegendre"), "NaN"),
        ((X, "gradient", 2, None, 8, "gausslegendre"), "target 2"),
        ((X, "gradient", -1, None, 8, "gausslegendre"), "target -1"),
        ((X, "saliency", 0, None, 8, "gausslegendre"), "unknown attribution method"),
        ((X, "integrated", 0, None, 0, "gausslegendre"), "n_steps"),
        ((X, "integrated", 0, None, 1, "riemann_left"), "n_steps >= 2"),
        ((X, "integrated", 0, None, 8, "simpson"), "unknown integral"),
        ((X, "occlusion", 0, np.full(4, np.inf, np.float32), 8, "gausslegendre"), "baseline"),
        ((X, "occlusion", 0, np.zeros(5, np.float32), 8, "gausslegendre"), "baseline has shape"),
        ((X[..., :3], "gradient", 0, None, 8, "gausslegendre"), "x has shape"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            model.attribute_stats(*args, stats, None, 1)
        with pytest.raises(ValueError, match=message):
            model.attribute(*args, 1)
        assert stats.to_bytes() == before, message
    with pytest.raises(ValueError, match="initial h0"):
        model.attribute(X, "gradient", 0, None, 8, "gausslegendre", 1, [(np.zeros((2, 8), np.float32),) * 2])
    with pytest.raises(ValueError, match="different statistics"):
        model.attribute_stats(X, "gradient", 0, None, 8, "gausslegendre", stats, stats, 1)
    with pytest.raises(ValueError, match="feature counts"):
        model.attribute_stats(X, "gradient", 0, None, 8, "gausslegendre", _core.RunningStats(5), None, 1)
    assert stats.to_bytes() == before


@pytest.mark.parametrize("method", METHODS)
def test_explainer_statistics_equal_the_unfused_path(method, rng):
    """The Explainer's fused native path lands the same bytes as attributing and then
    feeding the rows (the generic Backend.attribute_stats)."""
    from actif.backends.base import Backend

    spec = random_spec(5, 9, 2, pooling="max", normalization=True, seed=8)
    model = actif.Model(spec, "cpp")
    X = rng.normal(size=(40, 10, 5)).astype(np.float32)
    res = actif.Explainer(model, method, target=1, n_steps=6).attribute(X)
    abs_stats, signed_stats = _core.RunningStats(5), _core.RunningStats(5)
    y = Backend.attribute_stats(model.backend, X, method, abs_stats, signed_stats, target=1, n_steps=6)
    assert res.stats._impl.to_bytes() == abs_stats.to_bytes()
    assert res.signed_stats._impl.to_bytes() == signed_stats.to_bytes()
    np.testing.assert_array_equal(res.predictions, y)


def test_many_steps_and_features_run_in_several_passes(rng):
    """More interpolation points or ablated copies than one native pass holds (256
    rows) are split into passes: the same attributions as the reference."""
    spec = random_spec(300, 4, 2, pooling="mean", normalization=True, dense_sizes=(3,), window=3, seed=10)
    model = core_model(spec)
    X = rng.normal(size=(2, 3, 300)).astype(np.float32)
    base = default_baseline(spec).astype(np.float32)
    _, occ, _ = model.attribute(X, "occlusion", 1, base, 8, "gausslegendre", 1)
    want, _ = reference(spec, X, "occlusion", 1, base)
    y_scale = np.abs(input_gradient(spec, X, 1)[0]).max()
    assert np.abs(occ - want).max() <= RTOL32 * np.abs(want).max() + 1e-6 * y_scale
    small = random_spec(3, 5, 2, pooling="max", normalization=True, window=4, seed=11)
    Xs = rng.normal(size=(2, 4, 3)).astype(np.float32)
    base_s = default_baseline(small).astype(np.float32)
    _, ig, delta = core_model(small).attribute(Xs, "integrated", 0, base_s, 300, "riemann_middle", 1)
    want, want_delta = reference(small, Xs, "integrated", 0, base_s, n_steps=300, ig_method="riemann_middle")
    assert rel_err(ig, want) <= RTOL32
    assert np.abs(delta - want_delta).max() <= 1e-5 * np.abs(want).sum(axis=(1, 2)).max() + 1e-6

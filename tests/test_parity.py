"""One parity harness: every backend against the float64 NumPy reference.

Each quantity has a named tolerance (absolute, on values of order one: predictions,
hidden state, cell state, gates; relative for traces, statistics and scores, whose
scale follows the inputs). Hidden sizes straddle the SIMD widths; the native backend
runs once per kernel set this CPU has, the forced scalar path included.
"""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.constants import TOLERANCES
from actif.model_spec import random_spec
from conftest import backend_variants, variant_id

# TOLERANCES: (rtol, atol) per quantity, float32 engines against a float64 reference;
# defined in actif/constants.json, which the C++ tests read too (cpp/tests/harness.hpp).
# Engines that run their own LSTM implementation may need looser bounds; a backend
# module can declare PARITY_TOLERANCES to override entries for itself.
HIDDEN_SIZES = [1, 7, 8, 9, 63, 64, 65, 128, 257]
POOLINGS = ["last", "mean", "max"]
ACTIVATIONS = ["relu", "elu", "tanh", "sigmoid", "identity"]
VARIANTS = backend_variants()


def tol(backend: actif.Model, quantity: str) -> dict[str, float]:
    import importlib

    module = importlib.import_module(type(backend.backend).__module__)
    rtol, atol = getattr(module, "PARITY_TOLERANCES", {}).get(quantity, TOLERANCES[quantity])
    return {"rtol": rtol, "atol": atol}


def assert_close(got, want, backend, quantity, what=""):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, **tol(backend, quantity), err_msg=f"{quantity} {what}")


def case_spec(hidden: int, k: int) -> actif.ModelSpec:
    """Model k of a sweep: pooling, activation, depth and normalisation vary with k."""
    n_in = 38 if hidden >= 38 else 5
    return random_spec(
        n_in, hidden, output_size=3 if k % 2 else 1,
        pooling=POOLINGS[k % 3], num_layers=1 + (k % 2), activation=ACTIVATIONS[k % 5],
        output_activation=ACTIVATIONS[(k + 2) % 5], normalization=bool(k % 2 == 0),
        batchnorm=bool(k % 3 != 1), dense_sizes=(16,) if k % 4 else (), seed=hidden + k,
    )


@pytest.fixture(params=VARIANTS, ids=[variant_id(v) for v in VARIANTS])
def variant(request):
    name, isa = request.param
    if isa is not None:
        from actif.backends.cpp import set_isa

        set_isa(isa)
        yield name
        set_isa("auto")
    else:
        yield name


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
def test_forward_matches_reference(variant, hidden, rng):
    for k in range(3):
        spec = case_spec(hidden, k)
        ref = actif.Model(spec, "numpy")
        got = actif.Model(spec, variant)
        X = rng.normal(size=(5, 10, spec.input_size)).astype(np.float32)
        y_ref, a_ref = ref.forward(X, return_activations=True)
        y, acts = got.forward(X, return_activations=True)
        assert y.shape == (5, spec.output_size) and y.dtype == np.float32
        assert_close(y, y_ref, got, "prediction", f"k={k}")
        assert len(acts.layers) == spec.num_layers
        for li, (la, lr) in enumerate(zip(acts.layers, a_ref.layers)):
            assert_close(la.h, lr.h, got, "h", f"layer {li}")
            assert_close(la.c, lr.c, got, "c", f"layer {li}")
            assert_close(la.gates, lr.gates, got, "gates", f"layer {li}")
        got.close()


@pytest.mark.parametrize("trace", actif.FORWARD_TRACES)
@pytest.mark.parametrize("hidden", [7, 64, 65])
def test_traces_match_reference(variant, trace, hidden, rng):
    spec = case_spec(hidden, 1)
    if trace == "paper" and spec.hidden_size < spec.input_size:
        pytest.skip("paper trace needs H >= I")
    ref, got = actif.Model(spec, "numpy"), actif.Model(spec, variant)
    X = rng.normal(size=(4, 10, spec.input_size)).astype(np.float32)
    _, tr_ref = ref.forward(X, trace=trace)
    _, tr = got.forward(X, trace=trace)
    assert tr.shape == X.shape
    assert np.all(tr >= 0)
    scale = np.abs(tr_ref).max()
    assert_close(tr / scale, tr_ref / scale, got, "trace", trace)


@pytest.mark.parametrize("aggregation", ["inverse", "mean", "meanstd", "pen"])
def test_attribution_matches_reference(variant, aggregation, rng):
    spec = case_spec(64, 0)
    X = rng.normal(size=(64, 10, spec.input_size)).astype(np.float32)
    model = actif.Model(spec, variant)
    ref = actif.Explainer(actif.Model(spec, "numpy"), aggregation=aggregation).attribute(X)
    got = actif.Explainer(model, aggregation=aggregation).attribute(X)
    assert got.stats.count == ref.stats.count == 64 * 10
    assert_close(got.stats.mean, ref.stats.mean, model, "stats", "mean")
    assert_close(got.stats.std, ref.stats.std, model, "stats", "std")
    scale = np.abs(ref.scores).max() or 1.0
    assert_close(got.scores / scale, ref.scores / scale, model, "scores")


@pytest.mark.parametrize("hidden", [1, 9, 64])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_stateful_steps_match_reference(variant, hidden, pooling, rng):
    spec = random_spec(5, hidden, 2, pooling=pooling, num_layers=2, normalization=True, window=4, seed=hidden)
    ref, got = actif.Model(spec, "numpy"), actif.Model(spec, variant)
    s_ref, s_got = ref.new_state(3), got.new_state(3)
    for step in range(9):  # more steps than the ring holds
        x = rng.normal(size=(3, 5)).astype(np.float32)
        y_ref, _ = ref.step(x, s_ref)
        y, _ = got.step(x, s_got)
        assert_close(y, y_ref, got, "prediction", f"step {step}")
    for k in range(spec.num_layers):
        assert_close(s_got.h[k], s_ref.h[k], got, "h", "state")
        assert_close(s_got.c[k], s_ref.c[k], got, "c", "state")
    assert s_got.steps == s_ref.steps == 9


def test_window_mode_equals_stepping_from_zero(variant, rng):
    """A window run from a zero state ends in the state that stepping its samples gives."""
    spec = random_spec(6, 9, 1, pooling="last", num_layers=2, seed=3)
    m = actif.Model(spec, variant)
    X = rng.normal(size=(1, 7, 6)).astype(np.float32)
    y_win, acts = m.forward(X, return_activations=True)
    state = m.new_state(1)
    for t in range(7):
        y_step, _ = m.step(X[:, t], state)
    assert_close(y_step, np.asarray(y_win, np.float64), m, "prediction")
    assert_close(state.h[-1][0], np.asarray(acts.h[0, -1], np.float64), m, "h")

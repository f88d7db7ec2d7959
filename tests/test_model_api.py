"""The Model API: input checks, backend choice, stateful stepping."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif.backends import backend_class
from actif.errors import BackendUnavailableError


def test_predict_accepts_any_real_dtype_and_layout(rng):
    m = actif.random_model(4, 8, seed=0, backend="numpy")
    X = rng.normal(size=(3, 10, 4))
    y64 = m.predict(X)
    np.testing.assert_allclose(m.predict(X.astype(np.float32)), y64, rtol=1e-5, atol=1e-6)
    Xf = np.asfortranarray(X.astype(np.float32))
    np.testing.assert_allclose(m.predict(Xf), y64, rtol=1e-5, atol=1e-6)
    m.predict((X * 10).astype(np.int16))  # integers are numbers too
    assert m.predict(np.zeros((0, 10, 4))).shape == (0, 1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 4)), r"shape \(N, T, 4\)"),
        (np.zeros((2, 10, 5)), "5 features"),
        (np.zeros((2, 0, 4)), "length 0"),
        (np.zeros((2, 10, 4), complex), "real numbers"),
        (np.zeros((2, 10, 4), bool), "real numbers"),
        (np.array([[["a"] * 4] * 10]), "real numbers"),
    ],
)
def test_bad_input_is_a_clear_value_error(bad, message):
    m = actif.random_model(4, 8, seed=0)
    with pytest.raises(ValueError, match=message):
        m.predict(bad)


def test_float64_beyond_float32_range_is_named():
    m = actif.random_model(4, 8, seed=0)
    X = np.zeros((1, 10, 4))
    X[0, 2, 1] = 1e300
    with pytest.raises(ValueError, match=r"step 2, feature 'f1'"):
        m.predict(X)
    m_loose = actif.Model(m.spec, max_abs=None)
    X[0, 2, 1] = 1e5
    m_loose.predict(X)


def test_unknown_and_missing_backends(monkeypatch):
    with pytest.raises(ValueError, match="unknown backend"):
        actif.random_model(4, 8, backend="cuda")
    from actif import backends

    monkeypatch.setitem(backends._REGISTRY, "numba", ("actif.backends.not_there", "X", "pip install 'actif[numba]'"))
    with pytest.raises(BackendUnavailableError, match=r"actif\[numba\]"):
        backend_class("numba")
    assert "numba" not in actif.available_backends()


def test_auto_backend_prefers_native():
    m = actif.random_model(4, 8)
    assert m.backend_name == actif.available_backends()[0]


def test_step_creates_and_checks_state(rng):
    m = actif.random_model(4, 8, pooling="mean", window=3, seed=2)
    y, state = m.step(rng.normal(size=4))
    assert y.shape == (1, 1) and state.steps == 1 and state.ring.shape == (1, 3, 8)
    with pytest.raises(ValueError, match="holds 1 streams"):
        m.step(rng.normal(size=(2, 4)), state)
    with pytest.raises(ValueError, match="positive integer"):
        m.new_state(0)


def test_with_backend_keeps_weights(rng):
    m = actif.random_model(4, 8, seed=3)
    X = rng.normal(size=(2, 10, 4)).astype(np.float32)
    np.testing.assert_allclose(m.with_backend("numpy").predict(X), m.predict(X), rtol=1e-5, atol=1e-6)


def test_native_isa_can_be_forced():
    if "cpp" not in actif.available_backends():
        pytest.skip("no native core")
    from actif.backends.cpp import isa, set_isa, supported_isas

    assert supported_isas()[0] == "scalar"
    set_isa("scalar")
    try:
        assert isa() == "scalar"
    finally:
        set_isa("auto")
    assert isa() == supported_isas()[-1]
    with pytest.raises(ValueError, match="unknown or unavailable ISA"):
        set_isa("avx1024")

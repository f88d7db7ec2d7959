"""The Numba backend: what the parity harness (tests/test_parity.py) does not cover.

The harness already runs this backend against the float64 reference for predictions,
activations, traces, statistics and stateful steps; here: results that do not depend
on the batch size, the thread count or the mode (bit for bit), availability errors,
the on-disk compile cache, odd input layouts and shapes, the rational tanh, the step
traces and ring, and the no-change-on-error rule of stateful mode.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

import actif  # noqa: E402
from actif.backends import backend_class  # noqa: E402
from actif.errors import BackendUnavailableError  # noqa: E402
from actif.model_spec import random_spec  # noqa: E402
from test_parity import assert_close  # noqa: E402

NUMBA_MODULE = "actif.backends.numba_jit"


def models(spec):
    return actif.Model(spec, "numpy"), actif.Model(spec, "numba")


# ----------------------------------------------------------------- bit-identical results
def test_a_window_alone_equals_the_same_window_in_a_batch(rng):
    spec = random_spec(38, 65, 3, pooling="mean", num_layers=2, normalization=True, seed=11)
    model = actif.Model(spec, "numba")
    X = rng.normal(size=(37, 10, 38)).astype(np.float32)  # big enough to split over threads
    y, acts, tr = model.forward(X, return_activations=True, trace="gates")
    for i in (0, 17, 36):
        y1, a1, t1 = model.forward(X[i : i + 1], return_activations=True, trace="gates")
        np.testing.assert_array_equal(y1[0], y[i])
        np.testing.assert_array_equal(t1[0], tr[i])
        for la1, la in zip(a1.layers, acts.layers):
            np.testing.assert_array_equal(la1.h[0], la.h[i])
            np.testing.assert_array_equal(la1.c[0], la.c[i])
            np.testing.assert_array_equal(la1.gates[0], la.gates[i])


def test_thread_count_does_not_change_results(rng):
    spec = random_spec(38, 128, 2, pooling="max", seed=12)
    X = rng.normal(size=(64, 10, 38)).astype(np.float32)
    one = actif.Model(spec, "numba", num_threads=1)
    two = actif.Model(spec, "numba", num_threads=2)
    assert two.backend._chunks(64, 640) == 2  # the split really happens
    y1, t1 = one.forward(X, trace="weighted")
    y2, t2 = two.forward(X, trace="weighted")
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(t1, t2)


def test_stepping_from_zero_equals_the_window_bit_for_bit(rng):
    spec = random_spec(6, 9, 2, pooling="last", num_layers=2, normalization=True, seed=13)
    model = actif.Model(spec, "numba")
    X = rng.normal(size=(3, 7, 6)).astype(np.float32)
    y_win, acts = model.forward(X, return_activations=True)
    state = model.new_state(3)
    for t in range(7):
        y_step, _ = model.step(X[:, t], state)
    np.testing.assert_array_equal(y_step, y_win)
    for k in range(2):
        np.testing.assert_array_equal(state.h[k], acts.layers[k].h[:, -1])
        np.testing.assert_array_equal(state.c[k], acts.layers[k].c[:, -1])


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_a_window_from_a_state_equals_stepping_from_it(pooling, monkeypatch, rng):
    """forward_from (the generic attribution's window from a carried state, in one
    kernel run) gives the h and c sequences that stepping a fresh stream loaded with
    that state gives, bit for bit, and its prediction (mean pooling sums in another
    order: to float32 rounding)."""
    from actif.attribution import _Engine

    spec = random_spec(6, 9, 2, pooling=pooling, num_layers=2, normalization=True, seed=14)
    model = actif.Model(spec, "numba")
    X = rng.normal(size=(3, 5, 6)).astype(np.float32)
    state = [(rng.normal(size=(3, 9)).astype(np.float32), rng.normal(size=(3, 9)).astype(np.float32)) for _ in range(2)]
    engine = _Engine(model.backend, None)
    y, hs, cs = engine._step_through(X, state)  # through forward_from
    monkeypatch.setattr(model.backend, "forward_from", lambda *args: None)
    y_step, hs_step, cs_step = engine._step_through(X, state)  # stepped
    for got, want in zip(hs + cs, hs_step + cs_step):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(y, y_step, rtol=1e-6, atol=1e-7)
    if pooling != "mean":
        np.testing.assert_array_equal(y, y_step)


# ----------------------------------------------------------------- availability
def test_missing_numba_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, NUMBA_MODULE, raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    with pytest.raises(BackendUnavailableError, match=r"pip install 'actif\[numba\]'") as err:
        backend_class("numba")
    assert "numba" in str(err.value)
    assert "numba" not in actif.available_backends()
    with pytest.raises(BackendUnavailableError):
        actif.Model(random_spec(3, 4, seed=0), "numba")


def test_auto_falls_back_to_numba_without_the_compiled_core(monkeypatch, rng):
    monkeypatch.delitem(sys.modules, "actif.backends.cpp", raising=False)
    monkeypatch.setitem(sys.modules, "actif._core", None)  # as on a machine without a compiler
    monkeypatch.delattr(actif, "_core", raising=False)
    assert "cpp" not in actif.available_backends()
    model = actif.Model(random_spec(5, 8, seed=2), "auto")
    assert model.backend_name == "numba"
    X = rng.normal(size=(3, 4, 5)).astype(np.float32)
    assert_close(model.predict(X), actif.Model(model.spec, "numpy").predict(X), model, "prediction")


def test_too_old_numba_is_reported(monkeypatch):
    mod = importlib.import_module(NUMBA_MODULE)
    monkeypatch.setattr(mod.numba, "__version__", "0.57.1")
    with pytest.raises(BackendUnavailableError, match="too old"):
        backend_class("numba")


# ----------------------------------------------------------------- compile cache
CACHE_PROBE = """
import json, numpy as np, actif
from actif.backends import numba_jit as nj
from actif.model_spec import random_spec
m = actif.Model(random_spec(5, 8, 2, pooling="mean", seed=1), "numba")
x = np.ones((2, 3, 5), np.float32)
m.forward(x, trace="weighted")
m.step(x[:, 0])
kernels = (nj.gemm_rows, nj.lstm_recurrence, nj.dense_rows, nj.pool_ring_rows)
print(json.dumps({"hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
                  "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels)}))
"""


def test_compile_cache_is_written_then_reused(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def probe() -> dict:
        out = subprocess.run([sys.executable, "-c", CACHE_PROBE], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = probe()
    assert first["misses"] > 0 and first["hits"] == 0  # compiled, then written
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*"))
    second = probe()
    # nothing compiled: every kernel called from Python loaded from disk (kernels called
    # only from other kernels are inside their callers' cached code)
    assert second["misses"] == 0 and second["hits"] > 0


FORK_PROBE = """
import os, signal, numpy as np, actif
from actif.model_spec import random_spec
m = actif.Model(random_spec(38, 64, seed=1), "numba", num_threads=2)
X = np.ones((64, 10, 38), np.float32)
want = m.predict(X)  # the parent's pool threads now exist
pid = os.fork()
if pid == 0:
    signal.alarm(60)  # a hung child ends itself: the parent then reports its signal
    os._exit(0 if np.array_equal(m.predict(X), want) else 3)  # splits again, in the child
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_split_work():
    out = subprocess.run([sys.executable, "-c", FORK_PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0"


# ----------------------------------------------------------------- inputs the model layer adapts
@pytest.mark.parametrize("layout", ["strided", "fortran", "float64", "transposed"])
def test_non_contiguous_and_float64_windows(layout, rng):
    spec = random_spec(6, 9, 2, pooling="max", normalization=True, seed=4)
    ref, got = models(spec)
    base = rng.normal(size=(4, 14, 6))
    X = {
        "strided": base.astype(np.float32)[:, ::2],  # (4, 7, 6), step stride 2
        "fortran": np.asfortranarray(base.astype(np.float32)),
        "float64": base,
        "transposed": np.ascontiguousarray(base.astype(np.float32).transpose(1, 0, 2)).transpose(1, 0, 2),
    }[layout]
    assert not (X.flags.c_contiguous and X.dtype == np.float32)
    y, tr = got.forward(X, trace="gates")
    y_ref, tr_ref = ref.forward(np.ascontiguousarray(X, np.float32), trace="gates")
    assert_close(y, y_ref, got, "prediction", layout)
    assert_close(tr / np.abs(tr_ref).max(), tr_ref / np.abs(tr_ref).max(), got, "trace", layout)


def test_non_contiguous_step_samples(rng):
    spec = random_spec(5, 7, 1, pooling="last", seed=2)
    ref, got = models(spec)
    xs = rng.normal(size=(5, 6)).astype(np.float32).T  # (6, 5) view, Fortran order
    y_ref, _ = ref.step(xs)
    y, _ = got.step(xs)
    assert_close(y, y_ref, got, "prediction")


def test_backend_called_directly_with_a_strided_view(rng):
    spec = random_spec(4, 8, 1, seed=6)
    backend = actif.Model(spec, "numba").backend
    X = rng.normal(size=(3, 10, 4)).astype(np.float32)
    want = backend.forward(np.ascontiguousarray(X[:, ::2])).y
    np.testing.assert_array_equal(backend.forward(X[:, ::2]).y, want)


@pytest.mark.parametrize("n, t", [(0, 4), (1, 1), (1, 10), (3, 1)])
def test_edge_shapes(n, t, rng):
    spec = random_spec(5, 8, 2, pooling="mean", num_layers=2, seed=3)
    ref, got = models(spec)
    X = rng.normal(size=(n, t, 5)).astype(np.float32)
    y_ref, a_ref, tr_ref = ref.forward(X, return_activations=True, trace="weighted")
    y, acts, tr = got.forward(X, return_activations=True, trace="weighted")
    assert y.shape == (n, 2) and tr.shape == (n, t, 5)
    assert_close(y, y_ref, got, "prediction")
    assert_close(tr, tr_ref, got, "trace")
    for la, lr in zip(acts.layers, a_ref.layers):
        assert la.h.shape == la.c.shape == (n, t, 8) and la.gates.shape == (n, t, 32)
        assert_close(la.c, lr.c, got, "c")


def test_activations_are_window_major_and_contiguous(rng):
    spec = random_spec(5, 8, 1, num_layers=2, seed=8)
    _, acts, tr = actif.Model(spec, "numba").forward(
        rng.normal(size=(3, 4, 5)).astype(np.float32), return_activations=True, trace="input"
    )
    for arr in (*(a for la in acts.layers for a in (la.h, la.c, la.gates)), tr):
        assert arr.flags.c_contiguous and arr.dtype == np.float32


# ----------------------------------------------------------------- the rational tanh
def test_rational_tanh_accuracy():
    import numba

    from actif.backends.numba_jit import sigmoid_f32, tanh_f32

    @numba.njit
    def apply(x, t, s):
        for k in range(x.size):
            t[k] = tanh_f32(x[k])
            s[k] = sigmoid_f32(x[k])

    # dense in the curved part, the clamp at +-9 and beyond, signed zero, huge values
    x = np.concatenate([np.linspace(-12, 12, 200_001), [-9.0, 9.0, -0.0, 0.0, 1e30, -1e30, 3e38]]).astype(np.float32)
    t, s = np.empty_like(x), np.empty_like(x)
    apply(x, t, s)
    x64 = x.astype(np.float64)
    assert np.abs(t - np.tanh(x64)).max() < 5e-7
    assert np.abs(s - 0.5 * (1 + np.tanh(0.5 * x64))).max() < 5e-7
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))
    assert np.signbit(t[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()


# ----------------------------------------------------------------- stateful mode
@pytest.mark.parametrize("trace", actif.FORWARD_TRACES)
def test_step_traces_and_ring_match_reference(trace, rng):
    spec = random_spec(5, 9, 2, pooling="mean", num_layers=2, normalization=True, window=3, seed=5)
    ref, got = models(spec)
    s_ref, s_got = ref.new_state(2), got.new_state(2)
    for step in range(5):  # wraps the ring of 3
        x = rng.normal(size=(2, 5)).astype(np.float32)
        y_ref, tr_ref = ref.backend.step(x, s_ref, trace=trace)
        y, tr = got.backend.step(x, s_got, trace=trace)
        assert tr.shape == (2, 5) and tr.dtype == np.float32
        assert_close(y, y_ref, got, "prediction", f"step {step}")
        assert_close(tr, tr_ref, got, "trace", f"{trace} step {step}")
        assert_close(s_got.ring, s_ref.ring, got, "h", f"ring at step {step}")
    assert s_got.steps == s_ref.steps == 5


def test_step_stats_feeds_the_step_traces(rng):
    spec = random_spec(5, 9, 1, pooling="last", seed=7)
    ref, got = models(spec)
    st_ref, st_got = actif.RunningStats(5), actif.RunningStats(5)
    s_ref, s_got = ref.new_state(3), got.new_state(3)
    for _ in range(4):
        x = rng.normal(size=(3, 5)).astype(np.float32)
        ref.backend.step_stats(x, s_ref, st_ref._impl, "weighted")
        got.backend.step_stats(x, s_got, st_got._impl, "weighted")
    assert st_got.count == st_ref.count == 12
    assert_close(st_got.mean, st_ref.mean, got, "stats", "mean")
    assert_close(st_got.std, st_ref.std, got, "stats", "std")


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s: s.h.__setitem__(0, s.h[0].astype(np.float64)),  # float64 state (another backend's)
        lambda s: s.c.__setitem__(1, s.c[1][:, :3]),  # wrong hidden size
        lambda s: setattr(s, "ring", s.ring[:, :2]),  # ring shorter than the window
        lambda s: s.h.pop(),  # a layer missing
    ],
)
def test_bad_state_is_rejected_and_left_unchanged(spoil, rng):
    spec = random_spec(5, 6, 1, pooling="max", num_layers=2, window=4, seed=9)
    model = actif.Model(spec, "numba")
    state = model.new_state(2)
    model.step(rng.normal(size=(2, 5)).astype(np.float32), state)
    spoil(state)
    before = state.copy() if len(state.h) == len(state.c) else None
    with pytest.raises(ValueError, match="state"):
        model.backend.step(rng.normal(size=(2, 5)).astype(np.float32), state)
    assert state.steps == 1
    if before is not None:
        for a, b in zip(state.h + state.c + [state.ring], before.h + before.c + [before.ring]):
            np.testing.assert_array_equal(a, b)

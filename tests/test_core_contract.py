"""The core owns the contract: one input rule, native stream state, native scores,
and a typed facade over ``actif._core`` (issue: "The core owns the contract").

The input-rule table runs against both adapters over the same C++ objects: the Python
API and the C API (libactif, reached with ctypes; built here with CMake when no
library is given in ACTIF_C_LIBRARY, skipped when neither is possible).
"""

from __future__ import annotations

import ast
import copy
import ctypes
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import actif
from actif import _native
from actif.errors import InvalidInputError
from actif.stats import NumpyRunningStats, ranking_order, scores_from_moments

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "actif"
HAS_CORE = _native.load() is not None
needs_core = pytest.mark.skipif(not HAS_CORE, reason="the compiled core is not built")

N_IN, HIDDEN, T = 5, 8, 4


def make_model(max_abs=actif.model.DEFAULT_MAX_ABS, backend="cpp", pooling="mean"):
    spec = actif.model_spec.random_spec(N_IN, HIDDEN, 2, pooling=pooling, seed=3, window=T, normalization=True)
    return actif.Model(spec, backend, max_abs=max_abs)


# --------------------------------------------------------------------------- input rule


def test_overflow_bound_core_and_numpy_twin_agree():
    for seed, norm in ((0, False), (1, True), (2, True)):
        spec = actif.model_spec.random_spec(7, 9, 1, seed=seed, normalization=norm)
        twin = _native.overflow_safe_abs_numpy(spec)
        if HAS_CORE:
            np.testing.assert_allclose(_native.overflow_safe_abs(spec), twin, rtol=1e-12)
            native = actif.Model(spec, "cpp", max_abs=None)
            assert native.input_limit == pytest.approx(twin, rel=1e-12)
            assert native.backend._model.overflow_bound == _native.overflow_safe_abs(spec)
        # every backend applies the same limit, read from the core when it is built
        assert actif.Model(spec, "numpy", max_abs=None).input_limit == pytest.approx(twin, rel=1e-12)
        assert actif.Model(spec, "numpy").input_limit == 1e6


def _values(limit: float) -> list[tuple[str, float]]:
    lim32 = np.float32(limit)
    return [
        ("zero", 0.0),
        ("one", 1.0),
        ("nan", float("nan")),
        ("+inf", float("inf")),
        ("-inf", float("-inf")),
        ("+3e38", 3e38),
        ("-3e38", -3e38),
        ("at limit", float(lim32)),
        ("-at limit", -float(lim32)),
        ("just under", float(np.nextafter(lim32, np.float32(0)))),
        ("just over", float(np.nextafter(lim32, np.float32(np.inf)))),
        ("-just over", -float(np.nextafter(lim32, np.float32(np.inf)))),
    ]


def _accepted_by_rule(value: float, limit: float) -> bool:
    return bool(np.abs(np.float32(value)) <= np.float32(limit))


def _state_bytes(state) -> bytes:
    return b"".join(np.ascontiguousarray(a).tobytes() for a in [*state.h, *state.c, state.ring]) + str(state.steps).encode()


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("max_abs", [1e6, None], ids=["max_abs", "overflow_bound"])
def test_python_api_applies_one_rule_and_rejects_without_a_trace(backend, max_abs):
    if backend == "cpp" and not HAS_CORE:
        pytest.skip("no core")
    model = make_model(max_abs, backend)
    rng = np.random.default_rng(0)
    base_w = rng.normal(size=(T, N_IN)).astype(np.float32)
    for name, v in _values(model.input_limit):
        want = _accepted_by_rule(v, model.input_limit)
        window = base_w.copy()
        window[2, 3] = v
        win = actif.StreamingExplainer(model)
        st = actif.StreamingExplainer(model, stateful=True)
        win.update(base_w)
        st.update(base_w[0])
        before = (win.stats.to_bytes(), st.stats.to_bytes(), _state_bytes(st.state))
        outcomes = []
        for feed, arg in ((win.update, window), (st.update, window[2]), (model.predict, window[None])):
            try:
                feed(arg)
                outcomes.append(True)
            except InvalidInputError as exc:
                outcomes.append(False)
                assert "nothing was changed" in str(exc) and "feature" in str(exc)
        assert outcomes == [want] * 3, (name, v)
        if not want:
            assert (win.stats.to_bytes(), st.stats.to_bytes(), _state_bytes(st.state)) == before, name
        assert np.all(np.isfinite(win.stats.mean)) and np.all(np.isfinite(st.stats.mean))


# --------------------------------------------------------------------------- the C API


class _WindowRequest(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.POINTER(ctypes.c_float)),
        ("n", ctypes.c_int64),
        ("t", ctypes.c_int64),
        ("y", ctypes.POINTER(ctypes.c_float)),
        ("hidden", ctypes.POINTER(ctypes.c_float)),
        ("hidden_layer", ctypes.c_int64),
        ("trace", ctypes.c_int),
        ("trace_out", ctypes.POINTER(ctypes.c_float)),
        ("stats", ctypes.c_void_p),
        ("num_threads", ctypes.c_int32),
    ]


class _AttributionOptions(ctypes.Structure):
    _fields_ = [
        ("method", ctypes.c_int),
        ("target", ctypes.c_int64),
        ("baseline", ctypes.POINTER(ctypes.c_float)),
        ("n_steps", ctypes.c_int64),
        ("integral", ctypes.c_int),
        ("num_threads", ctypes.c_int32),
    ]


# The outputs both attribution requests end with (actif.h)
_ATTRIBUTION_OUTPUTS = [
    ("y", ctypes.POINTER(ctypes.c_float)),
    ("values", ctypes.POINTER(ctypes.c_float)),
    ("delta", ctypes.POINTER(ctypes.c_float)),
    ("abs_stats", ctypes.c_void_p),
    ("signed_stats", ctypes.c_void_p),
]


class _AttributionRequest(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.POINTER(ctypes.c_float)),
        ("n", ctypes.c_int64),
        ("t", ctypes.c_int64),
        ("options", _AttributionOptions),
        *_ATTRIBUTION_OUTPUTS,
    ]


class _StreamAttribution(ctypes.Structure):
    _fields_ = [("options", _AttributionOptions), *_ATTRIBUTION_OUTPUTS]


# actif_attribution_method (actif.h)
_C_METHODS = {"gradient": 0, "integrated": 1, "occlusion": 2, "deeplift": 3, "lrp": 4}


def _build_c_library() -> pathlib.Path | None:
    given = os.environ.get("ACTIF_C_LIBRARY")
    if given:
        return pathlib.Path(given)
    if not (shutil.which("cmake") and shutil.which("ninja")):
        return None
    build = ROOT / "build" / "pytest-c-api"
    build.mkdir(parents=True, exist_ok=True)
    cfg = ["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
           "-DACTIF_BUILD_C_API=ON", "-DACTIF_BUILD_PYTHON=OFF", "-DACTIF_BUILD_TESTS=OFF", "-DACTIF_BUILD_BENCH=OFF",
           "-DACTIF_BUILD_EXAMPLES=OFF"]
    for cmd in (cfg, ["ninja", "-C", str(build), "-j2", "actif"]):
        if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
            return None
    libs = sorted(build.glob("libactif.so*")) + sorted(build.glob("libactif*.dylib"))
    return libs[0] if libs else None


@pytest.fixture(scope="module")
def capi():
    path = _build_c_library()
    if path is None or not path.exists():
        pytest.skip("libactif (the C API) could not be built here: set ACTIF_C_LIBRARY")
    lib = ctypes.CDLL(str(path))
    p, f32p, f64p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_double)
    sig = {
        "actif_model_load_file": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(p)]),
        "actif_model_free": (None, [p]),
        "actif_model_set_max_abs": (ctypes.c_int, [p, ctypes.c_double]),
        "actif_model_input_limit": (ctypes.c_double, [p]),
        "actif_forward": (ctypes.c_int, [p, ctypes.POINTER(_WindowRequest)]),
        "actif_stream_create": (ctypes.c_int, [p, ctypes.c_int64, ctypes.POINTER(p)]),
        "actif_stream_free": (None, [p]),
        "actif_stream_steps": (ctypes.c_int64, [p]),
        "actif_stream_step": (ctypes.c_int, [p, f32p, f32p, ctypes.c_int, f32p, p]),
        "actif_stream_run": (ctypes.c_int, [p, f32p, ctypes.c_int64, f32p, ctypes.c_int, f32p, p]),
        "actif_stream_hidden": (ctypes.c_int, [p, ctypes.c_int64, f32p, ctypes.c_int64]),
        "actif_stats_create": (ctypes.c_int, [ctypes.c_int64, ctypes.c_double, ctypes.POINTER(p)]),
        "actif_stats_free": (None, [p]),
        "actif_stats_serialized_size": (ctypes.c_size_t, [p]),
        "actif_stats_serialize": (ctypes.c_int, [p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
        "actif_stats_mean": (ctypes.c_int, [p, f64p, ctypes.c_int64]),
        "actif_last_error": (ctypes.c_char_p, []),
        "actif_attribute_windows": (ctypes.c_int, [p, ctypes.POINTER(_AttributionRequest)]),
        "actif_stream_attribute": (ctypes.c_int, [p, ctypes.POINTER(_StreamAttribution)]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _fptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


class _CModel:
    """A model, a stream and statistics on the C side."""

    def __init__(self, lib, path: pathlib.Path, max_abs: float | None):
        self.lib = lib
        self.model, self.stream, self.stats, self.stream_stats = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        assert lib.actif_model_load_file(str(path).encode(), ctypes.byref(self.model)) == 0, lib.actif_last_error()
        assert lib.actif_model_set_max_abs(self.model, float("inf") if max_abs is None else max_abs) == 0
        assert lib.actif_stream_create(self.model, 1, ctypes.byref(self.stream)) == 0
        assert lib.actif_stats_create(N_IN, 0.0, ctypes.byref(self.stats)) == 0
        assert lib.actif_stats_create(N_IN, 0.0, ctypes.byref(self.stream_stats)) == 0

    def close(self):
        self.lib.actif_stream_free(self.stream)
        self.lib.actif_stats_free(self.stats)
        self.lib.actif_stats_free(self.stream_stats)
        self.lib.actif_model_free(self.model)

    def forward(self, x: np.ndarray) -> int:
        x = np.ascontiguousarray(x, np.float32)
        y = np.zeros((x.shape[0], 2), np.float32)
        req = _WindowRequest(_fptr(x), x.shape[0], x.shape[1], _fptr(y), None, 0, 2, None, self.stats, 1)
        return self.lib.actif_forward(self.model, ctypes.byref(req))

    def step(self, x: np.ndarray) -> int:
        x = np.ascontiguousarray(x, np.float32)
        y = np.zeros((x.shape[0], 2), np.float32)
        return self.lib.actif_stream_run(self.stream, _fptr(x), x.shape[0], _fptr(y), 2, None, self.stream_stats)

    def stats_bytes(self, which) -> bytes:
        size = self.lib.actif_stats_serialized_size(which)
        buf = ctypes.create_string_buffer(size)
        assert self.lib.actif_stats_serialize(which, buf, size, None) == 0
        return buf.raw

    def state_bytes(self) -> bytes:
        h = np.zeros(HIDDEN, np.float32)
        assert self.lib.actif_stream_hidden(self.stream, 0, _fptr(h), HIDDEN) == 0
        return h.tobytes() + str(self.lib.actif_stream_steps(self.stream)).encode()


@needs_core
@pytest.mark.parametrize("max_abs", [1e6, None], ids=["max_abs", "overflow_bound"])
def test_python_and_c_api_accept_and_reject_the_same_inputs(capi, tmp_path, max_abs):
    model = make_model(max_abs)
    path = tmp_path / "m.npz"
    model.save(path)
    c = _CModel(capi, path, max_abs)
    try:
        assert capi.actif_model_input_limit(c.model) == model.input_limit
        rng = np.random.default_rng(1)
        base = rng.normal(size=(T, N_IN)).astype(np.float32)
        win = actif.StreamingExplainer(model)
        st = actif.StreamingExplainer(model, stateful=True)
        for name, v in _values(model.input_limit):
            window = base.copy()
            window[1, 4] = v
            py_before = (win.stats.to_bytes(), st.stats.to_bytes(), _state_bytes(st.state))
            c_before = (c.stats_bytes(c.stats), c.stats_bytes(c.stream_stats), c.state_bytes())
            py_ok = []
            for feed, arg in ((win.update, window), (st.update, window[:2])):
                try:
                    feed(arg)
                    py_ok.append(True)
                except InvalidInputError:
                    py_ok.append(False)
            c_status = [c.forward(window[None]), c.step(window[:2])]
            c_ok = [s == 0 for s in c_status]
            assert py_ok == c_ok == [_accepted_by_rule(v, model.input_limit)] * 2, (name, v, capi.actif_last_error())
            if not c_ok[1]:
                msg = capi.actif_last_error().decode()
                assert "step 1, row 0, feature 4" in msg and "nothing was changed" in msg, msg
            if not c_ok[0]:
                assert (win.stats.to_bytes(), st.stats.to_bytes(), _state_bytes(st.state)) == py_before
                assert (c.stats_bytes(c.stats), c.stats_bytes(c.stream_stats), c.state_bytes()) == c_before
            # both adapters drive the same objects: the same bytes after the same inputs
            assert c.stats_bytes(c.stats) == win.stats.to_bytes(), name
            assert c.stats_bytes(c.stream_stats) == st.stats.to_bytes(), name
        # wrong sizes the C API can express: windows of length 0; an empty batch is a no-op
        assert c.forward(np.zeros((1, 0, N_IN), np.float32)) != 0
        with pytest.raises(InvalidInputError):
            model.predict(np.zeros((1, 0, N_IN), np.float32))
        assert c.forward(np.zeros((0, T, N_IN), np.float32)) == 0
        assert model.predict(np.zeros((0, T, N_IN), np.float32)).shape == (0, 2)
        with pytest.raises(InvalidInputError):
            model.predict(np.zeros((1, T, N_IN + 1), np.float32))  # (the C API's I is the model's)
    finally:
        c.close()


@needs_core
@pytest.mark.parametrize("method", sorted(_C_METHODS))
def test_c_api_methods_give_pythons_statistics_bytes(capi, tmp_path, method):
    """The methods through the C API's window call (actif_attribute_windows) and stream
    call (actif_stream_attribute after each actif_stream_run) and through Python's
    StreamingExplainer in window and stateful mode: the same statistics bytes, |A| and A."""
    model = make_model(None, pooling="max")
    path = tmp_path / "m.npz"
    model.save(path)
    c = _CModel(capi, path, None)
    stats = [ctypes.c_void_p() for _ in range(4)]  # window |A|, A; stream |A|, A
    for handle in stats:
        assert capi.actif_stats_create(N_IN, 0.0, ctypes.byref(handle)) == 0
    try:
        rng = np.random.default_rng(4)
        windows = rng.normal(size=(6, T, N_IN)).astype(np.float32)
        samples = rng.normal(size=(9, N_IN)).astype(np.float32)
        options = _AttributionOptions(_C_METHODS[method], 1, None, 6, 0, 1)  # target 1, default baseline, 6 nodes
        y = np.zeros((len(windows), 2), np.float32)
        req = _AttributionRequest(_fptr(windows), len(windows), T, options, _fptr(y), None, None, stats[0], stats[1])
        assert capi.actif_attribute_windows(c.model, ctypes.byref(req)) == 0, capi.actif_last_error()
        y1 = np.zeros((1, 2), np.float32)
        for sample in samples:
            assert c.lib.actif_stream_run(c.stream, _fptr(sample[None]), 1, _fptr(y1), 0, None, None) == 0
            sreq = _StreamAttribution(options, _fptr(y1), None, None, stats[2], stats[3])
            assert capi.actif_stream_attribute(c.stream, ctypes.byref(sreq)) == 0, capi.actif_last_error()
        window_mode = actif.StreamingExplainer(model, method, target=1, n_steps=6)
        window_mode.update(windows)
        stateful = actif.StreamingExplainer(model, method, stateful=True, target=1, n_steps=6)
        stateful.update(samples[:4])
        for sample in samples[4:]:
            stateful.update(sample)
        got = [c.stats_bytes(h) for h in stats]
        want = [st.to_bytes() for ex in (window_mode, stateful) for st in (ex.stats, ex.signed_stats)]
        assert got == want
    finally:
        for handle in stats:
            capi.actif_stats_free(handle)
        c.close()


# --------------------------------------------------------------------------- check-then-use


@needs_core
@pytest.mark.parametrize("path", ["hot", "general"])
def test_a_thread_writing_nan_into_the_callers_buffer_cannot_reach_the_statistics(tmp_path, path):
    """Window-mode update copies the caller's array once (GIL held) and checks and
    computes on that copy: a NaN written by another thread while the forward runs
    without the GIL either is seen by the check (rejected, nothing changed) or never
    reaches the computation."""
    spec = actif.model_spec.random_spec(N_IN, 32, 1, seed=0)
    model = actif.Model(spec, "cpp", num_threads=1)
    x = np.random.default_rng(0).normal(size=(400, 10, N_IN)).astype(np.float32)
    buf = x if path == "hot" else x.astype(np.float64)  # float64: the general path
    stop = threading.Event()
    writes = [0]

    def writer():
        while not stop.is_set():
            buf[-1, -1, 0] = np.nan
            buf[-1, -1, 0] = 0.5
            writes[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=writer)
    t.start()
    try:
        ex = actif.StreamingExplainer(model)
        for _ in range(30):
            before = ex.stats.to_bytes()
            try:
                ex.update(buf)
            except ValueError:
                assert ex.stats.to_bytes() == before
            assert np.all(np.isfinite(ex.stats.mean)) and np.all(np.isfinite(ex.stats.m2))
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    # the race was on (the writer ran during the updates) and updates did land
    assert writes[0] > 0 and ex.n_updates > 0 and ex.stats.count == ex.n_updates * 10
    ck = ex.checkpoint(tmp_path / "ck")
    assert actif.StreamingExplainer.restore(ck, model).stats == ex.stats


# --------------------------------------------------------------------------- native stream


@needs_core
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_stateful_batch_is_one_native_call_equal_to_single_steps(pooling):
    model = make_model(pooling=pooling)
    x = np.random.default_rng(2).normal(size=(9, N_IN)).astype(np.float32)
    batch = actif.StreamingExplainer(model, stateful=True)
    single = actif.StreamingExplainer(model, stateful=True)
    y_batch = batch.update(x)
    y_single = np.stack([single.update(row) for row in x])
    np.testing.assert_array_equal(y_batch, y_single)
    assert batch.stats.to_bytes() == single.stats.to_bytes()
    assert _state_bytes(batch.state) == _state_bytes(single.state) and batch.state.steps == 9
    # the same through the numpy backend's Python StreamState, behind the same interface
    ref = actif.StreamingExplainer(model.with_backend("numpy"), stateful=True)
    ref.update(x)
    assert ref.state.steps == 9 and ref.state.batch == batch.state.batch == 1
    for a, b in zip([*batch.state.h, *batch.state.c, batch.state.ring], [*ref.state.h, *ref.state.c, ref.state.ring]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@needs_core
def test_native_stream_state_is_owned_and_copies_are_independent():
    model = make_model()
    s = model.new_state(2)
    assert type(s).__name__ == "Stream" and s.batch == 2 and s.steps == 0
    x = np.ones((2, N_IN), np.float32)
    model.step(x, s)
    snap = copy.deepcopy(s)
    h0 = s.h[0].copy()
    model.step(x, s)
    assert snap.steps == 1 and s.steps == 2
    np.testing.assert_array_equal(snap.h[0], h0)
    with pytest.raises(ValueError):
        s.h[0][0, 0] = 1.0  # read-only views: the core owns the state
    bad = np.ones((2, N_IN), np.float32)
    bad[1, 2] = 1e30
    before = _state_bytes(s)
    with pytest.raises(InvalidInputError, match="row 1, feature"):
        model.step(bad, s)
    assert _state_bytes(s) == before
    s.reset()
    assert s.steps == 0 and not s.h[0].any()


# --------------------------------------------------------------------------- statistics


def _stats(impl: str, seed: int = 0, rows: int = 50) -> actif.RunningStats:
    rs = actif.RunningStats(6, impl=impl)
    rs.update(np.abs(np.random.default_rng(seed).normal(size=(rows, 6))))
    return rs


IMPLS = ["numpy", pytest.param("cpp", marks=needs_core)]


@pytest.mark.parametrize("impl", IMPLS)
def test_running_stats_pickle_copy_eq_and_iadd(impl):
    rs = _stats(impl)
    for clone in (pickle.loads(pickle.dumps(rs)), copy.copy(rs), copy.deepcopy(rs), rs.copy()):
        assert clone == rs and clone is not rs and clone.to_bytes() == rs.to_bytes()
        assert isinstance(clone._impl, NumpyRunningStats) == (impl == "numpy")
    clone = copy.copy(rs)
    clone.update(np.ones((1, 6)))
    assert clone != rs  # independent
    a, b = _stats(impl, 1), _stats(impl, 2, rows=7)
    merged = a.copy().merge(b)
    a_iadd = a.copy()
    a_iadd += b
    assert a_iadd == merged and (a + b) == merged and a == _stats(impl, 1)


@needs_core
@pytest.mark.parametrize("method", ["inverse", "mean", "meanstd", "pen"])
def test_native_scores_and_ranking_equal_the_numpy_path(method):
    for seed in range(5):
        rs = _stats("cpp", seed)
        rs.update(np.zeros((3, 6)))  # ties and spread
        want = scores_from_moments(rs.mean, rs.std, method)
        got = actif.scores(rs, method)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(rs.ranking(method), ranking_order(want))
        ref = actif.RunningStats.from_bytes(rs.to_bytes(), impl="numpy")
        np.testing.assert_array_equal(actif.scores(ref, method), got)
    with pytest.raises(ValueError, match="no samples"):
        actif.RunningStats(3, impl="cpp").scores()


# --------------------------------------------------------------------------- the facade


def test_core_is_imported_by_the_native_module_only():
    importers = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "_core" or n.endswith("._core") for n in names):
                importers.append(path.relative_to(PACKAGE).as_posix())
    assert sorted(set(importers)) == ["_native.py"]


def _module_imports() -> dict[str, set[str]]:
    """actif module -> actif modules it imports anywhere (function-local imports too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_pkg)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in modules.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_no_import_cycles_between_runtime_modules_or_packages():
    graph = _module_imports()
    pkg_graph: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        if mod == "actif":  # the package's __init__ re-exports the public names
            continue
        src = _package_of(mod)
        pkg_graph.setdefault(src, set()).update(_package_of(d) for d in deps if _package_of(d) not in (src, "actif"))

    def cycles(g):
        found, state = [], {}

        def visit(node, stack):
            state[node] = 1
            for nxt in sorted(g.get(node, ())):
                if state.get(nxt) == 1:
                    found.append(stack[stack.index(nxt):] + [nxt])
                elif nxt not in state:
                    visit(nxt, stack + [nxt])
            state[node] = 2

        for node in sorted(g):
            if node not in state:
                visit(node, [node])
        return found

    assert cycles(pkg_graph) == []


def test_typing_files_ship_in_the_package():
    assert (PACKAGE / "py.typed").exists() and (PACKAGE / "_core.pyi").exists()
    if HAS_CORE:
        stub = ast.parse((PACKAGE / "_core.pyi").read_text(encoding="utf-8"))
        declared = {n.name for n in stub.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        core = _native.load()
        public = {n for n in dir(core) if not n.startswith("_")}
        assert declared == public
        # and every class's methods and properties, so a new binding cannot ship untyped
        for cls in (n for n in stub.body if isinstance(n, ast.ClassDef)):
            stubbed = {n.name for n in cls.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
            bound = {n for n in vars(getattr(core, cls.name)) if not n.startswith("_")}
            assert stubbed == bound, cls.name


def test_import_actif_loads_neither_matplotlib_nor_rich():
    code = (
        "import sys, actif\n"
        "bad = sorted(m for m in ('matplotlib', 'rich', 'pandas', 'actif.lab') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

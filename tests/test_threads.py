"""Threads: independent explainers in parallel threads give exactly the single-thread
results; a shared StreamingExplainer refuses a second concurrent writer and lets
readers wait for a consistent state; shared RunningStats never lose an update."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import actif
from actif.backends.base import Backend
from actif.model_spec import random_spec

BACKENDS = actif.available_backends()
N_IN, T = 7, 10


@pytest.fixture(params=BACKENDS)
def model(request):
    return actif.Model(random_spec(N_IN, 24, 1, pooling="mean", seed=11, window=T), request.param)


def chunks(seed: int, stateful: bool, n: int = 12):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(5, N_IN) if stateful else (16, T, N_IN)).astype(np.float32) for _ in range(n)]


def run_stream(model, stateful, seed):
    st = actif.StreamingExplainer(model, stateful=stateful)
    ys = [st.update(x) for x in chunks(seed, stateful)]
    return st.stats.to_bytes(), np.concatenate(ys).tobytes()


@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
def test_parallel_explainers_equal_sequential(model, stateful):
    if stateful and type(model.backend).step is Backend.step:
        pytest.skip("no stateful mode")
    seeds = list(range(6))
    sequential = [run_stream(model, stateful, s) for s in seeds]
    with ThreadPoolExecutor(max_workers=3) as pool:  # one shared Model, six streams
        parallel = list(pool.map(lambda s: run_stream(model, stateful, s), seeds))
    assert parallel == sequential


def test_shared_explainer_into_separate_stats(model):
    ex = actif.Explainer(model, batch_size=8)
    data = [np.random.default_rng(s).normal(size=(40, T, N_IN)).astype(np.float32) for s in range(6)]
    sequential = [ex.attribute(X).stats.to_bytes() for X in data]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(lambda X: ex.attribute(X).stats.to_bytes(), data))
    assert parallel == sequential


def test_threads_attributing_into_one_stats_lose_nothing(model):
    ex = actif.Explainer(model, batch_size=8)
    data = [np.random.default_rng(s).normal(size=(24, T, N_IN)).astype(np.float32) for s in range(8)]
    shared = actif.RunningStats(N_IN)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda X: ex.attribute(X, stats=shared), data))
    whole = ex.attribute(np.concatenate(data))
    assert shared.count == whole.stats.count == 8 * 24 * T
    np.testing.assert_allclose(shared.mean, whole.stats.mean, rtol=1e-12)
    np.testing.assert_allclose(shared.m2, whole.stats.m2, rtol=1e-10)


@pytest.mark.parametrize("impl", ["numpy", "auto"])
def test_shared_running_stats_updated_from_threads(impl):
    rows = [np.random.default_rng(s).normal(size=(50, 3)) for s in range(40)]
    shared = actif.RunningStats(3, impl=impl)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(shared.update, rows))
    ref = actif.RunningStats(3, impl=impl).update(np.concatenate(rows))
    assert shared.count == 2000
    np.testing.assert_allclose(shared.mean, ref.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(shared.m2, ref.m2, rtol=1e-10)


class Gate:
    """Holds backend calls open until released, so two threads meet inside update.
    Both entry points are gated: the native hot path (try_*) and the general one."""

    def __init__(self, backend, methods: tuple[str, ...], monkeypatch):
        self.entered, self.release = threading.Event(), threading.Event()
        for method in methods:
            original = getattr(backend, method)

            def gated(*args, _original=original, **kwargs):
                self.entered.set()
                assert self.release.wait(30)
                return _original(*args, **kwargs)

            monkeypatch.setattr(backend, method, gated)


@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
def test_second_writer_is_refused_and_readers_wait(model, stateful, monkeypatch):
    if stateful and type(model.backend).step is Backend.step:
        pytest.skip("no stateful mode")
    first, second = chunks(1, stateful, 2)
    st = actif.StreamingExplainer(model, stateful=stateful)
    st.update(first)  # so the reader has a state to (wrongly) read early
    before_scores = st.scores()
    gate = Gate(model.backend, ("step_stats", "try_step_stats") if stateful else ("forward_stats", "try_forward_stats"), monkeypatch)
    writer = threading.Thread(target=st.update, args=(second,))
    writer.start()
    assert gate.entered.wait(30)
    with pytest.raises(RuntimeError, match="another thread"):
        st.update(first)
    with pytest.raises(RuntimeError, match="another thread"):
        st.reset()
    seen = {}
    reader = threading.Thread(target=lambda: seen.update(scores=st.scores(), result=st.result()))
    reader.start()
    reader.join(0.2)  # it must be waiting for the writer, not reading half a state
    assert reader.is_alive()
    gate.release.set()
    writer.join(30)
    reader.join(30)
    monkeypatch.undo()

    reference = actif.StreamingExplainer(model, stateful=stateful)
    reference.update(first)
    reference.update(second)
    assert st.stats.to_bytes() == reference.stats.to_bytes()  # the refused calls changed nothing
    assert st.n_updates == reference.n_updates
    np.testing.assert_array_equal(seen["scores"], reference.scores())
    assert not np.array_equal(seen["scores"], before_scores)
    assert seen["result"].stats.count == reference.stats.count


def test_readers_never_see_a_torn_state(model):
    st = actif.StreamingExplainer(model)
    st.update(chunks(0, False, 1)[0][:1])
    stop = threading.Event()
    counts: list[int] = []
    errors: list[BaseException] = []

    def read():
        while not stop.is_set():
            try:
                res = st.result()
                counts.append(res.stats.count)
                assert np.all(np.isfinite(res.scores))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for X in chunks(3, False, 20):
            for window in X:
                st.update(window)
    finally:
        stop.set()
        for r in readers:
            r.join(30)
    assert not errors
    assert counts and all(c % T == 0 for c in counts)  # whole windows only

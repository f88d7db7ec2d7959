"""actif.distributed on real Dask clusters on this machine (localhost only): the result
does not depend on the engine, faults lose nothing and count nothing twice.

One LocalCluster of two worker processes serves most tests; one test starts a cluster
the way operators do (``dask scheduler`` and two ``dask worker`` processes) and drives
it through the CLI's ``--scheduler``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask")
distributed_pkg = pytest.importorskip("distributed")

import actif  # noqa: E402
from actif import distributed as ad  # noqa: E402
from actif.cli import main as cli_main  # noqa: E402

RTOL = 1e-12
T, I = 10, 6  # noqa: E741


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def assert_same_statistics(got: actif.RunningStats, ref: actif.RunningStats):
    assert got.count == ref.count
    assert rel_err(got.mean, ref.mean) < RTOL
    assert rel_err(got.m2, ref.m2) < RTOL


def assert_same_attribution(got, ref):
    assert_same_statistics(got.stats, ref.stats)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-9, atol=1e-12)
    assert got.ranking == ref.ranking


@pytest.fixture(scope="module")
def client():
    with distributed_pkg.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL,
    ) as cluster, distributed_pkg.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def model():
    return actif.random_model(I, 8, seed=3, window=T)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, model):
    """Windows in three formats: a .npy, an .npz and a CSV session (cut as actif explain
    does); returns (folder, paths, the same windows concatenated in partition order)."""
    from actif.commands.explain import sliding_windows

    folder = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(7)
    a = rng.normal(size=(1100, T, I)).astype(np.float32)
    b = rng.normal(size=(500, T, I)).astype(np.float32) * 2
    samples = rng.normal(size=(300, I)).astype(np.float32)
    np.save(folder / "a.npy", a)
    np.savez(folder / "b.npz", X=b)
    with open(folder / "c.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(model.feature_names) + "\n")
        for row in samples:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    c = sliding_windows(samples, T, 1)
    paths = [str(folder / n) for n in ("a.npy", "b.npz", "c.csv")]
    return str(folder), paths, np.concatenate([a, b, c])


def test_import_actif_does_not_import_dask():
    code = "import sys, actif; assert 'dask' not in sys.modules and 'actif.distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"actif\[dask\]"):
        ad.merge([b"x"])


def test_distributed_equals_single_process(client, model, recordings):
    folder, paths, X = recordings
    ref = actif.Explainer(model).attribute(X)
    report = ad.attribute_with_report(model, folder, client=client, partition_size=256, split_every=2)
    assert report.partitions == 5 + 1 + 1  # a.npy in 5 ranges of 256, b.npz, c.csv
    assert report.tree_depth == 3
    assert report.windows == len(X)
    assert_same_attribution(report.attribution, ref)
    assert report.attribution.skipped == {}
    # the same job again: identical bytes (a fixed tree, pure tasks)
    again = ad.attribute(model, paths, client=client, partition_size=256, split_every=2)
    assert again.stats.to_bytes() == report.attribution.stats.to_bytes()


def test_model_goes_to_each_worker_once(client, model, recordings):
    from actif.checkpoint import model_fingerprint

    fingerprint = model_fingerprint(model.spec)

    def model_state(dask_worker):
        from actif import _dask_worker

        fetched = sum(1 for e in dask_worker.transfer_incoming_log for k in e.get("keys", {}) if "model" in str(k))
        return fetched, _dask_worker.model_loads[fingerprint], sum(_dask_worker.pins.values()), sorted(dask_worker.plugins)

    _, paths, _ = recordings
    before = client.run(model_state)
    report = ad.attribute_with_report(model, paths, client=client, partition_size=64)
    assert report.partitions == 20
    after = client.run(model_state)
    for w in after:
        fetched, loads, pins, plugins = after[w]
        # the bytes never travel as a key of the graph, which a worker could drop and re-fetch
        assert fetched == before[w][0], (before, after)
        # each worker process parses the model at most once (its plugin), whatever the job length
        assert loads - before[w][1] <= 1, (before, after)
        # and once the job is over, nothing is pinned and the job's plugin is gone
        assert pins == 0 and not any(p.startswith("actif-model-") for p in plugins), after[w]


def test_embedded_local_cluster_with_one_worker_gives_the_same_bytes(client, model, recordings):
    _, paths, _ = recordings
    two = ad.attribute(model, paths, client=client, partition_size=256, split_every=2)
    one = ad.attribute(model, paths, workers=1, partition_size=256, split_every=2)  # its own LocalCluster
    assert one.stats.to_bytes() == two.stats.to_bytes()


def test_dask_array_source(client, model, recordings):
    import dask.array as da

    _, _, X = recordings
    ref = actif.Explainer(model).attribute(X)
    got = ad.attribute(model, da.from_array(X, chunks=(333, T, I)), client=client)
    assert_same_attribution(got, ref)


def test_parquet_session_and_progress_display(client, model, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from actif.commands.explain import sliding_windows

    samples = np.random.default_rng(5).normal(size=(240, I)).astype(np.float32)
    path = tmp_path / "session.parquet"
    frame = pd.DataFrame(samples[:, ::-1], columns=model.feature_names[::-1])  # columns found by name
    frame["timestamp"] = np.arange(len(samples))
    frame.to_parquet(path)
    got = ad.attribute(model, str(path), client=client, stride=2, progress=True)
    assert_same_attribution(got, actif.Explainer(model).attribute(sliding_windows(samples, T, 2)))
    assert "Completed" in capsys.readouterr().err  # Dask's progress bar, on stderr


def test_invalid_windows_skip_counts_aggregate_exactly(client, model, tmp_path):
    rng = np.random.default_rng(11)
    parts = [rng.normal(size=(n, T, I)).astype(np.float32) for n in (400, 300, 250)]
    parts[0][[3, 200], 2, 1] = np.nan
    parts[1][[0, 299], 5, 0] = np.inf
    parts[1][17, 0, 3] = 5e6  # beyond the default max_abs
    parts[2][[1, 2, 3], 9, 5] = -2e7
    paths = []
    for k, p in enumerate(parts):
        paths.append(str(tmp_path / f"s{k}.npy"))
        np.save(paths[-1], p)
    X = np.concatenate(parts)
    streaming = actif.StreamingExplainer(model, on_invalid="skip")
    streaming.update(X)
    got = ad.attribute(model, paths, client=client, on_invalid="skip", partition_size=128)
    assert got.skipped == dict(streaming.skipped) == {"non_finite": 4, "out_of_range": 4}
    assert_same_statistics(got.stats, streaming.stats)
    # raise: the job fails naming the file and a bad window (the first to fail, when several)
    with pytest.raises(ad.DataFileError, match=r"s0\.npy: window (3|200) has NaN at row 2, feature 'f1'"):
        ad.attribute(model, paths[0], client=client, partition_size=128)
    with pytest.raises(ad.DataFileError, match=r"s2\.npy: window 1 has \|value\| 2e\+07 > max_abs"):
        ad.attribute(model, paths[2], client=client, partition_size=128)


def test_corrupt_files_are_named_and_the_policy_honoured(client, model, recordings, tmp_path):
    _, paths, X = recordings
    good = np.load(paths[0])
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes(open(paths[0], "rb").read()[:5000])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a zip at all")
    wrong = tmp_path / "wrong_shape.npy"
    np.save(wrong, np.zeros((700, T, I + 1), np.float32))  # three partitions below, one file refused
    bad_table = tmp_path / "bad_line.csv"
    bad_table.write_text(",".join(model.feature_names) + "\n" + "\n".join(["1,2,3,4,5,6"] * 12 + ["1,2,x,4,5,6"]) + "\n")
    sources = [paths[0], str(truncated), str(garbage), str(wrong), str(bad_table)]
    with pytest.raises(ad.DataFileError) as err:
        ad.attribute(model, sources, client=client)
    assert any(name in str(err.value) for name in ("truncated.npy", "garbage.npz", "wrong_shape.npy", "bad_line.csv"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ad.attribute(model, sources, client=client, on_invalid="skip", partition_size=300)
    assert got.skipped == {"bad_file": 4}
    message = " ".join(str(w.message) for w in caught)
    for name in ("truncated.npy", "garbage.npz", "wrong_shape.npy", "bad_line.csv: line 14"):
        assert name in message
    assert_same_attribution(got, actif.Explainer(model).attribute(good))


def _device_blobs(n, n_features=7, seed=0):
    rng = np.random.default_rng(seed)
    blobs = []
    for k in range(n):
        impl = "numpy" if k % 10 == 0 else "auto"  # both writers' bytes
        rs = actif.RunningStats(n_features, impl=impl)
        rs.update(rng.gamma(2.0, 1.0 + k % 5, size=(1 + k % 4, n_features)))
        blobs.append(rs.to_bytes())
    return blobs


def _sequential(blobs):
    acc = actif.RunningStats.from_bytes(blobs[0])
    for b in blobs[1:]:
        acc.merge(actif.RunningStats.from_bytes(b))
    return acc


def test_merge_10000_device_blobs_equals_a_sequential_merge(client, tmp_path):
    blobs = _device_blobs(10_000)
    folder = tmp_path / "devices"
    folder.mkdir()
    for k, blob in enumerate(blobs):
        (folder / f"device-{k:05d}.stats").write_bytes(blob)
    report = ad.merge_with_report(str(folder), client, partition_size=1000)
    assert report.merged == 10_000 and report.partitions == 10 and report.refused == []
    assert_same_statistics(report.stats, _sequential(blobs))
    # blobs given as bytes merge to the same bytes as the same blobs given as files
    some = sorted(os.listdir(folder))[:500]
    assert ad.merge(blobs[:500], client, partition_size=100).to_bytes() == \
        ad.merge([str(folder / f) for f in some], client, partition_size=100).to_bytes()


def test_corrupt_blob_is_named_and_refused(client, tmp_path):
    blobs = _device_blobs(40, seed=5)
    folder = tmp_path / "devices"
    folder.mkdir()
    for k, blob in enumerate(blobs):
        (folder / f"d{k:02d}.stats").write_bytes(blob)
    corrupt = bytearray(blobs[13])
    corrupt[60] ^= 0xFF
    (folder / "d13.stats").write_bytes(bytes(corrupt))
    with pytest.raises(ad.DataFileError, match=r"d13\.stats: statistics blob is corrupt \(checksum mismatch\)"):
        ad.merge(str(folder), client, partition_size=8)
    (folder / "d27.stats").write_bytes(_device_blobs(1, n_features=3)[0])  # another model's
    with pytest.raises(ad.DataFileError, match=r"d(13|27)\.stats"):
        ad.merge(str(folder), client, partition_size=8)
    report = ad.merge_with_report(str(folder), client, on_invalid="skip", partition_size=8)
    assert [os.path.basename(n) for n, _ in report.refused] == ["d13.stats", "d27.stats"]
    assert "3 features" in report.refused[1][1]
    assert report.merged == 38
    good = [b for k, b in enumerate(blobs) if k not in (13, 27)]
    assert_same_statistics(report.stats, _sequential(good))


def test_killing_a_worker_mid_job_gives_the_identical_result(client, tmp_path):
    # the NumPy backend: slow enough (~0.1 s a partition) to kill a worker mid-job
    big = actif.random_model(I, 48, seed=9, window=20, backend="numpy")
    X = np.random.default_rng(3).normal(size=(2400, 20, I)).astype(np.float32)
    path = str(tmp_path / "big.npy")
    np.save(path, X)
    options = dict(client=client, partition_size=200, split_every=4)  # 12 partitions
    clean = ad.attribute(big, path, **options)

    def finished_partitions(dask_scheduler):
        return sum(1 for k, ts in dask_scheduler.tasks.items() if str(k).startswith("actif-part-") and ts.state == "memory")

    box = {}
    job = threading.Thread(target=lambda: box.update(result=ad.attribute(big, path, **options)))
    job.start()
    deadline = time.monotonic() + 60
    while client.run_on_scheduler(finished_partitions) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = client.run(os.getpid)
    victim_address, victim = sorted(pids.items())[0]
    assert job.is_alive(), "the job ended before a worker could be killed: make it longer"
    os.kill(victim, signal.SIGKILL)
    job.join(120)
    assert not job.is_alive()
    assert box["result"].stats.to_bytes() == clean.stats.to_bytes()
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert victim not in client.run(os.getpid).values()


def test_robustvision_subjects_one_partition_each(client, data_dir):
    from actif.bundled import bundled_model_path
    from actif.lab.data import build_dataset, list_subjects

    model = actif.load(bundled_model_path())
    gap = model.spec.metadata["windowing"]["gap_factor"]
    ref = actif.Explainer(model).attribute(build_dataset(data_dir, T=model.window, gap_factor=gap).windows)
    report = ad.attribute_with_report(model, data_dir, client=client)
    assert report.partitions == len(list_subjects(data_dir))
    assert_same_attribution(report.attribution, ref)


# ------------------------------------------------------ a cluster as operators start one


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def operator_cluster():
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, torn down after."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    base = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    procs = [subprocess.Popen([*base, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [*base, "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], **quiet,
            ))
        with distributed_pkg.Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for p in procs[::-1]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs[::-1]:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


def test_cli_on_an_operator_started_cluster(operator_cluster, model, recordings, tmp_path, capsys):
    folder, _, X = recordings
    model_path = str(tmp_path / "m.npz")
    model.save(model_path)
    out = str(tmp_path / "ranking.json")
    assert cli_main(["explain", "--model", model_path, "--data-dir", folder, "--scheduler", operator_cluster,
                     "--partition-size", "300", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert f"{len(X)} windows in 6 partitions on {operator_cluster}" in printed
    ref = actif.Explainer(model).attribute(X)
    doc = json.load(open(out, encoding="utf-8"))
    assert doc["count"] == ref.stats.count and doc["ranking"] == ref.ranking
    means = {f["name"]: f["mean"] for f in doc["features"]}
    assert rel_err([means[n] for n in model.feature_names], ref.stats.mean) < RTOL

    blobs = _device_blobs(300, n_features=I, seed=2)
    devices = tmp_path / "devices"
    devices.mkdir()
    for k, blob in enumerate(blobs):
        (devices / f"{k:03d}.stats").write_bytes(blob)
    merged, summary = str(tmp_path / "merged.stats"), str(tmp_path / "merged.json")
    plot = tmp_path / "merged.png"
    assert cli_main(["merge", str(devices), "--out", merged, "--json", summary, "--model", model_path, "--plot", str(plot),
                     "--scheduler", operator_cluster, "--blobs-per-partition", "64"]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = actif.RunningStats.from_bytes(open(merged, "rb").read())
    assert_same_statistics(got, _sequential(blobs))
    doc = json.load(open(summary, encoding="utf-8"))
    assert doc["blobs_merged"] == 300 and doc["count"] == got.count
    assert {f["name"] for f in doc["features"]} == set(model.feature_names)


def test_cli_on_a_cluster_explains_the_target_asked_for(client, recordings, tmp_path):
    """--target (and --n-steps) reach every worker's Explainer: the cluster's ranking of
    output 1 of a two-output model is the local one of output 1, not of output 0."""
    folder, _, X = recordings
    two = actif.random_model(I, 8, 2, seed=3, window=T)
    model_path = str(tmp_path / "two.npz")
    two.save(model_path)
    out = str(tmp_path / "ranking.json")
    assert cli_main(["explain", "--model", model_path, "--data-dir", folder, "--scheduler", client.scheduler.address,
                     "--trace", "integrated", "--target", "1", "--n-steps", "4", "--out", out]) == 0
    doc = json.load(open(out, encoding="utf-8"))
    ref = actif.Explainer(two, "integrated", target=1, n_steps=4).attribute(X)
    other = actif.Explainer(two, "integrated", target=0, n_steps=4).attribute(X)
    means = {f["name"]: f["mean"] for f in doc["features"]}
    assert rel_err([means[n] for n in two.feature_names], ref.stats.mean) < RTOL
    assert rel_err(other.stats.mean, ref.stats.mean) > 100 * RTOL  # the two targets differ: the check can fail


def test_cli_merge_refuses_a_corrupt_blob_in_one_line(client, tmp_path, capsys):
    blob = tmp_path / "bad.stats"
    blob.write_bytes(b"ACTIFRS\x00 truncated")
    assert cli_main(["merge", str(blob), "--out", str(tmp_path / "m.stats"), "--scheduler", client.scheduler.address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.stats" in err[0]
    assert not (tmp_path / "m.stats").exists()

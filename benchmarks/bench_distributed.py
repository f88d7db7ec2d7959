"""Fleet scale on Dask: throughput, scheduler overhead and worker memory of
actif.distributed on this machine, and what they predict for a fleet.

Measured, side by side in one run (rounds interleave the engines; medians reported):

- windows per second of ``actif.distributed.attribute`` on a LocalCluster of 1 and of 2
  worker processes (one thread each) against single-process ``Explainer.attribute``
  (one thread, the same model and the same .npy of windows, read from the page cache);
- scheduler overhead: the same job cut into partitions of 1 window (every task does
  almost nothing, so wall time / tasks is the cost of a task), and wall time against
  partition size;
- peak RSS of each worker process (reset before each job) as partitions grow: a .npy
  partition is read one batch at a time, so it should stay flat;
- merging device blobs (files of RunningStats bytes, 37 features) on 2 workers against
  a sequential merge in one process.

From these it projects, on paper, 100 workers over 1e9 windows and a merge of 1e7
device blobs (task count, reduction depth, bytes moved, expected time).

    python benchmarks/bench_distributed.py                 # ~8 min on 2 busy cores
    python benchmarks/bench_distributed.py --quick --results /tmp/r   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from suite_io import bundled_gap_factor, publish, results_dir  # noqa: E402

SUITE = "distributed"
SPLIT_EVERY = 8


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_distributed.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--windows", type=int, default=131_072, help="windows in the throughput file (default 2^17)")
    p.add_argument("--partition-size", type=int, default=16_384, help="windows per partition in the throughput runs")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per engine (default 3)")
    p.add_argument("--blobs", type=int, default=20_000, help="device blob files to merge (default 20,000)")
    p.add_argument("--data-dir", help="RobustVision folder for the windows (default: $ACTIF_DATA_DIR; simulated if absent)")
    p.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.windows, args.partition_size, args.rounds, args.blobs = 16_384, 2048, 1, 2000
    return args


def window_pool(data_dir, spec) -> tuple[np.ndarray, str]:
    from actif.lab.data import build_dataset, build_synthetic_dataset

    if data_dir:
        return build_dataset(data_dir, T=int(spec.window), gap_factor=bundled_gap_factor(spec)).windows, "RobustVision windows"
    return build_synthetic_dataset(4, duration_s=30.0, seed=0).windows, "simulated gaze windows"


def worker_rss(client) -> dict[str, tuple[int, int]]:
    from actif.lab.report import rss_kib

    return client.run(rss_kib)


def reset_worker_peaks(client) -> bool:
    from actif.lab.report import reset_peak_rss

    return all(client.run(reset_peak_rss).values())


def cluster(n_workers):
    from actif.distributed import cluster_client

    return cluster_client(workers=n_workers)


def main(argv=None) -> int:
    args = parse_args(argv)
    import actif
    from actif import distributed as ad
    from actif.bundled import bundled_model_path
    from actif.lab.data import data_dir
    from actif.model import load_spec

    args.data_dir = data_dir(args.data_dir)
    spec = load_spec(bundled_model_path())
    backend = "cpp" if "cpp" in actif.available_backends() else "auto"
    model = actif.Model(spec, backend, num_threads=1, max_abs=None)
    pool, pool_kind = window_pool(args.data_dir, spec)
    scratch = tempfile.mkdtemp(prefix="actif-bench-distributed-")
    try:
        path = os.path.join(scratch, "windows.npy")
        X = np.resize(pool, (args.windows, *pool.shape[1:])).astype(np.float32)  # the pool, cycled
        np.save(path, X)
        del X
        doc = measure(args, ad, actif, model, path, scratch, pool_kind)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def worker_cpu(client) -> float:
    """CPU seconds the cluster's worker processes have used so far."""
    return sum(client.run(time.process_time).values())


def cpu_timed(fn, client=None):
    """(wall s, CPU s of this process + the client's workers, this process's CPU s, result).
    This process hosts the LocalCluster's scheduler, so its CPU is the scheduler's and the
    client's; CPU seconds are what contention on a shared machine does not inflate."""
    w0 = worker_cpu(client) if client is not None else 0.0
    c0 = time.process_time()
    wall, out = timed(fn)
    own = time.process_time() - c0
    workers = (worker_cpu(client) - w0) if client is not None else 0.0
    return wall, own + workers, own, out


def measure(args, ad, actif, model, path, scratch, pool_kind) -> dict:
    n, ps, rounds = args.windows, args.partition_size, args.rounds
    n_parts = math.ceil(n / ps)

    def single():
        X = np.load(path)
        return actif.Explainer(model).attribute(X).stats

    cores = os.cpu_count() or 1
    threaded = actif.Model(model.spec, model.backend_name, num_threads=cores, max_abs=model.max_abs)

    def single_threaded():  # the in-process alternative to more worker processes
        X = np.load(path)
        return actif.Explainer(threaded).attribute(X).stats

    # ------------------------------------------------------------ throughput
    times: dict[str, list[float]] = {"single": [], "threads": [], "w1": [], "w2": []}
    cpus: dict[str, list[float]] = {"single": [], "threads": [], "w1": [], "w2": []}
    worker_only: list[float] = []  # CPU s of the single worker process (1-worker runs)
    ref_bytes = None
    with contextlib.ExitStack() as stack:
        up1, c1 = timed(lambda: stack.enter_context(cluster(1)))
        up2, c2 = timed(lambda: stack.enter_context(cluster(2)))
        if True:
            clients = {"w1": c1, "w2": c2}
            for c in clients.values():  # warm: each worker parses the model once, the page cache holds the file
                ad.attribute(model, path, client=c, partition_size=ps)
            single()
            for r in range(rounds):
                t, cpu, _, stats = cpu_timed(single)
                times["single"].append(t)
                cpus["single"].append(cpu)
                t, cpu, _, _ = cpu_timed(single_threaded)
                times["threads"].append(t)
                cpus["threads"].append(cpu)
                ref_bytes = stats
                for key, c in clients.items():
                    t, cpu, own, res = cpu_timed(lambda c=c: ad.attribute(model, path, client=c, partition_size=ps, split_every=SPLIT_EVERY), c)
                    times[key].append(t)
                    cpus[key].append(cpu)
                    if key == "w1":
                        worker_only.append(cpu - own)
                    rel = np.max(np.abs(res.stats.mean - ref_bytes.mean) / np.abs(ref_bytes.mean))
                    assert res.stats.count == ref_bytes.count and rel < 1e-12, "distributed statistics differ from the single process"
                print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)

            # -------------------------------------------------------- per-task overhead
            tiny = os.path.join(scratch, "tiny.npy")
            n_tiny = 2000 if not args.quick else 400
            np.save(tiny, np.load(path, mmap_mode="r")[:n_tiny])
            ad.attribute(model, tiny, client=c2, partition_size=n_tiny)  # warm
            t_tiny, cpu_tiny, sched_tiny, rep_tiny = cpu_timed(
                lambda: ad.attribute_with_report(model, tiny, client=c2, partition_size=1), c2)
            tasks_tiny = rep_tiny.partitions + combine_tasks(rep_tiny.partitions, SPLIT_EVERY)
            per_task_s = t_tiny / tasks_tiny
            per_task_cpu_s = cpu_tiny / tasks_tiny
            sched_cpu_per_task_s = sched_tiny / tasks_tiny

            # -------------------------------------------------------- partition sizes: time and worker RSS
            sweep = []
            sizes = sorted({s for s in (1024, 8192, 32768, n) if s <= n})
            for size in sizes:
                reset_ok = reset_worker_peaks(c2)
                t, cpu, _, rep = cpu_timed(lambda size=size: ad.attribute_with_report(model, path, client=c2, partition_size=size), c2)
                peaks = [peak / 1024 for _, peak in worker_rss(c2).values()]
                tasks = rep.partitions + combine_tasks(rep.partitions, SPLIT_EVERY)
                sweep.append({
                    "partition_size": size, "partitions": rep.partitions, "tasks": tasks, "depth": rep.tree_depth,
                    "seconds": t, "windows_per_s": n / t, "cpu_s": cpu, "windows_per_cpu_s": n / cpu,
                    "peak_rss_mb_max": max(peaks) if reset_ok else None, "peak_rss_mb_min": min(peaks) if reset_ok else None,
                })
                print(f"partition size {size}: {t:.2f} s, worker peak RSS {max(peaks):.0f} MB", flush=True)

            # -------------------------------------------------------- merging device blobs
            merge_row = measure_merge(args, ad, actif, c2, scratch)
    t_single, t_thr, t_w1, t_w2 = (statistics.median(times[k]) for k in ("single", "threads", "w1", "w2"))
    c_single, c_thr, c_w1, c_w2 = (statistics.median(cpus[k]) for k in ("single", "threads", "w1", "w2"))
    rows = [
        {"engine": "Explainer.attribute, one process (1 thread)", "workers": 0, "partitions": 1, "seconds": t_single,
         "windows_per_s": n / t_single, "ratio": 1.0, "cpu_s": c_single, "windows_per_cpu_s": n / c_single},
        {"engine": f"Explainer.attribute, one process ({cores} threads)", "workers": 0, "partitions": 1, "seconds": t_thr,
         "windows_per_s": n / t_thr, "ratio": t_single / t_thr, "cpu_s": c_thr, "windows_per_cpu_s": n / c_thr},
        {"engine": "actif.distributed, LocalCluster", "workers": 1, "partitions": n_parts, "seconds": t_w1,
         "windows_per_s": n / t_w1, "ratio": t_single / t_w1, "cpu_s": c_w1, "windows_per_cpu_s": n / c_w1},
        {"engine": "actif.distributed, LocalCluster", "workers": 2, "partitions": n_parts, "seconds": t_w2,
         "windows_per_s": n / t_w2, "ratio": t_single / t_w2, "cpu_s": c_w2, "windows_per_cpu_s": n / c_w2},
    ]
    blob_bytes = len(actif.RunningStats(model.input_size).to_bytes())
    # on paper, each worker and the scheduler have a core of their own: CPU seconds, not wall time
    projection = project(n / statistics.median(worker_only), sched_cpu_per_task_s, merge_row, blob_bytes, model)
    flat = [r for r in sweep if r["peak_rss_mb_max"] is not None]
    summary = [
        f"{n:,} windows of the bundled model: 1 worker process {n / t_w1:,.0f} windows/s, 2 workers {n / t_w2:,.0f} "
        f"windows/s, single-process Explainer.attribute {n / t_single:,.0f} windows/s with 1 thread (ratios {t_single / t_w1:.2f} "
        f"and {t_single / t_w2:.2f}) and {n / t_thr:,.0f} with {cores} threads, on {cores} cores shared with other jobs.",
        f"{n / c_single:,.0f} windows per CPU second in one process, {n / c_w2:,.0f} on the 2-worker cluster (CPU of workers, "
        f"scheduler and client): the cost of the cluster, whatever the load.",
        f"Scheduler overhead: {1e3 * per_task_s:.2f} ms of wall time per task ({tasks_tiny:,} tasks of one window each, "
        f"2 workers), {1e3 * per_task_cpu_s:.2f} ms of CPU ({1e3 * sched_cpu_per_task_s:.2f} ms in the scheduler and client); "
        f"partitions of {sweep[0]['partition_size']:,} windows ({sweep[0]['partitions']} of them) run at "
        f"{sweep[0]['windows_per_s']:,.0f} windows/s, of {sweep[-1]['partition_size']:,} ({sweep[-1]['partitions']}, "
        f"so {'one worker idles' if sweep[-1]['partitions'] < 2 else 'both workers busy'}) at {sweep[-1]['windows_per_s']:,.0f}.",
    ]
    if flat:
        peaks_text = ", ".join(f"{r['peak_rss_mb_max']:.0f}" for r in flat)
        summary.append(
            f"Peak RSS per worker as partitions grow from {flat[0]['partition_size']:,} to {flat[-1]['partition_size']:,} "
            f"windows: {peaks_text} MB (a .npy partition is read one batch of "
            "4,096 windows at a time, so memory is bounded by the batch, not the partition).")
    summary.append(
        f"Merging {merge_row['blobs']:,} device blob files on 2 workers: {merge_row['dask_blobs_per_s']:,.0f} blobs/s "
        f"(sequential in one process: {merge_row['sequential_blobs_per_s']:,.0f} blobs/s); equal within 1e-12.")
    summary.append(
        f"On paper: 100 workers over 1e9 windows ~{60 * projection['attr_hours']:.1f} min of compute in "
        f"{projection['attr_tasks']:,} tasks, tree depth {projection['attr_depth']}; a merge of 1e7 device blobs on 100 "
        f"workers ~{projection['merge_minutes']:.1f} min ({projection['merge_tasks']:,} tasks, depth {projection['merge_depth']}).")
    return {
        "title": "Fleet scale on Dask: throughput, scheduler overhead, worker memory (bundled model, 1 thread per worker)",
        "columns": [["engine", "Engine"], ["workers", "Worker processes"], ["partitions", "Partitions"],
                    ["seconds", "Seconds (median)"], ["windows_per_s", "Windows/s"], ["ratio", "Speed vs one process"],
                    ["cpu_s", "CPU s (all processes)"], ["windows_per_cpu_s", "Windows per CPU s"]],
        "rows": rows,
        "readme_rows": rows,
        "summary": summary,
        "tables": [
            {"title": "Partition size: time and peak RSS per worker (2 workers)",
             "columns": [["partition_size", "Windows per partition"], ["partitions", "Partitions"], ["tasks", "Tasks"],
                         ["depth", "Tree depth"], ["seconds", "Seconds"], ["windows_per_s", "Windows/s"],
                         ["cpu_s", "CPU s"], ["windows_per_cpu_s", "Windows per CPU s"], ["peak_rss_mb_max", "Peak RSS, largest worker (MB)"],
                         ["peak_rss_mb_min", "Peak RSS, smallest worker (MB)"]],
             "rows": sweep},
            {"title": "Merging device blobs", "columns": [["blobs", "Blob files"], ["features", "Features"],
                                                          ["blob_bytes", "Bytes per blob"], ["partitions", "Bag partitions"],
                                                          ["dask_seconds", "Dask, 2 workers (s)"],
                                                          ["dask_blobs_per_s", "Dask blobs/s"],
                                                          ["sequential_seconds", "Sequential (s)"],
                                                          ["sequential_blobs_per_s", "Sequential blobs/s"]],
             "rows": [merge_row]},
            {"title": "On paper: a fleet, from the measurements above", "columns": [["quantity", "Quantity"], ["value", "Value"], ["how", "How"]],
             "rows": projection["rows"]},
        ],
        "notes": [
            "This machine has 2 cores shared with other jobs (up to 8 agents building and testing at the same time): "
            "absolute numbers are noisy and 2 worker processes cannot be expected to reach 2x; the ratios come from runs "
            "interleaved in the same process, medians of "
            f"{rounds} round(s).",
            f"Windows: {pool_kind}, cycled to {n:,}; one .npy file read by every engine from the page cache. "
            f"Partitions of {ps:,} windows ({n_parts} partitions), reduction tree of {SPLIT_EVERY}.",
            f"Start-up is not in the times (a cluster serves many jobs): a LocalCluster of 1 worker process took "
            f"{up1:.1f} s to start, of 2 took {up2:.1f} s.",
            "Every distributed run is checked against the single-process statistics (count equal, means within 1e-12).",
        ],
    }


def combine_tasks(leaves: int, split_every: int) -> int:
    total = 0
    while leaves > 1:
        leaves = math.ceil(leaves / split_every)
        total += leaves
    return total


def measure_merge(args, ad, actif, client, scratch) -> dict:
    folder = os.path.join(scratch, "devices")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    n_features = 37
    for k in range(args.blobs):
        rs = actif.RunningStats(n_features)
        rs.update(rng.gamma(2.0, 1.0, size=(4, n_features)))
        with open(os.path.join(folder, f"device-{k:07d}.stats"), "wb") as fh:
            fh.write(rs.to_bytes())
    ad.merge(folder, client)  # warm (and the files into the page cache)

    def sequential():
        acc = None
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as fh:
                rs = actif.RunningStats.from_bytes(fh.read())
            acc = rs if acc is None else acc.merge(rs)
        return acc

    c0 = time.process_time()
    t_seq, seq = timed(sequential)
    cpu_seq = time.process_time() - c0
    t_dask, rep = timed(lambda: ad.merge_with_report(folder, client))
    assert rep.stats.count == seq.count
    assert np.max(np.abs(rep.stats.mean - seq.mean) / np.abs(seq.mean)) < 1e-12
    return {"blobs": args.blobs, "features": n_features, "blob_bytes": len(seq.to_bytes()), "partitions": rep.partitions,
            "dask_seconds": t_dask, "dask_blobs_per_s": args.blobs / t_dask,
            "sequential_seconds": t_seq, "sequential_blobs_per_s": args.blobs / t_seq,
            "sequential_cpu_s_per_blob": cpu_seq / args.blobs}


def project(per_worker_windows_per_s, per_task_s, merge_row, blob_bytes, model) -> dict:
    """A fleet on paper: 100 workers over 1e9 windows; a merge of 1e7 device blobs.
    ``per_worker_windows_per_s``: windows per CPU second of one worker process;
    ``per_task_s``: scheduler (and client) CPU seconds per task; both measured here."""
    workers, windows, part = 100, 1e9, 1_000_000
    leaves = math.ceil(windows / part)
    tasks = leaves + combine_tasks(leaves, SPLIT_EVERY)
    depth = ad_depth(leaves)
    compute_s = windows / (workers * per_worker_windows_per_s)
    sched_s = tasks * per_task_s  # the scheduler handles tasks one after another
    window_bytes = int(model.window) * model.input_size * 4
    model_bytes = _model_size(model)
    attr_s = max(compute_s, sched_s)
    blobs, per_part = 1e7, 1000
    m_leaves = math.ceil(blobs / per_part)
    m_tasks = m_leaves + combine_tasks(m_leaves, SPLIT_EVERY)
    m_depth = ad_depth(m_leaves)
    per_blob_s = merge_row["sequential_cpu_s_per_blob"]  # CPU of one process reading and merging a blob
    m_compute = blobs * per_blob_s / workers
    m_sched = m_tasks * per_task_s
    m_s = max(m_compute, m_sched)
    rows = [
        {"quantity": "attribute: tasks", "value": f"{tasks:,}",
         "how": f"{leaves:,} partitions of {part:,} windows + {tasks - leaves:,} combine tasks (split_every={SPLIT_EVERY})"},
        {"quantity": "attribute: reduction depth", "value": str(depth), "how": f"ceil(log_{SPLIT_EVERY} {leaves:,})"},
        {"quantity": "attribute: bytes moved between processes",
         "value": f"{(tasks * blob_bytes + workers * model_bytes) / 1e6:.1f} MB",
         "how": f"one {blob_bytes}-byte statistics blob per task (52 + 16 per feature, {model.input_size} features) + the "
                f"{model_bytes / 1e3:.0f} kB model once per worker; the windows are read where they are stored "
                f"({windows * window_bytes / 1e12:.2f} TB of float32 windows at {window_bytes} bytes each)"},
        {"quantity": "attribute: expected time", "value": f"{attr_s / 60:.1f} min",
         "how": f"max(compute 1e9 / (100 x {per_worker_windows_per_s:,.0f} windows per CPU s of a worker) = {compute_s:,.0f} s, "
                f"scheduler {tasks:,} tasks x {1e3 * per_task_s:.2f} ms CPU = {sched_s:,.0f} s); one core per worker; assumes storage delivers "
                f"{workers * per_worker_windows_per_s * window_bytes / 1e9:.1f} GB/s"},
        {"quantity": "merge: tasks", "value": f"{m_tasks:,}", "how": f"{m_leaves:,} bag partitions of {per_part:,} blobs + combine tasks"},
        {"quantity": "merge: reduction depth", "value": str(m_depth), "how": f"ceil(log_{SPLIT_EVERY} {m_leaves:,})"},
        {"quantity": "merge: bytes moved", "value": f"{blobs * merge_row['blob_bytes'] / 1e9:.2f} GB read + {m_tasks * merge_row['blob_bytes'] / 1e6:.1f} MB between processes",
         "how": f"{merge_row['blob_bytes']}-byte blobs ({merge_row['features']} features) read by the workers; one partial per task"},
        {"quantity": "merge: expected time on 100 workers", "value": f"{m_s / 60:.1f} min",
         "how": f"max(1e7 x {1e6 * per_blob_s:.0f} µs CPU per blob (read + check + merge, measured in one process) / 100 = {m_compute:,.0f} s, "
                f"scheduler {m_tasks:,} x {1e3 * per_task_s:.2f} ms CPU = {m_sched:,.0f} s); graph construction on the client "
                "(listing 1e7 files) not included"},
    ]
    return {"rows": rows, "attr_tasks": tasks, "attr_depth": depth, "attr_hours": attr_s / 3600,
            "merge_tasks": m_tasks, "merge_depth": m_depth, "merge_minutes": m_s / 60}


def ad_depth(leaves: int) -> int:
    from actif.distributed import tree_depth

    return tree_depth(leaves, SPLIT_EVERY)


def _model_size(model) -> int:
    import io

    buf = io.BytesIO()
    model.spec.save(buf)
    return len(buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())

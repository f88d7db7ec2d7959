"""Fleet scale on Dask: attribution over large recorded datasets and merging statistics
from many devices, as an exact tree reduction of :class:`~actif.stats.RunningStats` bytes.

Two jobs, both pure reductions (in the pattern of dask-histogram: fill one small,
mergeable accumulator per partition, then tree-merge them, so the graph moves bytes,
not data):

- :func:`attribute`: each partition of the recordings (a range of windows of a ``.npy``
  file, an ``.npz`` file, a CSV/TSV/Parquet session cut into windows as ``actif explain``
  does, a RobustVision subject, or a block of a Dask array) runs the forward and the
  trace into its own ``RunningStats`` on a worker. Partial statistics come back as bytes
  (``to_bytes``: 52 bytes + 16 per feature) and are combined by a tree of fixed shape
  and order (``split_every``) with Chan et al.'s exact merge.
- :func:`merge`: statistics blobs from many devices (the bytes Python and the C API
  write), given as bytes or files, combined with a Dask bag reduction.

The result does not depend on the engine: partitions are cut from the data alone, each
task is pure (a retried task recomputes the same bytes and replaces the lost ones, it
never adds to them), and the merge tree is fixed, so 1, 2 or N workers and any
scheduling give the same bytes. Against single-process
:meth:`actif.Explainer.attribute` the statistics agree within float64 rounding of the
different merge order (1e-12 relative in the tests).

The model goes to the workers once: its bytes travel in a worker plugin, which the
scheduler sends to each worker once (and to any worker that joins or restarts during
the job), not in the graph, where Dask's memory manager may drop a worker's copy
between two tasks and fetch it again. Each worker process parses it once and keeps it
in a cache keyed by the model's fingerprint.

With no ``client`` and no ``scheduler`` address, a ``LocalCluster`` of worker processes
on this machine runs the job (the embedded default); with either, an existing cluster
does. Workers read the recording files themselves: on a real cluster the paths must be
visible to every worker (a shared or network file system).

``import actif`` never imports this module; it imports Dask lazily, and without it
raises ImportError naming the extra: ``pip install 'actif[dask]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import InvalidInputError, ModelFormatError
from .explain import Explainer
from .model import Model
from .result import Attribution
from .stats import DEFAULT_AGGREGATION, RunningStats, check_aggregation, scores
from .traces import DEFAULT_TRACE
from .validation import as_float32, positive_int, rejected_rows

ON_INVALID = ("raise", "skip")
WINDOW_FILES = (".npy", ".npz")
TABLE_FILES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq")  # read by actif.lab.data.tables
DEFAULT_PARTITION_SIZE = 65536  # windows per partition of a .npy file or a Dask array
DEFAULT_SPLIT_EVERY = 8  # partials merged per node of the reduction tree
DEFAULT_BLOBS_PER_PARTITION = 1000  # device blobs per bag partition in merge()
BAD_FILE = "bad_file"  # skip-count key: files refused (unreadable, corrupt or wrong shape)
STATS_NAME = "abs"  # the |attribution| statistics; a signed twin can ride along by name


def _require_dask() -> tuple[Any, Any]:
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise ImportError(f"actif.distributed needs Dask: pip install 'actif[dask]' ({exc})") from None
    return dask, distributed


class DataFileError(ValueError):
    """A recording or statistics file (or blob) that cannot be used; ``path`` names it."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries from workers intact
        return (type(self), (self.path, self.problem))


# ------------------------------------------------------------------ partial statistics


@dataclass
class Partial:
    """What one partition (or one node of the tree) sends back: named statistics blobs,
    the windows fed, skip counts by reason, and the files refused ``(name, problem)``."""

    stats: dict[str, bytes] = field(default_factory=dict)
    windows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    bad: list[tuple[str, str]] = field(default_factory=list)


def combine(*partials: Partial) -> Partial:
    """Merge partials left to right (Chan et al.); the order is the caller's, so a fixed
    tree gives the same bytes however the tasks were scheduled."""
    merged: dict[str, RunningStats] = {}
    skipped: Counter[str] = Counter()
    bad: list[tuple[str, str]] = []
    windows = 0
    for part in partials:
        for name, blob in part.stats.items():
            rs = RunningStats.from_bytes(blob)
            if name in merged:
                merged[name].merge(rs)
            else:
                merged[name] = rs
        skipped.update(part.skipped)
        bad.extend(part.bad)
        windows += part.windows
    return Partial({k: v.to_bytes() for k, v in merged.items()}, windows, dict(skipped), bad)


def tree_reduce(dask: Any, leaves: list[Any], split_every: int, token: str) -> Any:
    """A fixed-shape reduction tree over delayed partials: level by level, each node
    combines ``split_every`` consecutive children in order. Depth: ceil(log_k(leaves))."""
    level, depth = list(leaves), 0
    while len(level) > 1:
        depth += 1
        level = [
            dask.delayed(combine, pure=True)(*level[i : i + split_every], dask_key_name=f"actif-combine-{token}-{depth}-{i // split_every}")
            for i in range(0, len(level), split_every)
        ]
    return level[0]


# ------------------------------------------------------------------ partitions


@dataclass(frozen=True)
class Part:
    """One partition of the recordings: ``kind`` is ``npy`` (windows ``start:stop`` of a
    .npy file; None: the whole file), ``npz``, ``table`` (CSV/TSV/Parquet samples) or
    ``subject`` (RobustVision subject ``subject`` of the folder ``path``)."""

    path: str
    kind: str
    start: int | None = None
    stop: int | None = None
    subject: str | None = None

    @property
    def name(self) -> str:
        if self.kind == "subject":
            return os.path.join(self.path, str(self.subject))
        return self.path


@dataclass(frozen=True)
class Options:
    """Everything a partition task needs besides the model bytes and its data."""

    fingerprint: str
    backend: str
    max_abs: float | None
    trace: str
    aggregation: str
    on_invalid: str
    batch_size: int
    window: int
    stride: int
    key: str | None
    gap_factor: float | None
    delimiter: str | None = None
    explainer_options: tuple[tuple[str, Any], ...] = ()


def plan_partitions(sources: Any, partition_size: int = DEFAULT_PARTITION_SIZE) -> list[Part]:
    """The partitions of ``sources`` (paths of files or folders), in a fixed order that
    depends on the data alone: folders are walked in sorted order; a folder holding
    RobustVision subjects (``P*/depthCalibration.csv``) gives one partition per subject;
    a ``.npy`` file is cut into ranges of ``partition_size`` windows (read from its
    header); other files are one partition each."""
    from .lab.data.robustvision import list_subjects

    partition_size = positive_int(partition_size, "partition_size")
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not paths:
        raise ValueError("no data sources given")
    parts: list[Part] = []
    for src in paths:
        src = os.fspath(src)
        if os.path.isdir(src):
            subjects = list_subjects(src)
            if subjects:
                parts += [Part(src, "subject", subject=s) for s in subjects]
                continue
            files = sorted(_data_files(src))
            if not files:
                raise FileNotFoundError(f"no recordings in {src!r} (expected .npy/.npz/.csv/.tsv/.parquet files or RobustVision subject folders)")
            for path in files:
                parts += _file_parts(path, partition_size)
        elif os.path.exists(src):
            ext = os.path.splitext(src)[1].lower()
            if ext not in WINDOW_FILES + TABLE_FILES:
                raise ValueError(f"unsupported data file type {ext!r} for {src!r} (use .npy, .npz, .csv, .tsv or .parquet)")
            parts += _file_parts(src, partition_size)
        else:
            raise FileNotFoundError(f"no data file or folder at {src!r}")
    return parts


def _data_files(folder: str) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            if os.path.splitext(name)[1].lower() in WINDOW_FILES + TABLE_FILES:
                yield os.path.join(root, name)


def _file_parts(path: str, partition_size: int) -> list[Part]:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        return [Part(path, "npz")]
    if ext != ".npy":
        return [Part(path, "table")]
    try:
        n = int(npy_layout(path)[2][0])
    except Exception:  # noqa: BLE001 - unreadable here: the task reports it under the policy
        return [Part(path, "npy")]
    if n == 0:
        return [Part(path, "npy", 0, 0)]
    return [Part(path, "npy", s, min(s + partition_size, n)) for s in range(0, n, partition_size)]


# ------------------------------------------------------------------ on a worker

def worker_model(options: Options) -> Model:
    """The job's model in this worker process (installed by the job's worker plugin)."""
    from ._dask_worker import installed_model

    return installed_model(model_key(options), options.fingerprint)


def model_key(options: Options) -> tuple[Any, ...]:
    """What makes two workers' models the same: the spec's fingerprint, backend and input rule."""
    return (options.fingerprint, options.backend, options.max_abs)


def attribute_part(options: Options, part: Part) -> Partial:
    """Attribute one partition of recordings: read it, feed it in batches, return bytes."""
    model = worker_model(options)
    try:
        batches = _read_part(part, model, options)
        return _attribute_batches(model, options, part.name, batches, part.start or 0)
    except DataFileError as exc:
        return _refuse(options, exc)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        text = str(exc)
        if text.startswith(part.name):  # the readers' own errors already name the file
            problem = text[len(part.name):].lstrip(":, ")
        elif isinstance(exc, InvalidInputError):
            problem = text
        else:
            problem = f"cannot be read ({type(exc).__name__}: {text})"
        return _refuse(options, DataFileError(part.name, problem))


def attribute_block(options: Options, index: int, block: np.ndarray) -> Partial:
    """Attribute one block (partition) of a Dask array of windows."""
    model = worker_model(options)
    name = f"dask array block {index}"
    try:
        X = np.asarray(block)
        batches = (X[s : s + options.batch_size] for s in range(0, len(X), options.batch_size))
        return _attribute_batches(model, options, name, batches)
    except DataFileError as exc:
        return _refuse(options, exc)


def _refuse(options: Options, exc: DataFileError) -> Partial:
    if options.on_invalid == "raise":
        raise exc
    return Partial(skipped={BAD_FILE: 1}, bad=[(exc.path, exc.problem)])


def _attribute_batches(model: Model, options: Options, name: str, batches: Any, offset: int = 0) -> Partial:
    explainer = Explainer(model, options.trace, options.aggregation, batch_size=options.batch_size, **dict(options.explainer_options))
    stats = RunningStats(model.input_size)
    skipped: Counter[str] = Counter()
    first = 0  # index of the batch's first window in this partition
    fed = 0
    for X in batches:
        X = np.asarray(X)
        n_given = len(X)
        if X.ndim != 3 or X.shape[2] != model.input_size:
            raise DataFileError(name, f"holds an array of shape {X.shape}, expected windows (N, T, {model.input_size})")
        rejected, non_finite = rejected_rows(X, model.input_limit)
        if rejected.any():
            if options.on_invalid == "raise":
                k = int(np.argmax(rejected))
                raise DataFileError(name, _window_problem(model, X[k], offset + first + k))
            skipped["non_finite"] += int(non_finite.sum())
            skipped["out_of_range"] += int((rejected & ~non_finite).sum())
            X = X[~rejected]
        if len(X):
            explainer.attribute(X, stats=stats)
            fed += len(X)
        first += n_given
    # a partition whose every window was skipped contributes counts only
    blobs = {STATS_NAME: stats.to_bytes()} if stats.count else {}
    return Partial(blobs, fed, {k: v for k, v in skipped.items() if v})


def _window_problem(model: Model, window: np.ndarray, index: int) -> str:
    """What is wrong with a rejected window, in the words of the input checks."""
    try:
        as_float32(window, ndim=2, n_features=model.input_size, what=f"window {index}",
                   feature_names=model.feature_names, max_abs=model.input_limit)
    except InvalidInputError as exc:
        return str(exc).replace("; nothing was changed", "")
    return f"window {index} was rejected"  # pragma: no cover - rejected_rows and as_float32 share the rule


def _read_part(part: Part, model: Model, options: Options) -> Any:
    """Batches of windows (N, T, I) of one partition; a memory map of a .npy file is
    read one batch at a time, so a worker's memory does not grow with the partition."""
    step = options.batch_size
    if part.kind == "npy":
        return _npy_batches(part, model, step)
    if part.kind == "npz":
        with np.load(part.path, allow_pickle=False) as z:
            names = list(z.files)
            key = options.key or ("X" if "X" in names else (names[0] if len(names) == 1 else None))
            if key is None or key not in names:
                raise DataFileError(part.path, f"holds arrays {names}; name one with key= (--key)")
            X = z[key]
    elif part.kind == "table":
        X = _table_windows(part.path, model, options)
    elif part.kind == "subject":
        X = _subject_windows(part.path, str(part.subject), model, options)
    else:  # pragma: no cover - plan_partitions makes only the kinds above
        raise ValueError(f"unknown partition kind {part.kind!r}")
    return (X[s : s + step] for s in range(0, len(X), step))


def npy_layout(path: str) -> tuple[int, np.dtype, tuple[int, ...], bool]:
    """``(data offset, dtype, shape, fortran_order)`` of a .npy file, read from its
    header; ValueError when the header is malformed or the file too short for it."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError("holds Python objects, not numbers")
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = os.path.getsize(path)
    if size < need:
        raise ValueError(f"truncated: {size} bytes, its header needs {need}")
    return offset, dtype, tuple(int(v) for v in shape), bool(fortran)


def _npy_batches(part: Part, model: Model, step: int) -> Iterator[np.ndarray]:
    """Windows ``start:stop`` of a .npy file, read one batch at a time with plain file
    reads: a worker holds one batch, whatever the partition's size (a memory map would
    keep every page it touched resident until the map closes)."""
    offset, dtype, shape, fortran = npy_layout(part.path)
    if len(shape) != 3 or shape[2] != model.input_size:
        raise DataFileError(part.path, f"holds an array of shape {shape}, expected windows (N, T, {model.input_size})")
    lo = 0 if part.start is None else part.start
    hi = shape[0] if part.stop is None else part.stop
    if fortran:  # rare: rows are not contiguous on disk; a memory map reads them
        mm = np.load(part.path, mmap_mode="r", allow_pickle=False)
        yield from (np.array(mm[s : min(s + step, hi)]) for s in range(lo, hi, step))
        return
    row = shape[1] * shape[2]
    with open(part.path, "rb") as fh:
        for s in range(lo, hi, step):
            rows = min(step, hi - s)
            fh.seek(offset + s * row * dtype.itemsize)
            batch = np.fromfile(fh, dtype=dtype, count=rows * row)
            if batch.size != rows * row:
                raise DataFileError(part.path, f"ends early: windows {s}..{s + rows - 1} are missing")
            yield batch.reshape(rows, shape[1], shape[2])


def _table_windows(path: str, model: Model, options: Options) -> np.ndarray:
    """A CSV/TSV/Parquet session cut into windows of the model's length, as ``actif
    explain`` does (columns matched to the model's feature names)."""
    from .lab.data.tables import read_samples
    from .lab.data.windows import sliding_windows

    samples = read_samples(path, model.feature_names, delimiter=options.delimiter)
    return sliding_windows(samples, options.window, options.stride, where=path)


def _subject_windows(folder: str, subject: str, model: Model, options: Options) -> np.ndarray:
    """One RobustVision subject's windows of gaze features, in the model's feature order."""
    from .lab.data import GAP_FACTOR, dataset_from_records, load_subject

    record = load_subject(folder, subject)
    gap = GAP_FACTOR if options.gap_factor is None else options.gap_factor
    ds = dataset_from_records([record], T=options.window, stride=options.stride, gap_factor=gap)
    missing = [f for f in model.feature_names if f not in ds.feature_names]
    if missing:
        raise ValueError(f"the model's features {missing[:5]} are not gaze features of the RobustVision loader")
    order = [ds.feature_names.index(f) for f in model.feature_names]
    return ds.windows if order == list(range(len(order))) else np.ascontiguousarray(ds.windows[:, :, order])


# ------------------------------------------------------------------ clusters


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def cluster_client(client: Any = None, scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """``client`` itself; else a client of the cluster at ``scheduler``; else a
    ``LocalCluster`` of ``workers`` worker processes (one thread each) on this machine,
    closed on exit."""
    _, distributed = _require_dask()
    if client is not None:
        yield client
        return
    if scheduler:
        try:
            c = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        with c:
            yield c
        return
    n = default_workers() if workers is None else positive_int(workers, "workers")
    with distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
        # no dashboard; its HTTP server (health checks) on a free port, not 8787
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster) as c:
        yield c


@contextlib.contextmanager
def model_on_workers(client: Any, model: Model, options: Options, token: str) -> Iterator[None]:
    """The model on every worker of ``client``'s cluster for the job: a worker plugin
    (named for the job, so concurrent jobs do not unregister each other's) that the
    scheduler sends to each worker once, and to any that joins or restarts meanwhile."""
    from ._dask_worker import ModelPlugin

    name = f"actif-model-{token}"
    client.register_plugin(ModelPlugin(_model_bytes(model), model_key(options)), name=name)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a cluster already gone has nothing to unpin
            client.unregister_worker_plugin(name)


def _compute(client: Any, root: Any, progress: bool) -> Any:
    _, distributed = _require_dask()
    future = client.compute(root)
    if progress:
        with contextlib.redirect_stdout(sys.stderr):  # Dask's bar writes to stdout; keep results clean
            distributed.progress(future)
            print(file=sys.stderr)
    return future.result()


# ------------------------------------------------------------------ attribute


@dataclass
class FleetAttribution:
    """:func:`attribute_with_report`'s answer: the attribution, the files refused under
    ``on_invalid="skip"`` as ``(name, problem)``, and the shape of the job."""

    attribution: Attribution
    bad_files: list[tuple[str, str]]
    partitions: int
    tree_depth: int
    windows: int


def attribute(
    model: Model,
    sources: Any,
    *,
    trace: str = DEFAULT_TRACE,
    aggregation: str = DEFAULT_AGGREGATION,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    on_invalid: str = "raise",
    partition_size: int = DEFAULT_PARTITION_SIZE,
    split_every: int = DEFAULT_SPLIT_EVERY,
    batch_size: int = 4096,
    stride: int = 1,
    key: str | None = None,
    delimiter: str | None = None,
    gap_factor: float | None = None,
    progress: bool = False,
    **explainer_options: Any,
) -> Attribution:
    """Attribute ``model`` over recordings on a Dask cluster; the same statistics as
    single-process :meth:`actif.Explainer.attribute` on the same windows.

    ``sources``: a path or a list of paths (``.npy``/``.npz`` windows, CSV/TSV/Parquet
    sessions cut into windows of ``model.window`` with ``stride``, folders of these,
    RobustVision folders: one partition per subject), or a Dask array of windows
    (N, T, I) (one partition per block along N). ``client``: a ``distributed.Client``;
    else ``scheduler`` (``tcp://HOST:PORT``); else a LocalCluster of ``workers``
    processes. ``on_invalid``: ``"raise"`` fails with :class:`DataFileError` naming a
    bad file or window (the first to fail, when there are several); ``"skip"`` drops
    windows holding NaN/Inf or out-of-range values (counted in ``skipped`` by reason, in
    windows, as :class:`actif.StreamingExplainer` counts them) and files that cannot be
    used (``bad_file``, in files; each one named in a warning). A refused partition
    contributes nothing; the header and size of a ``.npy`` are checked before it is
    cut, so its partitions stand or fall together unless the file changes mid-job. ``gap_factor``: for RobustVision subjects, how
    windows are cut at timestamp gaps (default: the model's ``windowing`` metadata).
    ``delimiter``: of text tables (default: from the extension, see
    :mod:`actif.lab.data.tables`). Other keyword arguments go to :class:`actif.Explainer`
    (e.g. ``any_window_length``).
    """
    report = attribute_with_report(
        model, sources, trace=trace, aggregation=aggregation, client=client, scheduler=scheduler,
        workers=workers, on_invalid=on_invalid, partition_size=partition_size, split_every=split_every,
        batch_size=batch_size, stride=stride, key=key, delimiter=delimiter, gap_factor=gap_factor, progress=progress,
        **explainer_options,
    )
    if report.bad_files:
        warnings.warn(_bad_summary("skipped", report.bad_files), RuntimeWarning, stacklevel=2)
    return report.attribution


def attribute_with_report(model: Model, sources: Any, **kwargs: Any) -> FleetAttribution:
    """:func:`attribute` (same arguments), also returning the refused files and the job's shape."""
    dask, _ = _require_dask()
    from .checkpoint import model_fingerprint
    from .traces import check_trace

    if not isinstance(model, Model):
        raise TypeError("attribute takes an actif.Model (see actif.load)")
    on_invalid = kwargs.pop("on_invalid", "raise")
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    trace = check_trace(kwargs.pop("trace", DEFAULT_TRACE), model.spec)
    aggregation = check_aggregation(kwargs.pop("aggregation", DEFAULT_AGGREGATION))
    split_every = _split_every(kwargs.pop("split_every", DEFAULT_SPLIT_EVERY))
    partition_size = positive_int(kwargs.pop("partition_size", DEFAULT_PARTITION_SIZE), "partition_size")
    client, scheduler, workers = kwargs.pop("client", None), kwargs.pop("scheduler", None), kwargs.pop("workers", None)
    progress = bool(kwargs.pop("progress", False))
    gap_factor = kwargs.pop("gap_factor", None)
    if gap_factor is None:
        gap_factor = (model.spec.metadata or {}).get("windowing", {}).get("gap_factor")
    fingerprint = model_fingerprint(model.spec)
    options = Options(
        fingerprint=fingerprint, backend=model.backend_name, max_abs=model.max_abs, trace=trace,
        aggregation=aggregation, on_invalid=on_invalid,
        batch_size=positive_int(kwargs.pop("batch_size", 4096), "batch_size"), window=model.window,
        stride=positive_int(kwargs.pop("stride", 1), "stride"), key=kwargs.pop("key", None),
        delimiter=kwargs.pop("delimiter", None),
        gap_factor=None if gap_factor is None else float(gap_factor),
        explainer_options=tuple(sorted(kwargs.items())),
    )
    # options an Explainer refuses fail here, once, not as a "bad file" in every task
    Explainer(model, trace, aggregation, batch_size=options.batch_size, **dict(options.explainer_options))
    token = dask.base.tokenize(fingerprint, options, _source_token(sources), partition_size, split_every)
    if _is_dask_array(sources):
        X = sources
        if X.ndim != 3:
            raise ValueError(f"a Dask array of windows must be (N, T, I), got {X.ndim} dimensions")
        X = X.rechunk({1: -1, 2: -1})  # partitions along N only
        blocks = X.to_delayed().ravel().tolist()
        leaves = [
            dask.delayed(attribute_block, pure=True)(options, i, b, dask_key_name=f"actif-block-{token}-{i}")
            for i, b in enumerate(blocks)
        ]
    else:
        parts = plan_partitions(sources, partition_size)
        leaves = [
            dask.delayed(attribute_part, pure=True)(options, p, dask_key_name=f"actif-part-{token}-{i}")
            for i, p in enumerate(parts)
        ]
    with cluster_client(client, scheduler, workers) as c, model_on_workers(c, model, options, token):
        total = _compute(c, tree_reduce(dask, leaves, split_every, token), progress)
    blob = total.stats.get(STATS_NAME)
    if blob is None:
        raise ValueError("no window could be attributed: every window or file was refused"
                         + (f" ({_bad_summary('refused', total.bad)})" if total.bad else ""))
    stats = RunningStats.from_bytes(blob)
    skipped = dict(total.skipped)
    first_problem: dict[str, str] = {}
    for name, problem in total.bad:  # a file cut into several partitions counts once
        first_problem.setdefault(name, problem)
    bad = list(first_problem.items())
    if bad:
        skipped[BAD_FILE] = len(bad)
    attribution = Attribution(scores(stats, aggregation), model.feature_names, stats, trace, aggregation, skipped=skipped)
    return FleetAttribution(attribution, bad, len(leaves), tree_depth(len(leaves), split_every), total.windows)


def tree_depth(leaves: int, split_every: int) -> int:
    """Levels of combine tasks above ``leaves`` partitions (0 for one partition)."""
    depth = 0
    while leaves > 1:
        leaves = -(-leaves // split_every)
        depth += 1
    return depth


def _split_every(value: Any) -> int:
    value = positive_int(value, "split_every")
    if value < 2:
        raise ValueError("split_every must be at least 2")
    return value


def _model_bytes(model: Model) -> bytes:
    import io

    buf = io.BytesIO()
    model.spec.save(buf)
    return buf.getvalue()


def _is_dask_array(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask.array") and hasattr(obj, "to_delayed")


def _source_token(sources: Any) -> Any:
    if _is_dask_array(sources):
        return sources.name
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    out = []
    for p in paths:  # the keys change when a file does, so no stale result is reused
        p = os.fspath(p)
        try:
            st = os.stat(p)
            out.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((os.path.abspath(p), None, None))
    return out


def _bad_summary(verb: str, bad: Sequence[tuple[str, str]], limit: int = 5) -> str:
    listed = "; ".join(f"{name}: {problem}" for name, problem in bad[:limit])
    more = f"; and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{verb} {len(bad)} unusable input(s): {listed}{more}"


# ------------------------------------------------------------------ merge


@dataclass(frozen=True)
class BlobShape:
    """The shape every blob of a merge must have: taken from the first readable one."""

    n_features: int
    half_life: float | None


@dataclass
class MergeReport:
    """:func:`merge_with_report`'s answer: the merged statistics, the number of blobs
    merged, the blobs refused ``(name, problem)`` and the job's shape."""

    stats: RunningStats
    merged: int
    refused: list[tuple[str, str]]
    partitions: int
    tree_depth: int


def merge(
    blobs_or_paths: Any,
    client: Any = None,
    *,
    on_invalid: str = "raise",
    scheduler: str | None = None,
    workers: int | None = None,
    partition_size: int = DEFAULT_BLOBS_PER_PARTITION,
    split_every: int = DEFAULT_SPLIT_EVERY,
    progress: bool = False,
) -> RunningStats:
    """Merge statistics blobs from many devices into one :class:`RunningStats`.

    ``blobs_or_paths``: a folder (every file in it, recursively, in sorted order), a
    file, or a sequence of blobs (bytes) and paths. A Dask bag of ``partition_size``
    blobs per partition merges each partition in order, then a tree of ``split_every``
    partials. A corrupt blob, or one whose features or half-life differ from the first
    readable one: ``on_invalid="raise"`` fails naming it; ``"skip"`` refuses it (named in
    a warning) and merges the rest.
    """
    report = merge_with_report(
        blobs_or_paths, client, on_invalid=on_invalid, scheduler=scheduler, workers=workers,
        partition_size=partition_size, split_every=split_every, progress=progress,
    )
    if report.refused:
        warnings.warn(_bad_summary("refused", report.refused), RuntimeWarning, stacklevel=2)
    return report.stats


def merge_with_report(
    blobs_or_paths: Any,
    client: Any = None,
    *,
    on_invalid: str = "raise",
    scheduler: str | None = None,
    workers: int | None = None,
    partition_size: int = DEFAULT_BLOBS_PER_PARTITION,
    split_every: int = DEFAULT_SPLIT_EVERY,
    progress: bool = False,
) -> MergeReport:
    """:func:`merge` (same arguments), also returning counts and the refused blobs."""
    import functools

    _require_dask()
    import dask.bag as db

    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    partition_size = positive_int(partition_size, "partition_size")
    split_every = _split_every(split_every)
    items = list(enumerate(_blob_items(blobs_or_paths)))
    if not items:
        raise ValueError("no statistics blobs to merge")
    shape = _first_shape(items, on_invalid)
    bag = db.from_sequence(items, partition_size=partition_size)
    reduction = bag.reduction(
        functools.partial(merge_blob_partition, shape, on_invalid), _combine_list, split_every=split_every,
    )
    with cluster_client(client, scheduler, workers) as c:
        total = _compute(c, reduction, progress)
    blob = total.stats.get(STATS_NAME)
    if blob is None:
        raise ValueError(_bad_summary("every blob was refused:", total.bad))
    return MergeReport(RunningStats.from_bytes(blob), total.windows, total.bad, bag.npartitions, tree_depth(bag.npartitions, split_every))


def _blob_items(source: Any) -> list[Any]:
    """Blobs (bytes) and file paths, folders expanded in sorted order."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return [bytes(source)]
    entries = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, (bytes, bytearray, memoryview)):
            out.append(bytes(entry))
            continue
        path = os.fspath(entry)
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found += [os.path.join(root, f) for f in files if not f.startswith(".")]
            out += sorted(found)
        elif os.path.exists(path):
            out.append(path)
        else:
            raise FileNotFoundError(f"no statistics blob or folder at {path!r}")
    return out


def _item_name(index: int, item: Any) -> str:
    return item if isinstance(item, str) else f"blob #{index}"


def _read_blob(index: int, item: Any, shape: BlobShape | None) -> RunningStats:
    """One blob as RunningStats, or DataFileError naming it."""
    name = _item_name(index, item)
    try:
        if isinstance(item, str):
            with open(item, "rb") as fh:
                item = fh.read()
        rs = RunningStats.from_bytes(item)
    except (OSError, ModelFormatError) as exc:
        raise DataFileError(name, str(exc)) from None
    if shape is not None and (rs.n_features, rs.half_life) != (shape.n_features, shape.half_life):
        raise DataFileError(
            name, f"holds {rs.n_features} features (half-life {rs.half_life}); the others hold "
            f"{shape.n_features} (half-life {shape.half_life})"
        )
    return rs


def _first_shape(items: list[tuple[int, Any]], on_invalid: str) -> BlobShape:
    for index, item in items:
        try:
            rs = _read_blob(index, item, None)
        except DataFileError:
            if on_invalid == "raise":
                raise
            continue
        return BlobShape(rs.n_features, rs.half_life)
    raise ValueError(f"none of the {len(items)} statistics blobs is readable")


def merge_blob_partition(shape: BlobShape, on_invalid: str, items: Any) -> Partial:
    """Merge one bag partition's blobs in order (runs on a worker)."""
    acc: RunningStats | None = None
    bad: list[tuple[str, str]] = []
    merged = 0
    for index, item in items:
        try:
            rs = _read_blob(index, item, shape)
        except DataFileError as exc:
            if on_invalid == "raise":
                raise
            bad.append((exc.path, exc.problem))
            continue
        acc = rs if acc is None else acc.merge(rs)
        merged += 1
    stats = {} if acc is None else {STATS_NAME: acc.to_bytes()}
    return Partial(stats, merged, {BAD_FILE: len(bad)} if bad else {}, bad)


def _combine_list(partials: Any) -> Partial:
    return combine(*partials)


__all__ = [
    "DataFileError",
    "FleetAttribution",
    "MergeReport",
    "Partial",
    "attribute",
    "attribute_with_report",
    "cluster_client",
    "combine",
    "merge",
    "merge_with_report",
    "plan_partitions",
]

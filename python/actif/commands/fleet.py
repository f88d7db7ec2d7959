"""The CLI's side of :mod:`actif.distributed`: the cluster options shared by ``actif
explain`` and ``actif merge``, and ``actif explain`` on a cluster (``--data-dir``,
``--workers``, ``--scheduler``)."""

from __future__ import annotations

import argparse
import sys


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """The cluster options; any the command already defines (e.g. its own --on-invalid)
    is kept as it is."""
    g = p.add_argument_group("cluster (Dask; needs the extra: pip install 'actif[dask]')")

    def add(flag: str, **kwargs) -> None:
        if flag not in p._option_string_actions:
            g.add_argument(flag, **kwargs)

    add("--workers", type=int, default=None,
        help="worker processes of the local cluster started for the job (default: one per core)")
    add("--scheduler", default=None, metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://HOST:8786, instead of a local one")
    add("--on-invalid", choices=("raise", "skip"), default="raise",
        help="a bad file, blob or window: fail naming it (raise, default), or count it and go on (skip)")
    add("--split-every", type=int, default=8, help="partials merged per node of the reduction tree (default 8)")


def wants_cluster(args: argparse.Namespace) -> bool:
    """``actif explain`` goes to a cluster when any cluster option is given."""
    return bool(getattr(args, "data_dir", None) or getattr(args, "workers", None) or getattr(args, "scheduler", None))


def print_refused(what: str, refused: list[tuple[str, str]]) -> None:
    if refused:
        print(f"skipped {len(refused)} {what}:", file=sys.stderr)
        for name, problem in refused:
            print(f"  {name}: {problem}", file=sys.stderr)


def explain_on_cluster(args: argparse.Namespace, model_path: str, about: str, method_options: dict) -> int:
    """``actif explain`` over --data and/or --data-dir on a Dask cluster; ``method_options``
    (--target, --n-steps) go to every worker's Explainer."""
    import actif
    from actif import distributed

    sources = [s for s in (args.data, args.data_dir) if s]
    if not sources:
        raise ValueError("give the recordings with --data FILE or --data-dir DIR")
    model = actif.load(model_path, backend=args.backend)
    report = distributed.attribute_with_report(
        model, sources, trace=args.trace or actif.DEFAULT_TRACE,
        aggregation=args.aggregation or actif.DEFAULT_AGGREGATION, scheduler=args.scheduler, workers=args.workers,
        on_invalid=args.on_invalid, partition_size=args.partition_size, split_every=args.split_every,
        stride=args.stride, key=args.key, delimiter=getattr(args, "delimiter", None), progress=sys.stderr.isatty(),
        any_window_length=getattr(args, "any_window_length", False), **method_options,
    )
    res = report.attribution
    where = args.scheduler or f"a local cluster of {args.workers or distributed.default_workers()} worker processes"
    print(f"model: {about}, backend {model.backend_name}")
    print(f"{report.windows} windows in {report.partitions} partitions on {where}; {res.method}")
    if res.skipped:
        print("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(res.skipped.items())))
    print_refused("files", report.bad_files)
    width = max(len(n) for n in res.feature_names)
    for rank, (name, score) in enumerate(res.top_k(args.top), start=1):
        print(f"{rank:3d}. {name:<{width}}  {score:.4f}")
    if args.out:
        (res.save_csv if args.out.lower().endswith(".csv") else res.save_json)(args.out)
        print(f"ranking written to {args.out}")
    if args.plot:
        res.plot(args.plot)
        print(f"bar chart written to {args.plot}")
    return 0

"""``actif merge``: merge statistics blobs from many devices into one, on a Dask cluster."""

from __future__ import annotations

import argparse
import json
import sys

from .fleet import add_cluster_arguments, print_refused

DESCRIPTION = """\
Merge RunningStats blobs (the bytes actif's Python API and C API write: one per device,
file or process) into one, exactly (Chan et al.'s pairwise merge), with a Dask bag
reduction: a local cluster of worker processes by default, an existing cluster with
--scheduler. BLOB arguments are blob files or folders of them (read recursively, in
sorted order). A corrupt blob, or one of another shape, is named: the job fails
(--on-invalid raise, the default) or refuses it and merges the rest (skip).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge device statistics blobs into one (Dask)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("blobs", nargs="+", metavar="BLOB", help="statistics blob files or folders of them")
    p.add_argument("--out", required=True, help="write the merged statistics blob here")
    p.add_argument("--json", default=None, metavar="PATH", help="also write counts, per-feature statistics and scores as JSON ('-': stdout)")
    p.add_argument("--plot", default=None, help="write a bar chart of the scores (.png/.svg/.pdf)")
    p.add_argument("--model", default=None, help="model file whose feature names label the features (optional)")
    p.add_argument("--aggregation", default=None, help="score: mean | inverse | meanstd | pen (default: mean)")
    p.add_argument("--top", type=int, default=10, help="how many features to print (default 10)")
    p.add_argument("--blobs-per-partition", type=int, default=1000, help="blobs per Dask bag partition (default 1000)")
    add_cluster_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import actif
    from actif import distributed
    from actif.commands import input_file, output_file
    from actif.fileio import write_atomically
    from actif.result import Attribution
    from actif.stats import check_aggregation

    aggregation = check_aggregation(args.aggregation or actif.DEFAULT_AGGREGATION)
    if args.top < 0 or args.blobs_per_partition < 1:
        raise ValueError("--top must be >= 0 and --blobs-per-partition >= 1")
    # every file argument checked before the cluster job, so a long merge does not end in a failed write
    output_file(args.out, "merged statistics")
    if args.json and args.json != "-":
        output_file(args.json, "JSON report")
    if args.plot:
        output_file(args.plot, "plot")
    names = None
    if args.model:
        names = actif.load(input_file(args.model, "model"), backend="numpy").feature_names
    report = distributed.merge_with_report(
        args.blobs, on_invalid=args.on_invalid, scheduler=args.scheduler, workers=args.workers,
        partition_size=args.blobs_per_partition, split_every=args.split_every, progress=sys.stderr.isatty(),
    )
    stats = report.stats
    if names is not None and len(names) != stats.n_features:
        raise ValueError(f"the blobs hold {stats.n_features} features, the model {args.model!r} names {len(names)}")
    names = names or [f"feature_{k}" for k in range(stats.n_features)]
    blob = stats.to_bytes()
    write_atomically(args.out, lambda fh: fh.write(blob))
    log = sys.stderr if args.json == "-" else sys.stdout  # keep stdout pure JSON when it carries it
    print(f"merged {report.merged} blobs ({report.partitions} partitions, tree depth {report.tree_depth}): "
          f"{stats.count} samples of {stats.n_features} features -> {args.out}", file=log)
    print_refused("blobs", report.refused)
    res = Attribution(actif.scores(stats, aggregation), names, stats, "merged", aggregation) if stats.count else None
    if res is not None:
        width = max(len(n) for n in names)
        for rank, (name, score) in enumerate(res.top_k(args.top), start=1):
            print(f"{rank:3d}. {name:<{width}}  {score:.4f}", file=log)
    if args.json:
        doc = {
            "blobs_merged": report.merged,
            "refused": [{"name": n, "problem": p} for n, p in report.refused],
            "n_features": stats.n_features,
            "half_life": stats.half_life,
            "weight": stats.weight,
            **(res.to_dict() if res is not None else {"count": 0, "features": []}),
        }
        doc.pop("trace", None)
        text = json.dumps(doc, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_atomically(args.json, lambda fh: fh.write(text.encode("utf-8")))
            print(f"statistics written to {args.json}", file=log)
    if args.plot:
        if res is None:
            raise ValueError("the merged statistics hold no sample: nothing to plot")
        res.plot(args.plot, title=f"merged statistics ({aggregation})")
        print(f"bar chart written to {args.plot}", file=log)
    return 0

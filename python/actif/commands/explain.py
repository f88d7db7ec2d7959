"""``actif explain``: rank a model's input features on stored data."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from ..lab.data.windows import (
    sliding_windows,  # (re-exported: the CLI and actif.distributed share it)
)

DESCRIPTION = """\
Attribute a model's predictions on stored data to its input features and print the
ranking (by default: the weighted trace scored by its mean; see --trace, --aggregation).
Without --model it explains the bundled fixation-depth model (foval_edge, 37 gaze
features, windows of 10 samples) and says so.

Data may be:
  .npy               windows (N, T, I); T must be the model's window length
  .npz               the array named by --key (default: 'X', or the only array)
  .csv .tsv .txt     one row per sample with a header line; columns are matched to the
                     model's feature names (others are ignored, order does not matter)
                     and cut into windows of the model's length (--stride). Delimiter:
                     comma for .csv, tab for .tsv, the header's for .txt, or --delimiter.
                     Quoted fields and a UTF-8 byte-order mark are fine.
  .parquet .pq       the same, read with pyarrow
Reading tables needs the lab extra: pip install 'actif[lab]'.

With --data-dir (a folder of such files, or of RobustVision subjects), --workers or
--scheduler, the job runs on a Dask cluster (pip install 'actif[dask]'): one partition
per file, range of windows or subject, merged exactly; the result does not depend on
the number of workers.
"""

EPILOG = """\
examples:
  actif explain --data session.csv                      # the bundled model on a CSV of gaze features
  actif explain --model m.npz --data windows.npy --out ranking.json --plot ranking.png
  actif explain --model m.npz --data session.txt --delimiter ';' --stride 5
  actif explain --model m.onnx --data X.npz --key windows --aggregation inverse   # DeepACTIF's score
  actif explain --model m.npz --data long_windows.npy --any-window-length        # pooling 'last'/'mean' only
  actif explain --model m.npz --data-dir recordings/ --workers 2 --on-invalid skip   # on a Dask cluster
  actif explain --model m.npz --data X.npy --trace integrated --target 2 --n-steps auto   # IG of class 2, as few nodes as add up
"""

# Windows integrated gradients choose their node count on (--n-steps auto), evenly spread
CALIBRATION_WINDOWS = 256


def n_steps_option(text: str) -> int | str:
    """--n-steps: a positive integer, or 'auto'."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def method_options(args: argparse.Namespace, trace: str) -> dict:
    """--target and --n-steps as Explainer options; refused for a forward-only trace."""
    import actif

    options = {name: value for name, value in (("target", args.target), ("n_steps", args.n_steps)) if value is not None}
    if options and trace not in actif.METHODS:
        raise ValueError(f"--target and --n-steps apply to the methods {actif.METHODS}, not the {trace!r} trace")
    if "n_steps" in options and trace != "integrated":
        raise ValueError(f"--n-steps applies to --trace integrated, not {trace!r}")
    return options


def choose_nodes(model, X: np.ndarray, options: dict, any_window_length: bool) -> int:
    """--n-steps auto: actif.choose_n_steps on up to CALIBRATION_WINDOWS of the windows,
    evenly spread; says what it chose, and warns when nothing up to the cap adds up."""
    import actif
    from actif.explain import COMPLETENESS_TOLERANCE

    sample = X[np.unique(np.linspace(0, len(X) - 1, min(len(X), CALIBRATION_WINDOWS)).astype(np.int64))]
    choice = actif.choose_n_steps(model, sample, target=options.get("target", 0), any_window_length=any_window_length)
    if choice.converged:
        print(f"integrated gradients: {choice.n_steps} nodes (completeness error {choice.error:.1%} on {len(sample)} windows)")
    else:
        print(f"warning: integrated gradients do not add up to within {COMPLETENESS_TOLERANCE:.0%} even with {choice.n_steps} nodes "
              f"(completeness error {choice.error:.0%} on {len(sample)} windows): the model bends too sharply between "
              "the baseline and the inputs; using that count", file=sys.stderr)
    return choice.n_steps


def add_trace_arguments(p: argparse.ArgumentParser) -> None:
    """--trace, --target and --n-steps (actif explain and actif demo)."""
    from actif.attribution import DEFAULT_N_STEPS
    from actif.explain import COMPLETENESS_TOLERANCE

    p.add_argument("--trace", default=None,
                   help="trace: input | weighted | gates | paper, or a method of one output: "
                        "gradient | deeplift | integrated | occlusion | lrp (default: weighted)")
    p.add_argument("--target", type=int, default=None,
                   help="output index the methods attribute (default 0; a classifier's class)")
    p.add_argument("--n-steps", type=n_steps_option, default=None,
                   help=f"integrated gradients: number of nodes (default {DEFAULT_N_STEPS}, Captum's), or 'auto': the fewest "
                        f"whose attributions add up to within {COMPLETENESS_TOLERANCE * 100:g}%% on (up to {CALIBRATION_WINDOWS} "
                        "of) the windows (actif.choose_n_steps)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="rank the input features of a model on stored data",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="model file (.npz, .onnx, .pt); default: the bundled foval_edge model")
    p.add_argument("--data", default=None, help="windows (.npy/.npz) or samples (.csv/.tsv/.txt/.parquet)")
    p.add_argument("--key", default=None, help="array name inside an .npz (default: X)")
    p.add_argument("--delimiter", default=None,
                   help="field delimiter of a text table: one character, or tab, comma, semicolon "
                   "(default: from the extension)")
    add_trace_arguments(p)
    p.add_argument("--aggregation", default=None,
                   help="mean | inverse (DeepACTIF's) | meanstd | pen (default: mean, chosen by the benchmarks)")
    p.add_argument("--backend", default="auto", help="cpp | numba | numpy | onnxruntime | tflite (default: auto)")
    p.add_argument("--stride", type=int, default=1, help="window stride for table data (default 1)")
    p.add_argument("--any-window-length", action="store_true",
                   help="accept .npy/.npz windows whose length differs from the model's "
                   "(only for models with 'last' or 'mean' pooling; see actif.Explainer)")
    p.add_argument("--top", type=int, default=10, help="how many features to print (default 10)")
    p.add_argument("--out", default=None, help="write the full ranking here (.json or .csv)")
    p.add_argument("--plot", default=None, help="write a bar chart here (.png/.svg/.pdf)")
    p.add_argument("--data-dir", default=None,
                   help="a folder of recordings (.npy/.npz/.csv/.tsv/.parquet, or RobustVision subjects), on a cluster")
    p.add_argument("--partition-size", type=int, default=65536, help="windows per partition of a .npy file (cluster)")
    from .fleet import add_cluster_arguments

    add_cluster_arguments(p)
    p.set_defaults(run=run)


def read_windows(
    path: str,
    window: int,
    feature_names: list[str],
    key: str | None = None,
    stride: int = 1,
    delimiter: str | None = None,
) -> np.ndarray:
    """Load windows (N, T, I) from .npy/.npz, or cut them from a table of samples
    (CSV/TSV/Parquet, read by :mod:`actif.lab.data.tables`)."""
    from . import about_file, input_file

    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; --data takes one file (.npy, .npz, .csv, .tsv, .txt or .parquet)")
    input_file(path, "data")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".npy", ".npz") and delimiter is None:
        with about_file(path, "data"):
            X = _read_array(path, ext, key)
        if X.ndim != 3 or X.shape[2] != len(feature_names):
            raise ValueError(f"{path}: expected windows of shape (N, T, {len(feature_names)}), got an array of shape {X.shape}")
        if X.size == 0:
            raise ValueError(f"{path}: holds no windows (array of shape {X.shape})")
        return X
    from actif.lab.data.tables import is_table, read_samples

    if delimiter is None and not is_table(path):
        raise ValueError(f"{path}: unsupported data file type {ext or '(no extension)'!r} "
                         "(use .npy, .npz, .csv, .tsv, .txt or .parquet, or give --delimiter for other text tables)")
    samples = read_samples(path, feature_names, delimiter=delimiter)
    return sliding_windows(samples, window, stride, where=path)


def _read_array(path: str, ext: str, key: str | None) -> np.ndarray:
    if ext == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as z:
        names = list(z.files)
        name = key or ("X" if "X" in names else (names[0] if len(names) == 1 else None))
        if name is None or name not in names:
            raise ValueError(f"{path} holds arrays {names}; choose one with --key")
        return z[name]


def run(args: argparse.Namespace) -> int:
    import actif

    from . import about_file, input_file, output_file
    from .fleet import explain_on_cluster, wants_cluster

    for path, what in ((args.out, "ranking"), (args.plot, "chart")):
        if path:
            output_file(path, what)
    if args.model is None:
        from actif.bundled import DEFAULT_MODEL, bundled_model_path

        model_path = bundled_model_path()
        about = f"the bundled model {DEFAULT_MODEL} ({model_path})"
    else:
        model_path = args.model
        about = model_path
    trace = args.trace or actif.DEFAULT_TRACE
    options = method_options(args, trace)
    if wants_cluster(args):
        if options.get("n_steps") == "auto":
            raise ValueError("--n-steps auto chooses on windows read on this machine, not on a cluster: run "
                             "actif explain --data SAMPLE --n-steps auto on a sample, then give the count it prints")
        return explain_on_cluster(args, model_path, about, options)
    if not args.data:
        raise ValueError("give the data with --data FILE (or a folder with --data-dir)")
    if getattr(args, "on_invalid", "raise") != "raise":
        raise ValueError("--on-invalid skip runs on a cluster: add --workers N (or --scheduler ADDRESS)")
    with about_file(input_file(model_path, "model"), "model"):
        model = actif.load(model_path, backend=args.backend)
    X = read_windows(args.data, model.window, model.feature_names, args.key, args.stride, args.delimiter)
    if options.get("n_steps") == "auto":
        options["n_steps"] = choose_nodes(model, X, options, args.any_window_length)
    ex = actif.Explainer(
        model, trace=trace, aggregation=args.aggregation or actif.DEFAULT_AGGREGATION,
        any_window_length=args.any_window_length, **options,
    )
    res = ex.attribute(X, progress=sys.stderr.isatty())
    print(f"model: {about}, backend {model.backend_name}")
    of = f"; target output {model.output_names[ex.method.target]}" if ex.method is not None else ""
    print(f"{X.shape[0]} windows of {X.shape[1]} steps; {res.method}{of}")
    width = max(len(n) for n in res.feature_names)
    for rank, (name, score) in enumerate(res.top_k(args.top), start=1):
        print(f"{rank:3d}. {name:<{width}}  {score:.4f}")
    if args.out:
        with about_file(args.out, "ranking"):
            (res.save_csv if args.out.lower().endswith(".csv") else res.save_json)(args.out)
        print(f"ranking written to {args.out}")
    if args.plot:
        with about_file(args.plot, "chart"):
            res.plot(args.plot)
        print(f"bar chart written to {args.plot}")
    return 0

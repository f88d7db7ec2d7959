"""``actif explain``: rank a model's input features on stored data."""

from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

DESCRIPTION = """\
Attribute a model's predictions on stored data to its input features (DeepACTIF) and
print the ranking. Data may be:
  .npy        windows (N, T, I)
  .npz        the array named by --key (default: 'X', or the only array)
  .csv/.tsv   one row per sample with a header; columns are matched to the model's
              feature names and cut into windows of the model's length (stride 1)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="rank the input features of a model on stored data",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model file (.npz, .onnx, .pt)")
    p.add_argument("--data", required=True, help="windows (.npy/.npz) or samples (.csv/.tsv)")
    p.add_argument("--key", default=None, help="array name inside an .npz (default: X)")
    p.add_argument("--trace", default=None,
                   help="trace: input | weighted | gates | paper, or a method of one output: "
                        "gradient | integrated | occlusion (default: weighted)")
    p.add_argument("--target", type=int, default=None,
                   help="output index the methods attribute (default 0; a classifier's class)")
    p.add_argument("--n-steps", type=int, default=None, help="integrated gradients: number of nodes (default 50)")
    p.add_argument("--aggregation", default=None,
                   help="mean | inverse (DeepACTIF's) | meanstd | pen (default: mean, chosen by the benchmarks)")
    p.add_argument("--backend", default="auto", help="cpp | numba | numpy | onnxruntime | tflite (default: auto)")
    p.add_argument("--stride", type=int, default=1, help="window stride for CSV data (default 1)")
    p.add_argument("--top", type=int, default=10, help="how many features to print (default 10)")
    p.add_argument("--out", default=None, help="write the full ranking here (.json or .csv)")
    p.add_argument("--plot", default=None, help="write a bar chart here (.png/.svg/.pdf)")
    p.set_defaults(run=run)


def read_windows(path: str, window: int, feature_names: list[str], key: str | None = None, stride: int = 1) -> np.ndarray:
    """Load windows (N, T, I) from .npy/.npz, or cut them from a CSV/TSV of samples."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no data file at {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return np.load(path, allow_pickle=False)
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            name = key or ("X" if "X" in names else (names[0] if len(names) == 1 else None))
            if name is None or name not in names:
                raise ValueError(f"{path} holds arrays {names}; choose one with --key")
            return z[name]
    if ext in (".csv", ".tsv", ".txt"):
        samples = read_samples_csv(path, feature_names)
        return sliding_windows(samples, window, stride)
    raise ValueError(f"unsupported data file type {ext!r} (use .npy, .npz, .csv or .tsv)")


def read_samples_csv(path: str, feature_names: list[str]) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;") if sample else csv.excel
        reader = csv.reader(fh, dialect)
        header = [h.strip() for h in next(reader, [])]
        missing = [f for f in feature_names if f not in header]
        if missing:
            raise ValueError(f"{path} lacks columns for features {missing[:5]}{'...' if len(missing) > 5 else ''}")
        cols = [header.index(f) for f in feature_names]
        rows = []
        for lineno, row in enumerate(reader, start=2):
            try:
                rows.append([float(row[c]) for c in cols])
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path}:{lineno}: not a number in a feature column ({exc})") from None
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(feature_names))


def sliding_windows(samples: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """Windows (N, window, I) of consecutive samples (M, I), stride ``stride``."""
    if stride < 1:
        raise ValueError("stride must be >= 1")
    m = samples.shape[0]
    if m < window:
        raise ValueError(f"need at least {window} samples for one window, got {m}")
    view = np.lib.stride_tricks.sliding_window_view(samples, (window, samples.shape[1]))[:, 0]
    return np.ascontiguousarray(view[::stride])


def run(args: argparse.Namespace) -> int:
    import actif

    model = actif.load(args.model, backend=args.backend)
    X = read_windows(args.data, model.window, model.feature_names, args.key, args.stride)
    trace = args.trace or actif.DEFAULT_TRACE
    method_options = {}
    if args.target is not None:
        method_options["target"] = args.target
    if args.n_steps is not None:
        method_options["n_steps"] = args.n_steps
    if method_options and trace not in actif.METHODS:
        raise ValueError(f"--target and --n-steps apply to the methods {actif.METHODS}, not the {trace!r} trace")
    ex = actif.Explainer(model, trace=trace, aggregation=args.aggregation or actif.DEFAULT_AGGREGATION, **method_options)
    res = ex.attribute(X, progress=sys.stderr.isatty())
    of = f", target={model.output_names[ex.method.target]}" if ex.method is not None else ""
    print(f"{X.shape[0]} windows of {X.shape[1]} steps, trace={res.trace}{of}, aggregation={res.aggregation}")
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

"""``actif train``: train and evaluate a fixation-depth model on RobustVision (needs torch)."""

from __future__ import annotations

import argparse
import json
import os
import sys

DESCRIPTION = """\
Train an edge-sized FOVAL-style model (LSTM -> max over time -> BatchNorm -> dense/ELU)
on the RobustVision gaze recordings and report its mean absolute error (cm) beside two
baselines measured on the same windows: the training mean, and the geometric
vergence-depth estimate.

  1. Hold-out: train once on every subject except --holdout, score each held-out
     subject, save the model (normalisation folded in; metadata records the subjects,
     the configuration and the errors).
  2. Optionally (--loso) leave-one-subject-out over the chosen subjects: one model per
     fold. Results go to <results>/train_loso.json after every fold, so an interrupted
     run resumes where it stopped (finished folds are not recomputed).

Needs the torch extra (pip install torch==2.13.0) and the data (--data-dir or
ACTIF_DATA_DIR). Deterministic for a seed and thread count.
"""



def register(sub: argparse._SubParsersAction) -> None:
    from actif.lab.training import BUNDLED_CONFIG, BUNDLED_GAP_FACTOR, BUNDLED_HOLDOUT

    # the defaults reproduce the bundled model
    cfg, holdout = BUNDLED_CONFIG, ",".join(BUNDLED_HOLDOUT)
    p = sub.add_parser("train", help="train and evaluate a fixation-depth model on RobustVision (needs torch)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="RobustVision folder (default: $ACTIF_DATA_DIR)")
    p.add_argument("--holdout", default=holdout, help=f"held-out subjects (default {holdout})")
    p.add_argument("--loso", default="none", help="leave-one-subject-out over 'all', a comma list, or 'none' (default)")
    p.add_argument("--hidden", type=int, default=cfg.hidden, help=f"LSTM hidden size (default {cfg.hidden})")
    p.add_argument("--epochs", type=int, default=cfg.epochs)
    p.add_argument("--batch-size", type=int, default=cfg.batch_size)
    p.add_argument("--lr", type=float, default=cfg.lr)
    p.add_argument("--weight-decay", type=float, default=cfg.weight_decay)
    p.add_argument("--input-noise", type=float, default=cfg.input_noise,
                   help=f"training noise per feature, in feature standard deviations (default {cfg.input_noise:g})")
    p.add_argument("--seed", type=int, default=cfg.seed)
    p.add_argument("--threads", type=int, default=cfg.threads,
                   help=f"torch threads (results depend on it; default {cfg.threads})")
    p.add_argument("--gap-factor", type=float, default=BUNDLED_GAP_FACTOR,
                   help=f"a window never spans an interval above this many median intervals (default {BUNDLED_GAP_FACTOR:g})")
    p.add_argument("--out", default="foval_edge.npz", help="where to save the hold-out model (default foval_edge.npz)")
    p.add_argument("--results", default=os.path.join("benchmarks", "results"), help="where LOSO results go")
    p.add_argument("--quick", action="store_true", help="2 epochs and at most 2 LOSO folds (a smoke run)")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from actif.lab.training import TrainConfig

    return TrainConfig(
        hidden=args.hidden, epochs=2 if args.quick else args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, seed=args.seed, threads=args.threads, input_noise=args.input_noise,
    )


def run(args: argparse.Namespace) -> int:
    from actif.lab.data import build_dataset, data_dir
    from actif.lab.training import Summary, train_holdout_model
    from actif.progress import ProgressBar

    from . import output_file

    output_file(args.out, "trained model")  # before training, not after it
    directory = data_dir(args.data_dir)
    if directory is None:
        raise FileNotFoundError("no RobustVision data: pass --data-dir or set ACTIF_DATA_DIR")
    config = config_from_args(args)
    dataset = build_dataset(directory, gap_factor=args.gap_factor, T=10)
    holdout = [s for s in args.holdout.split(",") if s]
    print(f"{len(dataset.windows)} windows from {len(set(dataset.subjects))} subjects; held out: {', '.join(holdout)}")

    bar = ProgressBar(config.epochs, "training (hold-out model)", unit="epochs")
    spec, folds = train_holdout_model(dataset, holdout, config, gap_factor=args.gap_factor,
                                      progress=lambda e, total, loss: bar.update_to(e))
    bar.close()
    spec.save(args.out)
    _print_folds(folds, Summary(folds).pooled(), "held-out subjects")
    print(f"model saved to {args.out}")

    if args.loso != "none":
        subjects = sorted(set(dataset.subjects)) if args.loso == "all" else [s for s in args.loso.split(",") if s]
        if args.quick:
            subjects = subjects[:2]
        run_loso(dataset, subjects, config, args)
    return 0


def run_loso(dataset, subjects, config, args) -> None:
    from actif.lab.report import write_suite
    from actif.lab.training import Summary, loso_evaluation
    from actif.progress import ProgressBar

    suite = "train_loso_quick" if args.quick else "train_loso"
    path = os.path.join(args.results, f"{suite}.json")
    done = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            previous = json.load(fh)
        if previous.get("config") == config.to_dict() and previous.get("gap_factor") == args.gap_factor:
            done = {r["subject"]: r for r in previous.get("rows", [])}
            if done:
                print(f"resuming: {len(done)} folds already in {path}")
    bar = ProgressBar(len(subjects), "leave-one-subject-out", unit="folds")

    def save(folds) -> None:
        pooled = Summary(folds).pooled()
        write_suite(args.results, suite, {
            "title": "Fixation depth, leave-one-subject-out (RobustVision)",
            "config": config.to_dict(),
            "gap_factor": args.gap_factor,
            "columns": [["subject", "Held-out subject"], ["n_windows", "Windows"], ["mae_model", "Model MAE (cm)"],
                        ["mae_mean", "Training-mean MAE (cm)"], ["mae_geometric", "Geometric MAE (cm)"],
                        ["seconds", "Train time (s)"]],
            "rows": [f.row() for f in folds],
            "summary": [
                f"Window-weighted MAE over {len(folds)} folds: model {pooled['mae_model']:.1f} cm, training mean "
                f"{pooled['mae_mean']:.1f} cm, geometric vergence depth {pooled['mae_geometric']:.1f} cm "
                f"(per-subject averages {pooled['mae_model_subject_mean']:.1f} / {pooled['mae_mean_subject_mean']:.1f} / "
                f"{pooled['mae_geometric_subject_mean']:.1f} cm).",
            ],
        })

    def on_fold(k, total, folds) -> None:
        bar.update_to(k)
        save(folds)  # after every fold: an interrupted run resumes from the file

    folds = loso_evaluation(dataset, subjects, config, progress=on_fold, done=done)
    bar.close()
    save(folds)
    _print_folds(folds, Summary(folds).pooled(), "leave-one-subject-out")


def _print_folds(folds, pooled, label) -> None:
    print(f"\n{label}: MAE in cm (model / training mean / geometric vergence depth)")
    for f in folds:
        print(f"  {f.subject:>4} ({f.n_windows:5d} windows): {f.mae_model:6.1f} / {f.mae_mean:6.1f} / {f.mae_geometric:6.1f}")
    print(f"  window-weighted: {pooled['mae_model']:.1f} / {pooled['mae_mean']:.1f} / {pooled['mae_geometric']:.1f}")
    sys.stdout.flush()

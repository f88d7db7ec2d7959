"""Faithfulness on a second real task: BasicMotions, a 4-class motion classifier, attributed per class.

BasicMotions (UEA multivariate time-series archive; shipped inside the ``aeon`` package,
``aeon.datasets.load_basic_motions``): 80 recordings of 100 samples from a wrist-worn
smartwatch, 3-axis accelerometer and 3-axis gyroscope (6 channels), of four activities
(badminton, running, standing, walking); 40 for training and 40 for testing, as the
archive splits them.

For each of --seeds seeds, a small LSTM classifier (inputs normalised with the training
means and standard deviations, LSTM 32, mean over time, dense 32/ReLU, 4 class logits)
is trained with PyTorch (seeded, CPU, one thread, full-batch Adam), imported into actif
(``actif.interchange.torch_import.spec_from_torch``) and its test accuracy recorded.

Every method then ranks the 6 channels *per class*: for class c, on the test recordings
of class c, explaining output ``target=c`` (the class logit) where the method takes a
target (actif's attribution methods, every Captum/SHAP baseline; actif's
forward-only traces read the hidden state and have no target). Faithfulness of a
class-c ranking, on each test recording of class c, on its class logit:

- deletion: replace channels, most important first, by their training mean (over the
  whole recording) and record the class logit after each step (0..6 replaced): a
  faithful ranking makes it fall fast;
- insertion: start from every channel at its training mean and restore channels in the
  same order: a faithful ranking makes it rise fast.

Areas are trapezoids over the fraction of channels replaced (0..1); the figure of merit
per recording is insertion AUC - deletion AUC (logits; larger is better; 0 for a
ranking that carries no information on average). It is averaged over seeds per
recording, then reported as mean +- standard error over the 40 test recordings. Methods
are ranked honestly to one standard error: a method is "within 1 SE of the best" when its
mean is at least the best mean minus the best method's standard error (the one-SE rule).

The cost of each method (µs per window, one thread, median of interleaved repetitions on
the 40 test recordings, T=100) is measured in the same run for the cost-faithfulness plot.

    python benchmarks/bench_basic_motions.py                  # 3 seeds (~5 min)
    python benchmarks/bench_basic_motions.py --quick --results /tmp/r   # CI smoke run (~15 s)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import attribution_methods as am  # noqa: E402
from faithfulness_metrics import ONE_SE_TIERS, curve_auc, one_se_tiers  # noqa: E402
from suite_io import append_unit, mean_sd, publish, read_units, results_dir, suite_name  # noqa: E402

SUITE = "faithfulness_basic_motions"
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def default_methods() -> list[str]:
    """Every actif trace with each aggregation, and every baseline."""
    return am.ACTIF_VARIANTS + list(am.BASELINES)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/bench_basic_motions.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    p.add_argument("--epochs", type=int, default=300, help="full-batch training epochs (default 300)")
    p.add_argument("--hidden", type=int, default=32, help="LSTM width (default 32)")
    p.add_argument("--methods", default=",".join(default_methods()), help="methods (default: every actif variant and every baseline)")
    p.add_argument("--random-seeds", type=int, default=5, help="random rankings (default 5)")
    p.add_argument("--cost-repeats", type=int, default=3, help="interleaved timing repetitions (default 3)")
    p.add_argument("--quick", action="store_true", help="1 seed, few epochs, few methods: a CI smoke run")
    p.add_argument("--results", default=results_dir(), help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.hidden, args.random_seeds, args.cost_repeats = 1, 30, 8, 2, 1
        quick = [am.DEFAULT_ACTIF, "actif:weighted/inverse", *(f"actif:{t}/mean" for t in am.TARGETED_TRACES)]
        args.methods = ",".join([*dict.fromkeys(quick), "ixg", "ablation"])
    return args


# ------------------------------------------------------------------------ the task


def load_basic_motions() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X_train, y_train, X_test, y_test, class names): windows (N, T=100, I=6) float32,
    integer labels in the order of the sorted class names."""
    from aeon.datasets import load_basic_motions as load

    Xtr, ytr = load(split="train")
    Xte, yte = load(split="test")
    classes = sorted(set(ytr.tolist()) | set(yte.tolist()))

    def windows(X):
        return np.ascontiguousarray(np.transpose(X, (0, 2, 1)), dtype=np.float32)

    def labels(y):
        return np.array([classes.index(v) for v in y.tolist()], dtype=np.int64)

    return windows(Xtr), labels(ytr), windows(Xte), labels(yte), [str(c) for c in classes]


def train_classifier(X: np.ndarray, y: np.ndarray, classes: list[str], *, hidden: int, epochs: int, seed: int):
    """A seeded LSTM classifier trained with PyTorch, imported into actif (ModelSpec)."""
    import torch

    from actif.interchange.torch_import import spec_from_torch
    from actif.interchange.torch_module import torch_module_from_spec
    from actif.lab.data import Normalizer
    from actif.model_spec import random_spec

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        norm = Normalizer.fit(X, CHANNELS)
        spec0 = norm.apply_to(random_spec(X.shape[-1], hidden, len(classes), pooling="mean", dense_sizes=(32,), activation="relu",
                                          batchnorm=False, window=X.shape[1], feature_names=CHANNELS, seed=seed))
        module = torch_module_from_spec(spec0).train()
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        xb, yb = torch.from_numpy(X), torch.from_numpy(y)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(module(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
        module.eval()
        spec = spec_from_torch(module, pooling="mean", window=X.shape[1], feature_names=CHANNELS, output_names=classes)
    finally:
        torch.use_deterministic_algorithms(False)
    spec.metadata = {"task": "BasicMotions activity (UEA archive, via aeon)", "train": {"windows": len(X), "epochs": epochs, "seed": seed}}
    return spec.validate()


# ------------------------------------------------------------------ faithfulness


def logit_curves(model, X: np.ndarray, target: int, order: np.ndarray, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window, the ``target`` logit after deleting (replacing by ``fill``) and after
    inserting (restoring into a ``fill`` window) 0..I features of ``order``: two (N, I+1)."""
    n_in = X.shape[-1]
    deleted, inserted = X.copy(), np.broadcast_to(fill, X.shape).astype(np.float32).copy()
    dele, ins = np.empty((len(X), n_in + 1)), np.empty((len(X), n_in + 1))
    for j in range(n_in + 1):
        if j:
            f = order[j - 1]
            deleted[:, :, f] = fill[f]
            inserted[:, :, f] = X[:, :, f]
        dele[:, j] = model.predict(deleted)[:, target]
        ins[:, j] = model.predict(inserted)[:, target]
    return dele, ins


def run_seed(seed: int, args, methods: list[str], data) -> dict:
    import actif

    Xtr, ytr, Xte, yte, classes = data
    t0 = time.perf_counter()
    spec = train_classifier(Xtr, ytr, classes, hidden=args.hidden, epochs=args.epochs, seed=seed)
    train_seconds = time.perf_counter() - t0
    model = actif.Model(spec, "cpp" if "cpp" in actif.available_backends() else "auto", max_abs=None)
    accuracy = float(np.mean(model.predict(Xte).argmax(axis=1) == yte))
    fill = am.training_mean(spec)
    fractions = np.arange(Xte.shape[-1] + 1) / Xte.shape[-1]
    gaps: dict[str, list[float]] = {m: [None] * len(Xte) for m in methods}
    rankings: dict[str, dict[str, list[int]]] = {m: {} for m in methods}
    for c, name in enumerate(classes):
        idx = np.flatnonzero(yte == c)
        scores = am.method_scores(methods, spec, Xte[idx], Xtr, seed=seed, target=c)
        for m in methods:
            order = am.ranking(scores[m])
            rankings[m][name] = [CHANNELS[i] for i in order]
            dele, ins = logit_curves(model, Xte[idx], c, order, fill)
            for k, n in enumerate(idx):
                gaps[m][n] = curve_auc(fractions, ins[k]) - curve_auc(fractions, dele[k])
    cost = am.time_methods(methods, spec, Xte, Xtr, repeats=args.cost_repeats, target=0)
    return {"seed": seed, "accuracy": accuracy, "train_seconds": train_seconds, "gaps": gaps, "rankings": rankings, "cost": cost}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        data = load_basic_motions()
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"skipped: BasicMotions needs aeon and torch ({exc})")
        return 0
    from actif.progress import ProgressBar

    methods = args.methods.split(",") + [f"random:{s}" for s in range(args.random_seeds)]
    suite = suite_name(SUITE, args.quick)
    os.makedirs(args.results, exist_ok=True)
    units_path = os.path.join(args.results, suite + "_units.jsonl")
    settings = {"epochs": args.epochs, "hidden": args.hidden, "methods": methods}
    done = {u["seed"]: u for u in read_units(units_path, settings)}
    bar = ProgressBar(args.seeds, "BasicMotions seeds", unit="models")
    for seed in range(args.seeds):
        if seed not in done:
            unit = {"settings": settings, **run_seed(seed, args, methods, data)}
            append_unit(units_path, unit)
            done[seed] = unit
            print(f"seed {seed}: test accuracy {unit['accuracy']:.3f} (trained in {unit['train_seconds']:.0f} s)", flush=True)
        bar.update_to(seed + 1)
    bar.close()
    units = [done[s] for s in range(args.seeds)]

    def key_of(m: str) -> str:
        return "random" if m.startswith("random:") else m

    keys = list(dict.fromkeys(key_of(m) for m in methods))
    # per test recording: the gap averaged over seeds (and over the random seeds for "random")
    per_window = {k: np.mean([[u["gaps"][m][n] for n in range(len(u["gaps"][m]))] for u in units for m in methods if key_of(m) == k],
                             axis=0) for k in keys}
    cost = {k: float(np.median([u["cost"][m] for u in units for m in methods if key_of(m) == k and m in u["cost"]]))
            if k != "random" else None for k in keys}
    tier = one_se_tiers(per_window)
    accuracy = [u["accuracy"] for u in units]
    rows = []
    for k in keys:
        v = per_window[k]
        rows.append({"key": k, "method": am.label(k) if k != "random" else f"random ranking ({args.random_seeds} seeds)",
                     "family": am.family(k), "short": am.short_label(k), "gap": float(v.mean()),
                     "gap_se": float(v.std(ddof=1) / np.sqrt(len(v))), **tier[k], "us_per_window": cost[k],
                     "ranking_standing": units[0]["rankings"][next(m for m in methods if key_of(m) == k)].get("standing")})
    rows.sort(key=lambda r: -r["gap"])
    acc_mean, acc_sd = mean_sd(accuracy)
    tied = [r["method"] for r in rows if r["tier"] == ONE_SE_TIERS[1]]
    summary = [f"LSTM classifier (H={args.hidden}), {len(units)} seeds: test accuracy {acc_mean:.3f} "
               f"(per seed: {', '.join(f'{a:.3f}' for a in accuracy)}; 40 test recordings, 4 classes).",
               f"Best insertion-deletion gap on the class logit: {rows[0]['method']} ({rows[0]['gap']:.2f} ± {rows[0]['gap_se']:.2f} logits, "
               f"mean ± SE over recordings); within one SE of it: {', '.join(tied) or 'none'}."]
    for name, k in am.NAMED_ACTIF:
        r = next((x for x in rows if x["key"] == k), None)
        if r:
            summary.append(f"{name} ({r['method']}): {r['gap']:.2f} ± {r['gap_se']:.2f}, rank {rows.index(r) + 1} of {len(rows)} ({r['tier']}).")
    plot_rows = [r for r in rows if am.on_cost_plot(r["key"])]
    doc = {
        "title": "Faithfulness on BasicMotions (4-class LSTM, per-class attribution, deletion/insertion on the class logit)",
        "settings": {"seeds": args.seeds, "epochs": args.epochs, "hidden": args.hidden},
        "columns": [["method", "Method"], ["gap", "Insertion - deletion AUC (logits)"], ["gap_se", "SE"],
                    ["diff_to_best", "Paired diff. to best"], ["diff_se", "SE"], ["tier", "Within 1 SE of the best?"],
                    ["us_per_window", "µs/window (1 thread)"]],
        "rows": rows,
        "readme_columns": [["method", "Method"], ["gap", "Insertion - deletion AUC (logits)"], ["gap_se", "SE"],
                           ["tier", "Within 1 SE of the best?"], ["us_per_window", "µs/window"]],
        "readme_rows": [r for r in rows if am.on_cost_plot(r["key"])],
        "tables": [{"title": "Test accuracy per seed", "columns": [["seed", "Seed"], ["accuracy", "Test accuracy"],
                                                                  ["train_seconds", "Training (s)"]],
                    "rows": [{k: u[k] for k in ("seed", "accuracy", "train_seconds")} for u in units]}],
        "summary": summary,
        "plots": [am.cost_faithfulness_plot(suite + "_cost.png", plot_rows, "gap", "gap_se",
                                            "insertion - deletion AUC on the class logit (mean ± SE over 40 recordings)",
                                            "BasicMotions: cost against faithfulness (up and left is better)",
                                            random_level=next(r["gap"] for r in rows if r["key"] == "random"))],
        "notes": ["Rankings per class from that class's 10 test recordings; curves on the same recordings. Channels replaced by their "
                  "training mean (the normalised zero, actif's default baseline and Captum's here). The gap is averaged over seeds per "
                  "recording; SE over the 40 recordings. Cost: µs per window on one thread at batch 40 (T=100, target 0), "
                  "median over seeds of the median of interleaved repetitions, on a shared 2-core machine.",
                  "Forward-only actif traces have no target: their per-class ranking differs only through the recordings it is "
                  "computed on."],
    }
    publish(args.results, SUITE, doc, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

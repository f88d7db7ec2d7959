"""``actif demo``: a simulated gaze session through the bundled model, explained live."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from actif.stats import ranking_order

DESCRIPTION = """\
Simulate a binocular gaze session (two eyes fixating targets at known depths, with
saccades, jitter, blinks and sensor noise), compute the gaze features, and stream the
session window by window through the bundled fixation-depth model. While it runs you
see the predicted and the true depth and a live ranking of the input features
(DeepACTIF, computed in the same pass). At the end it prints the top features and
writes a bar chart, a depth plot and the ranking as JSON. No network, no external data.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="stream a simulated gaze session with a live feature ranking",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model file (default: the bundled foval_edge model)")
    p.add_argument("--seconds", type=float, default=60.0, help="simulated session length (default 60 s)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--paradigm", default="fixations", choices=("fixations", "pursuit"),
                   help="targets that jump between depths, or a smoothly moving target")
    p.add_argument("--backend", default="auto", help="cpp | numba | numpy | onnxruntime | tflite (default: auto)")
    p.add_argument("--trace", default=None, help="input | weighted | gates | paper (default: weighted)")
    p.add_argument("--top", type=int, default=10, help="features to show (default 10)")
    p.add_argument("--speed", type=float, default=None,
                   help="playback speed as a multiple of real time; 0 = as fast as possible "
                   "(default: 10 on a terminal, 0 otherwise)")
    p.add_argument("--out", default="actif-demo", help="output directory (default ./actif-demo)")
    p.add_argument("--no-live", action="store_true", help="no live display, just the final report")
    p.set_defaults(run=run)


def _live_view(names, scores, step, total, sim_s, pred, true, mae, us, top):
    from rich.console import Group
    from rich.progress_bar import ProgressBar as Bar
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(
        (f"{step}/{total} windows   ", "dim"), ("t = ", "dim"), f"{sim_s:6.1f} s   ",
        ("depth: predicted ", "dim"), (f"{pred:6.1f} cm", "bold cyan"),
        ("   true ", "dim"), (f"{true:6.1f} cm", "bold"),
        ("   running MAE ", "dim"), f"{mae:5.1f} cm   ",
        ("update ", "dim"), f"{us:5.0f} µs",
    )
    table = Table(title="live feature ranking (DeepACTIF)", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("feature")
    table.add_column("score", justify="right")
    table.add_column("", width=30)
    if scores is not None:
        order = ranking_order(scores)[:top]
        for r, i in enumerate(order, start=1):
            table.add_row(str(r), names[i], f"{scores[i]:.3f}", Bar(total=1.0, completed=float(scores[i]), width=30))
    return Group(Bar(total=total, completed=step), head, table)


def run(args: argparse.Namespace) -> int:
    import actif
    from actif.bundled import bundled_model_path
    from actif.lab.data import GAP_FACTOR, compute_features, make_windows, simulate_session
    from actif.plots import plot_series

    from . import about_file, input_file, output_directory

    output_directory(args.out, "demo results")
    model_path = args.model or bundled_model_path()
    with about_file(input_file(model_path, "model"), "model"):
        model = actif.load(model_path, backend=args.backend)
    record = simulate_session(args.seconds, seed=args.seed, paradigm=args.paradigm)
    F, names = compute_features(record)
    if list(names) != model.feature_names:
        raise ValueError(
            f"{model_path} takes features {model.feature_names[:4]}...; the demo computes the "
            f"{len(names)} gaze features of actif.lab.data ({names[:4]}...): use a model trained on them"
        )
    # Cut windows exactly as the model's training data was cut (its metadata says how).
    gap_factor = float(model.spec.metadata.get("windowing", {}).get("gap_factor", GAP_FACTOR))
    windows, last = make_windows(F, record.timestamp_ms, model.window, segment_start=record.segment_start,
                                 gap_factor=gap_factor)
    true_cm = np.asarray(record.gt_depth_cm, dtype=np.float64)[last]
    t_ms = np.asarray(record.timestamp_ms, dtype=np.float64)[last]
    explainer = actif.StreamingExplainer(model, trace=args.trace or actif.DEFAULT_TRACE)

    live = sys.stdout.isatty() and not args.no_live
    speed = args.speed if args.speed is not None else (10.0 if live else 0.0)
    n = len(windows)
    pred = np.empty(n)
    update_s = np.empty(n)
    display = None
    if live:
        from rich.live import Live

        display = Live(refresh_per_second=8, transient=False)
        display.start()
    wall0 = time.perf_counter()
    last_draw = 0.0
    try:
        for k in range(n):
            t0 = time.perf_counter()
            pred[k] = explainer.update(windows[k])[0]
            update_s[k] = time.perf_counter() - t0
            if speed > 0:  # play back at `speed` x real time
                lag = (t_ms[k] - t_ms[0]) / 1000.0 / speed - (time.perf_counter() - wall0)
                if lag > 0:
                    time.sleep(lag)
            now = time.perf_counter()
            if display is not None and (now - last_draw > 0.12 or k == n - 1):
                last_draw = now
                display.update(_live_view(
                    model.feature_names, explainer.scores(), k + 1, n, (t_ms[k] - t_ms[0]) / 1000.0,
                    pred[k], true_cm[k], float(np.mean(np.abs(pred[: k + 1] - true_cm[: k + 1]))),
                    float(np.median(update_s[: k + 1]) * 1e6), args.top,
                ))
    finally:
        if display is not None:
            display.stop()

    result = explainer.result()
    mae = float(np.mean(np.abs(pred - true_cm)))
    print(f"\n{model_path}: {n} windows of {model.window} samples from a {args.seconds:g} s simulated session "
          f"({args.paradigm}), backend {model.backend_name}, trace {result.trace}")
    print(f"depth MAE on the simulated session: {mae:.1f} cm; median update (predict + attribute): "
          f"{np.median(update_s) * 1e6:.0f} µs")
    print(f"\ntop {args.top} features:")
    width = max(len(s) for s in model.feature_names)
    for r, (name, score) in enumerate(result.top_k(args.top), start=1):
        print(f"{r:3d}. {name:<{width}}  {score:.4f}")
    os.makedirs(args.out, exist_ok=True)
    result.plot(os.path.join(args.out, "ranking.png"), k=args.top, title=f"DeepACTIF ranking, simulated session (top {args.top})")
    result.save_json(os.path.join(args.out, "ranking.json"))
    plot_series({"true depth": true_cm, "predicted": pred}, os.path.join(args.out, "depth.png"),
                xlabel="window", ylabel="depth (cm)", title=f"fixation depth, MAE {mae:.1f} cm")
    print(f"\nwrote {args.out}/ranking.png, {args.out}/depth.png and {args.out}/ranking.json")
    return 0

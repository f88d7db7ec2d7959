"""``actif demo``: a real gaze recording (or a simulated one) through the bundled model,
explained live."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from dataclasses import dataclass

import numpy as np

from actif.stats import ranking_order

DESCRIPTION = """\
Stream a gaze session window by window through the bundled fixation-depth model
(foval_edge) and explain it in the same pass. By default the session is real: 37.6 s of
RobustVision subject P13, one of the five subjects held out of the model's training,
shipped with actif (B. W. Hosp, FOVAL, 2024, CC BY 4.0; see models/demo/README.md).
--simulate streams a simulated binocular session instead (two eyes fixating targets at
known depths, with saccades, jitter, blinks and sensor noise).

While it runs (on a terminal) a header shows the window count, the predicted and true
depth, the running mean absolute error (MAE) beside that of always predicting the
training mean, and the time per update (predict + attribute); below it, the live ranking
of the 37 input features. At the end it prints the ranking and what it means, and
writes to --out: ranking.png (scores and their spread), windows.png (per-window
attributions), window.png (one window step by step), ranking_over_time.png, depth.png
(true vs predicted depth) and ranking.json. No network needed.
"""

EPILOG = """\
examples:
  actif demo                                   # the real held-out recording, live
  actif demo --seconds 20 --out demo-out       # its first 20 s, outputs in ./demo-out
  actif demo --simulate --seconds 60 --paradigm pursuit
  actif demo --aggregation inverse             # rank with DeepACTIF's inverse score
  actif demo --trace lrp                       # LRP for LSTMs: the benchmarks' faithful mode at edge cost
  actif demo --trace integrated --n-steps auto # integrated gradients, as few nodes as add up
  actif demo --no-live --speed 0               # no live display, as fast as possible
"""

# A window's update and the header's numbers are redrawn at most this often (seconds).
_REDRAW_S = 0.12
# Snapshots of the running scores kept for the ranking-over-time plot.
_SNAPSHOTS = 60


def register(sub: argparse._SubParsersAction) -> None:
    from .explain import add_trace_arguments

    p = sub.add_parser("demo", help="stream a real (or simulated) gaze session with a live feature ranking",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model file (default: the bundled foval_edge model)")
    p.add_argument("--simulate", action="store_true", help="stream a simulated session instead of the real recording")
    p.add_argument("--seconds", type=float, default=None,
                   help="session length: the first S seconds of the recording (default: all 37.6 s), "
                   "or the simulated length (default 60 s)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--paradigm", default="fixations", choices=("fixations", "pursuit"),
                   help="--simulate: targets that jump between depths, or a smoothly moving target")
    p.add_argument("--backend", default="auto", help="cpp | numba | numpy | onnxruntime | tflite (default: auto)")
    add_trace_arguments(p)
    p.add_argument("--aggregation", default=None, help="mean | inverse (DeepACTIF's) | meanstd | pen (default: mean)")
    p.add_argument("--top", type=int, default=10, help="features to show (default 10)")
    p.add_argument("--speed", type=float, default=None,
                   help="playback speed as a multiple of real time; 0 = as fast as possible "
                   "(default: 2 on a terminal, 0 otherwise)")
    p.add_argument("--out", default="actif-demo", help="output directory (default ./actif-demo)")
    p.add_argument("--no-live", action="store_true", help="no live display, just the final report")
    p.set_defaults(run=run)


@dataclass
class LiveNumbers:
    """What the live header shows after ``step`` of ``total`` windows."""

    step: int
    total: int
    seconds: float
    predicted_cm: float
    true_cm: float
    mae_cm: float
    baseline_mae_cm: float
    update_us: float
    baseline_name: str = "training mean"


def live_view(numbers: LiveNumbers, names, scores, top: int, method: str):
    """The live display: progress, a header with the numbers, the ranking table. Each
    part is its own line(s), so none is cut off on a narrow terminal."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar as Bar
    from rich.table import Table
    from rich.text import Text

    n = numbers
    progress = Table.grid(padding=(0, 1))
    progress.add_column(no_wrap=True)
    progress.add_column(no_wrap=True)
    progress.add_row(Bar(total=n.total, completed=n.step, width=30),
                     Text(f"{n.step}/{n.total} windows, t = {n.seconds:.1f} s"))
    header = Text.assemble(
        ("depth  predicted ", "dim"), (f"{n.predicted_cm:6.1f} cm", "bold cyan"),
        ("   true ", "dim"), (f"{n.true_cm:6.1f} cm", "bold"), "\n",
        ("running MAE ", "dim"), (f"{n.mae_cm:5.1f} cm", "bold"),
        (f"  ({n.baseline_name}: ", "dim"), f"{n.baseline_mae_cm:5.1f} cm", (")", "dim"),
        ("   update ", "dim"), f"{n.update_us:5.0f} µs",
    )
    table = Table(title=f"live feature ranking: {method}", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("feature")
    table.add_column("score", justify="right")
    table.add_column("", width=24)
    if scores is not None:
        for r, i in enumerate(ranking_order(scores)[:top], start=1):
            table.add_row(str(r), names[i], f"{scores[i]:.3f}", Bar(total=1.0, completed=float(np.clip(scores[i], 0, 1)), width=24))
    return Group(progress, header, table)


def demo_data_path() -> str:
    """The bundled real-data excerpt (see models/demo/README.md)."""
    from actif.bundled import models_dir

    path = os.path.join(models_dir(), "demo", "robustvision_P13.npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no demo recording at {path}: reinstall actif from a complete checkout, or use --simulate")
    return path


def load_demo_record(path: str | None = None, seconds: float | None = None):
    """The bundled recording as a :class:`~actif.lab.data.GazeRecord` (its first
    ``seconds`` when given)."""
    from actif.lab.data import GazeRecord

    path = path or demo_data_path()
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    subject = str(arrays.pop("subject"))
    arrays["timestamp_ms"] = arrays["timestamp_ms"].astype(np.float64)
    if seconds is not None:
        keep = arrays["timestamp_ms"] <= seconds * 1000.0
        arrays = {k: v[keep] for k, v in arrays.items()}
    return GazeRecord(subject=subject, source=path, **arrays)


# What a method attributes for feature j at step t, and what one window costs it
_METHOD_WORDS = {
    "gradient": ("x_t[j] x dy/dx_t[j] (gradient x input, as Captum's InputXGradient)", "one reverse pass"),
    "deeplift": ("(x_t[j] - b[j]) x DeepLIFT's rescale multiplier, b the training mean (as Captum's DeepLift)",
                 "one reverse pass"),
    "integrated": ("integrated gradients from the training mean b (as Captum's IntegratedGradients)",
                   "a forward and a reverse pass per node"),
    "occlusion": ("y(x) - y(x with feature j at its training mean over the window) (as Captum's FeatureAblation)",
                  "one forward per feature, batched"),
    "lrp": ("the relevance of input j for y handed back layer by layer (LRP for LSTMs, Arras et al. 2017)",
            "one reverse pass"),
}


def _ranking_meaning(trace: str, aggregation: str, target: int = 0) -> str:
    from actif.traces import DEFAULT_TRACE

    method = _METHOD_WORDS.get(trace)
    what = f"|A_t[j]|, A = {method[0]}, of output {target} (y)" if method else {
        "weighted": "|x_t[j]| x (how strongly input j feeds the first LSTM layer's active units)",
        "input": "|x_t[j]|, the size of the normalised input itself",
        "gates": "|x_t[j]| x (input j's weights into the first layer's active gates)",
        "paper": "|h_t[j]|, hidden unit j read as feature j (the published code's reading)",
    }[trace]
    how = {
        "mean": "its mean over every step of every window,\n  min-max scaled across features (1 = the top feature, 0 = the last)",
        "inverse": "DeepACTIF's inverse score (mm(mean) + 1 - mm(std)) / 2 of those values,\n  mm = min-max scaling across features",
        "meanstd": "mean x std of those values",
        "pen": "mm(mean) x (1 - exp(-std / 0.01)) of those values",
    }.get(aggregation, f"the {aggregation} score of those values")
    default = " (actif's defaults)" if trace == DEFAULT_TRACE and aggregation == "mean" else ""
    driven = "how much each input moved the model's prediction" if method else "how much the model's first layer was driven by each input"
    meaning = {
        "mean": f"{driven} on this session",
        "inverse": ("which inputs drove the model strongly and steadily (high mean, low spread); in actif's "
                    "faithfulness benchmarks this score ranked features about as well as a random ranking (see the README)"),
    }.get(aggregation, f"{driven} on this session, by the {aggregation} score")
    cost = (f"Computed for every window beside the prediction, with {method[1]}." if method
            else "Computed in the same pass as the prediction, no backward pass.")
    return (
        f"How it was computed{default}: at every time step of every window, feature j gets\n"
        + textwrap.fill(f"{what};", 88, initial_indent="  ", subsequent_indent="    ") + "\n"
        f"  its score is {how}.\n"
        + textwrap.fill(f"What it means: {meaning}. It says what this model uses, not which gaze signal "
                        f"is true depth. {cost}", 88)
    )


def run(args: argparse.Namespace) -> int:
    import actif
    from actif.bundled import bundled_model_path
    from actif.lab.data import GAP_FACTOR, compute_features, make_windows, simulate_session
    from actif.plots import (
        plot_series,
        ranking_bar,
        ranking_over_time,
        window_beeswarm,
        window_heatmap,
    )
    from actif.labels import step_value_label
    from actif.result import method_label

    from . import about_file, input_file, output_directory
    from .explain import choose_nodes, method_options

    output_directory(args.out, "demo results")
    model_path = args.model or bundled_model_path()
    with about_file(input_file(model_path, "model"), "model"):
        model = actif.load(model_path, backend=args.backend)
    if args.simulate:
        seconds = 60.0 if args.seconds is None else args.seconds
        record = simulate_session(seconds, seed=args.seed, paradigm=args.paradigm)
        source = f"a {seconds:g} s simulated session ({args.paradigm}, seed {args.seed})"
        credit = ""
    else:
        record = load_demo_record(seconds=args.seconds)
        span = (record.timestamp_ms[-1] - record.timestamp_ms[0]) / 1000.0 if len(record) else 0.0
        source = f"{span:.1f} s of RobustVision subject {record.subject}, held out of the bundled model's training"
        credit = "recording: B. W. Hosp, FOVAL, 2024, CC BY 4.0 (see models/demo/README.md)"
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
    n = len(windows)
    if n == 0:
        raise ValueError(f"{source} gives no window of {model.window} consecutive samples: use more --seconds")
    true_cm = np.asarray(record.gt_depth_cm, dtype=np.float64)[last]
    t_ms = np.asarray(record.timestamp_ms, dtype=np.float64)[last]
    train_mean = model.spec.metadata.get("train", {}).get("target_mean_cm")
    if train_mean is None:  # a model without training facts: the session's own mean (an oracle constant)
        baseline_cm, baseline_name = float(np.mean(true_cm)), "this session's mean depth"
    else:
        baseline_cm, baseline_name = float(train_mean), "the training mean"
    trace = args.trace or actif.DEFAULT_TRACE
    options = method_options(args, trace)
    if options.get("n_steps") == "auto":
        options["n_steps"] = choose_nodes(model, windows, options, False)
    explainer = actif.StreamingExplainer(model, trace=trace, aggregation=args.aggregation or actif.DEFAULT_AGGREGATION,
                                         **options)
    method = method_label(explainer.trace, explainer.aggregation)

    live = sys.stdout.isatty() and not args.no_live
    speed = args.speed if args.speed is not None else (2.0 if live else 0.0)
    pred = np.empty(n)
    update_s = np.empty(n)
    every = max(1, n // _SNAPSHOTS)
    history, history_at = [], []
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
            if (k + 1) % every == 0 or k == n - 1:
                history.append(explainer.scores())
                history_at.append(k + 1)
            if speed > 0:  # play back at `speed` x real time
                lag = (t_ms[k] - t_ms[0]) / 1000.0 / speed - (time.perf_counter() - wall0)
                if lag > 0:
                    time.sleep(lag)
            now = time.perf_counter()
            if display is not None and (now - last_draw > _REDRAW_S or k == n - 1):
                last_draw = now
                done = slice(0, k + 1)
                display.update(live_view(
                    LiveNumbers(k + 1, n, (t_ms[k] - t_ms[0]) / 1000.0, pred[k], true_cm[k],
                                float(np.mean(np.abs(pred[done] - true_cm[done]))),
                                float(np.mean(np.abs(baseline_cm - true_cm[done]))),
                                float(np.median(update_s[done]) * 1e6), baseline_name.removeprefix("the ")),
                    model.feature_names, explainer.scores(), args.top, method,
                ))
    finally:
        if display is not None:
            display.stop()

    result = explainer.result()
    mae = float(np.mean(np.abs(pred - true_cm)))
    baseline_mae = float(np.mean(np.abs(baseline_cm - true_cm)))
    print(f"\ndata:  {source}: {n} windows of {model.window} samples")
    if credit:
        print(f"       {credit}")
    print(f"model: {model_path}, backend {model.backend_name}")
    print(f"depth MAE: model {mae:.1f} cm; always predicting {baseline_name} ({baseline_cm:.1f} cm): "
          f"{baseline_mae:.1f} cm")
    print(f"median update (predict + attribute one window): {np.median(update_s) * 1e6:.0f} µs")
    print(f"\ntop {args.top} features ({result.method}):")
    width = max(len(s) for s in model.feature_names)
    for r, (name, score) in enumerate(result.top_k(args.top), start=1):
        print(f"{r:3d}. {name:<{width}}  {score:.4f}")
    print("\n" + _ranking_meaning(result.trace, result.aggregation, options.get("target", 0)))

    os.makedirs(args.out, exist_ok=True)
    out = args.out
    what = "held-out recording" if not args.simulate else "simulated session"
    ranking_bar(result, os.path.join(out, "ranking.png"), k=max(args.top, 15),
                title=f"Feature ranking, {what} ({n} windows): {result.method}")
    ex = actif.Explainer(model, trace=trace, aggregation=result.aggregation, **options)
    per_step = ex.trace_of(windows)
    window_beeswarm(per_step.mean(axis=1), model.feature_names, os.path.join(out, "windows.png"),
                    feature_values=windows.mean(axis=1), order=result.order, k=15,
                    xlabel=f"mean {step_value_label(trace)} over the window's {model.window} steps",
                    title=f"Per-window attributions, {n} windows ({what}): {result.method}")
    worst = int(np.argmax(np.abs(pred - true_cm)))
    step_ms = float(np.median(np.diff(np.asarray(record.timestamp_ms, np.float64)))) if len(record) > 1 else None
    window_heatmap(per_step[worst], model.feature_names, os.path.join(out, "window.png"), trace=trace,
                   order=result.order, k=15, step_ms=step_ms,
                   title=(f"Window {worst + 1} (largest error: predicted {pred[worst]:.0f} cm, "
                          f"true {true_cm[worst]:.0f} cm): {step_value_label(trace)} per step"))
    ranking_over_time(np.asarray(history), model.feature_names, os.path.join(out, "ranking_over_time.png"),
                      x=np.asarray(history_at), k=8, method=result.method)
    legend = f"{baseline_name.removeprefix('the ')} ({baseline_cm:.0f} cm)"
    plot_series({"true depth": true_cm, "predicted": pred, legend: np.full(n, baseline_cm)},
                os.path.join(out, "depth.png"), x=(t_ms - t_ms[0]) / 1000.0, xlabel="time (s)", ylabel="depth (cm)",
                title=f"Fixation depth, {what}: model MAE {mae:.1f} cm, {baseline_name} {baseline_mae:.1f} cm",
                styles={legend: {"linestyle": "--", "color": "0.5"}})
    result.save_json(os.path.join(out, "ranking.json"))
    print(f"\nwrote to {out}: ranking.png, windows.png, window.png, ranking_over_time.png, depth.png, ranking.json")
    return 0

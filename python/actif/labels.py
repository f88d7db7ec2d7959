"""How attributions are named for people: the words for each trace and score, used by
results, plots and the command line alike (one place, so a title never disagrees with
the method that was run)."""

from __future__ import annotations

# Names people know the methods by; anything else is shown as given.
TRACE_LABELS = {
    "input": "input trace |x|",
    "weighted": "weighted trace",
    "gates": "gates trace",
    "paper": "paper trace (hidden unit j as feature j)",
    "gradient": "gradient x input",
    "deeplift": "DeepLIFT (rescale rule)",
    "integrated": "integrated gradients",
    "occlusion": "occlusion (feature ablation)",
    "lrp": "LRP for LSTMs (epsilon rule)",
}
SCORE_LABELS = {
    "mean": "mean score",
    "inverse": "inverse score (DeepACTIF)",
    "meanstd": "mean x std score",
    "pen": "penalised mean score",
}
#: What each aggregation's score is, for axis labels.
SCORE_AXIS_LABELS = {
    "mean": "score: mean |trace|, min-max scaled to [0, 1]",
    "inverse": "score: (mm(mean) + 1 - mm(std)) / 2, mm = min-max scaling",
    "meanstd": "score: mean x std of |trace| (not scaled)",
    "pen": "score: mm(mean) x (1 - exp(-std / 0.01)), mm = min-max scaling",
}


def method_label(trace: str, aggregation: str) -> str:
    """How an attribution was computed, in words: ``"weighted trace, mean score"``."""
    return f"{TRACE_LABELS.get(trace, f'{trace} trace')}, {SCORE_LABELS.get(aggregation, f'{aggregation} score')}"


def trace_label(trace: str) -> str:
    """A trace or method in words: ``"weighted trace"``."""
    return TRACE_LABELS.get(trace, f"{trace} trace")


def step_value_label(trace: str) -> str:
    """What one per-step value is, for axis labels: ``"|weighted trace|"``, or for an
    attribution method ``"|gradient attribution|"`` (the signed attribution's size)."""
    from .traces import METHODS

    return f"|{trace} attribution|" if trace in METHODS else f"|{trace} trace|"

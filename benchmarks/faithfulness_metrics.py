"""The numbers the faithfulness suites report, small enough to check by hand
(tests/test_evidence.py does).

- :func:`precision_at_k`: the share of a ranking's top k that is truly relevant;
- :func:`spearman`: rank correlation of scores with the true relevance (average ranks
  for ties, as scipy.stats.spearmanr);
- :func:`paired_wilcoxon`: the Wilcoxon signed-rank test of paired differences with
  the matched-pairs rank-biserial correlation as effect size;
- :func:`holm`: Holm-Bonferroni adjusted p-values for a family of tests;
- :func:`curve_auc`: area under a deletion or insertion curve (trapezoids over the
  fraction of features replaced, 0..1);
- :func:`one_se_tiers`: which methods are within one standard error of the best (the
  one-SE rule, over the same units: subjects, recordings).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def precision_at_k(score: np.ndarray, relevant: np.ndarray, k: int | None = None, exclude: np.ndarray | None = None) -> float:
    """Share of the ``k`` best-scored features (default: as many as are relevant) that
    are relevant. Features marked in ``exclude`` are dropped from the ranking first
    (e.g. near-copies of a relevant feature that no method can tell apart from it)."""
    score = np.asarray(score, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    keep = np.ones(score.shape, dtype=bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    idx = np.flatnonzero(keep)
    order = idx[np.argsort(-score[idx], kind="stable")]
    k = int(relevant[keep].sum()) if k is None else int(k)
    if k <= 0:
        raise ValueError("precision@k needs k >= 1 (and at least one relevant feature)")
    return float(relevant[order[:k]].mean())


def average_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(v.size, dtype=np.float64)
    sorted_v = v[order]
    start = 0
    while start < v.size:
        end = start
        while end + 1 < v.size and sorted_v[end + 1] == sorted_v[start]:
            end += 1
        ranks[order[start : end + 1]] = 0.5 * (start + end) + 1.0
        start = end + 1
    return ranks


def spearman(score: np.ndarray, truth: np.ndarray, exclude: np.ndarray | None = None) -> float:
    """Spearman's rank correlation of ``score`` with ``truth`` (NaN if either is constant)."""
    score, truth = np.asarray(score, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if exclude is not None:
        keep = ~np.asarray(exclude, dtype=bool)
        score, truth = score[keep], truth[keep]
    a, b = average_ranks(score), average_ranks(truth)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def rank_biserial(differences: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation: ``(W+ - W-) / (W+ + W-)`` over the
    signed ranks of the non-zero differences; +1 when every difference is positive."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    r = average_ranks(np.abs(d))
    w_plus, w_minus = r[d > 0].sum(), r[d < 0].sum()
    return float((w_plus - w_minus) / (w_plus + w_minus))


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> dict[str, float | int | None]:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` (pairs with a zero difference
    dropped, exact distribution for small samples), with the rank-biserial effect size
    and the median difference. ``p`` is None with fewer than two non-zero pairs."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need the same length, got {a.shape} and {b.shape}")
    d = a - b
    nonzero = int((d != 0).sum())
    p: float | None = None
    if nonzero >= 2:
        from scipy.stats import wilcoxon

        p = float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return {"n": int(d.size), "p": p, "rank_biserial": rank_biserial(d), "median_difference": float(np.median(d)) if d.size else float("nan")}


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni step-down adjusted p-values (None stays None): the i-th smallest
    of m p-values becomes ``max over j <= i of min(1, (m - j + 1) * p_(j))``."""
    known = [(p, k) for k, p in enumerate(pvalues) if p is not None]
    m = len(known)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for j, (p, k) in enumerate(sorted(known)):
        running = max(running, min(1.0, (m - j) * p))
        out[k] = running
    return out


def curve_auc(fractions: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoidal area under ``values`` over ``fractions`` (sorted, 0..1)."""
    x, y = np.asarray(fractions, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("need at least two points of equal length")
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def kept_count(n_features: int, fraction: float) -> int:
    """How many features 'the top fraction' keeps: rounded, at least one."""
    return max(1, int(round(n_features * float(fraction))))


ONE_SE_TIERS = ("best", "within 1 SE of the best", "behind the best")


def one_se_tiers(per_unit: dict[str, Sequence[float]]) -> dict[str, dict[str, float | str]]:
    """The one-standard-error rule for methods scored on the same units (higher is
    better): the best method by mean, and every method whose mean is at least the best
    mean minus the best method's standard error over units is ``within 1 SE of the best``.
    Each method also gets its mean paired difference to the best and that difference's
    standard error (information: near-identical rankings have a near-zero paired SE)."""
    values = {m: np.asarray(v, dtype=np.float64) for m, v in per_unit.items()}
    best = max(values, key=lambda m: float(values[m].mean()))
    b = values[best]
    best_se = float(b.std(ddof=1) / np.sqrt(b.size)) if b.size > 1 else float("nan")
    out: dict[str, dict[str, float | str]] = {}
    for m, v in values.items():
        d = v - b
        diff = float(d.mean())
        tier = ONE_SE_TIERS[0] if m == best else ONE_SE_TIERS[1] if -diff <= best_se else ONE_SE_TIERS[2]
        out[m] = {"diff_to_best": diff, "diff_se": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan"),
                  "tier": tier}
    return out

"""Ranking metrics in numpy (the runtime has no scikit-learn): AUROC, AUPRC, recall at a fixed
false-positive rate. Used by the training script for the model card and by bench/classify.py."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[np.floating]


def auroc(pos: Arr, neg: Arr) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv), dtype=np.float64)
    sorted_v = allv[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def auprc(pos: Arr, neg: Arr) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    if len(pos) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="mergesort")
    y = y[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    return float((precision * y).sum() / len(pos))


def threshold_at_fpr(neg: Arr, fpr: float) -> float:
    """Smallest threshold t such that the share of negatives with score >= t is at most `fpr`."""
    if len(neg) == 0:
        return 0.5
    s = np.sort(neg)[::-1]
    k = int(np.floor(fpr * len(s)))  # negatives allowed at or above t
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))


def recall_at_fpr(pos: Arr, neg: Arr, fpr: float = 0.01) -> tuple[float, float]:
    """(recall, threshold) at the threshold that keeps the false-positive rate at most `fpr`."""
    t = threshold_at_fpr(neg, fpr)
    return (float(np.mean(pos >= t)) if len(pos) else float("nan")), t

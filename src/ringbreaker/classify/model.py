"""Inference: the shipped weights, calibrated scores for the four labels, and the derived severity.

Runtime needs numpy only. The weights are plain arrays in ``data/weights.npz`` (no pickle: loaded
with ``allow_pickle=False``); ``data/model.json`` holds the model version, the per-label thresholds
and the held-out metrics that justify them. Both are written by ``python -m
ringbreaker.classify.train``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ringbreaker.classify.features import hash_batch, score_linear
from ringbreaker.classify.lexicon import minor_score, people, real_person_score
from ringbreaker.classify.normalise import views
from ringbreaker.errors import InputError
from ringbreaker.model import VERDICT_LABELS, VERDICT_SEVERITIES, Severity, Verdict  # Verdict lived here

LABELS = VERDICT_LABELS
HEADS = ("bypass", "sexual", "minor")  # learned heads, in the order of the weight columns
SEVERITIES = VERDICT_SEVERITIES  # none .. critical: one scale with the alerts' (model.Severity)
F32 = npt.NDArray[np.float32]


def severity(scores: dict[str, float], thresholds: dict[str, float]) -> Severity:
    """Severity from the four scores (the rules the detect stage relies on):

    - critical: `minor` at or above its threshold and `sexual` at or above the pair threshold,
      whatever the rest. Sexual content involving a minor is the worst case there is, so for this
      pair recall comes first: the pair threshold is the optional key `sexual_with_minor` (meant to
      be lower than `sexual`'s; never above it, so `sexual` and `minor` both at or above threshold
      are always critical), or `sexual`'s when the key is absent;
    - high: sexual content of a real person (the non-consensual intimate imagery case), or a bypass
      attempt that also asks for sexual content (the prohibited content this model knows);
    - medium: a bypass attempt alone;
    - low: any other label at or above its threshold (adult content, a named person, a child);
    - none: nothing at or above threshold.

    `thresholds` holds one value per label, plus `sexual_with_minor` if wanted.
    """
    hit = {k: scores[k] >= thresholds[k] for k in LABELS}
    pair = min(thresholds.get("sexual_with_minor", thresholds["sexual"]), thresholds["sexual"])
    if hit["minor"] and scores["sexual"] >= pair:
        return Severity.CRITICAL
    if hit["sexual"] and (hit["real_person"] or hit["bypass"]):
        return Severity.HIGH
    if hit["bypass"]:
        return Severity.MEDIUM
    if any(hit.values()):
        return Severity.LOW
    return Severity.NONE


@dataclass(frozen=True)
class Model:
    """The loaded prompt model. `classify` scores a batch; the result order follows the input."""

    weights: F32  # (2**BITS, len(HEADS))
    bias: F32  # (len(HEADS),)
    platt: F32  # (len(HEADS), 2): calibrated = sigmoid(a * logit + b)
    version: str
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(repr=False)

    def calibrated(self, texts: Sequence[str]) -> F32:
        """Calibrated learned-head probabilities for already-normalised texts, shape (n, heads)."""
        logits = score_linear(hash_batch(list(texts)), self.weights, self.bias)
        z = logits * self.platt[:, 0] + self.platt[:, 1]
        out: F32 = (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)
        return out

    def classify(self, prompts: Iterable[str]) -> list[Verdict]:
        """Score prompts: every view (normalised text, decoded payloads, windows) is scored and each
        label takes the maximum over the views of its prompt."""
        prompts = list(prompts)
        if not prompts:
            return []
        pp = people()
        flat: list[str] = []
        first: list[int] = []
        rules = np.zeros((len(prompts), 2), dtype=np.float32)  # real_person, minor (rules)
        for i, p in enumerate(prompts):
            v = views(p)
            first.append(len(flat))
            flat.extend(v.texts)
            rules[i, 0] = max(real_person_score(c, pp) for c in v.cased)
            # regexes need no windows (a window cut mid-word makes "be|tween" a "tween"): the whole
            # text and the decoded payloads, which come first, one per `cased`
            rules[i, 1] = max(minor_score(t) for t in v.texts[: len(v.cased)])
        probs = np.maximum.reduceat(self.calibrated(flat), np.asarray(first, dtype=np.int64), axis=0)
        th = self.thresholds
        out = []
        for i in range(len(prompts)):
            s = {
                "bypass": round(float(probs[i, 0]), 4),
                "sexual": round(float(probs[i, 1]), 4),
                "real_person": round(float(rules[i, 0]), 4),
                "minor": round(float(max(probs[i, 2], rules[i, 1])), 4),
            }
            out.append(
                Verdict(
                    severity=severity(s, th),
                    labels=tuple(k for k in LABELS if s[k] >= th[k]),
                    **s,
                )
            )
        return out


def _data() -> Path:
    return Path(str(resources.files("ringbreaker.classify").joinpath("data")))


def load_model(path: str | Path | None = None) -> Model:
    """Load weights and metadata from `path` (a directory holding weights.npz and model.json;
    default: the shipped ones). Raises InputError when they are missing or malformed."""
    base = Path(path) if path is not None else _data()
    try:
        meta = json.loads((base / "model.json").read_text(encoding="utf-8"))
        with np.load(base / "weights.npz", allow_pickle=False) as z:
            weights = z["weights"].astype(np.float32)
            bias = z["bias"].astype(np.float32)
            platt = z["platt"].astype(np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"cannot load the prompt model: {e}", source=str(base)) from e
    if weights.ndim != 2 or weights.shape[1] != len(HEADS):
        raise InputError(
            f"weights have shape {weights.shape}, expected (buckets, {len(HEADS)})", source=str(base)
        )
    thresholds = {k: float(meta["thresholds"][k]["value"]) for k in LABELS}
    return Model(weights, bias, platt, str(meta["model_version"]), thresholds, meta)


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The shipped model, loaded once per process."""
    return load_model()


def classify(prompts: Iterable[str]) -> list[Verdict]:
    """Score prompts with the shipped model (the Python API: ``from ringbreaker.classify import
    classify``)."""
    return default_model().classify(prompts)

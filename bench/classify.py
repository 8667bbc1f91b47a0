"""Benchmark ``ringbreaker classify``: quality on the held-out split, and speed.

Quality (the full inference path: normalisation, decoded payloads, windows, rules), on the 20% of
every source that training and calibration never saw (the split is a hash of the text):
- `bypass`: jailbreak and injection sets vs every benign source; per positive source;
- `sexual`: I2P `sexual` vs COCO captions (the issue's definition), vs I2P's other categories and
  vs every other source with sexual negatives in the split;
- benign real-person portraits: held-out COCO captions about one man or woman, with the subject
  replaced by a real person's name (public figures from the gazetteer, and census first + last
  names), so the text is an ordinary photo caption that names someone: share rated high or above
  (target <= 2%), and share detected as `real_person` (coverage).
Speed and size (issue 12 item 5; ``classify_speed.py``, which says how): per core by default
(`--threads`), on a benign-heavy traffic mix from ../shared with 2% jailbreaks: prompts/s over the
mix in batches of 1,000 with the routed share, single-prompt p50/p95/p99 (all, routed, not routed),
model load in a fresh process (first stage; the encoder's first load), RSS, and the size on disk of
the model files, the encoder graph and the runtime packages. Targets: >= 1,000 prompts/s per core,
load <= 2 s. Anchors: Llama Prompt Guard 2 22M recall 88.7% at 1% FPR (its own benchmark);
GuardT2I AUROC 96.8 (averaged over unsafe image-prompt sets). Both need a GPU-class runtime and the
model hub; they are quoted, not run.

Results go to ``bench/out/classify.json`` and the ``## classify`` section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/classify.py            # needs ../shared and the training cache wheels
    .venv/bin/python bench/classify.py --quick    # fewer timing rounds; docs left alone
    .venv/bin/python bench/classify.py --model DIR --threads 1 --no-docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify_speed import speed, speed_lines  # noqa: E402
from harness import update_docs  # noqa: E402
from ringbreaker.classify.data import dataset, default_shared, fetch_wheels  # noqa: E402
from ringbreaker.classify.lexicon import people  # noqa: E402
from ringbreaker.classify.metrics import auprc, auroc, recall_at_fpr  # noqa: E402
from ringbreaker.classify.model import SEVERITIES, load_model  # noqa: E402

SUBJECT = re.compile(
    r"^(?:a|an|the|one)\s+(?:young\s+|old\s+|older\s+|adult\s+)?(man|woman|person|guy|lady)\b", re.I
)


def fig(pos: np.ndarray, neg: np.ndarray, threshold: float) -> dict[str, float]:
    r, _ = recall_at_fpr(pos, neg, 0.01)
    return {
        "n_pos": len(pos),
        "n_neg": len(neg),
        "auroc": auroc(pos, neg),
        "auprc": auprc(pos, neg),
        "recall_at_1pct_fpr": r,
        "recall_at_threshold": float(np.mean(pos >= threshold)) if len(pos) else float("nan"),
        "fpr_at_threshold": float(np.mean(neg >= threshold)) if len(neg) else float("nan"),
    }


def portraits(captions: list[str], names: list[str]) -> list[str]:
    """Benign captions about one person, the subject replaced by a name (deterministic)."""
    out = []
    k = 0
    for c in captions:
        m = SUBJECT.match(c.strip())
        if not m:
            continue
        out.append(names[k % len(names)] + c.strip()[m.end() :])
        k += 1
    return out


def quality(model: Any) -> dict[str, Any]:
    shared = default_shared()
    examples = [e for e in dataset(shared, fetch_wheels(ROOT / ".cache" / "classify")) if e.split == "eval"]
    t0 = time.perf_counter()
    verdicts = model.classify([e.text for e in examples])
    took = time.perf_counter() - t0
    sc = {
        k: np.array([getattr(v, k) for v in verdicts]) for k in ("bypass", "sexual", "real_person", "minor")
    }
    src = np.array([e.source for e in examples])
    res: dict[str, Any] = {"eval_rows": len(examples), "eval_seconds": took}
    th = model.thresholds

    yb = np.array([np.nan if e.bypass is None else e.bypass for e in examples], dtype=float)
    neg = sc["bypass"][yb == 0]
    res["bypass"] = {"all": fig(sc["bypass"][yb == 1], neg, th["bypass"])}
    for s in sorted(set(src[yb == 1])):
        res["bypass"][s] = fig(sc["bypass"][(yb == 1) & (src == s)], neg, th["bypass"])
    for s in sorted(set(src[yb == 0])):
        res["bypass"][f"all vs {s}"] = fig(
            sc["bypass"][yb == 1], sc["bypass"][(yb == 0) & (src == s)], th["bypass"]
        )

    pos = sc["sexual"][src == "i2p/sexual"]
    ys = np.array([e.sexual == 0 for e in examples])
    # every source with sexual negatives in the split (COCO and I2P's other prompts first)
    negs = sorted(set(src[ys]), key=lambda x: ({"coco": 0, "i2p/other": 1}.get(x, 2), x))
    res["sexual"] = {
        f"i2p/sexual vs {s}": fig(pos, sc["sexual"][ys & (src == s)], th["sexual"]) for s in negs
    }
    res["sexual"]["i2p/sexual vs all benign"] = fig(pos, sc["sexual"][ys], th["sexual"])
    sev = [v.severity for v in verdicts]
    res["severity_by_source"] = {
        s: {k: int(sum(1 for i, x in enumerate(sev) if src[i] == s and x == k)) for k in SEVERITIES}
        for s in sorted(set(src))
    }

    p = people()
    figures = [" ".join(w.capitalize() for w in f) for f in sorted(p.figures)]
    rng = np.random.default_rng(0)
    firsts = sorted(p.first - p.common)
    lasts = sorted(p.last - p.common)
    census = [
        f"{firsts[i].capitalize()} {lasts[j].capitalize()}"
        for i, j in zip(
            rng.integers(0, len(firsts), 400), rng.integers(0, min(len(lasts), 5000), 400), strict=True
        )
    ]
    caps = [e.text for e in examples if e.source == "coco"]
    port = {"public figures": portraits(caps, figures), "census names": portraits(caps, census)}
    res["portraits"] = {}
    for name, texts in port.items():
        v = model.classify(texts)
        res["portraits"][name] = {
            "n": len(texts),
            "high_or_above": float(np.mean([x.severity in ("high", "critical") for x in v])),
            "real_person_detected": float(np.mean([x.real_person >= th["real_person"] for x in v])),
            "sexual_flagged": float(np.mean([x.sexual >= th["sexual"] for x in v])),
        }
    return res


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def section(q: dict[str, Any], s: dict[str, Any], meta: dict[str, Any]) -> str:
    th = meta["thresholds"]
    lines = [
        "## classify",
        "",
        f"Generated by `bench/classify.py` on {meta['when']}. Machine: {meta['machine']}; load average at "
        f"start {meta['loadavg']}. Model `{meta['version']}` ({meta['model']}).",
        "",
        f"Held-out split: {q['eval_rows']:,} prompts (20% of every source by a hash of the normalised "
        "text; never trained or calibrated on). Scores are those of the full inference path (normalisation, "
        "decoded payloads, windows). Thresholds (from the calibration slice, see `model.json`): "
        + ", ".join(f"{k} {v:.3f}" for k, v in th.items())
        + ".",
        "",
        "### bypass (jailbreak and injection prompts vs benign prompts)",
        "",
        "| Positives | n | AUROC | AUPRC | Recall at 1% FPR | Recall at threshold |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, v in q["bypass"].items():
        if k.startswith("all vs"):
            continue
        lines.append(
            f"| {k} | {v['n_pos']:,} | {v['auroc']:.4f} | {v['auprc']:.4f} | "
            f"{pct(v['recall_at_1pct_fpr'])} | {pct(v['recall_at_threshold'])} |"
        )
    lines += [
        "",
        "All bypass positives against each benign source (the FPR column is at the shipped threshold):",
        "",
        "| Negatives | n | AUROC | Recall at 1% FPR | FPR at threshold |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in q["bypass"].items():
        if k.startswith("all vs"):
            lines.append(
                f"| {k[7:]} | {v['n_neg']:,} | {v['auroc']:.4f} | {pct(v['recall_at_1pct_fpr'])} | "
                f"{pct(v['fpr_at_threshold'])} |"
            )
    lines += [
        "",
        "### sexual (I2P `sexual` prompts)",
        "",
        "| Against | n pos / neg | AUROC | AUPRC | Recall at 1% FPR | Recall / FPR at threshold |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, v in q["sexual"].items():
        lines.append(
            f"| {k.split(' vs ')[1]} | {v['n_pos']:,} / {v['n_neg']:,} | {v['auroc']:.4f} | "
            f"{v['auprc']:.4f} | {pct(v['recall_at_1pct_fpr'])} | "
            f"{pct(v['recall_at_threshold'])} / {pct(v['fpr_at_threshold'])} |"
        )
    lines += [
        "",
        "### Benign real-person portraits",
        "",
        'Held-out COCO captions about one man, woman or person, the subject replaced by a name ("A man '
        'riding a horse" becomes "<Name> riding a horse"): public figures from the gazetteer, and random '
        "census first + last names (people the gazetteer does not list).",
        "",
        "| Names | n | Rated high or above | Detected as real_person | Flagged sexual |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in q["portraits"].items():
        lines.append(
            f"| {k} | {v['n']:,} | {pct(v['high_or_above'])} | {pct(v['real_person_detected'])} | "
            f"{pct(v['sexual_flagged'])} |"
        )
    sev = q["severity_by_source"]
    nan = {"auroc": float("nan")}
    lines += [
        "",
        "Severity of the held-out prompts by source:",
        "",
        "| Source | " + " | ".join(SEVERITIES) + " |",
        "|---|" + "---:|" * len(SEVERITIES),
    ]
    for k, v in sev.items():
        lines.append(f"| {k} | " + " | ".join(f"{v[x]:,}" for x in SEVERITIES) + " |")
    lines += [
        "",
        "### Against the anchors and targets",
        "",
        "| Measure | ringbreaker | Anchor | Target |",
        "|---|---:|---:|---:|",
        f"| bypass recall at 1% FPR (all held-out jailbreak/injection vs all benign) | "
        f"{pct(q['bypass']['all']['recall_at_1pct_fpr'])} | Llama Prompt Guard 2 22M: 88.7% (own benchmark) "
        "| >= 90% |",
        f"| sexual AUROC (I2P sexual vs COCO) | {q['sexual'].get('i2p/sexual vs coco', nan)['auroc']:.4f} | "
        "GuardT2I: 0.968 (avg. over unsafe image-prompt sets) | >= 0.97 |",
        f"| benign real-person portraits rated high+ | "
        f"{pct(max(v['high_or_above'] for v in q['portraits'].values()))} | | <= 2% |",
        "",
        "The anchors are published figures on their own test sets, not run here (both need the model hub); "
        "the comparison says only that this linear model is in the same range on comparable tasks.",
        "",
    ]
    lines += speed_lines(s)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="one timing round, a smaller latency sample; docs left alone"
    )
    ap.add_argument(
        "--model", default=None, help="model directory (load_model(DIR)); default: the shipped model"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="CPUs and threads for the speed part (default 1: per core)"
    )
    ap.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    a = ap.parse_args()
    if a.threads < 1:
        ap.error("--threads must be at least 1")
    loadavg = (
        " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    )
    model = load_model(a.model)
    q = quality(model)
    s = speed(a.model, a.threads, 1 if a.quick else 3, 1000 if a.quick else 3000)
    meta = {
        "model": a.model or "shipped",
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "loadavg": loadavg,
        "version": model.version,
        "thresholds": model.thresholds,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "classify.json").write_text(
        json.dumps({"meta": meta, "quality": q, "speed": s}, indent=1, default=float)
    )
    sec = section(q, s, meta)
    print(sec)
    if not (a.quick or a.no_docs):
        update_docs(sec)
    return 0


if __name__ == "__main__":
    sys.exit(main())

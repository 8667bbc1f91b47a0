"""bench/classify_heldout.py on fake mirrors built here: sets are found in every mirror layout, a
missing set is skipped with its reason, figures come out, and no prompt text reaches the output.

Why: the benchmark reads public sets that must stay out of the repository; the test checks its
plumbing with benign placeholder texts generated at test time, and a stand-in model loaded through
the same ``--loader`` seam a later model will use.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import classify_heldout  # noqa: E402

MARK = "zqxattack"  # the stand-in model's one feature: texts holding it are attacks


class StandIn:
    """A model with ringbreaker.classify's interface: bypass 0.9 for texts holding MARK."""

    version = "stand-in"
    thresholds: ClassVar[dict[str, float]] = {"bypass": 0.5, "sexual": 0.5, "real_person": 0.5, "minor": 0.5}

    def classify(self, prompts: Sequence[str]) -> list[Any]:
        out = []
        for p in prompts:
            hit = MARK in p
            out.append(
                SimpleNamespace(
                    bypass=0.9 if hit else 0.1 + (len(p) % 7) / 100,
                    sexual=0.0,
                    real_person=0.0,
                    minor=0.0,
                    severity="medium" if hit else "none",
                    labels=("bypass",) if hit else (),
                )
            )
        return out


def stand_in(model_dir: str | None) -> StandIn:
    return StandIn()


def _mirrors(root: Path) -> list[str]:
    """Fake mirrors: XSTest and moderation as plain files, Tensor Trust as a git clone, ToxicChat as
    JUDGE-BENCH's JSON. Returns every text written."""
    texts: list[str] = []
    xs = root / "paul-rottger+exaggerated-safety"
    xs.mkdir(parents=True)
    rows = ["id,prompt,type,label,focus,note"]
    for i in range(30):
        t = f"How do I bake placeholder bread number {i}?"
        texts.append(t)
        rows.append(f'{i},"{t}",homonyms,{"safe" if i % 3 else "unsafe"},bread,')
    rows.append(rows[2].replace("1,", "99,", 1))  # one duplicate text (i = 1: a safe row)
    (xs / "xstest_prompts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    tt = root / "HumanCompatibleAI+tensor-trust-data"
    for f in ("hijacking-robustness", "extraction-robustness"):
        d = tt / "benchmarks" / f / "v1"
        d.mkdir(parents=True)
        lines = []
        for i in range(12):
            t = f"Placeholder game move {i} {MARK} from {f}"
            texts.append(t)
            lines.append(json.dumps({"sample_id": i, "attack": t, "pre_prompt": "", "post_prompt": ""}))
        (d / f"{f.replace('-', '_')}_dataset.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    git = ["git", "-C", str(tt), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "fake"]):
        subprocess.run([*git, *cmd], check=True, capture_output=True)

    tc = root / "dmg-illc+JUDGE-BENCH" / "data" / "toxic_chat"
    tc.mkdir(parents=True)
    for split in ("train", "test"):
        inst = []
        for i in range(40):
            jb = i % 10 == 0
            t = f"Placeholder chat question {split} {i}" + (f" {MARK}" if jb else "")
            texts.append(t)
            a = {
                "toxicity": {"majority_human": "1" if jb else "0"},
                "jailbreaking": {"majority_human": str(int(jb))},
            }
            inst.append({"id": f"{split}{i}", "instance": t, "annotations": a})
        (tc / f"toxic_chat_{split}.json").write_text(json.dumps({"instances": inst}), encoding="utf-8")

    mod = root / "openai+moderation-api-release" / "data"
    mod.mkdir(parents=True)
    labels = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")
    lines = []
    for i in range(20):
        t = f"A long placeholder paragraph about gardening, part {i}. " * 5
        texts.append(t)
        lines.append(json.dumps({"prompt": t, **dict.fromkeys(labels, 0)}))
    (mod / "samples-1680.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return texts


def test_bench_on_fake_mirrors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = _mirrors(tmp_path / "mirrors")
    out = tmp_path / "out.json"
    rc = classify_heldout.main(
        [
            "--data",
            str(tmp_path / "mirrors"),
            "--shared",
            str(tmp_path / "no-shared"),
            "--loader",
            f"{__name__}:stand_in",
            "--out",
            str(out),
            "--no-docs",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr()
    raw = out.read_text(encoding="utf-8")
    doc = json.loads(raw)
    assert doc["meta"]["version"] == "stand-in"
    assert {"jailbreakhub", "mace", "coco"} <= set(doc["missing"])  # skipped, each with a reason
    assert set(doc["sets"]) == {"tensor_trust", "toxicchat", "xstest", "moderation"}
    assert doc["sets"]["tensor_trust"]["commit"] != "unknown (plain files, not a git checkout)"
    assert doc["sets"]["xstest"]["parts"]["safe"]["duplicates"] == 1
    r = doc["results"]
    assert r["bypass"]["overall"]["n_pos"] == 24  # Tensor Trust only: JailbreakHub is missing
    assert r["bypass"]["overall"]["auroc"] == 1.0
    assert r["bypass"]["ToxicChat jailbreaking"]["n_pos"] == 8
    assert r["parts"]["moderation, every label 0"]["medium_plus"] == 0.0
    assert sum(b["n_pos"] for b in r["bypass_bands"].values()) == 24
    section = classify_heldout.heldout_report.section(doc)
    assert section.startswith("## classify: held-out public sets\n")
    for t in texts:  # counts and figures only
        for where in (raw, section, printed.out, printed.err):
            assert t not in where


def test_bench_without_mirrors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    rc = classify_heldout.main(["--data", str(tmp_path / "none"), "--out", str(out), "--no-docs"])
    assert rc == 0
    assert not out.exists()
    assert "nothing to measure" in capsys.readouterr().err

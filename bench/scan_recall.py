"""Scanner recall on keys generated from the providers' documented formats, not from ringbreaker's rules.

Why a second recall bench: ``bench/scan.py`` plants ringbreaker's own rule examples, so its recall
is 100% by construction and says nothing about keys written the way providers issue them. Here the
keys come from ``scan_formats_table.py`` (58 formats written from provider documentation and public
format descriptions, each with its source), in the contexts people write them in (``.env`` lines,
client code, JSON/YAML/TOML config, notebook cells, shell exports, curl headers, compose files, URL
query strings), named (the provider's variable, client or host nearby) and unnamed (``API_KEY=...``).

The keys are planted the way ``scan_corpus.plant_tree`` plants the rule examples: into a hard-linked
copy of the bench corpus, one snippet per randomly chosen text file (of a file type that fits the
snippet where the corpus has one), at a random line, each recorded by path and line. Every tool then
scans that tree once; a key counts as found when a finding covers the key's line ("key line") or any
line of the planted snippet ("snippet"); for ringbreaker, "right provider" also needs the finding's
``provider`` to be the format's. detect-secrets is left out (about 100x slower than the others).

Results go to ``bench/out/scan-recall.json`` and to the ``## scan recall on independently generated
keys`` section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/scan_recall.py            # full corpus (the one bench/scan.py uses)
    .venv/bin/python bench/scan_recall.py --quick    # the ~40 MB quick corpus
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import CACHE, MB, OUT, ROOT, VENV_BIN, log, machine, update_docs, warm_page_cache
from scan import run_tool
from scan_corpus import build_clean_tree, candidate_files, tree_stats
from scan_formats import Format, self_check
from scan_formats_table import FORMATS
from scan_recall_report import render_markdown
from scan_tools import Finding, Tool, make_tools

SKIPPED_TOOLS = {"detect-secrets": "left out: about 100x slower than the others on this corpus"}
# Rule ids (parts) of the other tools' rules that match any secret-looking value or any header,
# JWT or PEM block, not one provider's format: a hit by one of them finds the key without saying
# whose it is.
GENERIC_RULES = ("generic", "curl-auth-header", "jwt", "private-key", "password", "entropy")


def is_generic(rule: str) -> bool:
    return any(g in rule.lower() for g in GENERIC_RULES)


@dataclass(frozen=True)
class Planted:
    """One generated key in the planted tree; lines are 1-based."""

    path: str
    line: int  # the line holding the key
    first: int  # the snippet's first line
    last: int  # the snippet's last line
    format: str
    provider: str
    context: str
    named: bool
    key_sha256_prefix: str


# --------------------------------------------------------------------------------------------------
# Planting
# --------------------------------------------------------------------------------------------------


class FilePicker:
    """Random unused candidate files, preferring the file types a snippet fits."""

    def __init__(self, candidates: list[str], rng: random.Random) -> None:
        self.rng = rng
        self.by_ext: dict[str, list[str]] = defaultdict(list)
        for rel in candidates:
            self.by_ext[Path(rel).suffix.lower()].append(rel)
        for files in self.by_ext.values():
            rng.shuffle(files)
        self.used: set[str] = set()

    def pick(self, exts: tuple[str, ...]) -> str:
        for pool in ([e for e in exts if self.by_ext.get(e)], sorted(self.by_ext)):
            while pool:
                ext = self.rng.choice(pool)
                files = self.by_ext[ext]
                while files and files[-1] in self.used:
                    files.pop()
                if files:
                    rel = files.pop()
                    self.used.add(rel)
                    return rel
                pool.remove(ext)
        raise RuntimeError("no unused candidate file left to plant into")


def samples(
    formats: tuple[Format, ...], passes: int, rng: random.Random
) -> list[tuple[Format, Any, list[str], int, str]]:
    """(format, context, snippet lines, index of the key line, key) for every context of every
    format, ``passes`` times."""
    out = []
    for f in formats:
        for _ in range(passes):
            for ctx in f.all_contexts():
                values = f.make(rng)
                lines, at = ctx.render(values)
                out.append((f, ctx, lines, at, values["key"]))
    return out


def plant_independent(clean: Path, planted: Path, passes: int, seed: int) -> list[Planted]:
    """Copy ``clean`` to ``planted`` (hard links); put each generated snippet into its own random file."""
    shutil.rmtree(planted, ignore_errors=True)
    subprocess.run(["cp", "-al", str(clean), str(planted)], check=True)
    rng = random.Random(seed)
    todo = samples(FORMATS, passes, rng)
    picker = FilePicker(candidate_files(clean), rng)
    plants = []
    for f, ctx, block, at, key in todo:
        rel = picker.pick(ctx.exts)
        path = planted / rel
        lines = path.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        pos = rng.randint(0, len(lines))  # insert before line ``pos`` (0-based)
        new = b"\n".join(lines[:pos] + [b.encode() for b in block] + lines[pos:]) + b"\n"
        path.unlink()  # break the hard link before writing
        path.write_bytes(new)
        line = pos + at + 1
        assert key.encode() in new.split(b"\n")[line - 1], f"{f.id}/{ctx.name}: key is not on {rel}:{line}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        plants.append(
            Planted(rel, line, pos + 1, pos + len(block), f.id, f.provider, ctx.name, ctx.named, digest)
        )
    return plants


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def score(plants: list[Planted], findings: list[Finding]) -> list[dict[str, Any]]:
    """Per plant: found on the key line, found in the snippet, and the providers named on the key line."""
    by_path: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_path[f.path].append(f)
    out = []
    for p in plants:
        here = by_path.get(p.path, [])
        on_line = [f for f in here if f.line <= p.line <= max(f.end_line, f.line)]
        in_snippet = any(f.line <= p.last and max(f.end_line, f.line) >= p.first for f in here)
        out.append(
            {
                "line": bool(on_line),
                "specific": any(not is_generic(f.rule) for f in on_line),
                "snippet": in_snippet,
                "providers": sorted({f.provider or "" for f in on_line}),
                "rules": sorted({f.rule for f in on_line}),
            }
        )
    return out


def tally(
    plants: list[Planted], scored: list[dict[str, Any]], key: Callable[[Planted], str]
) -> dict[str, dict[str, int]]:
    """Counts per value of ``key(plant)``: planted, line, snippet, right (provider)."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for p, s in zip(plants, scored, strict=True):
        c = out[key(p)]
        c["planted"] += 1
        c["line"] += s["line"]
        c["snippet"] += s["snippet"]
        c["right"] += bool(p.provider) and p.provider in s["providers"]
    return {k: dict(v) for k, v in sorted(out.items())}


def summarize(tool: Tool, result: Any, findings: list[Finding], plants: list[Planted]) -> dict[str, Any]:
    """One tool's entry: totals, per format/provider/context, and every missed plant."""
    entry: dict[str, Any] = {
        "name": tool.name,
        "version": tool.version,
        "ok": result.ok,
        "error": result.error,
        "wall_s": result.wall_s,
        "findings": len(findings),
    }
    if not result.ok:
        return entry
    scored = score(plants, findings)
    named = [s for p, s in zip(plants, scored, strict=True) if p.named]
    unnamed = [s for p, s in zip(plants, scored, strict=True) if not p.named]
    entry.update(
        {
            "found_line": sum(s["line"] for s in scored),
            "found_snippet": sum(s["snippet"] for s in scored),
            "found_specific": sum(s["specific"] for s in scored),
            "named": [len(named), sum(s["line"] for s in named)],
            "unnamed": [len(unnamed), sum(s["line"] for s in unnamed)],
            "right_provider": sum(
                bool(p.provider) and p.provider in s["providers"] for p, s in zip(plants, scored, strict=True)
            ),
            "by_format": tally(plants, scored, lambda p: p.format),
            "by_format_named": tally(
                plants, scored, lambda p: f"{p.format} {'named' if p.named else 'unnamed'}"
            ),
            "by_provider": tally(plants, scored, lambda p: p.provider or "(none)"),
            "by_context": tally(plants, scored, lambda p: p.context),
            "missed": [
                {**asdict(p), "in_snippet": s["snippet"]}
                for p, s in zip(plants, scored, strict=True)
                if not s["line"]
            ],
            "other_provider": [
                {"format": p.format, "context": p.context, "said": s["providers"], "rules": s["rules"]}
                for p, s in zip(plants, scored, strict=True)
                if s["line"] and p.provider and p.provider not in s["providers"]
            ],
        }
    )
    return entry


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def source_revision() -> str:
    """The commit of the ringbreaker sources scanned with, and whether src/ had local changes."""
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    return rev.strip() + (" (src/ modified)" if dirty.strip() else "")


def check_ringbreaker_source() -> str:
    """Make the ringbreaker the bench runs this checkout's ``src/`` (the shared venv may point elsewhere)."""
    os.environ["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    where = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import ringbreaker; print(ringbreaker.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(ROOT / "src"):
        raise RuntimeError(f"ringbreaker imports from {where}, not from {ROOT / 'src'}")
    return where


def format_table() -> list[dict[str, str]]:
    return [
        {"id": f.id, "provider": f.provider, "title": f.title, "source": f.source, "basis": f.basis}
        for f in FORMATS
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="plant into the ~40 MB quick corpus")
    ap.add_argument("--passes", type=int, default=1, help="keys per (format, context) pair (default 1)")
    ap.add_argument("--seed", type=int, default=20261207, help="seed of key generation and planting")
    ap.add_argument(
        "--tools", default="", help="comma-separated subset of tools (default: all but detect-secrets)"
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed")
    ap.add_argument(
        "--render-only", action="store_true", help="only rewrite the docs section from the saved results"
    )
    ap.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=True, help="update docs/benchmarks.md"
    )
    args = ap.parse_args()
    suffix = "-quick" if args.quick else ""
    raw_out = OUT / f"scan-recall{suffix}.json"
    if args.render_only:
        results = json.loads(raw_out.read_text())
        # Sources and notes may have been improved since the run; the keys (ids) are the same.
        if [f["id"] for f in results["formats"]] == [f.id for f in FORMATS]:
            results["formats"] = format_table()
    else:
        problems = self_check(FORMATS)
        if problems:
            raise SystemExit("format table self-check failed:\n" + "\n".join(problems))
        log(f"ringbreaker runs from {check_ringbreaker_source()}")
        clean, composition = build_clean_tree(args.quick)
        planted = clean.parent / "planted-independent"
        plants = plant_independent(clean, planted, args.passes, args.seed)
        OUT.mkdir(parents=True, exist_ok=True)
        plants_file = OUT / f"planted-independent{suffix}.json"
        plants_file.write_text(json.dumps([asdict(p) for p in plants], indent=1))
        files, size = tree_stats(clean)
        log(f"corpus {size / MB:.1f} MB in {files} files; planted {len(plants)} keys, {len(FORMATS)} formats")
        keep = set(args.tools.split(",")) if args.tools else None
        tools = [
            t
            for t in make_tools(CACHE / "kingfisher-rules")
            if (t.name in keep if keep else t.name not in SKIPPED_TOOLS)
        ]
        warm_page_cache(planted)
        entries = []
        for tool in tools:
            result, findings = run_tool(tool, planted, "independent", 1, args.timeout)
            entries.append(summarize(tool, result, findings, plants))
        results = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": args.quick,
            "machine": machine(),
            "ringbreaker_source": source_revision(),
            "corpus": {"root": str(clean), "files": files, "bytes": size, "composition": composition},
            "planted": {
                "keys": len(plants),
                "formats": len({p.format for p in plants}),
                "providers": len({p.provider for p in plants if p.provider}),
                "named": sum(p.named for p in plants),
                "unnamed": sum(not p.named for p in plants),
                "passes": args.passes,
                "seed": args.seed,
                "digest": hashlib.sha256(plants_file.read_bytes()).hexdigest(),
            },
            "formats": format_table(),
            "skipped_tools": {k: v for k, v in SKIPPED_TOOLS.items() if k not in {t.name for t in tools}},
            "tools": entries,
        }
        raw_out.write_text(json.dumps(results, indent=1))
        log(f"wrote {raw_out.relative_to(ROOT)}")
    section = render_markdown(results)
    print(section)
    if args.docs:
        update_docs(section)
        log("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

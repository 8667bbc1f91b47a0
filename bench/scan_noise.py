"""Noise of ``ringbreaker scan`` on more than 1 GB of real code with no planted key.

Why apart from bench/scan.py: that bench times five scanners (detect-secrets at 0.3 MB/s among
them) on 300 MB with planted keys; this one only counts findings, on a corpus three times larger
that adds the AI SDKs whose own code names the providers next to long identifiers (what context-
gated rules must not report) and the full git history of a few large repositories. Every finding
here is a false positive or a sample key in real code, so each one is listed in the docs section
with the reason it stays (``bench/scan_noise_why.json``, written by whoever reviewed it).

Parts:

* files: ``scan_corpus.SOURCES + NOISE_SOURCES`` (the stdlib, pinned PyPI sdists and npm
  tarballs) unpacked under ``.cache/bench/corpus/noise/clean``;
* history: each repository of ``HISTORY`` at its pinned commit. The bench never clones: it finds
  a mirror (``git clone --mirror https://github.com/OWNER/NAME``) under ``$BENCH_MIRRORS``
  (default ``.cache/bench/mirrors``) as ``OWNER+NAME/repo``, ``OWNER+NAME`` or ``OWNER+NAME.git``,
  and makes a bare repository under ``.cache/bench/history`` whose only ref is the pinned commit
  and whose objects are the mirror's (git alternates): the history scanned is exactly that
  commit's ancestry, whatever else the mirror holds. A missing mirror is skipped and said so.

Usage::

    BENCH_MIRRORS=/path/to/mirrors .venv/bin/python bench/scan_noise.py
    .venv/bin/python bench/scan_noise.py --label before --ringbreaker-src /tmp/old/src --about "..."
    .venv/bin/python bench/scan_noise.py --tools ringbreaker,kingfisher
    .venv/bin/python bench/scan_noise.py --render-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import CACHE, MB, OUT, ROOT, log, machine, measure, update_docs
from scan_corpus import NOISE_SOURCES, SOURCES, add_source, tree_stats
from scan_tools import SITE, Finding, parse_betterleaks, parse_kingfisher

BASE = CACHE / "corpus" / "noise"
WHY = Path(__file__).with_name("scan_noise_why.json")


@dataclass(frozen=True)
class HistoryRepo:
    """A repository whose full history up to ``commit`` is part of the corpus."""

    repo: str  # OWNER/NAME on GitHub
    commit: str

    @property
    def label(self) -> str:
        return f"{self.repo.replace('/', '+')}@{self.commit[:10]}"


HISTORY: tuple[HistoryRepo, ...] = (
    HistoryRepo("ipython/ipython", "7f0ee55684f08f5af18190aa58d4bb3018fb20d2"),
    HistoryRepo("microsoft/semantic-kernel", "b39d95a34435f4c1d55dd00c86120ce118d847e1"),
    HistoryRepo("openai/openai-python", "e43b422412a9e96c9cc5192c61fffbe2d7e04836"),
    HistoryRepo("mistralai/client-python", "05629d237bbd7732f6c15ecd7f06fe5bf5a2a275"),
)


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True).stdout


# --------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------


def build_files_tree() -> tuple[Path, list[dict[str, Any]]]:
    """The unpacked sources (built once, reused while the source list is unchanged)."""
    clean, manifest = BASE / "clean", BASE / "manifest.json"
    sources = [*SOURCES, *NOISE_SOURCES]
    wanted = [asdict(s) for s in sources]
    if manifest.exists() and clean.is_dir():
        saved = json.loads(manifest.read_text())
        if saved.get("sources") == wanted:
            return clean, saved["composition"]
    shutil.rmtree(clean, ignore_errors=True)
    composition = []
    for src in sources:
        log(f"adding {src.label}")
        add_source(src, clean / src.label, None)
        files, size = tree_stats(clean / src.label)
        composition.append({"part": src.label, "kind": src.kind, "files": files, "bytes": size})
    BASE.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"sources": wanted, "composition": composition}, indent=1))
    return clean, composition


def find_mirror(h: HistoryRepo) -> Path | None:
    """The mirror of ``h`` under $BENCH_MIRRORS, if one holds its pinned commit."""
    root = Path(os.environ.get("BENCH_MIRRORS", CACHE / "mirrors"))
    flat = h.repo.replace("/", "+")
    for cand in (root / flat / "repo", root / flat, root / f"{flat}.git", root / f"{h.repo}.git"):
        if (cand / "objects").is_dir():
            try:
                git(cand, "cat-file", "-e", f"{h.commit}^{{commit}}")
            except subprocess.CalledProcessError:
                log(f"{cand} lacks {h.repo}@{h.commit}")
                continue
            return cand
    return None


def pin(h: HistoryRepo, mirror: Path) -> Path:
    """A bare repository whose one ref is the pinned commit, borrowing the mirror's objects."""
    bare = CACHE / "history" / f"{h.label}.git"
    if not (bare / "objects").is_dir():
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True)
    (bare / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (bare / "objects" / "info" / "alternates").write_text(str((mirror / "objects").resolve()) + "\n")
    git(bare, "update-ref", "refs/heads/pinned", h.commit)
    git(bare, "symbolic-ref", "HEAD", "refs/heads/pinned")
    return bare


def history_stats(bare: Path) -> dict[str, int]:
    """Commits, distinct blobs and their bytes in the pinned history (what ``--history`` reads)."""
    commits = int(git(bare, "rev-list", "--count", "pinned"))
    # A mirror may lack its largest blobs (a size-capped snapshot): count them, do not fail.
    objects = git(bare, "rev-list", "--objects", "--missing=print", "pinned")
    ids = b"\n".join(line.split(b" ", 1)[0].lstrip(b"?") for line in objects.splitlines()) + b"\n"
    blobs = size = missing = 0
    for line in git(bare, "cat-file", "--batch-check=%(objecttype) %(objectsize)", data=ids).splitlines():
        kind, n = line.split()
        if kind == b"blob":
            blobs, size = blobs + 1, size + int(n)
        elif n == b"missing":
            missing += 1
    return {"commits": commits, "blobs": blobs, "bytes": size, "missing": missing}


# --------------------------------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------------------------------


def ringbreaker_argv(target: Path, history: bool) -> list[str]:
    return [sys.executable, "-m", "ringbreaker", "scan", str(target), "--format", "jsonl", "--no-ignore"] + (
        ["--history"] if history else []
    )


def other_argv(tool: str, target: Path, report: Path, history: bool) -> list[str]:
    """Kingfisher or betterleaks on a directory, or on a repository's whole history."""
    if tool == "kingfisher":
        binary = SITE / "kingfisher" / "bin" / "kingfisher"
        return [
            str(binary), "scan", str(target), "--no-validate", "--no-update-check", "--format", "json",
            "--output", str(report), "--rule-cache-dir", str(CACHE / "kingfisher-rules"),
        ]  # fmt: skip
    binary = SITE / "betterleaks" / "bin" / "betterleaks"
    mode = ["git", str(target)] if history else ["fs", str(target)]
    return [str(binary), *mode, "--silent", "--no-banner", "--output", str(report), "--exit-code", "0"]


def read_ringbreaker(report: Path, part: str, tree: Path, history: bool) -> list[dict[str, Any]]:
    """The JSONL findings, each with its part and a path relative to the part's root."""
    out = []
    for raw in report.read_text().splitlines():
        if raw.strip():
            d = json.loads(raw)
            path = d["path"]
            if os.path.isabs(path):
                path = os.path.relpath(path, tree)
            if not history:  # files: the part is the first folder (one per source)
                rel = Path(path).parts
                part, path = rel[0], str(Path(*rel[1:])) if len(rel) > 1 else rel[0]
            keep = ("rule", "preview", "line", "commit", "confidence", "fingerprint")
            out.append({"part": part, "path": path, **{k: d.get(k) for k in keep}})
    return out


def run_one(tool: str, label: str, part: str, target: Path, history: bool) -> dict[str, Any]:
    """One scan of one part; the report is kept under the corpus' reports/ folder."""
    reports = BASE / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stem = f"{tool}-{label}-{part.replace('/', '+')}"
    suffix = ".jsonl" if tool == "ringbreaker" else ".json"  # betterleaks requires one of the two
    report, stderr = reports / f"{stem}{suffix}", reports / f"{stem}.stderr"
    report.unlink(missing_ok=True)
    if tool == "ringbreaker":  # from the src/ that main() put on PYTHONPATH
        argv, stdout = ringbreaker_argv(target, history), report
    else:
        argv, stdout = other_argv(tool, target, report, history), reports / f"{stem}.stdout"
    (CACHE / "work").mkdir(parents=True, exist_ok=True)
    m = measure(argv, CACHE / "work", stdout, stderr, 7200)
    entry: dict[str, Any] = {"tool": tool, "label": label, "part": part, "wall_s": round(m.wall_s, 1)}
    if m.returncode not in (0, 1, 200) or m.timed_out:
        entry["error"] = f"exit {m.returncode}: {stderr.read_text(errors='replace')[-300:]}"
        log(f"{tool} {label} {part}: FAILED {entry['error']}")
        return entry
    if tool == "ringbreaker":
        entry["findings"] = read_ringbreaker(report, part, target, history)
    else:
        parse = parse_kingfisher if tool == "kingfisher" else parse_betterleaks
        found: list[Finding] = parse(report, target)
        entry["by_rule"] = dict(Counter(f.rule for f in found).most_common())
        entry["count"] = len(found)
    n = len(entry["findings"]) if "findings" in entry else entry["count"]
    log(f"{tool} {label} {part}: {n} findings in {m.wall_s:.0f} s")
    return entry


def why_dropped(runs: list[dict[str, Any]], targets: dict[str, tuple[Path, bool]]) -> list[dict[str, Any]]:
    """For each `before` finding that `after` lacks, the filter of this tree's ringbreaker that drops
    it (``scan.matcher.explain`` on the file or blob), counted by (rule, reason)."""
    sys.path.insert(0, str(ROOT / "src"))
    from ringbreaker.rules.loader import load_secret_rules
    from ringbreaker.scan import make_engine
    from ringbreaker.scan.matcher import explain

    rules = load_secret_rules()
    engine, index = make_engine(rules, "re"), {r.id: i for i, r in enumerate(rules)}
    key = ("part", "path", "line", "rule")
    found = {
        lab: [f for r in runs if r["label"] == lab for f in r.get("findings", [])]
        for lab in ("before", "after")
    }
    kept = {tuple(f[k] for k in key) for f in found["after"]}
    counts: Counter[tuple[str, str]] = Counter()
    for f in found["before"]:
        if tuple(f[k] for k in key) in kept:
            continue
        if f.get("commit"):
            data = git(targets[f["part"]][0], "show", f"{f['commit']}:{f['path']}")
        else:
            data = (targets["files"][0] / f["part"] / f["path"]).read_bytes()
        lines = data.split(b"\n")
        lo = sum(len(x) + 1 for x in lines[: f["line"] - 1])
        hi = lo + len(lines[f["line"] - 1])
        why = [w for i, s, _e, w in explain(rules, engine, data) if i == index[f["rule"]] and lo <= s <= hi]
        counts[(f["rule"], why[0].split(" (")[0] if why else "not dropped by a filter")] += 1
    return [{"rule": r, "reason": w, "count": n} for (r, w), n in counts.most_common()]


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def why_key(f: dict[str, Any]) -> str:
    """How a reviewed finding is named in scan_noise_why.json: rule, part, path, short commit."""
    return "|".join([f["rule"], f["part"], f["path"], (f.get("commit") or "")[:10]])


def rb_count(runs: list[dict[str, Any]], part: str | None) -> str:
    """Findings of ringbreaker runs, over every part or one."""
    if any("error" in r for r in runs):
        return "error"
    return str(sum(1 for r in runs for f in r["findings"] if part is None or f["part"] == part))


def render(results: dict[str, Any]) -> str:
    """The ``## scan noise on real code`` section of docs/benchmarks.md."""
    m, parts = results["machine"], results["parts"]
    total = sum(p["bytes"] for p in parts)
    lines = [
        "## scan noise on real code",
        "",
        f"Generated by `bench/scan_noise.py` (last run {results['date']}). Machine: {m['nproc']} cores "
        f"({m['cpu_model']}), {m['memory_gib']} GiB RAM. Corpus: {total / MB:,.0f} MB of real code "
        "with no planted key: every finding is a false positive or a sample key in real code. "
        "Files: the stdlib of the benchmarking Python plus pinned PyPI sdists and npm tarballs, "
        "unpacked; history: every blob of the pinned commit's ancestry (`ringbreaker scan --history` "
        "on a bare repository whose only ref is that commit, objects borrowed from a mirror).",
        "",
        "| Part | Kind | Source | Files / blobs | MB |",
        "|---|---|---|---:|---:|",
    ]
    for p in parts:
        if p["kind"] != "history":
            count = f"{p['files']:,}"
        else:
            gone = f", {p['missing']:,} absent from the mirror" if p.get("missing") else ""
            count = f"{p['blobs']:,} ({p['commits']:,} commits{gone})"
        lines.append(f"| {p['part']} | {p['kind']} | {p['source']} | {count} | {p['bytes'] / MB:,.1f} |")
    lines.append(f"| **total** | | | | **{total / MB:,.0f}** |")
    targets = ["files", *[p["part"] for p in parts if p["kind"] == "history"]]
    lines += [
        "",
        "Findings per scan, all on the same data (each row one invocation of the bench, minutes apart):",
        "",
    ]
    lines += [
        "| Tool | Run | " + " | ".join(targets) + " | Total |",
        "|---|---|" + "---:|" * (len(targets) + 1),
    ]
    for (tool, label), runs in sorted(group(results["runs"]).items(), key=lambda kv: run_order(kv[0])):
        by_target = {r["part"]: r for r in runs}
        cells = []
        for t in targets:
            r = by_target.get(t)
            if r is None:
                cells.append("—")
            elif "error" in r:
                cells.append("error")
            else:
                cells.append(str(len(r["findings"]) if "findings" in r else r["count"]))
        counted = [int(c) for c in cells if c.isdigit()]
        lines.append(f"| {tool} | {label} | " + " | ".join(cells) + f" | {sum(counted):,} |")
    after = [
        f
        for r in results["runs"]
        if r["tool"] == "ringbreaker" and r["label"] == "after"
        for f in r.get("findings", [])
    ]
    before = [
        f
        for r in results["runs"]
        if r["tool"] == "ringbreaker" and r["label"] == "before"
        for f in r.get("findings", [])
    ]
    if before:
        rules = sorted({f["rule"] for f in before + after})
        cb, ca = Counter(f["rule"] for f in before), Counter(f["rule"] for f in after)
        lines += [
            "",
            "ringbreaker by rule, before → after:",
            "",
            "| Rule | Before | After |",
            "|---|---:|---:|",
        ]
        lines += [f"| {r} | {cb[r]} | {ca[r]} |" for r in rules]
    if results.get("dropped"):
        lines += [
            "",
            "What drops the findings `before` had and `after` has not (each one's reason from "
            "`ringbreaker.scan.matcher.explain` on its file or blob):",
            "",
            "| Rule | Reason | Findings |",
            "|---|---|---:|",
        ]
        lines += [f"| {d['rule']} | {d['reason']} | {d['count']} |" for d in results["dropped"]]
    why = json.loads(WHY.read_text()) if WHY.exists() else {}
    lines += [
        "",
        f"Every remaining ringbreaker finding ({len(after)}, run `after`), with why it stays:",
        "",
        "| Part | Path | Line | Rule | Preview | Why it stays |",
        "|---|---|---:|---|---|---|",
    ]
    for f in sorted(after, key=lambda f: (f["part"], f["path"], f["line"], f["rule"])):
        where = f["path"] + (f" @ {f['commit'][:10]}" if f.get("commit") else "")
        reason = why.get(why_key(f)) or why.get(why_key({**f, "commit": None}), "not reviewed yet")
        lines.append(f"| {f['part']} | `{where}` | {f['line']} | {f['rule']} | `{f['preview']}` | {reason} |")
    lines += ["", "Method and notes:", ""]
    lines += [f"- ringbreaker `{k}`: {v}." for k, v in sorted(results.get("labels", {}).items())]
    lines += [
        "- ringbreaker: `scan TREE --format jsonl --no-ignore` on the files, `scan --history REPO` on "
        "each pinned repository; every finding it prints is counted (all confidences).",
        "- Kingfisher 2.14 (`scan PATH --no-validate`, its default confidence) and betterleaks (`fs` on "
        "the files, `git` on a repository) run their full general-purpose rule sets (Kingfisher loads 488: "
        "generic passwords, private keys, JWTs, cloud keys), so their counts measure general noise, not "
        "the same rules. Kingfisher scans every object in a repository's store, which here includes the "
        "mirror's objects reached from its other refs (pull requests): its history columns cover more "
        "blobs than the pinned ancestry (ipython: 57,004 blobs, 1,436 MB against 47,031 and 1,206 MB). "
        "betterleaks `git` scans the lines each commit adds (its patches: 98 MB for ipython), not whole "
        "blobs, and ended early on semantic-kernel ('incomplete scan' after 57 MB: the mirror lacks 2 "
        "blobs), so its history counts cover less.",
        "- The AI keys Kingfisher reports in the semantic-kernel and openai-python histories (7 + 2 "
        "`openai-api-key`, 4 `gcp-api-key`, the same values again as `kimi-api-key`) are all in commits "
        "that are not ancestors of the pinned commit (the mirror's pull-request refs), which "
        "`ringbreaker scan --history` does not read: issue 18 item 3 (`--all-objects`).",
        "- False rejects: `tests/scan/test_shape.py` draws 2,000 random keys per shape-checked rule from its "
        "positive examples (every example form) and asserts fewer than 0.5% are rejected; 0 were when "
        "this section was first written (3.5e-5 of 200,000 random 32-character base62 strings score as "
        "identifiers).",
        "- A reviewed finding's reason comes from `bench/scan_noise_why.json` (rule, part, path, "
        "commit); a new finding shows 'not reviewed yet' until someone looks at it.",
        *results.get("notes", []),
        "",
    ]
    return "\n".join(lines)


def group(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        out.setdefault((r["tool"], r["label"]), []).append(r)
    return out


def run_order(key: tuple[str, str]) -> tuple[int, str]:
    tool, label = key
    return ({"ringbreaker": 0, "kingfisher": 1, "betterleaks": 2}.get(tool, 3), label)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="after", help="name of this ringbreaker run (default after)")
    ap.add_argument(
        "--ringbreaker-src", type=Path, help="run ringbreaker from this src/ (e.g. an older commit)"
    )
    ap.add_argument(
        "--tools", default="ringbreaker", help="comma-separated: ringbreaker,kingfisher,betterleaks"
    )
    ap.add_argument("--about", default="", help="what the labelled ringbreaker is (shown in the docs)")
    ap.add_argument("--parts", default="", help="comma-separated subset: files and/or history labels")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the docs section")
    ap.add_argument("--docs", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    raw_out = OUT / "scan-noise.json"
    OUT.mkdir(parents=True, exist_ok=True)
    previous = json.loads(raw_out.read_text()) if raw_out.exists() else {"runs": []}
    if args.render_only:
        section = render(previous)
    else:
        clean, composition = build_files_tree()
        parts: list[dict[str, Any]] = []
        for c in composition:
            kind, name, version = c["kind"], *c["part"].rsplit("-", 1)
            source = f"`{name.replace('+', '/')}=={version}` ({'PyPI sdist' if kind == 'pypi' else kind})"
            if kind == "stdlib":
                source = f"CPython {version} `Lib/` (this machine's)"
            parts.append({**c, "source": source})
        targets: list[tuple[str, Path, bool]] = [("files", clean, False)]
        notes = []
        for h in HISTORY:
            mirror = find_mirror(h)
            if mirror is None:
                notes.append(f"- {h.repo}@{h.commit[:10]}: no mirror under $BENCH_MIRRORS, not scanned.")
                log(notes[-1])
                continue
            bare = pin(h, mirror)
            stats = history_stats(bare)
            source = f"github.com/{h.repo} @ `{h.commit[:12]}`"
            parts.append({"part": h.label, "kind": "history", "source": source, **stats})
            targets.append((h.label, bare, True))
        wanted = set(filter(None, args.parts.split(",")))
        if args.ringbreaker_src:
            os.environ["PYTHONPATH"] = str(args.ringbreaker_src.resolve())
        else:
            os.environ["PYTHONPATH"] = str(ROOT / "src")
        runs = []
        for tool in args.tools.split(","):
            label = args.label if tool == "ringbreaker" else "-"
            for part, target, history in targets:
                if not wanted or part in wanted:
                    runs.append(run_one(tool, label, part, target, history))
        done = {(r["tool"], r["label"], r["part"]) for r in runs}
        kept = [r for r in previous["runs"] if (r["tool"], r["label"], r["part"]) not in done]
        labels = dict(previous.get("labels", {}))
        if "ringbreaker" in args.tools.split(","):
            head = git(ROOT, "rev-parse", "--short", "HEAD").decode().strip()
            labels[args.label] = args.about or f"this working tree (HEAD {head})"
        merged = kept + runs
        have = {r["label"] for r in merged if r["tool"] == "ringbreaker"}
        by_part = {part: (target, history) for part, target, history in targets}
        dropped = why_dropped(merged, by_part) if {"before", "after"} <= have else []
        results = {
            "dropped": dropped,
            "labels": labels,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "parts": parts,
            "runs": merged,
            "notes": notes,
        }
        raw_out.write_text(json.dumps(results, indent=1))
        log(f"wrote {raw_out.relative_to(ROOT)}")
        section = render(results)
    print(section)
    if args.docs:
        update_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())

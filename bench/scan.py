"""Benchmark ``ringbreaker scan`` against other secret scanners on a corpus of real code.

The corpus is real source code (this machine's CPython standard library plus pinned source trees
from PyPI and npm), built once under ``.cache/bench/`` and reused. A second tree, the *planted*
tree, is the same code with fake keys inserted at known lines: the keys are generated at run time
from ringbreaker's own rule examples (templates), so nothing key-shaped is committed.

Every tool then scans both trees in the same run:

* the planted tree ``--runs`` times (wall time, median of the runs → MB/s; peak RSS of the whole
  process tree, sampled from /proc every 50 ms; recall of the planted keys at their exact lines),
* the unplanted tree once (every finding there is a false positive or a real-world sample key).

Results go to ``bench/out/scan.json`` (raw) and to the ``## scan`` section of
``docs/benchmarks.md`` (a markdown table with the machine, date, corpus and method). How a run is
timed and measured, and how the docs section is written, is the shared harness (``harness.py``);
the corpus is built by ``scan_corpus.py``, the tools are called and read by ``scan_tools.py``.

Usage::

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/scan.py            # full corpus (>= 300 MB), 3 runs per tool
    .venv/bin/python bench/scan.py --quick    # ~30 MB corpus, 1 run: smoke-test this script
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import CACHE, DOCS, MB, OUT, ROOT, log, machine, measure, update_docs, warm_page_cache
from scan_corpus import Plant, build_clean_tree, plant_tree, tree_stats
from scan_tools import Finding, Tool, make_tools

# --------------------------------------------------------------------------------------------------
# Measuring one run
# --------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    tool: str
    tree: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    ok: bool
    load_before: float  # 1-minute load average when the run started: other work skews timings
    findings: int = 0
    error: str = ""


def run_tool(tool: Tool, tree: Path, label: str, run: int, timeout: float) -> tuple[RunResult, list[Finding]]:
    """One run of ``tool`` over ``tree``; its report and stderr are kept in ``reports/`` next to the tree."""
    reports = tree.parent / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    report = reports / f"{tool.name}-{label}-{run}.json"
    stderr = reports / f"{tool.name}-{label}-{run}.stderr"
    report.unlink(missing_ok=True)
    argv = tool.argv(tree, report)
    cwd = tree if tool.cwd_is_tree else CACHE / "work"
    cwd.mkdir(parents=True, exist_ok=True)
    stdout = report if tool.report_on_stdout else reports / f"{tool.name}-{label}-{run}.stdout"
    load = os.getloadavg()[0]
    m = measure(argv, cwd, stdout, stderr, timeout)
    if m.returncode < 0 and not m.timed_out:
        log(f"{tool.name} {label} run {run} was killed by signal {-m.returncode} (not by us): retrying once")
        m = measure(argv, cwd, stdout, stderr, timeout)
    wall, peak, rc = m.wall_s, m.peak_rss_bytes, m.returncode
    result = RunResult(
        tool.name, label, round(wall, 3), round(m.cpu_s, 3), peak, rc, rc in tool.ok_codes, round(load, 2)
    )
    findings: list[Finding] = []
    if m.timed_out:
        result.error = f"timed out after {timeout:.0f} s"
    elif not result.ok:
        result.error = f"exit code {rc}: {stderr.read_text(errors='replace')[-500:].strip()}"
    else:
        try:
            findings = tool.parse(report, tree)
        except (OSError, ValueError, KeyError, TypeError) as e:
            result.ok = False
            result.error = f"unreadable report {report}: {e!r}"
    result.findings = len(findings)
    state = "ok" if result.ok else f"FAILED ({result.error[:200]})"
    log(
        f"{tool.name:15} {label:8} run {run}: {wall:8.1f} s, CPU {m.cpu_s:8.1f} s, "
        f"peak RSS {peak / MB:6.0f} MB, "
        f"{len(findings)} findings, load {load:.1f}, {state}"
    )
    return result, findings


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def recall(
    plants: list[Plant], findings: list[Finding], exact: bool, provider: bool = False
) -> tuple[float, list[Plant]]:
    """Share of plants with a finding at the same path covering the key's line.

    ``exact``: the finding must be on the key's line; otherwise a multi-line planted text allows
    ±2 lines (tools report a multi-line match at its first line). ``provider``: the finding must
    also name the planted key's provider.
    """
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    missed = []
    for p in plants:
        tol = 0 if exact or p.lines == 1 else 2
        hit = any(
            f.line - tol <= p.line <= max(f.end_line, f.line) + tol
            and (not provider or f.provider == p.provider)
            for f in by_path.get(p.path, [])
        )
        if not hit:
            missed.append(p)
    share = 1 - len(missed) / len(plants) if plants else 0.0
    return share, missed


def per_rule_recall(plants: list[Plant], missed: list[Plant]) -> dict[str, str]:
    total = Counter(p.rule for p in plants)
    miss = Counter(p.rule for p in missed)
    return {rule: f"{total[rule] - miss[rule]}/{total[rule]}" for rule in sorted(total)}


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def fmt_recall(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render_markdown(results: dict[str, Any]) -> str:
    """The ``## scan`` section of docs/benchmarks.md."""
    m, c = results["machine"], results["corpus"]
    n_plants = results["planted"]["keys"]
    runs = results["runs"]
    loads = [
        r["load_before"] for t in results["tools"] for r in t["run_results"] if r["tree"] == "planted"
    ] or [0.0]
    lo, hi = min(loads), max(loads)
    lines = [
        "## scan",
        "",
        f"Generated by `bench/scan.py` on {results['date']}. Machine: {m['nproc']} cores "
        f"({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}.",
        "",
        f"Corpus: {c['bytes'] / MB:.0f} MB in {c['files']:,} files of real code "
        f"({'quick mode' if results['quick'] else 'full'}); the planted copy adds {n_plants} fake keys "
        f"({results['planted']['rules']} rules x {results['planted']['keys_per_rule']} keys, "
        f"{results['planted']['multiline']} of them in multi-line snippets).",
        "",
        "| Source | Kind | Files | MB |",
        "|---|---|---:|---:|",
    ]
    for part in c["composition"]:
        lines.append(f"| {part['source']} | {part['kind']} | {part['files']:,} | {part['bytes'] / MB:.1f} |")
    lines += [
        "",
        "| Tool | Version | MB/s | CPU s | MB per CPU-s | Peak RSS (MB) | "
        f"Recall ({n_plants} planted keys) | Recall, right provider | Findings on unplanted tree |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in results["tools"]:
        if t.get("error"):
            lines.append(f"| {t['name']} | {t['version']} | error | | | | | | {t['error'][:80]} |")
            continue
        mbs = f"{t['mb_per_s']:.1f}" + ("" if t["runs"] == runs else f" ({t['runs']} run)")
        clean = "error" if t["clean_findings"] is None else f"{t['clean_findings']:,}"
        lines.append(
            f"| {t['name']} | {t['version']} | {mbs} | {t['cpu_s_median']:.1f} | {t['mb_per_cpu_s']:.1f} | "
            f"{t['peak_rss_mb']:.0f} | {fmt_recall(t['recall'])} | "
            f"{fmt_recall(t.get('recall_provider'))} | {clean} |"
        )
    notes = [
        f"- {t['name']}: " + " ".join(filter(None, [t.get("about", ""), t.get("note", "").strip()]))
        for t in results["tools"]
        if t.get("about") or t.get("note")
    ]
    lines += [
        "",
        "Method:",
        "",
        "- The corpus is the CPython standard library of the benchmarking Python (without "
        "`__pycache__`, `site-packages`, `lib-dynload` and `config-*`) plus pinned PyPI sdists and npm "
        "package tarballs, unpacked (regular files only). It is built once under `.cache/bench/`.",
        "- Planting: for every secret rule, key *i* is the rule's positive example *i mod n* expanded "
        "with salt 1000 + *i* (fresh fake key), inserted as whole lines at a random line of a random "
        "text file (UTF-8, 200 B to 2 MB, one file per key, seed "
        f"{results['planted']['seed']}) of a hard-linked copy of the corpus. The key's line is found by "
        "running the rule's regex over the example text.",
        "- Recall: a planted key counts as found when the tool reports any finding at that path whose line "
        "(or line range) covers the key's line; for keys planted in multi-line snippets the other tools "
        'get ±2 lines, ringbreaker none. "Right provider" also requires ringbreaker\'s `provider`.',
        f"- Speed: corpus bytes of the planted tree / wall-clock seconds, median of {runs} runs "
        "(round-robin over the tools, page cache warm; every tool at its default parallelism, which "
        "uses all cores). CPU s: user + system seconds of the tool and all its child processes (the "
        "larger of `wait4`'s count and the per-process times sampled from `/proc`), median; "
        "less sensitive than wall time to other work on the machine. Peak RSS: "
        "the RSS of the tool's whole process tree, summed, sampled from `/proc` every 50 ms; maximum "
        "over its runs (shared pages of worker processes count once per process).",
        "- Findings on the unplanted tree: the raw count from one run over the unplanted corpus; all of "
        "them are false positives or sample keys in real code.",
        "- The planted keys are ringbreaker's own rule examples, so its recall checks that the scanner "
        "finds in real files what its rules promise; the other tools' recall shows how much of "
        "ringbreaker's provider coverage they share. The unplanted column compares noise.",
        f"- The rule sets differ: ringbreaker has {results['planted']['rules']} secret rules, all for AI "
        "providers and clouds; the others are general-purpose scanners (gitleaks, betterleaks and "
        "Kingfisher have hundreds of rules, Kingfisher loads about 490; detect-secrets has 27 plugins) "
        "with generic keyword and entropy rules, which explains much of their noise and part of the "
        "speed difference.",
        f"- The 1-minute load average before the timed runs ranged {lo:.1f} to {hi:.1f} on "
        f"{m['nproc']} cores: other work on the machine slows whichever tool runs at that moment.",
        "- Commands (run from the repository root REPO; TREE = the corpus root, REPORT = a report file):",
        "",
    ]
    for t in results["tools"]:
        lines.append(f"  - {t['name']}: `{t['command']}`")
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines.append("")
    return "\n".join(lines)


def display_command(tool: Tool) -> str:
    argv = tool.argv(Path("TREE"), Path("REPORT"))
    try:
        argv[0] = str(tool.binary.relative_to(ROOT))
    except ValueError:
        argv[0] = str(tool.binary)
    cmd = " ".join(argv).replace(f"--rule-cache-dir {CACHE / 'kingfisher-rules'}", "--rule-cache-dir DIR")
    if tool.report_on_stdout:
        cmd += " > REPORT"
    if tool.cwd_is_tree:
        cmd = f"cd TREE && $REPO/{cmd}"
    return cmd


def summarize(
    tool: Tool,
    timed: list[tuple[RunResult, list[Finding]]],
    clean_run: tuple[RunResult, list[Finding]],
    plants: list[Plant],
    planted_size: int,
) -> dict[str, Any]:
    """One tool's entry in the results: speed, memory, recall, findings on the unplanted tree."""
    entry: dict[str, Any] = {
        "name": tool.name,
        "version": tool.version,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": display_command(tool),
        "about": tool.about,
        "note": "",
        "run_results": [asdict(r) for r, _ in timed] + [asdict(clean_run[0])],
    }
    good = [(r, f) for r, f in timed if r.ok]
    if not good:
        entry["error"] = timed[0][0].error if timed else "not run"
        return entry
    wall = statistics.median(r.wall_s for r, _ in good)
    cpu = statistics.median(r.cpu_s for r, _ in good)
    findings = good[-1][1]
    exact = tool.name == "ringbreaker"
    rec, missed = recall(plants, findings, exact)
    entry.update(
        {
            "runs": len(good),
            "wall_s_median": wall,
            "mb_per_s": planted_size / MB / wall,
            "cpu_s_median": cpu,
            "mb_per_cpu_s": planted_size / MB / cpu,
            "peak_rss_mb": max(r.peak_rss_bytes for r, _ in good) / MB,
            "planted_findings": len(findings),
            "recall": rec,
            "recall_by_rule": per_rule_recall(plants, missed),
            "missed": [asdict(p) for p in missed],
        }
    )
    if exact:
        entry["recall_provider"], missed_p = recall(plants, findings, exact, provider=True)
        entry["recall_provider_by_rule"] = per_rule_recall(plants, missed_p)
    if not findings:
        entry["note"] += " No findings on the planted tree: check that it scanned anything."
    clean_result, clean_findings = clean_run
    entry["clean_findings"] = clean_result.findings if clean_result.ok else None
    if not clean_result.ok:
        entry["note"] += f" Its run on the unplanted tree failed: {clean_result.error[:100]}."
    entry["clean_distinct_lines"] = len({(f.path, f.line) for f in clean_findings})
    entry["clean_by_rule"] = dict(Counter(f.rule for f in clean_findings).most_common())
    return entry


def merge_previous(results: dict[str, Any], raw_out: Path, order: list[str]) -> None:
    """With ``--tools``, keep the other tools' entries of the previous results on the same plants.

    Used to re-measure one tool (after a change, or after a failed run) without re-running the rest.
    """
    if not raw_out.exists():
        return
    previous = json.loads(raw_out.read_text())
    if previous.get("planted_digest") != results["planted_digest"]:
        log("previous results are for other planted keys: not merged (use --reuse-planted)")
        return
    ran = {t["name"] for t in results["tools"]}
    kept = [t for t in previous["tools"] if t["name"] not in ran]
    for t in kept:
        if "earlier run" not in t.get("note", ""):
            when = t.get("date", previous["date"])
            t["note"] = t.get("note", "") + f" Measured in an earlier run on the same trees ({when})."
    results["tools"] = sorted(kept + results["tools"], key=lambda t: order.index(t["name"]))
    log(f"merged with the other tools' results in {raw_out.relative_to(ROOT)}")


def publish(results: dict[str, Any], raw_out: Path, write_docs: bool) -> None:
    """Write the raw results, print the markdown section and put it into docs/benchmarks.md."""
    raw_out.write_text(json.dumps(results, indent=1))
    log(f"wrote {raw_out.relative_to(ROOT)}")
    section = render_markdown(results)
    print(section)
    if write_docs:
        update_docs(section)
        log(f"wrote {DOCS.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="~30 MB corpus and 1 run: smoke-test the script")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per tool (default 3, --quick 1)")
    ap.add_argument(
        "--tools",
        default="",
        help="comma-separated subset of tools to run; their results replace those in the previous "
        "results when the planted keys are the same (see --reuse-planted)",
    )
    ap.add_argument(
        "--reuse-planted",
        action="store_true",
        help="scan the planted tree of the previous run again instead of planting afresh",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite the docs section from the saved results (bench/out/scan.json)",
    )
    ap.add_argument("--keys-per-rule", type=int, default=5, help="planted keys per rule (default 5)")
    ap.add_argument("--seed", type=int, default=20240601, help="planting seed")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed")
    ap.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update docs/benchmarks.md (default: yes, except with --quick)",
    )
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    write_docs = not args.quick if args.docs is None else args.docs
    suffix = "-quick" if args.quick else ""
    raw_out = OUT / f"scan{suffix}.json"
    if args.render_only:
        results = json.loads(raw_out.read_text())
        current = {t.name: t for t in make_tools(CACHE / "kingfisher-rules")}
        for entry in results["tools"]:  # descriptions may have been improved since the run
            if entry["name"] in current:
                entry["about"] = current[entry["name"]].about
                entry["command"] = display_command(current[entry["name"]])
        publish(results, raw_out, write_docs)
        return 0

    clean, composition = build_clean_tree(args.quick)
    planted = clean.parent / "planted"
    plants_file = clean.parent / "plants.json"
    if args.reuse_planted and plants_file.exists() and planted.is_dir():
        plants = [Plant(**p) for p in json.loads(plants_file.read_text())]
        log(f"reusing the planted tree {planted}")
    else:
        plants = plant_tree(clean, planted, args.keys_per_rule, args.seed)
        plants_file.write_text(json.dumps([asdict(p) for p in plants], indent=1))
    files, size = tree_stats(clean)
    _, planted_size = tree_stats(planted)
    log(f"corpus {size / MB:.1f} MB in {files} files; planted {len(plants)} keys")
    if not args.quick and size < 300 * MB:
        log("warning: the full corpus is smaller than 300 MB")
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plants_file, OUT / f"planted{suffix}.json")

    all_tools = make_tools(CACHE / "kingfisher-rules")
    keep = set(args.tools.split(",")) if args.tools else {t.name for t in all_tools}
    tools = [t for t in all_tools if t.name in keep]
    warm_page_cache(clean, planted)
    # One untimed run each on a small tree (the planted files alone) to fill compile caches
    # (Kingfisher's Vectorscan database) and check that each report parses.
    warm = clean.parent / "warmup"
    shutil.rmtree(warm, ignore_errors=True)
    for p in plants[:20]:
        (warm / p.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(planted / p.path, warm / p.path)
    for tool in tools:
        run_tool(tool, warm, "warmup", 0, args.timeout)

    # Round-robin over the tools, so that a slow period of the machine hits all of them.
    timed: dict[str, list[tuple[RunResult, list[Finding]]]] = {t.name: [] for t in tools}
    for i in range(1, runs + 1):
        for tool in tools:
            if tool.max_runs is None or i <= tool.max_runs:
                timed[tool.name].append(run_tool(tool, planted, "planted", i, args.timeout))
    clean_runs = {tool.name: run_tool(tool, clean, "clean", 1, args.timeout) for tool in tools}

    results = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "runs": runs,
        "machine": machine(),
        "corpus": {
            "root": str(clean),
            "files": files,
            "bytes": size,
            "planted_bytes": planted_size,
            "composition": composition,
        },
        "planted": {
            "keys": len(plants),
            "rules": len({p.rule for p in plants}),
            "keys_per_rule": args.keys_per_rule,
            "multiline": sum(p.lines > 1 for p in plants),
            "seed": args.seed,
        },
        "planted_digest": hashlib.sha256(plants_file.read_bytes()).hexdigest(),
        "tools": [summarize(t, timed[t.name], clean_runs[t.name], plants, planted_size) for t in tools],
    }
    if len(tools) < len(all_tools):
        merge_previous(results, raw_out, [t.name for t in all_tools])
    publish(results, raw_out, write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

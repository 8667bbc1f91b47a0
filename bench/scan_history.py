"""Benchmark ``ringbreaker scan --history`` against Kingfisher's git mode on large real repositories.

Usage: python bench/scan_history.py [--repo DIR ...] [--runs 3] [--baseline SRC] [--no-docs]

Each repository is a real one (a mirror clone: every branch, tag and pull-request ref), named by
``--repo`` or found under ``.cache/bench/history/`` (``git clone --mirror URL`` there; the docs say
which commit each was measured at). Every tool scans the same repository in the same run, round-robin,
page cache warm; the figures are medians. ``--baseline SRC`` also runs an older ringbreaker from
the source tree SRC (``PYTHONPATH=SRC/src``) to compare before and after a change on the same data.

Measured: wall seconds, CPU seconds (the whole process tree), peak summed RSS of the tree, blobs
and bytes each tool says it read, findings. Blob MB/s is the store's blob bytes (``git cat-file
--batch-all-objects``) over wall time, the same numerator for every tool.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import CACHE, OUT, VENV_BIN, log, machine, measure, tool_version, update_docs
from scan_tools import SITE

KINGFISHER = SITE / "kingfisher" / "bin" / "kingfisher"
RB = VENV_BIN / "ringbreaker"


@dataclass(frozen=True)
class Run:
    name: str
    argv: list[str]
    env_src: str | None = None  # PYTHONPATH for a baseline source tree


def store_facts(repo: Path) -> dict[str, int | str]:
    """Commits, blobs and blob bytes in the whole store, refs, and the commit HEAD points at."""
    out = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype) %(objectsize)",
        ],
        capture_output=True,
        check=True,
    ).stdout.split(b"\n")
    blobs = [int(s) for t, _, s in (line.partition(b" ") for line in out if line) if t == b"blob"]
    commits = sum(1 for line in out if line.startswith(b"commit "))

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commits_in_store": commits,
        "blobs": len(blobs),
        "blob_bytes": sum(blobs),
        "refs": len(git("for-each-ref", "--format=%(refname)").splitlines()),
        "head": git("rev-parse", "HEAD"),
        "url": git("config", "--get", "remote.origin.url") or _mirror_name(repo),
    }


def _mirror_name(repo: Path) -> str:
    """``OWNER+NAME/repo`` or ``OWNER+NAME.git`` (how mirrors are kept here) as a GitHub URL."""
    name = repo.parent.name if repo.name in ("repo", ".git") else repo.name.removesuffix(".git")
    return f"https://github.com/{name.replace('+', '/')}" if "+" in name else name


def runs(repo: Path, baseline: str | None) -> list[Run]:
    rb = [str(RB), "scan", "--history", str(repo), "--format", "jsonl", "-q"]
    out = [
        Run("ringbreaker --history", rb),
        Run("ringbreaker --history --all-objects", [*rb, "--all-objects"]),
    ]
    if baseline:
        py = [sys.executable, "-m", "ringbreaker", "scan", "--history", str(repo), "--format", "jsonl", "-q"]
        out.append(Run("ringbreaker --history (baseline)", py, env_src=baseline))
    out.append(
        Run(
            "kingfisher (git mode)",
            [
                str(KINGFISHER),
                "scan",
                str(repo),
                "--no-validate",
                "--no-update-check",
                "--format",
                "json",
                "--rule-cache-dir",
                str(CACHE / "kingfisher-rules"),
            ],
        )
    )
    return out


def count_findings(name: str, stdout: Path) -> int:
    text = stdout.read_text(errors="replace")
    if name.startswith("kingfisher"):
        try:  # its report on stdout, then a summary document on the next line
            report, _ = json.JSONDecoder().raw_decode(text.strip() or "{}")
            return len(report.get("findings") or [])
        except json.JSONDecodeError:
            return -1
    return sum(1 for line in text.splitlines() if line.strip())


def bench_repo(repo: Path, n: int, baseline: str | None) -> dict[str, object]:
    facts = store_facts(repo)
    log(f"{repo}: {facts}")
    plan = runs(repo, baseline)
    results: dict[str, list[dict[str, float]]] = {r.name: [] for r in plan}
    findings: dict[str, int] = {}
    OUT.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        for r in plan:
            so, se = OUT / "history.stdout", OUT / "history.stderr"
            argv = r.argv if r.env_src is None else ["env", f"PYTHONPATH={r.env_src}/src", *r.argv]
            m = measure(argv, Path.cwd(), so, se, timeout=1800)
            if m.returncode not in (0, 1, 200):
                raise SystemExit(f"{r.name} failed ({m.returncode}): {se.read_text()[-2000:]}")
            findings[r.name] = count_findings(r.name, so)
            results[r.name].append({"wall": m.wall_s, "cpu": m.cpu_s, "rss": m.peak_rss_bytes / 1e6})
            mb = m.peak_rss_bytes / 1e6
            log(f"run {i + 1}/{n} {r.name}: {m.wall_s:.1f} s, {m.cpu_s:.1f} CPU s, {mb:.0f} MB")
    table = {}
    for name, rs in results.items():
        table[name] = {
            "wall_s": statistics.median(x["wall"] for x in rs),
            "cpu_s": statistics.median(x["cpu"] for x in rs),
            "peak_rss_mb": max(x["rss"] for x in rs),
            "findings": findings[name],
            "walls": [round(x["wall"], 2) for x in rs],
        }
    return {"repo": str(repo), "facts": facts, "tools": table}


def render(reports: list[dict[str, object]], n: int) -> str:
    m = machine()
    lines = [
        "## scan history",
        "",
        f"Generated by `bench/scan_history.py` ({n} runs, medians). Machine: {m['nproc']} cores "
        f"({m['cpu_model']}), {m['memory_gib']} GiB RAM, Python {m['python']}; 1-minute load at start "
        f"{_load()}. Kingfisher {tool_version([str(KINGFISHER), '--version'])}.",
        "",
    ]
    for rep in reports:
        f = rep["facts"]
        tools = rep["tools"]
        assert isinstance(f, dict)
        assert isinstance(tools, dict)
        lines += [
            f"### {f['url']} @ {str(f['head'])[:12]}",
            "",
            f"{f['commits_in_store']:,} commits and {f['blobs']:,} blobs "
            f"({f['blob_bytes'] / 1e9:.2f} GB) in the store, {f['refs']:,} refs (branches, tags and "
            "pull-request refs of a mirror clone).",
            "",
            "| Tool | Wall s | Blob MB/s | CPU s | Peak RSS (MB) | Findings | vs Kingfisher (wall) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        kf = tools.get("kingfisher (git mode)", {}).get("wall_s")
        for name, t in tools.items():
            ratio = f"{kf / t['wall_s']:.2f}x" if kf else "—"
            lines.append(
                f"| {name} | {t['wall_s']:.1f} | {int(f['blob_bytes']) / 1e6 / t['wall_s']:.0f} | "
                f"{t['cpu_s']:.1f} | "
                f"{t['peak_rss_mb']:.0f} | {t['findings']} | {ratio} |"
            )
        lines.append("")
    lines += [
        "Method: each tool scans the same mirror clone in the same run, round-robin, after one warm-up "
        "read of the store; wall time from `wait4`, CPU time and peak RSS summed over the whole process "
        "tree (sampled every 50 ms; git's own processes included). Findings are raw counts: "
        "Kingfisher's are for its ~490 general rules (it de-duplicates identical secrets), ringbreaker's "
        "for its AI-provider rules. Commands: `ringbreaker scan --history REPO --format jsonl -q "
        "[--all-objects]`; `kingfisher scan REPO --no-validate --no-update-check --format json`.",
        "",
    ]
    return "\n".join(lines)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", action="append", type=Path, default=[])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline", help="source tree of an older ringbreaker to run as well")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    repos = args.repo or sorted(p for p in (CACHE / "history").glob("*") if p.is_dir())
    if not repos:
        raise SystemExit(f"no repositories: pass --repo or mirror-clone some into {CACHE / 'history'}")
    for repo in repos:  # warm the page cache with one read of every object
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
    reports = [bench_repo(r, args.runs, args.baseline) for r in repos]
    (OUT / "scan_history.json").write_text(json.dumps(reports, indent=2))
    if not args.no_docs:
        update_docs(render(reports, args.runs))
    print(render(reports, args.runs))


if __name__ == "__main__":
    main()

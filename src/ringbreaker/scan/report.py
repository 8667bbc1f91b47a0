"""Render findings: rich table, JSON, JSON Lines (the contract) and SARIF 2.1.0.

Secrets are redacted in every format; ``show_secrets`` adds the value, and nothing else does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from ringbreaker import __version__
from ringbreaker.model import Confidence, Finding
from ringbreaker.rules.loader import SecretRule

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# A finding's confidence -> its SARIF result level.
_LEVEL: dict[str, str] = {Confidence.HIGH: "error", Confidence.MEDIUM: "warning", Confidence.LOW: "note"}


def write_jsonl(findings: Sequence[Finding], out: IO[str], show_secrets: bool = False) -> None:
    for f in findings:
        out.write(json.dumps(f.to_dict(show_secret=show_secrets), ensure_ascii=False) + "\n")


def write_json(
    findings: Sequence[Finding], summary: dict[str, Any], out: IO[str], show_secrets: bool = False
) -> None:
    doc = {
        "version": __version__,
        "findings": [f.to_dict(show_secret=show_secrets) for f in findings],
        "summary": summary,
    }
    out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def write_table(findings: Sequence[Finding], out: IO[str], show_secrets: bool = False) -> None:
    probe = Console(file=out)
    console = Console(file=out, width=probe.width if probe.is_terminal else 160, soft_wrap=False)
    if not findings:
        console.print("No leaked credentials found.")
        return
    t = Table(title=f"{len(findings)} leaked credential(s)", show_lines=False)
    for col in ("rule", "key", "location", "leaked", "conf."):
        t.add_column(col, overflow="fold", no_wrap=col == "rule")
    for f in findings:
        where = f"{f.path}:{f.line}" + (f" (cell {f.cell})" if f.cell is not None else "")
        if f.commit:
            where += f"\n{f.commit[:12]} {f.author or ''}"
        key = f.secret if show_secrets and f.secret else f.preview
        t.add_row(
            f.rule + (" [owned]" if f.owned else ""),
            key,
            where,
            (f.time or "")[:16].replace("T", " "),
            f.confidence,
        )
    console.print(t)


def _uri(path: str) -> str:
    return quote(path.replace("\\", "/"), safe="/!@")


def sarif(
    findings: Sequence[Finding], rules: Sequence[SecretRule], show_secrets: bool = False
) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, every rule in the driver, ``partialFingerprints`` for de-dup."""
    used = sorted({f.rule for f in findings})
    index = {rid: i for i, rid in enumerate(used)}
    by_id = {r.id: r for r in rules}
    driver_rules = []
    for rid in used:
        r = by_id[rid]
        entry: dict[str, Any] = {
            "id": r.id,
            "name": r.title.title().replace(" ", "").replace("-", ""),
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.description or f"A leaked {r.title}."},
            "defaultConfiguration": {"level": _LEVEL[r.confidence]},
            "properties": {
                "provider": r.provider,
                "confidence": r.confidence,
                "tags": ["security", "secret"],
            },
        }
        if r.references:
            entry["helpUri"] = r.references[0]
        driver_rules.append(entry)
    results = []
    for f in findings:
        region: dict[str, Any] = {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)}
        props: dict[str, Any] = {
            "provider": f.provider,
            "fingerprint": f.fingerprint,
            "preview": f.preview,
            "confidence": f.confidence,
            "owned": f.owned,
        }
        for k in ("time", "commit", "author", "author_date", "cell"):
            v = getattr(f, k)
            if v is not None:
                props[k] = v
        if show_secrets and f.secret:
            props["secret"] = f.secret
        msg = f"{f.title} leaked: {f.preview}"
        if f.commit:
            msg += f" (introduced in commit {f.commit[:12]} by {f.author})"
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _LEVEL[f.confidence],
                "message": {"text": msg},
                "locations": [
                    {"physicalLocation": {"artifactLocation": {"uri": _uri(f.path)}, "region": region}}
                ],
                "partialFingerprints": {"ringbreaker/finding/v1": f.id, "secretSha256/v1": f.fingerprint},
                "properties": props,
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ringbreaker",
                        "version": __version__,
                        "informationUri": "https://github.com/ringbreaker/ringbreaker",
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }


def write_sarif(
    findings: Sequence[Finding], rules: Sequence[SecretRule], out: IO[str], show_secrets: bool = False
) -> None:
    out.write(json.dumps(sarif(findings, rules, show_secrets), indent=2, ensure_ascii=False) + "\n")

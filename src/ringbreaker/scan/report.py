"""Render findings: rich table, JSON, JSON Lines (the contract) and SARIF 2.1.0.

Secrets are redacted in every format; ``show_secrets`` adds the value, and nothing else does.
Every finding carries its owner's next steps (``rules/builtin/providers``): JSON ``remediation``,
a short "revoke at" column in the table, SARIF rule ``help`` (markdown) and a result ``fixes``
entry (delete the literal) where the finding is in a file of the working tree.
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
from ringbreaker.rules.providers import NoCheck, Remediation, check, remediation

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# A finding's confidence -> its SARIF result level.
_LEVEL: dict[str, str] = {Confidence.HIGH: "error", Confidence.MEDIUM: "warning", Confidence.LOW: "note"}


def finding_json(f: Finding, show_secrets: bool = False) -> dict[str, Any]:
    """One finding as JSON: its fields (``Finding.to_dict``) plus ``remediation``."""
    return {**f.to_dict(show_secret=show_secrets), "remediation": remediation(f.provider, f.rule).to_dict()}


def write_jsonl(findings: Sequence[Finding], out: IO[str], show_secrets: bool = False) -> None:
    for f in findings:
        out.write(json.dumps(finding_json(f, show_secrets), ensure_ascii=False) + "\n")


def write_json(
    findings: Sequence[Finding], summary: dict[str, Any], out: IO[str], show_secrets: bool = False
) -> None:
    doc = {
        "version": __version__,
        "findings": [finding_json(f, show_secrets) for f in findings],
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
    verified = any(f.verified for f in findings)  # the column only after --verify
    cols = ("rule", "key", "location", "leaked", "conf.", *(("verified",) if verified else ()), "revoke at")
    for col in cols:
        t.add_column(col, overflow="fold", no_wrap=col == "rule")
    for f in findings:
        where = f"{f.path}:{f.line}" + (f" (cell {f.cell})" if f.cell is not None else "")
        if f.commit:
            where += f"\n{f.commit[:12]} {f.author or ''}"
        key = f.secret if show_secrets and f.secret else f.preview
        fix = remediation(f.provider, f.rule)
        t.add_row(
            f.rule + (" [owned]" if f.owned else ""),
            key,
            where,
            (f.time or "")[:16].replace("T", " "),
            f.confidence,
            *((f.verified or "-",) if verified else ()),
            fix.console or fix.revoke,
        )
    console.print(t)


def _help(r: SecretRule, fix: Remediation) -> dict[str, str]:
    """SARIF rule ``help``: the owner's next steps as text and markdown."""
    spec = check(r.provider, r.id)
    verify = (
        f"not checked by `--verify`: {spec.reason}"
        if isinstance(spec, NoCheck)
        else f"`ringbreaker scan --verify` asks `{spec.method} {spec.url}` (read-only)"
    )
    console = f"[{fix.console}]({fix.console})" if fix.console else "the provider's console"
    md = (
        f"**A leaked {r.title} stays usable until it is revoked: removing it from the code does not "
        f"revoke it.**\n\n"
        f"1. **Revoke** ({console}): {fix.revoke}\n"
        f"2. **Rotate**: {fix.rotate}\n"
        f"3. **Check usage** since the leak time: {fix.logs}\n"
        f"4. Remove the key from the file and from git history; is it live? {verify}.\n"
    )
    text = f"Revoke: {fix.revoke} Rotate: {fix.rotate} Check usage: {fix.logs}"
    return {"text": text, "markdown": md}


def _fixes(f: Finding) -> list[dict[str, Any]]:
    """A SARIF ``fix`` deleting the literal, only for a finding in a plain file of the working tree
    (not a past commit, an archive entry, a notebook cell or stdin, whose columns are not the
    file's)."""
    if f.commit or f.cell is not None or "!" in f.path or f.path.startswith("<"):
        return []
    region = {"startLine": max(f.line, 1), "startColumn": max(f.column, 1), "endColumn": f.column + f.length}
    return [
        {
            "description": {
                "text": "Delete the key from the file and load it from a secret store; this does not "
                "revoke it: revoke it at the provider first."
            },
            "artifactChanges": [
                {"artifactLocation": {"uri": _uri(f.path)}, "replacements": [{"deletedRegion": region}]}
            ],
        }
    ]


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
        entry["help"] = _help(r, remediation(r.provider, r.id))
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
        for k in ("time", "commit", "author", "author_date", "cell", "verified", "verified_at"):
            v = getattr(f, k)
            if v is not None:
                props[k] = v
        if show_secrets and f.secret:
            props["secret"] = f.secret
        msg = f"{f.title} leaked: {f.preview}"
        if f.commit:
            msg += f" (introduced in commit {f.commit[:12]} by {f.author})"
        result: dict[str, Any] = {
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
        fixes = _fixes(f)
        if fixes:
            result["fixes"] = fixes
        results.append(result)
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

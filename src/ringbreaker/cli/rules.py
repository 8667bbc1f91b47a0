"""``ringbreaker rules``: list the rules, run their own examples and tests, import Sigma rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from ringbreaker.errors import UsageError

extra_rules_option = click.option(
    "--rules",
    "extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra rule file or directory, added to the built-in rules (repeatable). Secret-rule files "
    "(a top-level `rules:` list) and detection-rule files (one rule each) may be mixed.",
)
kind_option = click.option(
    "--kind",
    type=click.Choice(["all", "secret", "detection"]),
    default="all",
    show_default=True,
    help="Which rules.",
)


# Short names for the anchors column of `rules list` (the JSON keeps the tools' own names and ids).
ANCHOR_CODES = {
    "kingfisher": "KF",
    "betterleaks": "BL",
    "trufflehog": "TH",
    "noseyparker": "NP",
    "gitleaks": "GL",
    "github": "GH",
}
ANCHOR_LEGEND = (
    "anchors: KF Kingfisher, BL betterleaks, TH TruffleHog, NP Nosey Parker, GL gitleaks, "
    "GH GitHub secret scanning; - only ringbreaker"
)


def anchor_codes(anchors: dict[str, list[str]]) -> str:
    """The tools that also know a rule's format, as short codes in a fixed order ("-" for none)."""
    codes = [code for tool, code in ANCHOR_CODES.items() if anchors.get(tool)]
    return " ".join(codes) or "-"


def _split(extra: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """Extra rule files by kind: secret files hold a top-level `rules:` list, detection files one rule."""
    secret: list[Path] = []
    detection: list[Path] = []
    for p in extra:
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
        for f in files:
            try:
                doc = yaml.safe_load(f.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                doc = None
            (secret if isinstance(doc, dict) and "rules" in doc else detection).append(f)
    return secret, detection


@click.group()
def rules() -> None:
    """List and check rules (rules are data: YAML files with their own examples and tests).

    \b
    Examples:
      ringbreaker rules list --kind detection
      ringbreaker rules check
      ringbreaker rules import-sigma aws_bedrock_logging.yml -o my-rules/
      ringbreaker detect --rules my-rules/
    """


@rules.command("list")
@extra_rules_option
@kind_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "jsonl"]), default="table", show_default=True
)
def list_rules(extra: tuple[Path, ...], kind: str, fmt: str) -> None:
    """List the secret rules (id, provider, confidence) and detection rules (id, severity, sources)."""
    from ringbreaker.rules import load_detection_rules, load_secret_rules

    secret_extra, detection_extra = _split(extra)
    secret = (
        [{"kind": "secret", **r.summary()} for r in load_secret_rules(secret_extra)]
        if kind != "detection"
        else []
    )
    detection = [r.summary() for r in load_detection_rules(detection_extra)] if kind != "secret" else []
    rows = secret + detection
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row))
    else:
        console = Console()
        if secret:
            t = Table(title=f"{len(secret)} secret rules", caption=ANCHOR_LEGEND)
            for col in ("id", "provider", "title", "confidence", "context", "anchors"):
                t.add_column(col)
            for row in secret:
                t.add_row(
                    row["id"],
                    row["provider"],
                    row["title"],
                    row["confidence"],
                    "yes" if row["context"] else "",
                    anchor_codes(row["anchors"]),
                )
            console.print(t)
        if detection:
            t = Table(title=f"{len(detection)} detection rules")
            t.add_column("id", no_wrap=True)
            for col in ("severity", "title", "sources", "mitre"):
                t.add_column(col)
            for row in detection:
                t.add_row(
                    row["id"],
                    row["severity"],
                    row["title"],
                    ", ".join(row["sources"]),
                    ", ".join(row["mitre"]),
                )
            console.print(t)


@rules.command("check")
@extra_rules_option
@kind_option
@click.option("-v", "--verbose", is_flag=True, help="Show every example and test, not only failures.")
def check(extra: tuple[Path, ...], kind: str, verbose: bool) -> None:
    """Validate every rule against its schema and run its own examples and tests.

    Secret rules: positive and negative examples on both engines (Hyperscan and re). Detection rules:
    each embedded test on a fresh DuckDB workspace, and the query's transpilation to Spark SQL.
    Known misses (todo) must still fail. Exit 1 if anything fails.
    """
    from ringbreaker.detect import check_detection_rules
    from ringbreaker.pipeline import check_secret_rules
    from ringbreaker.rules import load_detection_rules, load_secret_rules

    secret_extra, detection_extra = _split(extra)
    failed = 0
    if kind != "detection":
        loaded = load_secret_rules(secret_extra, check_builtin=True)
        results = check_secret_rules(loaded)
        bad = [r for r in results if not r.ok]
        for r in results if verbose else bad:
            mark = "ok  " if r.ok else "FAIL"
            click.echo(f"{mark} {r.rule} {r.kind}[{r.index}] ({r.engine}) {r.detail}".rstrip())
        click.echo(f"{len(loaded)} secret rules, {len(results)} example runs, {len(bad)} failed", err=True)
        failed += len(bad)
    if kind != "secret":
        dets = load_detection_rules(detection_extra, check_builtin=True)
        dres = check_detection_rules(dets)
        dbad = [r for r in dres if not r.ok]
        for d in dres if verbose else dbad:
            mark = "ok  " if d.ok else "FAIL"
            todo = " (todo)" if d.todo else ""
            click.echo(f"{mark} {d.rule} {d.test}{todo} {d.detail}".rstrip())
        click.echo(f"{len(dets)} detection rules, {len(dres)} tests, {len(dbad)} failed", err=True)
        failed += len(dbad)
    sys.exit(1 if failed else 0)


@rules.command("import-sigma")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the converted rules (one YAML file per rule).",
)
def import_sigma(files: tuple[Path, ...], out: Path) -> None:
    """Convert Sigma rules for AWS CloudTrail and the Azure Activity Log into detection rules.

    Fields map to events columns (eventName -> operation, sourceIPAddress -> src_ip, ...), any
    other field to the original record (raw->>'$.requestParameters.x'). Each converted rule gets
    tests built from its own selection, and they are run at once. Unsupported constructs (other log
    sources, keyword searches, correlation rules) are reported and nothing is written for them.

    \b
    Exit codes: 0 every rule converted and its tests pass, 1 some were not, 2 unreadable input.

    \b
    Examples:
      ringbreaker rules import-sigma sigma/rules/cloud/aws/cloudtrail/aws_bedrock_*.yml -o rules/
      ringbreaker rules check --kind detection --rules rules/
    """
    from ringbreaker.detect import convert_sigma_file, dump_rule, run_case, transpile_problem
    from ringbreaker.rules.detections import _detection_rule

    out.mkdir(parents=True, exist_ok=True)
    bad = 0
    for f in files:
        for conv in convert_sigma_file(f):
            if conv.rule is None:
                bad += 1
                click.echo(f"unsupported: {f.name}: {conv.title}: {'; '.join(conv.problems)}")
                continue
            target = out / f"{conv.rule['id'].removeprefix('det.')}.yaml"
            target.write_text(dump_rule(conv.rule), encoding="utf-8")
            rule = _detection_rule(conv.rule, str(target))
            notes = list(conv.problems)
            problem = transpile_problem(rule)
            if problem:
                notes.append(problem)
            for i in range(len(rule.tests)):
                res = run_case(rule, i)
                if not res.ok:
                    notes.append(f"test {res.test}: {res.detail}")
            if notes:
                bad += 1
                click.echo(f"converted with problems: {f.name} -> {target}: {'; '.join(notes)}")
            else:
                click.echo(f"converted: {f.name} -> {target} ({conv.rule['id']})")
    if not files:
        raise UsageError("no Sigma files given")
    sys.exit(1 if bad else 0)

"""``ringbreaker scan``: find leaked AI credentials in files, git history, archives and stdin."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ringbreaker.cli.common import SizeType, workspace_option
from ringbreaker.errors import UsageError
from ringbreaker.model import Finding
from ringbreaker.rules import load_secret_rules
from ringbreaker.scan import (
    CONFIDENCE,
    ScanConfig,
    VerifyResult,
    load_inventory,
    verify_findings,
    write_json,
    write_jsonl,
    write_sarif,
    write_table,
)
from ringbreaker.scan import scan as run_scan


class _TerminalProgress:
    """A spinner while git history is read and a bar while units are scanned, on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def reading(self) -> Iterator[object]:
        with self.console.status("reading git history…", spinner="dots") as status:
            yield status

    @contextmanager
    def scanning(self, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task("scan", total=total)
            yield lambda n: bar.advance(task, n)


@click.command(context_settings={"max_content_width": 100})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--history",
    is_flag=True,
    help="Scan every blob of every commit of every ref of the git "
    "repositories at or under PATH; each finding names the commit that introduced it.",
)
@click.option(
    "--all-objects",
    is_flag=True,
    help="With --history: scan every blob in the object store, also those on no ref (a commit a "
    "force-push left behind, a pull-request ref not fetched any more, an object never committed); "
    "each is attributed to the commit that introduced it where one exists.",
)
@click.option("--staged", is_flag=True, help="Scan only what is staged in the git index (pre-commit hook).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "sarif"]),
    default="table",
    show_default=True,
    help="Output format (jsonl: one finding per line, the stable contract).",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write the report here instead of stdout.",
)
@click.option("--show-secrets", is_flag=True, help="Reveal credential values in the output (off: redacted).")
@workspace_option
@click.option(
    "--inventory",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your own keys (or their SHA-256 fingerprints), one per line: findings of them are "
    "marked owned. Keys are hashed on read. A key may be followed by the ids logs name it by: "
    "openai-key-id=key_..., azure-resource=NAME, aws-principal=ARN; with --workspace they are "
    "stored and the events that name them get the key's fingerprint.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Accepted findings. If the file does not exist it is written from this scan (exit 0); "
    "if it exists, the findings it lists are suppressed.",
)
@click.option("--update-baseline", is_flag=True, help="Rewrite --baseline from this scan.")
@click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files.")
@click.option(
    "--max-file-size",
    type=SizeType(),
    default="25M",
    show_default=True,
    help="Skip files (and archive entries) larger than this.",
)
@click.option("--no-archives", is_flag=True, help="Do not look inside zip/tar/whl/jar/gz archives.")
@click.option(
    "--archive-depth",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="How deep to open archives inside archives.",
)
@click.option(
    "--archive-max-bytes",
    type=SizeType(),
    default="100M",
    show_default=True,
    help="Stop expanding one archive after this many bytes (decompression bombs).",
)
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links (loops are detected).")
@click.option(
    "--min-confidence",
    type=click.Choice(list(CONFIDENCE)),
    default="low",
    show_default=True,
    help="Report only findings at or above this confidence.",
)
@click.option(
    "--rules",
    "extra_rules",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra rule file or directory (repeatable).",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "hyperscan", "re"]),
    default="auto",
    show_default=True,
    help="Matching engine: Hyperscan when installed, else Python re (same results, slower).",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(0, 256), default=0, help="Worker processes (0: one per core)."
)
@click.option(
    "--verify",
    is_flag=True,
    help="For the keys' owner: ask each provider whether the key still works (read-only endpoints "
    "only, never a generation call; contacts the providers). Findings gain verified: "
    "live|invalid|unknown|error.",
)
@click.option(
    "--verify-dry-run",
    is_flag=True,
    help="Print the --verify requests on stderr (keys redacted) and send nothing.",
)
@click.option(
    "--verify-rate",
    type=click.FloatRange(0.01, 100),
    default=2.0,
    show_default=True,
    help="--verify: at most this many requests a second to one host.",
)
@click.option(
    "--verify-max-age",
    type=click.FloatRange(0),
    default=24.0,
    show_default=True,
    help="--verify with --workspace: reuse a cached answer younger than this many hours (0: ask again).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr.")
def scan(
    paths: tuple[Path, ...],
    history: bool,
    all_objects: bool,
    staged: bool,
    fmt: str,
    output: IO[str],
    show_secrets: bool,
    workspace: str | None,
    inventory: Path | None,
    baseline: Path | None,
    update_baseline: bool,
    no_ignore: bool,
    max_file_size: int,
    no_archives: bool,
    archive_depth: int,
    archive_max_bytes: int,
    follow_symlinks: bool,
    min_confidence: str,
    extra_rules: tuple[Path, ...],
    engine: str,
    jobs: int,
    verify: bool,
    verify_dry_run: bool,
    verify_rate: float,
    verify_max_age: float,
    quiet: bool,
) -> None:
    """Find leaked AI credentials in PATHS (files, directories, archives; '-' for stdin).

    Every finding has the key's SHA-256 fingerprint, a redacted preview, where it is and when it
    leaked (commit date with --history, else file time). Secrets are never printed unless
    --show-secrets. A line containing 'ringbreaker:allow' is not reported.

    \b
    Exit codes: 0 nothing found, 1 credentials found, 2 usage or input error.

    \b
    Examples:
      ringbreaker scan .                                  # working tree, .gitignore honoured
      ringbreaker scan --history repo/ --format sarif     # all of git history, as SARIF
      ringbreaker scan --history --all-objects repo.git   # every object, on a ref or not
      ringbreaker scan dist/app.whl --format jsonl        # inside archives
      git diff | ringbreaker scan -                       # stdin
      ringbreaker scan . --baseline .ringbreaker-baseline.json
      ringbreaker scan public-code/ --history --workspace case.duckdb
      ringbreaker scan . --verify --workspace case.duckdb  # are my leaked keys live?
      ringbreaker scan . --inventory my-keys.txt --workspace case.duckdb  # join key ids
    """
    if history and staged:
        raise UsageError("--history and --staged cannot be combined")
    if all_objects and not history:
        raise UsageError("--all-objects needs --history")
    if update_baseline and not baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    if not paths and not staged:
        raise UsageError("give at least one PATH ('-' for stdin), or --staged")
    cfg = ScanConfig(
        max_file_size=max_file_size,
        no_ignore=no_ignore,
        follow_symlinks=follow_symlinks,
        archives=not no_archives,
        archive_depth=archive_depth,
        archive_max_bytes=archive_max_bytes,
        engine=engine,
        jobs=jobs,
        all_objects=all_objects,
    )
    err = Console(stderr=True)
    printed: set[str] = set()
    streaming = fmt == "jsonl" and not (verify or verify_dry_run or baseline)

    def print_found(found: Sequence[Finding]) -> None:  # stdin: each finding as soon as it is found
        write_jsonl(found, output, show_secrets)
        output.flush()
        printed.update(f.id for f in found)

    result = run_scan(
        [p for p in paths if str(p) != "-"],
        cfg,
        load_secret_rules(extra_rules),
        mode="staged" if staged else "history" if history else "files",
        stdin=sys.stdin.buffer if any(str(p) == "-" for p in paths) else None,
        inventory=load_inventory(inventory) if inventory else None,
        min_confidence=min_confidence,
        baseline=baseline,
        update_baseline=update_baseline,
        workspace=workspace,
        progress=_TerminalProgress(err) if not quiet and err.is_terminal else None,
        on_found=print_found if streaming else None,
    )
    if result.baseline_written and not quiet:
        err.print(f"baseline written: {baseline} ({len(result.accepted)} accepted finding(s))")
    findings_out, stats, summary = result.findings, result.stats, result.summary()
    checked: VerifyResult | None = None
    if (verify or verify_dry_run) and findings_out:
        if not verify_dry_run:
            err.print(
                f"verify: contacting providers' read-only endpoints to check {len(findings_out)} "
                "finding(s) (--verify-dry-run shows the requests)",
                highlight=False,
                soft_wrap=True,
            )
        checked = verify_findings(
            findings_out,
            dry_run=verify_dry_run,
            workspace=workspace,
            rate=verify_rate,
            max_age=timedelta(hours=verify_max_age),
        )
        findings_out = tuple(checked.findings)
        if verify_dry_run:
            err.print(f"verify dry run: {len(checked.requests)} request(s), none sent", highlight=False)
            for r in checked.requests:
                err.print(r, highlight=False, markup=False, soft_wrap=True)
    if fmt == "jsonl":
        write_jsonl([f for f in findings_out if f.id not in printed], output, show_secrets)
    elif fmt == "json":
        write_json(findings_out, summary, output, show_secrets)
    elif fmt == "sarif":
        write_sarif(findings_out, result.rules, output, show_secrets)
    else:
        write_table(findings_out, output, show_secrets)
    output.flush()

    if not quiet:
        for e in stats.errors[:20]:
            err.print(f"[yellow]warning[/]: {e}", markup=True, highlight=False)
        if len(stats.errors) > 20:
            err.print(f"… and {len(stats.errors) - 20} more warnings")
        err.print(_summary_line(summary), highlight=False)
        if checked is not None and not verify_dry_run:
            err.print(_verify_line(checked), highlight=False, markup=False, soft_wrap=True)
    sys.exit(1 if findings_out else 0)


def _summary_line(s: dict[str, object]) -> str:
    parts = [f"{s['findings']} finding(s)", f"{s['files']} files", f"{s['bytes']:,} bytes"]
    for key, label in (
        ("repos", "repos"),
        ("commits", "commits"),
        ("blobs", "blobs"),
        ("archive_entries", "archive entries"),
        ("skipped_binary", "binary skipped"),
        ("skipped_large", "too large"),
        ("skipped_ignored", "ignored"),
        ("skipped_symlinks", "symlinks skipped"),
        ("skipped_special", "FIFOs/devices skipped"),
        ("notebooks_as_text", "notebooks read as text"),
        ("suppressed_inline", "allowed inline"),
        ("suppressed_baseline", "in baseline"),
        ("error_count", "warnings"),
        ("key_aliases", "key ids stored"),
        ("events_joined", "events joined to a key by its id"),
    ):
        if s.get(key):
            parts.append(f"{s[key]} {label}")
    ambiguous = s.get("ambiguous_aliases")
    if isinstance(ambiguous, list) and ambiguous:
        parts.append(f"not joined, naming several keys: {', '.join(map(str, ambiguous))}")
    return "scan: " + ", ".join(parts)


def _verify_line(v: VerifyResult) -> str:
    parts = [f"{v.counts.get(o, 0)} {o}" for o in ("live", "invalid", "unknown", "error")]
    parts.append(f"{v.sent} request(s) sent, {v.cached} from the workspace cache")
    line = "verify: " + ", ".join(parts)
    if v.unchecked:
        why = "; ".join(f"{n}: {reason}" for reason, n in sorted(v.unchecked.items()))
        line += f"; not checked: {why}"
    return line

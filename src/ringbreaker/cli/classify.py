"""``ringbreaker classify``: score prompts for guardrail bypass, sexual content, real people and minors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import click

from ringbreaker.cli.common import progress_counter, workspace_option
from ringbreaker.errors import InputError, UsageError
from ringbreaker.model import VERDICT_SEVERITIES, Severity

EXIT_OK, EXIT_FOUND = 0, 1
FLAGGED = frozenset(s for s in VERDICT_SEVERITIES if s.at_least(Severity.MEDIUM))  # exit 1


def _read_jsonl(path: str) -> Iterator[tuple[Any, str]]:
    """(id, text) per line of a JSONL file ('-' for stdin); `id` is the line's `id` field or None."""
    fh = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115  (closed below)
    try:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"not JSON: {e.msg}", source=path, line=n) from e
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise InputError(
                    "each line must be an object with a string `text` field", source=path, line=n
                )
            yield obj.get("id"), obj["text"]
    except OSError as e:
        raise InputError(f"cannot read: {e}", source=path) from e
    finally:
        if fh is not sys.stdin:
            fh.close()


@click.command(context_settings={"max_content_width": 100})
@click.argument("texts", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.Path(allow_dash=True, dir_okay=False),
    default=None,
    help="JSONL input, one object with a `text` field per line (an `id` field is echoed); '-' for stdin.",
)
@workspace_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl"]),
    default=None,
    help="Output format (default: table on a terminal, jsonl otherwise; jsonl is the stable contract).",
)
@click.option(
    "--batch-size", type=click.IntRange(1), default=5000, show_default=True, help="Prompts per batch."
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Fit the bypass and sexual thresholds to the workspace's own prompts and store them there; "
    "later workspace runs use them.",
)
@click.option(
    "--fpr",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="With --calibrate: the share of distinct prompts each label may flag.",
)
@click.option(
    "--min-prompts",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="With --calibrate: fewer distinct prompts than this is an error, and nothing is stored.",
)
@click.option(
    "--reset", is_flag=True, help="With --calibrate: remove the stored thresholds (the shipped ones apply)."
)
@click.option(
    "--first-stage-only",
    is_flag=True,
    help="Skip the second stage (the sentence encoder): many times faster on long or image-prompt "
    "traffic, less accurate; verdicts carry the model version with '-s1'.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr.")
@click.pass_context
def classify(
    ctx: click.Context,
    texts: tuple[str, ...],
    file: str | None,
    workspace: str | None,
    fmt: str | None,
    batch_size: int,
    calibrate: bool,
    fpr: float,
    min_prompts: int,
    reset: bool,
    first_stage_only: bool,
    quiet: bool,
) -> None:
    """Score prompts with the shipped prompt model (offline: numpy and onnxruntime, no download).

    Each prompt gets four calibrated scores in [0, 1]: bypass (jailbreak, prompt injection,
    role-play or "no rules" framing, obfuscation), sexual, real_person (names a real person) and
    minor (refers to a child or teen); the labels at or above their thresholds; and a severity:
    critical (sexual and minor), high (sexual content of a real person, or a bypass attempt asking
    for sexual content), medium (bypass), low (any other label), none.

    \b
    Inputs, one of:
      TEXT...          prompts given as arguments
      --file F.jsonl   one {"text": ..., "id": ...} object per line ('-' for stdin)
      (neither)        every event with a prompt in the workspace, into its `verdicts` table;
                       only prompts without a verdict from this model version are scored

    \b
    Two stages: n-grams score every prompt; those they cannot clear (a bypass or sexual score near
    the threshold, or the minor label) are re-scored by a sentence encoder and both fused.
    --first-stage-only skips the encoder (faster, less accurate, its own thresholds).

    \b
    Thresholds: the shipped ones, unless `--calibrate` stored the workspace's own (for this model
    version): then workspace runs, and TEXT or --file with --workspace given, decide with those.
    --calibrate sets each learned label (bypass, sexual) to the (1 - --fpr) quantile of its scores
    over the workspace's distinct prompts, clamped to [shipped * 0.5, max(shipped, 0.9)] so that
    traffic full of attacks cannot hide them; it needs --min-prompts distinct prompts, scores the
    unscored ones first and re-derives every stored verdict's severity and labels.

    \b
    Exit codes: 0 nothing at medium or above, 1 at least one prompt at medium or above (for the
    workspace: among those scored by this run), 2 usage or input error (too few prompts to
    calibrate included). --calibrate exits 0 when the thresholds are stored.

    \b
    Examples:
      ringbreaker classify "A red bicycle leaning on a wall"
      ringbreaker classify --file prompts.jsonl --format jsonl > verdicts.jsonl
      ringbreaker classify --workspace case.duckdb
      ringbreaker classify --workspace lake.duckdb --first-stage-only
      ringbreaker classify --calibrate --workspace case.duckdb --fpr 0.005
      ringbreaker classify --calibrate --reset --workspace case.duckdb
    """
    from ringbreaker.classify import default_model, no_surrogates
    from ringbreaker.workspace import resolve

    if texts and file:
        raise UsageError("give prompts as arguments or --file, not both")
    given = [f"--{p.replace('_', '-')}" for p in ("fpr", "min_prompts", "reset") if _explicit(ctx, p)]
    if given and not calibrate:
        raise UsageError(f"only with --calibrate: {', '.join(given)}")
    model = default_model()
    if first_stage_only:
        model = model.first_stage_only()
    if calibrate:
        if texts or file:
            raise UsageError("--calibrate reads the workspace's prompts: give no TEXT or --file")
        from ringbreaker.cli.calibrate import run_calibrate

        run_calibrate(
            model,
            resolve(workspace),
            fpr=fpr,
            min_prompts=min_prompts,
            reset=reset,
            fmt=fmt,
            batch_size=batch_size,
            quiet=quiet,
        )
        return
    if not texts and not file:
        _workspace(model, workspace, fmt, batch_size, quiet)
        return
    if workspace is not None and _explicit(ctx, "workspace"):
        model = _with_workspace_thresholds(model, resolve(workspace), quiet)
    source: Iterator[tuple[Any, str]] = iter([(None, t) for t in texts]) if texts else _read_jsonl(str(file))
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    th = model.thresholds
    # jsonl streams batch by batch (a large file never sits in memory); json and table need it all.
    kept: list[dict[str, Any]] = []
    shown: list[str] = []
    flagged = False
    index = 0
    while True:
        part = list(islice(source, batch_size))
        if not part:
            break
        for (ident, text), v in zip(part, model.classify(t for _, t in part), strict=True):
            rec: dict[str, Any] = {"index": index}
            index += 1
            if ident is not None:
                rec["id"] = ident
            rec.update(v.to_json())
            rec["thresholds"] = th
            rec["model_version"] = model.version
            flagged = flagged or v.severity in FLAGGED
            if fmt == "jsonl":
                click.echo(json.dumps(rec))
            else:
                kept.append(rec)
                if fmt == "table":
                    shown.append(no_surrogates(text))
    if fmt == "json":
        click.echo(json.dumps(kept, indent=2))
    elif fmt == "table":
        _table(kept, shown)
    sys.exit(EXIT_FOUND if flagged else EXIT_OK)


def _explicit(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option ``name`` on the command line (not its default or the environment)."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def _with_workspace_thresholds(model: Any, path: Path, quiet: bool) -> Any:
    """TEXT or --file with --workspace named on the command line: decide with the thresholds the
    workspace calibrated for this model version (read-only; the shipped ones when it has none)."""
    from ringbreaker.classify import workspace_model
    from ringbreaker.workspace import guarded, open_workspace

    if not path.exists():
        raise UsageError(f"no workspace at {path}")
    con = open_workspace(path, read_only=True)
    try:
        with guarded(con, "classify"):
            calibrated, applied = workspace_model(con, model)
    finally:
        con.close()
    if not quiet:
        _notes(applied.calibrated, applied.ignored_versions, calibrated.thresholds)
    return calibrated


def _notes(calibrated: tuple[str, ...], ignored: tuple[str, ...], thresholds: dict[str, float]) -> None:
    """Say on stderr which thresholds came from the workspace and which stored ones were ignored."""
    if calibrated:
        used = ", ".join(f"{k} {thresholds[k]:.4f}" for k in calibrated)
        click.echo(f"classify: the workspace's calibrated thresholds ({used})", err=True)
    if ignored:
        click.echo(
            "classify: thresholds calibrated for other model version(s) are ignored: " + ", ".join(ignored),
            err=True,
        )


def _table(results: list[dict[str, Any]], texts: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(show_lines=False)
    for col in ("#", "severity", "bypass", "sexual", "real_person", "minor", "prompt"):
        t.add_column(col, justify="right" if col not in ("severity", "prompt") else "left")
    for r, text in zip(results, texts, strict=True):
        preview = " ".join(text.split())
        preview = preview[:60] + ("…" if len(preview) > 60 else "")
        t.add_row(
            str(r.get("id", r["index"])),
            r["severity"],
            *(f"{r[k]:.3f}" for k in ("bypass", "sexual", "real_person", "minor")),
            preview,
        )
    Console().print(t)


def _workspace(model: Any, workspace: str | None, fmt: str | None, batch_size: int, quiet: bool) -> None:
    from ringbreaker.classify import pending_count, score_workspace
    from ringbreaker.workspace import open_workspace, resolve

    path = resolve(workspace)
    if not path.exists():
        raise UsageError(
            f"no workspace at {path}: give TEXT, --file, or --workspace of an existing workspace"
        )
    con = open_workspace(path)
    try:
        with progress_counter("classify", pending_count(con, model), quiet=quiet) as advance:
            report = score_workspace(con, model, batch=batch_size, on_batch=advance)
    finally:
        con.close()
    if fmt in {"json", "jsonl"}:
        click.echo(json.dumps(report.to_dict()))
    if not quiet:
        _notes(report.calibrated, report.ignored_versions, report.thresholds)
        sev = ", ".join(f"{k} {v:,}" for k, v in sorted(report.severity.items())) or "nothing new"
        click.echo(
            f"classify: {report.scored:,} prompt(s) scored ({sev}); {report.already:,} already scored by "
            f"{report.model_version}; {report.routed:,} re-scored by the second stage",
            err=True,
        )
    sys.exit(EXIT_FOUND if any(report.severity[s] for s in FLAGGED) else EXIT_OK)

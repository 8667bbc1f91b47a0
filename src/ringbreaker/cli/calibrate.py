"""``ringbreaker classify --calibrate``: fit the thresholds to the workspace's traffic, or ``--reset``.

Not a verb of its own: the part of ``classify`` (cli/classify.py) that runs and prints a calibration.
Data (the per-label table, or ``--format json|jsonl``) goes to stdout; what the run did and why the
thresholds are what they are goes to stderr, unless ``-q``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ringbreaker.cli.common import progress_counter
from ringbreaker.errors import UsageError

if TYPE_CHECKING:
    from ringbreaker.classify import CalibrationReport, Model


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def run_calibrate(
    model: Model,
    path: Path,
    *,
    fpr: float,
    min_prompts: int,
    reset: bool,
    fmt: str | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """Calibrate (or reset) the workspace at ``path`` and print the report in ``fmt``."""
    from ringbreaker.classify import calibrate, pending_count, reset_calibration
    from ringbreaker.workspace import open_workspace

    if not path.exists():
        raise UsageError(f"no workspace at {path}: calibration reads the prompts of an existing workspace")
    con = open_workspace(path)
    try:
        if reset:
            report = reset_calibration(con, model)
        else:
            with progress_counter("classify", pending_count(con, model), quiet=quiet) as advance:
                report = calibrate(
                    con, model, fpr=fpr, min_prompts=min_prompts, batch=batch_size, on_batch=advance
                )
    finally:
        con.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif fmt == "jsonl":
        for rec in report.lines():
            click.echo(json.dumps(rec))
    elif report.fits:
        _table(report)
    if not quiet:
        for line in summary(report):
            click.echo(line, err=True)


def _table(report: CalibrationReport) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"thresholds fitted to {report.n_prompts:,} distinct prompts", title_justify="left")
    for col in ("label", "shipped", "before", "quantile", "calibrated", "clamp", "flagged before", "after"):
        t.add_column(col, justify="left" if col in ("label", "clamp") else "right")
    for f in report.fits:
        t.add_row(
            f.label,
            f"{f.shipped:.4f}",
            f"{f.previous:.4f}",
            f"{f.quantile:.4f}",
            f"{f.threshold:.4f}",
            {"lo": f"floor {f.lo:.4f}", "hi": f"ceiling {f.hi:.4f}"}.get(f.clamped or "", ""),
            _pct(f.flagged_before),
            _pct(f.flagged_after),
        )
    Console(width=None if Console().is_terminal else 120).print(t)


def summary(report: CalibrationReport) -> list[str]:
    """The human summary on stderr: what was read, what each threshold became and why."""
    out: list[str] = []
    if report.action == "reset":
        out.append(
            f"calibrate --reset: {report.removed:,} stored threshold row(s) removed from {report.workspace}; "
            f"the shipped thresholds of {report.model_version} apply again"
        )
    else:
        out.append(
            f"calibrate: {report.n_events:,} event(s) with a prompt, {report.n_prompts:,} distinct prompt(s) "
            f"(identical prompts count once); {report.scored:,} scored now, {report.reused:,} verdict(s) "
            f"reused ({report.model_version})"
        )
        fpr = report.fpr or 0.0
        q = 100 * (1 - fpr)
        for f in report.fits:
            why = f"the {q:g}% quantile of its scores"
            if f.clamped == "hi":
                why = (
                    f"the {q:g}% quantile {f.quantile:.4f} held at the ceiling {f.hi:.4f} "
                    "(a higher threshold could hide attacks)"
                )
            elif f.clamped == "lo":
                why = f"the {q:g}% quantile {f.quantile:.4f} held at the floor {f.lo:.4f} (half the shipped)"
            out.append(
                f"  {f.label}: {f.shipped:.4f} (shipped) -> {f.threshold:.4f}, {why}; "
                f"flagged {_pct(f.flagged_before)} -> {_pct(f.flagged_after)} of the distinct prompts "
                f"(budget {_pct(fpr)})"
            )
        out.append("  real_person, minor: shipped thresholds (rule and lexicon scores are not fitted)")
        out.append(
            f"  stored in table classify_thresholds of {report.workspace}: every later classify "
            "--workspace uses them (undo: classify --calibrate --reset)"
        )
    done = report.rederived
    out.append(
        f"  verdicts re-derived from their stored scores: {done.verdicts:,}, {done.severity_changed:,} "
        f"changed severity, {done.labels_changed:,} changed labels"
    )
    if report.ignored_versions:
        out.append(
            "  note: thresholds stored for other model version(s) are ignored: "
            + ", ".join(report.ignored_versions)
        )
    return out

"""``ringbreaker simulate``: write a synthetic world with a planted abuse ring, in real log formats."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ringbreaker.errors import RingbreakerError
from ringbreaker.simulate import DEFAULT_START, SimConfig, Summary, builtin_prompts, load_prompts
from ringbreaker.simulate import simulate as run


@click.command(context_settings={"max_content_width": 100})
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, byte-identical logs.")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Event volume factor: 1 is about 35k events; 150 is about 12M.",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL corpus of {text, label} for prompts (default: a small safe built-in set).",
)
@click.option(
    "--start", default=DEFAULT_START, show_default=True, help="Start of the window (ISO date or time, UTC)."
)
@click.option(
    "--days", type=click.IntRange(1, 3650), default=7, show_default=True, help="Length of the window."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def simulate(
    out: Path, seed: int, scale: float, prompts_file: Path | None, start: str, days: int, quiet: bool
) -> None:
    """Write a synthetic world with a planted LLMjacking ring under OUT.

    \b
    OUT/public-code/   git repositories: leaked keys (dated commits), decoys, ring tooling
    OUT/aws/           CloudTrail (S3 layout) and Bedrock model invocation logs
    OUT/azure/         diagnostics (Audit, RequestResponse) and Activity Log (storage export)
    OUT/gateway/       LiteLLM SpendLogs (JSONL)
    OUT/openai/        organisation audit log (JSONL)
    OUT/truth.json     keys, leaks, crews and their members, legitimate entities, counts

    \b
    Examples:
      ringbreaker simulate /tmp/world
      ringbreaker simulate /tmp/big --scale 150 --seed 7
    """
    try:
        corpus = load_prompts(prompts_file) if prompts_file else builtin_prompts()
    except (RingbreakerError, UnicodeDecodeError) as e:  # unreadable, not UTF-8, or not prompts
        raise click.BadParameter(str(e), param_hint="--prompts") from e
    cfg = SimConfig(out=out, seed=seed, scale=scale, start=start, days=days, corpus=corpus)
    if not quiet and sys.stderr.isatty():
        with Progress(
            TextColumn("simulate"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} h"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("hours", total=days * 24)
            summary = run(cfg, progress=lambda done, _total: bar.update(task, completed=done))
    else:
        summary = run(cfg)
    if not quiet:
        click.echo(format_summary(summary), err=True)


def format_summary(s: Summary) -> str:
    """Short human summary for stderr."""
    lines = [
        f"{s.events} events in {s.files} files, {s.seconds:.1f} s ({s.events / max(s.seconds, 1e-9):,.0f}/s)"
    ]
    lines += [f"  {fmt:<20} {n:>10}" for fmt, n in s.counts.items()]
    lines.append(f"keys {s.keys}, leaked {s.leaks}, compromised {s.compromised}, crews {s.crews}")
    return "\n".join(lines)

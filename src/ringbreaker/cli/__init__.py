"""The ``ringbreaker`` command: a thin layer over the stage libraries.

Data goes to stdout, logs and progress to stderr. Exit codes (see README): 0 nothing found,
1 findings/alerts/failed checks, 2 usage or input error.
"""

from __future__ import annotations

import importlib

import click

from ringbreaker import __version__
from ringbreaker.cli.common import run

# Verb -> "module:attribute". Loaded on use, so `ringbreaker scan` (and its worker processes)
# never import the heavy libraries of other stages (pyarrow, numpy, duckdb).
COMMANDS = {
    "scan": "ringbreaker.cli.scan:scan",
    "simulate": "ringbreaker.cli.simulate:simulate",
    "ingest": "ringbreaker.cli.ingest:ingest",
    "classify": "ringbreaker.cli.classify:classify",
    "context": "ringbreaker.cli.context:context",
    "detect": "ringbreaker.cli.detect:detect",
    "attribute": "ringbreaker.cli.attribute:attribute",
    "case": "ringbreaker.cli.case:case",
    "rules": "ringbreaker.cli.rules:rules",
    "demo": "ringbreaker.cli.demo:demo",
    "serve": "ringbreaker.cli.serve:serve",
    "watch": "ringbreaker.cli.watch:watch",
    "export": "ringbreaker.cli.export:export",
    "show": "ringbreaker.cli.show:show",
}


class LazyGroup(click.Group):
    """A click group that imports a verb's module only when that verb is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="ringbreaker")
def cli() -> None:
    """Find, prove and break up credential-abuse rings (LLMjacking).

    \b
    Pipeline, one workspace (a DuckDB file, --workspace or RINGBREAKER_WORKSPACE):
      scan      find leaked AI credentials in code, git history, archives, stdin
      simulate  write a synthetic world with a planted ring, in the providers' log formats
      ingest    read CloudTrail, Bedrock, Azure, GCP, LiteLLM, OpenAI and OCSF logs into events
      classify  score prompts: jailbreak/bypass, sexual, real person, minor; severity
      context   keep the owner's context: office/CI networks, IaC principals, accounts
      detect    run the detection rules over the workspace into alerts
      attribute link alerts, keys, proxies, tools and users into crews with roles
      case      write each crew's case file: HTML (offline), STIX 2.1 bundle, JSON
      rules     list and check the rules (secret patterns, detections)
      demo      the whole job on a generated sample, out of the box
      serve     the analyst's workbench: browse alerts, keys, crews, events (read-only, token)
      watch     follow log folders as shippers fill them; send new or grown alerts to webhooks
      export    every workspace table as Parquet (events OCSF-aligned, by source and day)
      show      an event's original record, read from the evidence store and verified

    \b
    Examples:
      ringbreaker scan . --history --format sarif > leaks.sarif
      ringbreaker scan repo/ --workspace case.duckdb
      ringbreaker demo --out demo-out        # the whole chain on a simulated world
      ringbreaker detect --fail-on high      # after ingest: exit 1 on high/critical alerts
      ringbreaker rules check
    """


def main() -> None:
    """Console-script entry point."""
    run(cli)

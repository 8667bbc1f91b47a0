"""``ringbreaker serve``: the analyst's workbench in the browser, read-only over one workspace."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ringbreaker.cli.common import quiet_option, workspace_option
from ringbreaker.errors import UsageError, WorkspaceError
from ringbreaker.workspace import open_workspace, resolve

TOKEN_ENV = "RINGBREAKER_TOKEN"


@click.command(context_settings={"max_content_width": 100})
@workspace_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback prints a warning: prefer an SSH tunnel to a wider bind.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="TCP port.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"The access token (env {TOKEN_ENV}); a random one when neither is given. Put it in the "
    "environment rather than on the command line, where other users can read it in `ps`.",
)
@click.option(
    "--show-prompts",
    is_flag=True,
    help="Show prompt texts in full. By default a prompt is its verdict and a short preview.",
)
@click.option(
    "--snapshot-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the read-only snapshot copies of the workspace go (default: a temporary directory, "
    "removed at exit). Needs room for one or two copies of the workspace.",
)
@quiet_option
def serve(
    workspace: str | None,
    host: str,
    port: int,
    token: str | None,
    show_prompts: bool,
    snapshot_dir: Path | None,
    quiet: bool,
) -> None:
    """Browse a workspace: alert inbox, keys, crews, events, search, case files, and a JSON API.

    \b
    Read-only: the server reads a snapshot copy of the workspace and refreshes it when the file
    changes and no writer holds it, so `ingest`, `detect` and `attribute` keep working while it
    runs (pages show when their snapshot was taken). The workspace is never written.

    \b
    Auth: every route but /healthz needs the token. Open the URL printed at start (it ends in
    ?token=...; the token then moves into an HttpOnly cookie and leaves the URL), or send
    `Authorization: Bearer TOKEN`. Secrets never appear (fingerprints and previews only).

    \b
    Pages:  /  /alerts?severity=high,critical&rule=det.&since=T&q=TEXT&sort=severity&page=2
            /alerts/ID  /keys/FINGERPRINT  /crews  /crews/ID  /events/ID  /search?q=TEXT
            /cases/CREW (case.html, case.stix.json)
    JSON:   /api/alerts  /api/alerts/ID  /api/keys/FINGERPRINT  /api/crews  /api/crews/ID
            /api/search?q=TEXT   (field names as in `detect --format jsonl`, `attribute --format json`)

    \b
    Exit codes: 0 stopped (Ctrl-C), 2 usage or workspace error (no workspace, port in use).

    \b
    Examples:
      ringbreaker demo --out demo-out && ringbreaker serve --workspace demo-out/ringbreaker.duckdb
      RINGBREAKER_TOKEN=$(openssl rand -hex 16) ringbreaker serve --port 9000
      curl -H "Authorization: Bearer $RINGBREAKER_TOKEN" localhost:9000/api/alerts?severity=critical
    """
    try:
        from ringbreaker.serve import ServeConfig, new_token
        from ringbreaker.serve import serve as run_serve
    except ImportError as e:
        raise UsageError(
            f"`serve` needs the serve extra ({e.name} is missing): pip install 'ringbreaker[serve]'"
        ) from e
    path = resolve(workspace)
    if not path.is_file():
        raise WorkspaceError("no workspace here: run `ringbreaker demo` or `ingest` first", source=str(path))
    try:  # a damaged file: a clear error now, not a server that waits for it forever
        open_workspace(path, read_only=True, create=False).close()
    except WorkspaceError as e:
        if "conflicting lock" not in str(e).lower():  # a writer holding it is waited for (serve.snapshot)
            raise
    if token is not None and len(token) < 8:
        raise UsageError("--token: use at least 8 characters (or leave it out for a random one)")
    if not _port_free(host, port):
        raise UsageError(f"--port {port}: {host}:{port} is in use (pick another with --port)")
    config = ServeConfig(
        workspace=path.resolve(),
        token=token or os.environ.get(TOKEN_ENV) or new_token(),
        host=host,
        port=port,
        show_prompts=show_prompts,
        snapshot_dir=snapshot_dir,
    )
    run_serve(config, quiet=quiet)


def _port_free(host: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True

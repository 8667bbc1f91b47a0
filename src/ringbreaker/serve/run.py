"""Running the workbench: the first snapshot, the start line, uvicorn with our access log only."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import sys
from typing import TextIO

from ringbreaker.serve import redact
from ringbreaker.serve.app import ServeConfig, asgi
from ringbreaker.serve.snapshot import Snapshots

FIRST_SNAPSHOT_S = 60.0  # how long start-up waits for a writer to let go of the workspace


def new_token() -> str:
    """A random token (URL-safe, 256 bits), used when neither --token nor RINGBREAKER_TOKEN gives one."""
    return secrets.token_urlsafe(32)


def loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: a server nobody else on the network can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_warning(host: str) -> str | None:
    """What to say when the server binds beyond loopback (None on loopback)."""
    if loopback(host):
        return None
    return (
        f"warning: binding {host}, beyond this machine's loopback: anyone who can reach this port and "
        "learns the token can read the workspace (prefer 127.0.0.1 and an SSH tunnel)"
    )


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def serve(config: ServeConfig, err: TextIO = sys.stderr, *, quiet: bool = False) -> None:
    """Serve until interrupted: snapshot the workspace, print the start line, run uvicorn."""
    import uvicorn

    snapshots = Snapshots(config.workspace, config.snapshot_dir, poll_s=config.poll_s)
    try:
        snapshots.wait_first(FIRST_SNAPSHOT_S)
        snapshots.start()
        redact.warm()
        access = logging.getLogger("ringbreaker.serve.access")
        access.setLevel(logging.WARNING if quiet else logging.INFO)
        if not access.handlers:
            handler = logging.StreamHandler(err)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            access.addHandler(handler)
        access.propagate = False
        warning = bind_warning(config.host)
        if warning:
            print(warning, file=err, flush=True)
        print(
            f"ringbreaker serve: {config.workspace} (read-only snapshot) at "
            f"{url(config.host, config.port)}?token={config.token}",
            file=err,
            flush=True,
        )
        uvicorn.run(
            asgi(config, snapshots),
            host=config.host.strip("[]"),
            port=config.port,
            access_log=False,  # ours (auth.py) never writes the query string
            log_level="warning",
            server_header=False,
            proxy_headers=False,
        )
    finally:
        snapshots.close()

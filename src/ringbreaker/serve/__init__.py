"""serve: the analyst's workbench, a read-only web view of one workspace (``ringbreaker serve``).

Pages and JSON twins over the workspace tables (alerts, keys, crews, events, search, case files),
behind a token, from a snapshot copy so that ``ingest`` and ``detect`` can keep writing the file
(snapshot.py says how). Needs the ``serve`` extra: starlette, uvicorn, jinja2.
"""

from ringbreaker.serve.app import ServeConfig, asgi, create_app
from ringbreaker.serve.run import bind_warning, loopback, new_token, serve
from ringbreaker.serve.snapshot import Snapshots

__all__ = ["ServeConfig", "Snapshots", "asgi", "bind_warning", "create_app", "loopback", "new_token", "serve"]

"""Follow log folders as shippers fill them and send each new or grown alert to sinks.

Library use::

    from pathlib import Path
    from ringbreaker.rules import load_detection_rules
    from ringbreaker.watch import StdoutSink, Watch, WatchConfig

    cfg = WatchConfig(paths=(Path("logs/"),), workspace=Path("ws.duckdb"), once=True)
    totals = Watch(cfg, load_detection_rules(), [StdoutSink()]).run()

Modules: ``follow`` (which files are new, grown or still being written; offsets of JSONL files),
``loop`` (ingest → classify → detect → queue → deliver, one step at a time), ``sinks`` (webhook
as JSON, Slack or Teams; a command per alert; stdout), ``state`` (what each sink acknowledged,
beside the workspace), ``redact`` (no credential leaves through a sink). See docs/watch.md.
"""

from __future__ import annotations

from ringbreaker.watch.follow import Follower, Known, Poll
from ringbreaker.watch.loop import Totals, Watch, WatchConfig, payload
from ringbreaker.watch.redact import redact_doc
from ringbreaker.watch.sinks import (
    WEBHOOK_FORMATS,
    DeliveryFailed,
    ExecSink,
    Sink,
    StdoutSink,
    WebhookSink,
    idempotency_key,
    redact_url,
    render,
)
from ringbreaker.watch.state import Entry, SinkState, State, sink_key

__all__ = [
    "WEBHOOK_FORMATS",
    "DeliveryFailed",
    "Entry",
    "ExecSink",
    "Follower",
    "Known",
    "Poll",
    "Sink",
    "SinkState",
    "State",
    "StdoutSink",
    "Totals",
    "Watch",
    "WatchConfig",
    "WebhookSink",
    "idempotency_key",
    "payload",
    "redact_doc",
    "redact_url",
    "render",
    "sink_key",
]

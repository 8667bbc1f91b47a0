"""Where alerts go: a webhook (JSON, Slack, Teams), a command per alert, or stdout as JSONL.

Each sink takes one alert document (``detect --format jsonl``'s object plus ``revision`` and
``change``), already redacted, and either returns (acknowledged) or raises ``DeliveryFailed``; the
delivery loop retries with backoff. The idempotency key ``<alert id>-r<revision>`` travels with
every attempt (the ``Idempotency-Key`` header, the ``RINGBREAKER_IDEMPOTENCY_KEY`` variable), so a
receiver can drop the copy that an at-least-once retry or a restart sends twice.

Messages name a sink by its label only: a webhook's scheme and host (Slack and Teams URLs carry
their token in the path), a command's first word.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from ringbreaker.errors import UsageError
from ringbreaker.watch.state import sink_key

SEVERITY_COLOUR = {
    "critical": "8B0000",
    "high": "D93F0B",
    "medium": "FBCA04",
    "low": "0E8A16",
    "info": "C5DEF5",
}
WEBHOOK_FORMATS = ("json", "slack", "teams")


class DeliveryFailed(Exception):
    """A sink did not acknowledge: why (no secret in it), and a delay the peer asked for."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class Sink(Protocol):
    key: str
    label: str

    def send(self, doc: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def idempotency_key(doc: dict[str, Any]) -> str:
    return f"{doc['id']}-r{doc['revision']}"


@dataclass
class StdoutSink:
    """One JSON object a line on stdout, flushed per alert."""

    key: str = sink_key("stdout")
    label: str = "stdout"

    def send(self, doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class WebhookSink:
    """An HTTP POST per alert (urllib3, which the verify checks use too); 2xx acknowledges."""

    def __init__(self, url: str, fmt: str = "json", timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--webhook needs an http(s) URL, got {redact_url(url)!r}")
        if fmt not in WEBHOOK_FORMATS:
            raise UsageError(f"--webhook-format is one of {', '.join(WEBHOOK_FORMATS)}")
        import urllib3

        self._url, self.fmt = url, fmt
        self.key = sink_key(f"webhook {fmt} {url}")
        self.label = f"webhook {redact_url(url)}"
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            headers={"User-Agent": _agent()},
        )

    def send(self, doc: dict[str, Any]) -> None:
        import urllib3

        body = json.dumps(render(doc, self.fmt), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key(doc),
            "X-Ringbreaker-Alert": str(doc["id"]),
            "X-Ringbreaker-Revision": str(doc["revision"]),
        }
        try:
            r = self._http.request("POST", self._url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as e:
            raise DeliveryFailed(f"{type(e).__name__} talking to {self.label}") from None
        if 200 <= r.status < 300:
            return
        raise DeliveryFailed(f"HTTP {r.status} from {self.label}", _retry_after(r.headers.get("Retry-After")))

    def close(self) -> None:
        self._http.clear()


class ExecSink:
    """``/bin/sh -c CMD`` per alert with the alert's JSON on stdin; exit 0 acknowledges.

    The command's own stdout goes to watch's stderr, so it never mixes into stdout's JSONL. It gets
    ``RINGBREAKER_ALERT_ID``, ``RINGBREAKER_ALERT_REVISION``, ``RINGBREAKER_ALERT_SEVERITY`` and
    ``RINGBREAKER_IDEMPOTENCY_KEY`` in its environment."""

    def __init__(self, command: str, timeout: float = 60.0) -> None:
        if not command.strip():
            raise UsageError("--exec needs a command")
        self.command, self.timeout = command, timeout
        self.key = sink_key(f"exec {command}")
        words = shlex.split(command, posix=True) if command.count("'") % 2 == 0 else command.split()
        self.label = f"exec {os.path.basename(words[0]) if words else '?'}"

    def send(self, doc: dict[str, Any]) -> None:
        env = {
            **os.environ,
            "RINGBREAKER_ALERT_ID": str(doc["id"]),
            "RINGBREAKER_ALERT_REVISION": str(doc["revision"]),
            "RINGBREAKER_ALERT_SEVERITY": str(doc["severity"]),
            "RINGBREAKER_IDEMPOTENCY_KEY": idempotency_key(doc),
        }
        data = (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            done = subprocess.run(
                ["/bin/sh", "-c", self.command],
                input=data,
                stdout=sys.stderr.fileno(),
                env=env,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DeliveryFailed(f"{self.label} ran past {self.timeout:g}s") from None
        except OSError as e:
            raise DeliveryFailed(f"{self.label} did not start: {e.strerror or e}") from None
        if done.returncode != 0:
            raise DeliveryFailed(f"{self.label} exited {done.returncode}")

    def close(self) -> None:
        pass


def render(doc: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The request body: the alert document itself (json), a Slack message (``text`` plus blocks,
    what incoming webhooks and chat.postMessage take) or an Office 365 connector MessageCard (Teams
    incoming webhooks and Workflows' ``MessageCard`` trigger). Both chat forms carry the id and
    revision, so a person can find the alert (``ringbreaker serve``: /alerts/ID)."""
    if fmt == "json":
        return doc
    sev = str(doc["severity"])
    head = f"[{sev.upper()}] {doc['title']}"
    facts = _facts(doc)
    if fmt == "slack":
        return {
            "text": f"{head}: {doc['summary']}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": str(doc["summary"])[:3000]}},
                {
                    "type": "section",
                    "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in facts[:10]],
                },
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"ringbreaker alert `{idempotency_key(doc)}`"}],
                },
            ],
        }
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": head[:200],
        "themeColor": SEVERITY_COLOUR.get(sev, "C5DEF5"),
        "title": head,
        "text": str(doc["summary"]),
        "sections": [{"facts": [{"name": k, "value": v} for k, v in facts]}],
    }


def _facts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = [
        ("Severity", str(doc["severity"])),
        ("Rule", str(doc["rule"])),
        ("Change", f"{doc['change']} (revision {doc['revision']})"),
        ("Hits", str(doc["count"])),
        ("First seen", str(doc["first_seen"])),
        ("Last seen", str(doc["last_seen"])),
    ]
    for name, values in dict(doc.get("entities") or {}).items():
        if values:
            shown = ", ".join(str(v) for v in values[:5]) + (
                f" (+{len(values) - 5})" if len(values) > 5 else ""
            )
            out.append((name.replace("_", " "), shown))
    out.append(("Alert id", str(doc["id"])))
    return out


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : enough to tell webhooks apart, never the token in a path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _agent() -> str:
    from ringbreaker import __version__

    return f"ringbreaker-watch/{__version__}"

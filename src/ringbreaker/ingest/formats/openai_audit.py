"""OpenAI organisation audit log: JSONL or the API's ``{"object": "list", "data": [...]}`` pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_str, get, map_dicts, required

NAME = "openai-audit"


def _time(v: Any) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return datetime.fromtimestamp(v, UTC).isoformat()
    if isinstance(v, str) and v.strip().lstrip("-").replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(v), UTC).isoformat()
    if isinstance(v, str):
        return v
    raise TypeError(f"effective_at is {type(v).__name__}, not a unix time")


def _map(r: dict[str, Any]) -> dict[str, Any]:
    kind = str(required(r, "type"))
    actor: dict[str, Any] = r["actor"] if isinstance(r.get("actor"), dict) else {}
    session = get(actor, "session") or {}
    api_key = get(actor, "api_key") or {}
    who = (
        as_str(get(session, "user", "email"))
        or as_str(get(api_key, "user", "email"))
        or as_str(get(api_key, "id"))
        or as_str(get(session, "user", "id"))
        or as_str(get(api_key, "service_account", "id"))
    )
    payload = r.get(kind)
    key_id = as_str(get(payload, "id")) if kind.startswith("api_key.") else as_str(get(api_key, "id"))
    status = "failure" if kind.endswith(".failed") else "success"
    return {
        "rid": as_str(r.get("id")),
        "time": _time(required(r, "effective_at")),
        "provider": "openai",
        "service": "api.openai.com",
        "operation": kind,
        "category": "audit",
        "status": status,
        "error_code": as_str(get(payload, "error_code")) if status == "failure" else None,
        "actor": who,
        "actor_type": as_str(actor.get("type")),
        "account": as_str(get(r, "project", "id")) or as_str(get(r, "organization", "id")),
        "key_id": key_id,
        "src_ip": as_str(get(session, "ip_address")),
        "user_agent": as_str(get(session, "user_agent")),
    }


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map)


def sniff(rec: dict[str, Any]) -> bool:
    return (
        "effective_at" in rec
        and "type" in rec
        and ("actor" in rec or rec.get("object") == "organization.audit_log")
    )


FORMAT = Format(
    name=NAME,
    provider="openai",
    priority=30,
    sniff=sniff,
    parse=parse,
    fields={
        "type": "operation",
        "actor.type": "actor_type",
        "project.id": "account",
        "actor.session.ip_address": "src_ip",
        "actor.session.user_agent": "user_agent",
    },
    derived={  # {type}: the payload object named after the event type, e.g. api_key.created
        "id": ("id",),
        "time": ("effective_at",),
        "status": ("type",),
        "error_code": ("{type}.error_code",),
        "actor": (
            "actor.session.user.email",
            "actor.api_key.user.email",
            "actor.api_key.id",
            "actor.session.user.id",
            "actor.api_key.service_account.id",
        ),
        "account": ("project.id", "organization.id"),
        "key_id": ("actor.api_key.id", "{type}.id"),
    },
    raw_kept="TRUE",  # few records, and detection rules read them whole
)

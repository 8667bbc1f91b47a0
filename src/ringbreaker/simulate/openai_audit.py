"""OpenAI organisation audit log as JSONL (``openai/audit_log.jsonl``), the Admin API's shape.

Only control-plane events appear (logins, keys, projects); API usage is not in the audit log, so a
stolen admin key shows up as the keys and projects it creates, under an ``api_key`` actor.
"""

from __future__ import annotations

import random
from typing import Any

from ringbreaker.simulate.ids import hexid
from ringbreaker.simulate.sink import APPEND, Sink

FMT = "openai-audit"
PATH = "openai/audit_log.jsonl"


def session_actor(user: tuple[str, str], ip: str, ua: str) -> dict[str, Any]:
    return {
        "type": "session",
        "session": {"user": {"id": user[0], "email": user[1]}, "ip_address": ip, "user_agent": ua},
    }


def key_actor(key_id: str, user: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "api_key",
        "api_key": {"id": key_id, "type": "user", "user": {"id": user[0], "email": user[1]}},
    }


def emit(
    sink: Sink,
    rng: random.Random,
    t: int,
    kind: str,
    actor: dict[str, Any],
    payload: dict[str, Any],
    project: tuple[str, str] | None = None,
) -> None:
    """Queue one audit event of type ``kind`` (api_key.created, login.succeeded, ...)."""
    rec: dict[str, Any] = {"id": "audit_log-" + hexid(rng, 24), "type": kind, "effective_at": t}
    if project:
        rec["project"] = {"id": project[0], "name": project[1]}
    rec["actor"] = actor
    rec[kind] = payload
    sink.add(FMT, PATH, APPEND, t, rec)

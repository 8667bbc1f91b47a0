"""Which log format a file holds, decided from its records' fields (never from the name alone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

FORMATS = (
    "cloudtrail",
    "bedrock-invocation",
    "azure-diagnostics",
    "azure-activity",
    "litellm-spendlogs",
    "openai-audit",
)
DIAGNOSTIC_CATEGORIES = frozenset({"audit", "requestresponse", "trace", "requestresponselogs"})
SAMPLE = 20
AGREED = 5  # this many records in a row of one format decide it (most files hold one format)


def _value(v: Any) -> Any:
    """Azure REST fields come as {value, localizedValue}."""
    return v.get("value") if isinstance(v, dict) else v


def classify(rec: Any) -> str | None:
    """The format of one decoded record, or None."""
    if not isinstance(rec, dict):
        return None
    if rec.get("schemaType") == "ModelInvocationLog":
        return "bedrock-invocation"
    if "eventSource" in rec and "eventName" in rec and ("eventTime" in rec or "eventVersion" in rec):
        return "cloudtrail"
    if (
        "effective_at" in rec
        and "type" in rec
        and ("actor" in rec or rec.get("object") == "organization.audit_log")
    ):
        return "openai-audit"
    if "request_id" in rec and "call_type" in rec:
        return "litellm-spendlogs"
    op = rec.get("operationName")
    if op is not None:
        category = str(_value(rec.get("category")) or "").lower()
        if category in DIAGNOSTIC_CATEGORIES:
            return "azure-diagnostics"
        opv = str(_value(op) or "")
        if (
            category in {"administrative", "policy", "security", "servicehealth", "alert", "autoscale"}
            or "/" in opv
            or "caller" in rec
            or "eventDataId" in rec
            or "claims" in rec
        ):
            return "azure-activity"
    return None


def detect(raws: Sequence[bytes | memoryview | msgspec.Raw]) -> tuple[str | None, str]:
    """(format, why) from the first records that decode: the most common verdict wins; the first
    AGREED records agreeing end the sampling (detection is a per-file cost, for thousands of files)."""
    votes: dict[str, int] = {}
    seen = 0
    for raw in raws[: SAMPLE * 3]:
        try:
            rec = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            continue
        seen += 1
        fmt = classify(rec)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
        if seen >= SAMPLE or (seen == AGREED and len(votes) == 1 and fmt and votes[fmt] == AGREED):
            break
    if not votes:
        if not seen:
            return None, "no JSON records found"
        return None, f"none of {seen} sampled record(s) matches a known format"
    best = max(votes, key=lambda k: votes[k])
    return best, f"{votes[best]} of {seen} sampled record(s)"

"""Azure OpenAI / Cognitive Services diagnostic logs (categories Audit, RequestResponse, Trace).

``properties`` is an object or a JSON string; ``callerIpAddress`` keeps its masked last octet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, map_dicts, required

NAME = "azure-diagnostics"
CATEGORIES = frozenset({"audit", "requestresponse", "trace", "requestresponselogs"})  # lower-cased
_SUB = re.compile(r"/subscriptions/([^/]+)", re.IGNORECASE)
_API = re.compile(r"(\d{4}-\d{2}-\d{2}(?:-preview)?)")
_CATEGORY = {"audit": "audit", "requestresponse": "data", "trace": "data"}


def subscription(resource_id: str | None) -> str | None:
    """The subscription id in an Azure resource id, lower-cased so every source joins on it."""
    if not resource_id:
        return None
    m = _SUB.search(resource_id)
    return m.group(1).lower() if m else None


def value(v: Any) -> Any:
    """Azure REST fields come as {value, localizedValue}."""
    return v.get("value") if isinstance(v, dict) else v


def category(rec: dict[str, Any]) -> str:
    """The record's category, lower-cased ("" when absent), as sniffing compares it."""
    return str(value(rec.get("category")) or "").lower()


def properties(r: dict[str, Any]) -> dict[str, Any]:
    p = r.get("properties")
    if isinstance(p, str):
        p = msgspec.json.decode(p) if p.strip() else {}
    if p is None:
        return {}
    if not isinstance(p, dict):
        raise TypeError("properties is neither an object nor a JSON object string")
    return p


def _status(sig: str | None) -> tuple[str, str | None]:
    if not sig:
        return "unknown", None
    if sig.startswith("2"):
        return "success", None
    return "failure", sig


def _map(r: dict[str, Any]) -> dict[str, Any]:
    p = properties(r)
    time = required(r, "time")
    op = as_str(required(r, "operationName"))
    resource = as_str(r.get("resourceId"))
    sig = as_str(r.get("resultSignature"))
    status, error = _status(sig)
    object_id = as_str(p.get("objectId"))
    api = as_str(p.get("apiVersion")) or as_str(p.get("api-version"))
    if api is None:
        m = _API.search(as_str(p.get("apiName")) or "")
        api = m.group(1) if m else None
    cat = as_str(r.get("category")) or ""
    correlation = as_str(r.get("correlationId"))
    return {
        "rid": f"{correlation}|{time}|{op}|{resource}" if correlation else None,
        "time": time,
        "provider": "azure",
        "service": "Microsoft.CognitiveServices",
        "operation": op,
        "category": _CATEGORY.get(cat.lower(), cat.lower() or None),
        "status": status,
        "error_code": error,
        "actor": object_id,
        "actor_type": "principal" if object_id else "api_key",
        "account": subscription(resource),
        "resource": resource,
        "src_ip": as_str(r.get("callerIpAddress")),
        "user_agent": as_str(p.get("userAgent")),
        "model": as_str(p.get("modelName")) or as_str(p.get("modelDeploymentName")),
        "region": as_str(r.get("location")),
        "api_version": api,
        "request_length": as_int(p.get("requestLength")),
        "response_length": as_int(p.get("responseLength")),
    }


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map)


def sniff(rec: dict[str, Any]) -> bool:
    return rec.get("operationName") is not None and category(rec) in CATEGORIES


FORMAT = Format(
    name=NAME,
    provider="azure",
    priority=50,
    sniff=sniff,
    parse=parse,
    fields={
        "operationName": "operation",
        "resourceId": "resource",
        "callerIpAddress": "src_ip",
        "location": "region",
        "properties.userAgent": "user_agent",
        "properties.objectId": "actor",
        "properties.modelName": "model",
        "properties.apiVersion": "api_version",
    },
    derived={
        "id": ("correlationId", "time", "operationName", "resourceId"),
        "time": ("time",),
        "category": ("category",),
        "status": ("resultSignature",),
        "error_code": ("resultSignature",),
        "actor_type": ("properties.objectId",),
        "account": ("resourceId",),
        "model": ("properties.modelName", "properties.modelDeploymentName"),
        "api_version": ("properties.apiVersion", "properties.api-version", "properties.apiName"),
        "request_length": ("properties.requestLength",),
        "response_length": ("properties.responseLength",),
    },
)

"""Azure Activity Log: diagnostic-settings exports (``records``), Event Hub records and the REST shape
(``operationName`` as ``{value, localizedValue}``, ``value`` list pages).

``raw`` keeps the whole record: detection rules read RAI policy bodies from
``properties.requestbody`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_str, get, map_dicts, required
from ringbreaker.ingest.formats.azure_diagnostics import CATEGORIES, category, subscription, value

NAME = "azure-activity"
_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_SUCCESS = {"success", "succeeded", "ok"}
_FAILURE = {"failure", "failed", "fail", "error"}
_ACTIVITY_CATEGORIES = frozenset(
    {"administrative", "policy", "security", "servicehealth", "alert", "autoscale"}
)


def _claims(r: dict[str, Any]) -> dict[str, Any]:
    c = r.get("claims")
    if not isinstance(c, dict):
        c = get(r, "identity", "claims")
    return c if isinstance(c, dict) else {}


def _status(r: dict[str, Any]) -> tuple[str, str | None]:
    value = as_str(r.get("resultType")) or as_str(r.get("status")) or ""
    v = value.lower()
    if v in _SUCCESS:
        return "success", None
    if v in _FAILURE:
        code = (
            as_str(get(r, "properties", "statusCode"))
            or as_str(r.get("subStatus"))
            or as_str(r.get("resultSignature"))
        )
        return "failure", code
    return "unknown", None


def _map(r: dict[str, Any]) -> dict[str, Any]:
    claims = _claims(r)
    person = as_str(claims.get(_UPN)) or as_str(claims.get(_NAME)) or as_str(claims.get("name"))
    appid = as_str(claims.get("appid"))
    caller = as_str(r.get("caller")) or person or as_str(claims.get(_OID)) or appid
    if person or (caller and "@" in caller):
        actor_type: str | None = "user"
    elif appid or claims.get("idtyp") == "app":
        actor_type = "service_principal"
    else:
        actor_type = None
    time = as_str(r.get("time")) or as_str(r.get("eventTimestamp"))
    if time is None:
        raise KeyError("missing required field 'time' (or 'eventTimestamp')")
    op = as_str(required(r, "operationName")) or ""
    resource = as_str(r.get("resourceId"))
    status, error = _status(r)
    rid = as_str(r.get("eventDataId")) or as_str(r.get("id"))
    if rid is None and r.get("correlationId"):
        rid = f"{r['correlationId']}|{time}|{op}|{as_str(r.get('resultType')) or as_str(r.get('status'))}"
    return {
        "rid": rid,
        "time": time,
        "provider": "azure",
        "service": as_str(r.get("resourceProviderName")) or (op.split("/", 1)[0] if "/" in op else None),
        "operation": op,
        "category": "activity",
        "status": status,
        "error_code": error,
        "actor": caller,
        "actor_type": actor_type,
        "account": as_str(r.get("subscriptionId")) or subscription(resource),
        "resource": resource,
        "src_ip": as_str(r.get("callerIpAddress")) or as_str(get(r, "httpRequest", "clientIpAddress")),
        "region": as_str(r.get("location")),
    }


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map)


def sniff(rec: dict[str, Any]) -> bool:
    op = rec.get("operationName")
    if op is None:
        return False
    cat = category(rec)
    return cat not in CATEGORIES and (
        cat in _ACTIVITY_CATEGORIES
        or "/" in str(value(op) or "")
        or "caller" in rec
        or "eventDataId" in rec
        or "claims" in rec
    )


FORMAT = Format(
    name=NAME,
    provider="azure",
    priority=60,
    sniff=sniff,
    parse=parse,
    # only the paths Sigma's azure/activitylogs rules compare against columns; the rest is derived
    fields={
        "operationName": "operation",
        "caller": "actor",
        "callerIpAddress": "src_ip",
        "resourceId": "resource",
    },
    derived={
        "id": ("eventDataId", "id", "correlationId"),
        "time": ("time", "eventTimestamp"),
        "service": ("resourceProviderName", "operationName"),
        "status": ("resultType", "status"),
        "error_code": ("properties.statusCode", "subStatus", "resultSignature"),
        "actor": ("caller", "claims", "identity.claims"),
        "actor_type": ("claims", "identity.claims"),
        "account": ("subscriptionId", "resourceId"),
        "src_ip": ("callerIpAddress", "httpRequest.clientIpAddress"),
        "region": ("location",),
    },
    sigma=("azure", "activitylogs"),
    # Log Analytics' AzureActivity columns, the names SigmaHQ's rules use for the same fields
    aliases={
        "OperationNameValue": "operationName",
        "Caller": "caller",
        "CallerIpAddress": "callerIpAddress",
        "ResourceId": "resourceId",
    },
    raw_kept="TRUE",  # few records, and detection rules read them whole
)

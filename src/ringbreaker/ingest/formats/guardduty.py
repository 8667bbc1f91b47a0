"""Amazon GuardDuty findings: EventBridge events (``detail-type`` GuardDuty Finding, the finding in
``detail``), S3 exports (JSONL, one finding a line) and JSON arrays of findings.

One row per export of a finding: GuardDuty re-sends a finding when it updates it (``count`` grows,
``updatedAt`` moves), so the id is the finding id with its ``updatedAt`` and ``count``, and rules
group by the finding id. The columns:

- ``operation`` the finding type (``Impact:IAMUser/AnomalousModelInvocation``, ...);
- ``error_code`` the finding's **severity label** (``low`` 1.0-3.9, ``medium`` 4.0-6.9, ``high``
  7.0-8.9, ``critical`` 9.0-10.0, AWS's bands): a finding is no API call, so the column holds the
  one value every rule filters on; the number stays in ``raw`` (``$.severity``), the error code of
  the API call GuardDuty saw in ``$.service.action.awsApiCallAction.errorCode``;
- ``key_id`` / ``key_fingerprint`` the access key in ``resource.accessKeyDetails`` (the fingerprint
  is SHA-256 of the key id, as CloudTrail's and scan's), ``actor`` / ``actor_type`` its userName
  and userType (GuardDuty names no ARN);
- ``src_ip``, ``src_asn``, ``src_org``, ``src_country``, ``user_agent`` from
  ``service.action.awsApiCallAction`` (``remoteIpDetails``);
- ``resource`` the finding ARN, ``category`` ``finding``, ``status`` ``unknown``;
- ``time`` when GuardDuty last saw the activity (``service.eventLastSeen``, else ``updatedAt``).

``raw`` is the finding itself (an EventBridge event's ``detail``), so rules read one shape:
``raw->>'$.severity'``, ``raw->>'$.service.additionalInfo.sample'`` (GuardDuty's generated sample
findings), ``raw->>'$.service.archived'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, get, map_dicts, required

NAME = "guardduty"
SOURCE = "aws.guardduty"


class _Event(msgspec.Struct):
    """The two fields of an EventBridge event that say it carries a finding."""

    source: Any = None
    detail: msgspec.Raw = msgspec.Raw(b"null")


_EVENT = msgspec.json.Decoder(_Event)


def _finding(rec: dict[str, Any]) -> dict[str, Any]:
    """The finding of a record: an EventBridge event's ``detail``, else the record itself."""
    if rec.get("source") == SOURCE and isinstance(rec.get("detail"), dict):
        detail: dict[str, Any] = rec["detail"]
        return detail
    return rec


def severity_label(v: Any) -> str | None:
    """AWS's bands for the numeric severity: low < 4, medium < 7, high < 9, else critical."""
    if v is None or isinstance(v, bool):
        return None
    try:
        s = float(v)
    except (TypeError, ValueError):
        label = str(v).strip().lower()  # some exports already carry the label
        return label if label in ("low", "medium", "high", "critical") else None
    if s < 4:
        return "low"
    if s < 7:
        return "medium"
    if s < 9:
        return "high"
    return "critical"


def _map(r: dict[str, Any]) -> dict[str, Any]:
    f = _finding(r)
    service: dict[str, Any] = f["service"] if isinstance(f.get("service"), dict) else {}
    key = get(f, "resource", "accessKeyDetails") or {}
    call = get(service, "action", "awsApiCallAction") or {}
    remote = get(call, "remoteIpDetails") or {}
    org = get(remote, "organization") or {}
    key_id = as_str(get(key, "accessKeyId"))
    updated = as_str(f.get("updatedAt"))
    return {
        "rid": f"{required(f, 'id')}|{updated}|{as_str(service.get('count'))}",
        "time": as_str(service.get("eventLastSeen")) or updated or required(f, "createdAt"),
        "provider": "aws",
        "service": "guardduty.amazonaws.com",
        "operation": required(f, "type"),
        "category": "finding",
        "status": "unknown",
        "error_code": severity_label(f.get("severity")),
        "actor": as_str(get(key, "userName")),
        "actor_type": as_str(get(key, "userType")),
        "account": as_str(f.get("accountId")) or as_str(r.get("account")),
        "resource": as_str(f.get("arn")),
        "key_id": key_id,
        "key_src": key_id,
        "src_ip": as_str(get(remote, "ipAddressV4")) or as_str(get(remote, "ipAddressV6")),
        "src_asn": as_int(get(org, "asn")),
        "src_org": as_str(get(org, "asnOrg")) or as_str(get(org, "org")),
        "src_country": as_str(get(remote, "country", "countryCode")),
        "user_agent": as_str(get(call, "userAgent")),
        "region": as_str(f.get("region")) or as_str(r.get("region")),
    }


def _unwrap(raw: Raw) -> Raw:
    """The finding's own JSON: an EventBridge event's ``detail`` slice, else the record as read."""
    try:
        event = _EVENT.decode(raw)
    except msgspec.DecodeError:  # already mapped, so valid JSON; keep it as read if not an object
        return raw
    if event.source == SOURCE and bytes(memoryview(event.detail)[:1]) == b"{":
        return event.detail
    return raw


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    parsed = map_dicts(raws, offsets, _map)
    parsed.columns["raw"] = [_unwrap(r) for r in parsed.columns["raw"]]
    return parsed


def _is_finding(rec: Any) -> bool:
    if not isinstance(rec, dict) or "type" not in rec or "severity" not in rec:
        return False
    service = rec.get("service")
    return isinstance(service, dict) and (
        service.get("serviceName") == "guardduty" or ":guardduty:" in str(rec.get("arn") or "")
    )


def sniff(rec: dict[str, Any]) -> bool:
    if rec.get("source") == SOURCE:
        return _is_finding(rec.get("detail"))
    return _is_finding(rec)


FORMAT = Format(
    name=NAME,
    provider="aws",
    priority=70,
    sniff=sniff,
    parse=parse,
    fields={
        "type": "operation",
        "accountId": "account",
        "region": "region",
        "arn": "resource",
        "resource.accessKeyDetails.accessKeyId": "key_id",
        "resource.accessKeyDetails.userName": "actor",
        "resource.accessKeyDetails.userType": "actor_type",
        "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4": "src_ip",
        "service.action.awsApiCallAction.remoteIpDetails.country.countryCode": "src_country",
        "service.action.awsApiCallAction.userAgent": "user_agent",
    },
    derived={
        "id": ("id", "updatedAt", "service.count"),
        "time": ("service.eventLastSeen", "updatedAt", "createdAt"),
        "error_code": ("severity",),
        "key_fingerprint": ("resource.accessKeyDetails.accessKeyId",),
        "src_ip": (
            "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
            "service.action.awsApiCallAction.remoteIpDetails.ipAddressV6",
        ),
        "src_asn": ("service.action.awsApiCallAction.remoteIpDetails.organization.asn",),
        "src_org": (
            "service.action.awsApiCallAction.remoteIpDetails.organization.asnOrg",
            "service.action.awsApiCallAction.remoteIpDetails.organization.org",
        ),
        "account": ("accountId", "account"),
        "region": ("region",),
    },
    raw_kept="TRUE",  # few records, and detection rules read them whole
)

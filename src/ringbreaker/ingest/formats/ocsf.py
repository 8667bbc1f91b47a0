"""OCSF API Activity records (class 6003, OCSF 1.1), as Amazon Security Lake writes its CloudTrail
source: Parquet objects (read row group by row group, see ``_parquet``) or OCSF JSON (JSONL, arrays).
``ringbreaker export``'s events read back the same way.

The column mapping is ``ringbreaker.workspace.ocsf`` (shared with ``export``): ``api.operation`` ->
``operation``, ``src_endpoint.ip`` -> ``src_ip``, ``actor.user.credential_uid`` -> ``key_id`` (and
its SHA-256 ``key_fingerprint``, as CloudTrail's), ... Converted on the way:

- ``time`` epoch milliseconds (or ``time_dt``, or ringbreaker's own export's timestamp);
- ``status`` from ``status_id`` (1 success, 2 failure) or ``status``;
- ``provider`` from ``cloud.provider`` (``AWS`` -> ``aws``; ``aws`` when absent);
- ``account`` ``cloud.account.uid``, else ``actor.user.account.uid``; ``resource`` the first
  ``resources[].uid``;
- ``category`` ``management`` / ``data`` from CloudTrail's feature name (Management, Data events);
- ``model`` ``modelId`` of ``api.request.data`` (Security Lake keeps ``requestParameters`` there as
  JSON text), so Bedrock calls in a lake carry the model as CloudTrail's do.

Security Lake's CloudTrail tables mix API Activity with Account Change (3001) and Authentication
(3002) records of the same shape; those are read too, with the class in ``raw``. Columns that
ringbreaker's export carries as ``unmapped.<column>`` (key fingerprint, tokens, end user, prompt)
are read back into their columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, get, map_dicts
from ringbreaker.workspace import ocsf

NAME = "ocsf"
_PATHS = tuple((path, tuple(path.split(".")), column) for path, column in ocsf.FIELDS if column != "id")
_STATUS = {1: "success", 2: "failure"}
_CATEGORIES = frozenset({"audit", "activity", "finding"})
_UNMAPPED = {
    "key_fingerprint": as_str,
    "tokens_in": as_int,
    "tokens_out": as_int,
    "end_user": as_str,
    "forwarded": lambda v: None,  # only a real boolean counts
    "prompt": as_str,
}


def _time(r: dict[str, Any]) -> str:
    v = r.get("time")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return datetime.fromtimestamp(v / 1000, UTC).isoformat()
    t = as_str(v) or as_str(r.get("time_dt"))
    if t is None:
        raise KeyError("missing required field 'time' (or 'time_dt')")
    if t.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(t) / 1000, UTC).isoformat()
    return t


def _status(r: dict[str, Any]) -> str:
    code = as_int(r.get("status_id"))
    if code in _STATUS:
        return _STATUS[code]
    s = (as_str(r.get("status")) or "").lower()
    return s if s in ("success", "failure") else "unknown"


def _category(r: dict[str, Any]) -> str | None:
    """CloudTrail's feature (Management, Data events) or the category ringbreaker's export wrote."""
    path = ("metadata", "product", "feature", "name")
    feature = (as_str(_at(r, "metadata.product.feature.name", path)) or "").lower()
    if feature.startswith("data"):
        return "data"
    if feature.startswith("management"):
        return "management"
    return feature if feature in _CATEGORIES else None


def _model(r: dict[str, Any]) -> str | None:
    data = _at(r, "api.request.data", ("api", "request", "data"))
    if isinstance(data, str) and "modelId" in data:
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return None
    return as_str(get(data, "modelId")) if isinstance(data, dict) else None


def _resource(r: dict[str, Any]) -> str | None:
    resources = r.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], dict):
        return as_str(resources[0].get("uid"))
    return None


def _at(r: dict[str, Any], dotted: str, path: tuple[str, ...]) -> Any:
    """An attribute as Security Lake nests it (``api`` -> ``operation``), else as ringbreaker's
    export writes it (one flat ``api.operation`` column)."""
    v = get(r, *path)
    return r.get(dotted) if v is None else v


def _map(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {column: _at(r, dotted, path) for dotted, path, column in _PATHS}
    for column in ("operation", "service", "actor", "actor_type", "key_id", "src_ip", "user_agent"):
        out[column] = as_str(out[column])
    out["src_asn"] = as_int(out["src_asn"])
    if not out["operation"]:
        raise KeyError("missing required field 'api.operation'")
    provider = (as_str(_at(r, "cloud.provider", ("cloud", "provider"))) or "aws").lower()
    out.update(
        rid=as_str(_at(r, "metadata.uid", ("metadata", "uid"))),
        time=_time(r),
        provider=ocsf.PROVIDERS.get(provider, provider),
        status=_status(r),
        category=_category(r),
        account=as_str(out["account"])
        or as_str(_at(r, "actor.user.account.uid", ("actor", "user", "account", "uid"))),
        resource=_resource(r),
        key_src=out["key_id"],
        model=_model(r),
    )
    for column in ocsf.UNMAPPED:  # ringbreaker's own export: what OCSF has no attribute for
        v = _at(r, "unmapped." + column, ("unmapped", column))
        out[column] = v if column == "forwarded" and isinstance(v, bool) else _UNMAPPED[column](v)
    if "unmapped.key_fingerprint" in r:  # the export says which key it was, if any: no recomputing
        out["key_src"] = None
    return out


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map)


def sniff(rec: dict[str, Any]) -> bool:
    if rec.get("class_uid") not in ocsf.CLASSES:
        return False
    return (isinstance(rec.get("api"), dict) and "metadata" in rec) or "api.operation" in rec


FORMAT = Format(
    name=NAME,
    provider="aws",
    priority=90,
    sniff=sniff,
    parse=parse,
    fields={path: column for path, column in ocsf.FIELDS if column != "id"},
    derived={
        "id": ("metadata.uid",),
        "time": ocsf.CONVERTED["time"],
        "status": ocsf.CONVERTED["status"],
        "provider": ocsf.CONVERTED["provider"],
        "resource": ocsf.CONVERTED["resource"],
        "account": ("cloud.account.uid", *ocsf.CONVERTED["account"]),
        "category": ocsf.CONVERTED["category"],
        "model": ocsf.CONVERTED["model"],
        "key_fingerprint": ("actor.user.credential_uid",),
    },
)

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
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, map_dicts
from ringbreaker.workspace import ocsf

NAME = "ocsf"
_STATUS = {1: "success", 2: "failure"}
_CATEGORIES = frozenset({"audit", "activity", "finding"})
_UNMAPPED = {
    "key_fingerprint": as_str,
    "tokens_in": as_int,
    "tokens_out": as_int,
    "end_user": as_str,
    "forwarded": lambda v: v if isinstance(v, bool) else None,  # only a real boolean counts
    "prompt": as_str,
}
# Every attribute path the mapping reads, beyond the shared one-to-one FIELDS
_EXTRA = ("cloud.provider", "actor.user.account.uid", "metadata.product.feature.name", "api.request.data")
_READ = tuple(p for p, _ in ocsf.FIELDS) + _EXTRA + tuple(f"unmapped.{c}" for c in ocsf.UNMAPPED)
_TOP = ("time", "time_dt", "status", "status_id", "resources")


def _flat_name(path: str) -> str:
    return "flat_" + path.replace(".", "__")


def _record_type() -> type[msgspec.Struct]:
    """A Struct of exactly the attributes read, nested as OCSF nests them, plus each path as one flat
    field (ringbreaker's export writes ``api.operation`` columns): decoding skips everything else
    unallocated, a few times faster than decoding whole records into dicts."""
    tree: dict[str, Any] = {}
    for path in _READ:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})

    def make(name: str, node: dict[str, Any]) -> type[msgspec.Struct]:
        fields: list[tuple[str, Any, Any]] = []
        for key, sub in node.items():
            fields.append((key, (make(f"{name}_{key}", sub) | None) if sub else Any, None))
        return msgspec.defstruct(name, fields, gc=False, module=__name__)

    nested = make("_Ocsf", tree)
    fields: list[tuple[str, Any, Any]] = [(f, t, None) for f, t, _ in _struct_fields(nested)]
    fields += [(key, Any, None) for key in _TOP]
    fields += [(_flat_name(path), Any, msgspec.UNSET) for path in _READ]
    rename = {_flat_name(path): path for path in _READ}
    return msgspec.defstruct("_Record", fields, gc=False, rename=rename, module=__name__)


def _struct_fields(t: type[msgspec.Struct]) -> list[tuple[str, Any, Any]]:
    return [(f.name, f.type, f.default) for f in msgspec.structs.fields(t)]


_RECORD = _record_type()
_DECODERS = (msgspec.json.Decoder(list[_RECORD]), msgspec.json.Decoder(_RECORD))  # type: ignore[valid-type]
_GETTERS = {path: (tuple(path.split(".")), _flat_name(path)) for path in _READ}


def _at(r: Any, path: str) -> Any:
    """An attribute as Security Lake nests it (``api`` -> ``operation``), else as ringbreaker's
    export writes it (one flat ``api.operation`` column)."""
    names, flat = _GETTERS[path]
    v = r
    for n in names:
        v = getattr(v, n, None)
        if v is None:
            break
    if v is None:
        v = getattr(r, flat)
        return None if v is msgspec.UNSET else v
    return v


def _time(r: Any) -> str:
    v = r.time
    if isinstance(v, int | float) and not isinstance(v, bool):
        return datetime.fromtimestamp(v / 1000, UTC).isoformat()
    t = as_str(v) or as_str(r.time_dt)
    if t is None:
        raise KeyError("missing required field 'time' (or 'time_dt')")
    if t.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(t) / 1000, UTC).isoformat()
    return t


def _status(r: Any) -> str:
    code = as_int(r.status_id)
    if code in _STATUS:
        return _STATUS[code]
    s = (as_str(r.status) or "").lower()
    return s if s in ("success", "failure") else "unknown"


def _category(r: Any) -> str | None:
    """CloudTrail's feature (Management, Data events) or the category ringbreaker's export wrote."""
    feature = (as_str(_at(r, "metadata.product.feature.name")) or "").lower()
    if feature.startswith("data"):
        return "data"
    if feature.startswith("management"):
        return "management"
    return feature if feature in _CATEGORIES else None


def _model(r: Any) -> str | None:
    data = _at(r, "api.request.data")
    if isinstance(data, str) and "modelId" in data:
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return None
    return as_str(data.get("modelId")) if isinstance(data, dict) else None


def _resource(r: Any) -> str | None:
    resources = r.resources
    if isinstance(resources, list) and resources and isinstance(resources[0], dict):
        return as_str(resources[0].get("uid"))
    return None


_ONE_TO_ONE = tuple((path, column) for path, column in ocsf.FIELDS if column != "id")
_TEXT = ("operation", "service", "api_version", "error_code", "actor", "actor_type", "key_id", "account")
_TEXT_MORE = ("region", "src_ip", "src_org", "src_country", "user_agent")


def _map(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {column: _at(r, path) for path, column in _ONE_TO_ONE}
    for column in _TEXT + _TEXT_MORE:
        out[column] = as_str(out[column])
    out["src_asn"] = as_int(out["src_asn"])
    if not out["operation"]:
        raise KeyError("missing required field 'api.operation'")
    provider = (as_str(_at(r, "cloud.provider")) or "aws").lower()
    out.update(
        rid=as_str(_at(r, "metadata.uid")),
        time=_time(r),
        provider=ocsf.PROVIDERS.get(provider, provider),
        status=_status(r),
        category=_category(r),
        account=out["account"] or as_str(_at(r, "actor.user.account.uid")),
        resource=_resource(r),
        key_src=out["key_id"],
        model=_model(r),
    )
    for column in ocsf.UNMAPPED:  # ringbreaker's own export: what OCSF has no attribute for
        out[column] = _UNMAPPED[column](_at(r, "unmapped." + column))
    if getattr(r, _flat_name("unmapped.key_fingerprint")) is not msgspec.UNSET:
        out["key_src"] = None  # the export says which key it was, if any: no recomputing
    return out


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map, _DECODERS)


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

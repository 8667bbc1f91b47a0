"""Google Cloud Audit Logs (Vertex AI and any other service): ``LogEntry`` JSON with an ``AuditLog``
``protoPayload``, as a Cloud Logging sink writes it to Cloud Storage (one entry a line) and as
``gcloud logging read --format=json`` prints it (one JSON array). Admin Activity
(``cloudaudit.googleapis.com%2Factivity``) and Data Access (``%2Fdata_access``) entries alike.

The columns:

- ``id`` from ``logName`` + ``insertId`` (Cloud Logging's own de-duplication key);
- ``service`` ``protoPayload.serviceName`` (``aiplatform.googleapis.com``), ``operation`` its
  ``methodName`` (``google.cloud.aiplatform.v1.PredictionService.GenerateContent``), ``api_version``
  the version segment of that name (``v1``, ``v1beta1``);
- ``status`` from ``protoPayload.status.code`` (absent or 0: success; else failure, with the gRPC
  code's name, ``PERMISSION_DENIED``, ``RESOURCE_EXHAUSTED``, ..., in ``error_code``);
- ``actor`` ``authenticationInfo.principalEmail`` (else ``principalSubject``), ``actor_type``
  ``service_account`` / ``user`` / the subject's kind;
- ``key_id`` the id of the service-account key (the last segment of
  ``authenticationInfo.serviceAccountKeyName``, ``//iam.googleapis.com/.../keys/<40 hex>``), and
  ``key_fingerprint`` its SHA-256: the same fingerprint ``scan`` records for a leaked key file's
  ``private_key_id``, so a leaked Vertex AI key joins its use. The AuditLog schema has no field for
  an API key (Vertex AI express mode): those calls carry no key id;
- ``src_ip`` ``requestMetadata.callerIp`` (only when it is an address: Google writes ``private``
  or ``gce-internal-ip`` for internal callers), ``user_agent`` its ``callerSuppliedUserAgent``;
- ``model`` the ``.../models/<id>`` of ``resourceName``, ``request.model``, ``request.endpoint`` or
  ``request.setup.model``; ``resource`` ``resourceName``;
- ``region`` ``resource.labels.location``, else the ``locations/<loc>`` of ``resourceName``;
- ``account`` the project: ``resource.labels.project_id``, else the one ``logName`` names;
- ``category`` ``management`` (Admin Activity, System Event), ``data`` (Data Access), ``audit``
  (Policy Denied).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, map_dicts, required

NAME = "gcp-audit"
AUDIT_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
# google.rpc.Code: the numbers AuditLog.status.code carries, by name
GRPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
_CATEGORY = {
    "activity": "management",
    "system_event": "management",
    "data_access": "data",
    "policy": "audit",
}


class _Auth(msgspec.Struct, gc=False):
    principalEmail: Any = None
    principalSubject: Any = None
    serviceAccountKeyName: Any = None


class _Meta(msgspec.Struct, gc=False):
    callerIp: Any = None
    callerSuppliedUserAgent: Any = None


class _Status(msgspec.Struct, gc=False):
    code: Any = None


class _Request(msgspec.Struct, gc=False):
    model: Any = None
    endpoint: Any = None
    setup: Any = None


class _Payload(msgspec.Struct, gc=False):
    methodName: Any = None
    serviceName: Any = None
    resourceName: Any = None
    status: _Status | None = None
    authenticationInfo: _Auth | None = None
    requestMetadata: _Meta | None = None
    request: _Request | None = None


class _Labels(msgspec.Struct, gc=False):
    project_id: Any = None
    location: Any = None


class _Resource(msgspec.Struct, gc=False):
    labels: _Labels | None = None


class _Entry(msgspec.Struct, gc=False):
    """The fields of a LogEntry the mapping reads; decoding skips the rest unallocated."""

    protoPayload: _Payload
    timestamp: Any = None
    insertId: Any = None
    logName: Any = None
    resource: _Resource | None = None


_DECODERS = (msgspec.json.Decoder(list[_Entry]), msgspec.json.Decoder(_Entry))
_NO_AUTH, _NO_META, _NO_REQUEST, _NO_LABELS = _Auth(), _Meta(), _Request(), _Labels()


def _segment_after(path: str | None, key: str) -> str | None:
    """The path segment after ``key/`` (``locations``, ``models``, ``keys``) in a resource name."""
    if not path:
        return None
    parts = path.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == key and parts[i + 1]:
            return parts[i + 1]
    return None


def _model(payload: _Payload) -> str | None:
    request = payload.request or _NO_REQUEST
    setup = request.setup
    for path in (
        as_str(payload.resourceName),
        as_str(request.model),
        as_str(request.endpoint),
        as_str(setup.get("model")) if isinstance(setup, dict) else None,
    ):
        model = _segment_after(path, "models")
        if model:
            return model
    return None


def _address(v: Any) -> str | None:
    """callerIp when it is an address: Google writes ``private`` or ``gce-internal-ip`` (words) for
    internal callers, so an IPv4 (a digit first) or IPv6 (a colon) shape is enough to tell."""
    s = as_str(v)
    if not s or not (s[0].isdigit() or ":" in s) or " " in s:
        return None
    return s


def _actor(auth: _Auth) -> tuple[str | None, str | None]:
    email = as_str(auth.principalEmail)
    subject = as_str(auth.principalSubject)
    actor = email or subject
    if email and email.endswith(".gserviceaccount.com"):
        return actor, "service_account"
    if email and "@" in email:
        return actor, "user"
    if subject and ":" in subject:
        kind = subject.split(":", 1)[0]  # serviceAccount:, user:, principal://...
        return actor, {"serviceAccount": "service_account"}.get(kind, kind)
    return actor, None


def _status(payload: _Payload) -> tuple[str, str | None]:
    code = as_int(payload.status.code) if payload.status is not None else None
    if not code:
        return "success", None
    return "failure", GRPC_CODES.get(code, str(code))


def _log_kind(log_name: str | None) -> str | None:
    """``activity``, ``data_access``, ... from ``projects/P/logs/cloudaudit.googleapis.com%2F<kind>``."""
    if not log_name:
        return None
    tail = log_name.rsplit("/", 1)[-1]
    for sep in ("%2F", "%2f", "/"):
        if sep in tail:
            return tail.rsplit(sep, 1)[-1]
    return None


def _map(r: _Entry) -> dict[str, Any]:
    payload = r.protoPayload
    auth = payload.authenticationInfo or _NO_AUTH
    meta = payload.requestMetadata or _NO_META
    labels = (r.resource.labels if r.resource is not None else None) or _NO_LABELS
    log_name = as_str(r.logName)
    insert_id = as_str(r.insertId)
    method = as_str(required(payload, "methodName"))
    resource_name = as_str(payload.resourceName)
    key_id = _segment_after(as_str(auth.serviceAccountKeyName), "keys")
    actor, actor_type = _actor(auth)
    status, error = _status(payload)
    version = next((p for p in (method or "").split(".") if p[:1] == "v" and p[1:2].isdigit()), None)
    return {
        "rid": f"{log_name}|{insert_id}" if insert_id else None,
        "time": as_str(required(r, "timestamp")),
        "provider": "gcp",
        "service": as_str(payload.serviceName),
        "operation": method,
        "category": _CATEGORY.get(_log_kind(log_name) or ""),
        "status": status,
        "error_code": error,
        "actor": actor,
        "actor_type": actor_type,
        "account": as_str(labels.project_id) or _segment_after(log_name, "projects"),
        "resource": resource_name,
        "key_id": key_id,
        "key_src": key_id,
        "src_ip": _address(meta.callerIp),
        "user_agent": as_str(meta.callerSuppliedUserAgent),
        "model": _model(payload),
        "region": as_str(labels.location) or _segment_after(resource_name, "locations"),
        "api_version": version,
    }


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map, _DECODERS)


def sniff(rec: dict[str, Any]) -> bool:
    payload = rec.get("protoPayload")
    if not isinstance(payload, dict) or "methodName" not in payload or "timestamp" not in rec:
        return False
    return payload.get("@type") == AUDIT_TYPE or "cloudaudit.googleapis.com" in str(rec.get("logName") or "")


FORMAT = Format(
    name=NAME,
    provider="gcp",
    priority=80,
    sniff=sniff,
    parse=parse,
    fields={
        "protoPayload.serviceName": "service",
        "protoPayload.methodName": "operation",
        "protoPayload.resourceName": "resource",
        "protoPayload.requestMetadata.callerSuppliedUserAgent": "user_agent",
        "resource.labels.project_id": "account",
        "resource.labels.location": "region",
    },
    derived={
        "id": ("logName", "insertId"),
        "time": ("timestamp",),
        "category": ("logName",),
        "status": ("protoPayload.status.code",),
        "error_code": ("protoPayload.status.code",),
        "actor": (
            "protoPayload.authenticationInfo.principalEmail",
            "protoPayload.authenticationInfo.principalSubject",
        ),
        "actor_type": (
            "protoPayload.authenticationInfo.principalEmail",
            "protoPayload.authenticationInfo.principalSubject",
        ),
        "key_id": ("protoPayload.authenticationInfo.serviceAccountKeyName",),
        "key_fingerprint": ("protoPayload.authenticationInfo.serviceAccountKeyName",),
        "src_ip": ("protoPayload.requestMetadata.callerIp",),
        "model": (
            "protoPayload.resourceName",
            "protoPayload.request.model",
            "protoPayload.request.endpoint",
            "protoPayload.request.setup.model",
        ),
        "region": ("resource.labels.location", "protoPayload.resourceName"),
        "account": ("resource.labels.project_id", "logName"),
        "api_version": ("protoPayload.methodName",),
    },
    sigma=("gcp", "gcp.audit"),
)

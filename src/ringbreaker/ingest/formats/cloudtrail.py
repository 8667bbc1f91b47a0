"""AWS CloudTrail: S3 ``{"Records": [...]}`` files, JSON arrays and NDJSON exports.

The hot path: one typed msgspec decode per chunk (Structs without GC tracking), one C-level pass
that turns the records into columns (``attrgetter`` + ``zip``), and three short comprehensions for
the derived columns (status, category, account). One code path for every file size: a second,
Arrow-compute version of the derived columns saved under 1 µs per event and could drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, decode_chunk

NAME = "cloudtrail"


class Identity(msgspec.Struct, gc=False):
    type: str | None = None
    arn: str | None = None
    accountId: str | None = None
    accessKeyId: str | None = None
    principalId: str | None = None
    invokedBy: str | None = None


class Params(msgspec.Struct, gc=False):
    modelId: str | None = None


class Record(msgspec.Struct, gc=False):
    eventTime: str
    eventName: str
    eventSource: str | None = None
    eventID: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    managementEvent: bool | None = None
    eventCategory: str | None = None
    recipientAccountId: str | None = None
    userIdentity: Identity | None = None
    requestParameters: Params | None = None
    sessionCredentialFromConsole: Any = None  # "true" (a string) for console sessions


_MANY = msgspec.json.Decoder(list[Record])
_ONE = msgspec.json.Decoder(Record)
_NO_ID = Identity()
_NO_PARAMS = Params()
_RECORD = attrgetter(
    "eventID",
    "eventTime",
    "eventSource",
    "eventName",
    "errorCode",
    "sourceIPAddress",
    "userAgent",
    "awsRegion",
    "recipientAccountId",
    "managementEvent",
    "eventCategory",
)
_IDENTITY = attrgetter("arn", "type", "accountId", "accessKeyId")
_IDENTITY_OF = attrgetter("userIdentity")
_PARAMS_OF = attrgetter("requestParameters")
_MODEL = attrgetter("modelId")
_CONSOLE = attrgetter("sessionCredentialFromConsole")


def _console(v: Any) -> bool:
    """CloudTrail writes "true" as a string; a boolean true (some exports) counts the same."""
    return v is not None and str(v).lower() == "true"


def _category(management: bool | None, category: str | None) -> str | None:
    if management is True:
        return "management"
    if management is False or category == "Data":
        return "data"
    if category == "Management":
        return "management"
    return None


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[Sequence[Any]]:
    """Transpose per-record tuples into per-column sequences (in C: zip)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    recs, offs, rws, bad = decode_chunk(raws, offsets, _MANY, _ONE)
    n = len(recs)
    (rid, time, service, operation, error_code, src_ip, user_agent, region, recipient, mgmt, ecat) = _columns(
        list(map(_RECORD, recs)), 11
    )
    ids = [i or _NO_ID for i in map(_IDENTITY_OF, recs)]
    actor, actor_type, id_account, key_id = _columns(list(map(_IDENTITY, ids)), 4)
    params = [p or _NO_PARAMS for p in map(_PARAMS_OF, recs)]
    model = list(map(_MODEL, params))

    return Parsed(
        {
            "rid": rid,
            "time": time,
            "provider": ["aws"] * n,
            "service": service,
            "operation": operation,
            "category": [_category(m, c) for m, c in zip(mgmt, ecat, strict=True)],
            "status": ["success" if e is None else "failure" for e in error_code],
            "error_code": error_code,
            "actor": actor,
            "actor_type": actor_type,
            "account": [r or a for r, a in zip(recipient, id_account, strict=True)],
            "key_id": key_id,
            "key_src": key_id,
            "src_ip": src_ip,
            "user_agent": user_agent,
            "model": model,
            "region": region,
            "console": [_console(v) for v in map(_CONSOLE, recs)],
            "source_offset": offs,
            "raw": rws,
        },
        n,
        bad,
    )


def sniff(rec: dict[str, Any]) -> bool:
    return "eventSource" in rec and "eventName" in rec and ("eventTime" in rec or "eventVersion" in rec)


FORMAT = Format(
    name=NAME,
    provider="aws",
    priority=20,
    sniff=sniff,
    parse=parse,
    fields={
        "eventSource": "service",
        "eventName": "operation",
        "awsRegion": "region",
        "sourceIPAddress": "src_ip",
        "userAgent": "user_agent",
        "errorCode": "error_code",
        "userIdentity.arn": "actor",
        "userIdentity.type": "actor_type",
        "userIdentity.accountId": "account",
        "recipientAccountId": "account",
        "userIdentity.accessKeyId": "key_id",
        "requestParameters.modelId": "model",
    },
    derived={
        "id": ("eventID",),
        "time": ("eventTime",),
        "status": ("errorCode",),
        "category": ("managementEvent", "eventCategory"),
        "key_fingerprint": ("userIdentity.accessKeyId",),
        "console": ("sessionCredentialFromConsole",),
    },
    sigma=("aws", "cloudtrail"),
    # the model calls are nearly all of the volume and no rule reads their record; the control-plane
    # calls (logging, guardrails, model access, IAM) are read by a dozen rules
    raw_kept="b.operation NOT IN ('InvokeModel', 'InvokeModelWithResponseStream', "
    "'InvokeModelWithBidirectionalStream', 'Converse', 'ConverseStream', 'CountTokens', 'ApplyGuardrail')",
)

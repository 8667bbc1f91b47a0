"""AWS CloudTrail: S3 ``{"Records": [...]}`` files, JSON arrays and NDJSON exports.

The hot path: one typed msgspec decode per chunk (Structs without GC tracking), one C-level pass
that turns the records into columns (``attrgetter`` + ``zip``), and the derived columns (status,
category, account) computed on the Arrow arrays rather than per record in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Raw, decode_chunk

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


VECTOR_MIN = 1024  # records in a chunk from which derived columns are computed with Arrow compute


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


def _empty_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a)


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

    if n < VECTOR_MIN:  # a small file: per-call overhead of Arrow compute outweighs the loop
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
                "source_offset": offs,
                "raw": rws,
            },
            n,
            bad,
        )
    str_ = pa.string()
    err = pa.array(error_code, str_)
    status = pc.if_else(pc.is_null(err), "success", "failure")
    # category: managementEvent true -> management; false, or eventCategory Data -> data;
    # eventCategory Management -> management; else NULL
    m = pa.array(mgmt, pa.bool_())
    c = pa.array(ecat, str_)
    null_s = pa.scalar(None, str_)
    from_cat = pc.if_else(
        pc.fill_null(pc.equal(c, "Data"), False),
        "data",
        pc.if_else(pc.fill_null(pc.equal(c, "Management"), False), "management", null_s),
    )
    category = pc.if_else(
        pc.fill_null(m, False),
        "management",
        pc.if_else(pc.fill_null(pc.invert(m), False), "data", from_cat),
    )
    # account: recipientAccountId, else (when missing or empty) userIdentity.accountId
    account = pc.coalesce(_empty_to_null(pa.array(recipient, str_)), pa.array(id_account, str_))
    keys = pa.array(key_id, str_)
    cols: dict[str, Any] = {
        "rid": rid,
        "time": time,
        "provider": pa.repeat(pa.scalar("aws", str_), n),
        "service": service,
        "operation": operation,
        "category": category,
        "status": status,
        "error_code": err,
        "actor": actor,
        "actor_type": actor_type,
        "account": account,
        "key_id": keys,
        "key_src": keys,
        "src_ip": src_ip,
        "user_agent": user_agent,
        "model": model,
        "region": region,
        "source_offset": offs,
        "raw": rws,
    }
    return Parsed(cols, n, bad)

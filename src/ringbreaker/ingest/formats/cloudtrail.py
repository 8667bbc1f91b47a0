"""AWS CloudTrail: S3 ``{"Records": [...]}`` files, JSON arrays and NDJSON exports.

The hot path: one typed msgspec decode per chunk and one list comprehension per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Raw, decode_chunk

NAME = "cloudtrail"


class Identity(msgspec.Struct):
    type: str | None = None
    arn: str | None = None
    accountId: str | None = None
    accessKeyId: str | None = None
    principalId: str | None = None
    invokedBy: str | None = None


class Params(msgspec.Struct):
    modelId: str | None = None


class Record(msgspec.Struct):
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


def _category(r: Record) -> str | None:
    if r.managementEvent is True:
        return "management"
    if r.managementEvent is False or r.eventCategory == "Data":
        return "data"
    if r.eventCategory == "Management":
        return "management"
    return None


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    recs, offs, rws, bad = decode_chunk(raws, offsets, _MANY, _ONE)
    ids = [r.userIdentity or _NO_ID for r in recs]
    params = [r.requestParameters or _NO_PARAMS for r in recs]
    n = len(recs)
    cols: dict[str, list[Any]] = {
        "rid": [r.eventID for r in recs],
        "time": [r.eventTime for r in recs],
        "provider": ["aws"] * n,
        "service": [r.eventSource for r in recs],
        "operation": [r.eventName for r in recs],
        "category": [_category(r) for r in recs],
        "status": ["success" if r.errorCode is None else "failure" for r in recs],
        "error_code": [r.errorCode for r in recs],
        "actor": [i.arn for i in ids],
        "actor_type": [i.type for i in ids],
        "account": [r.recipientAccountId or i.accountId for r, i in zip(recs, ids, strict=True)],
        "key_id": [i.accessKeyId for i in ids],
        "key_src": [i.accessKeyId for i in ids],
        "src_ip": [r.sourceIPAddress for r in recs],
        "user_agent": [r.userAgent for r in recs],
        "model": [p.modelId for p in params],
        "region": [r.awsRegion for r in recs],
        "source_offset": offs,
        "raw": rws,
    }
    return Parsed(cols, n, bad)

"""Amazon Bedrock model invocation logs (schemaType ModelInvocationLog), from S3 or CloudWatch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Format, Raw, as_int, as_str, get, map_dicts, required
from ringbreaker.ingest.formats._text import prompt_text

NAME = "bedrock-invocation"


def arn_type(arn: str | None) -> str | None:
    """IAMUser, AssumedRole, Root, ... from the shape of an ARN (invocation logs carry only the ARN)."""
    if not arn:
        return None
    if ":assumed-role/" in arn:
        return "AssumedRole"
    if ":user/" in arn:
        return "IAMUser"
    if arn.endswith(":root"):
        return "Root"
    if ":role/" in arn:
        return "Role"
    if ":federated-user/" in arn:
        return "FederatedUser"
    return None


_ABSENT = msgspec.Raw(b"null")


class Output(msgspec.Struct, gc=False):
    outputTokenCount: Any = None


class Record(msgspec.Struct, gc=False):
    """The fields read here. ``output`` (the model's whole answer) stays an undecoded slice and
    only its token count is read from it: decoding the answers cost a third of the parse."""

    timestamp: Any = None
    operation: Any = None
    requestId: Any = None
    accountId: Any = None
    modelId: Any = None
    region: Any = None
    errorCode: Any = None
    identity: Any = None
    input: Any = None
    output: msgspec.Raw = _ABSENT


_DECODERS = (msgspec.json.Decoder(list[Record]), msgspec.json.Decoder(Record))
_OUTPUT = msgspec.json.Decoder(Output)


def _output_tokens(raw: msgspec.Raw) -> int | None:
    try:
        return as_int(_OUTPUT.decode(raw).outputTokenCount)
    except msgspec.ValidationError:  # absent, null or not an object: no count
        return None


def _map(r: Record) -> dict[str, Any]:
    arn = as_str(get(r.identity, "arn"))
    error = as_str(r.errorCode)
    body = get(r.input, "inputBodyJson")
    return {
        "rid": as_str(r.requestId),
        "time": required(r, "timestamp"),
        "provider": "aws",
        "service": "bedrock.amazonaws.com",
        "operation": required(r, "operation"),
        "category": "data",
        "status": "failure" if error else "success",
        "error_code": error,
        "actor": arn,
        "actor_type": arn_type(arn),
        "account": as_str(r.accountId),
        "model": as_str(r.modelId),
        "region": as_str(r.region),
        "tokens_in": as_int(get(r.input, "inputTokenCount")),
        "tokens_out": _output_tokens(r.output),
        "prompt": prompt_text(body) if body is not None else None,
    }


# Guardrail markers, searched in the record's own JSON text (a prompt that quotes one is escaped
# there as \\" and does not match). Migration 10 fills older rows with the same two patterns.
_INTERVENED = re.compile(
    rb'"amazon-bedrock-guardrailAction"\s*:\s*"INTERVENED"|"stopReason"\s*:\s*"guardrail_intervened"'
)
_GUARDED = re.compile(rb'"guardrailConfig"|"amazon-bedrock-guardrailAction"|"guardrail_intervened"')


def guardrail(raw: Raw) -> str:
    """intervened (the guardrail blocked or masked), applied (a guardrail ran), or none."""
    if _INTERVENED.search(raw):
        return "intervened"
    return "applied" if _GUARDED.search(raw) else "none"


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    parsed = map_dicts(raws, offsets, _map, _DECODERS)
    parsed.columns["guardrail"] = [guardrail(r) for r in parsed.columns.get("raw", ())]
    return parsed


def sniff(rec: dict[str, Any]) -> bool:
    return rec.get("schemaType") == "ModelInvocationLog"


FORMAT = Format(
    name=NAME,
    provider="aws",
    priority=10,
    sniff=sniff,
    parse=parse,
    fields={
        "operation": "operation",
        "accountId": "account",
        "modelId": "model",
        "region": "region",
        "errorCode": "error_code",
        "identity.arn": "actor",
    },
    derived={
        "id": ("requestId",),
        "time": ("timestamp",),
        "status": ("errorCode",),
        "actor_type": ("identity.arn",),
        "tokens_in": ("input.inputTokenCount",),
        "tokens_out": ("output.outputTokenCount",),
        "prompt": ("input.inputBodyJson",),
        "guardrail": (
            "input.inputBodyJson.guardrailConfig",
            "output.outputBodyJson.amazon-bedrock-guardrailAction",
            "output.outputBodyJson.stopReason",
        ),
    },
)

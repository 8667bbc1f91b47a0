"""Amazon Bedrock model invocation logs (schemaType ModelInvocationLog), from S3 or CloudWatch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ringbreaker.ingest.columns import Parsed
from ringbreaker.ingest.formats import Raw, as_int, as_str, get, map_dicts, required
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


def _map(r: dict[str, Any]) -> dict[str, Any]:
    arn = as_str(get(r, "identity", "arn"))
    error = as_str(r.get("errorCode"))
    body = get(r, "input", "inputBodyJson")
    return {
        "rid": as_str(r.get("requestId")),
        "time": required(r, "timestamp"),
        "provider": "aws",
        "service": "bedrock.amazonaws.com",
        "operation": required(r, "operation"),
        "category": "data",
        "status": "failure" if error else "success",
        "error_code": error,
        "actor": arn,
        "actor_type": arn_type(arn),
        "account": as_str(r.get("accountId")),
        "model": as_str(r.get("modelId")),
        "region": as_str(r.get("region")),
        "tokens_in": as_int(get(r, "input", "inputTokenCount")),
        "tokens_out": as_int(get(r, "output", "outputTokenCount")),
        "prompt": prompt_text(body) if body is not None else None,
    }


def parse(raws: Sequence[Raw], offsets: Sequence[int]) -> Parsed:
    return map_dicts(raws, offsets, _map)

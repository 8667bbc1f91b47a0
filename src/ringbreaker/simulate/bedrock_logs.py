"""Bedrock model invocation logs (S3 delivery): gzipped NDJSON, one record per model call.

Layout: ``aws/bedrock-invocation/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/
HH/<file>.json.gz``. These are the only AWS records that carry the prompt (``input.inputBodyJson``),
which is why rings delete the logging configuration and why one victim keeps it in this world.
Record shape follows the public samples (elastic/integrations aws_bedrock pipeline tests).
"""

from __future__ import annotations

import random
import time
from typing import Any

from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.sink import GZ_LINES, Sink
from ringbreaker.simulate.timefmt import iso

FMT = "bedrock-invocation"


def path(account: str, region: str, t: int, sink: Sink) -> str:
    g = time.gmtime(t)
    hour = time.strftime("%Y/%m/%d/%H", g)
    stamp = time.strftime("%Y%m%dT%H0000Z", g)
    name = f"{stamp}_{sink.suffix('bil', account, region, stamp)}.json.gz"
    return f"aws/bedrock-invocation/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{hour}/{name}"


def emit(
    sink: Sink,
    rng: random.Random,
    t: int,
    account: str,
    arn: str,
    region: str,
    model: str,
    prompt: str,
    reply: str,
    tokens_in: int,
    tokens_out: int,
    operation: str = "InvokeModel",
) -> None:
    """Queue one invocation record with its prompt and reply."""
    body_in: dict[str, Any] = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": rng.choice([512, 1024, 2000, 4096]),
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    }
    body_out: dict[str, Any] = {
        "id": "msg_bdrk_" + hexid(rng, 24),
        "type": "message",
        "role": "assistant",
        "model": model.split(".", 1)[-1].rsplit("-v", 1)[0],
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }
    rec = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": iso(t),
        "accountId": account,
        "identity": {"arn": arn},
        "region": region,
        "requestId": uuid4(rng),
        "operation": operation,
        "modelId": model,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": body_in,
            "inputTokenCount": tokens_in,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": body_out,
            "outputTokenCount": tokens_out,
        },
    }
    sink.add(FMT, path(account, region, t, sink), GZ_LINES, t, rec)

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

import numpy as np

from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.sink import GZ_LINES, Sink
from ringbreaker.simulate.template import Clock, Rand, Template, s, table, v
from ringbreaker.simulate.timefmt import iso

FMT = "bedrock-invocation"
MAX_TOKENS = [512, 1024, 2000, 4096]
MAX_TOKENS_T = table(MAX_TOKENS)


def path(account: str, region: str, t: int, sink: Sink) -> str:
    g = time.gmtime(t)
    hour = time.strftime("%Y/%m/%d/%H", g)
    stamp = time.strftime("%Y%m%dT%H0000Z", g)
    name = f"{stamp}_{sink.suffix('bil', account, region, stamp)}.json.gz"
    return f"aws/bedrock-invocation/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{hour}/{name}"


def record(
    t: str,
    account: str,
    arn: str,
    region: str,
    model: str,
    model_short: str,
    prompt: str,
    reply: str,
    tokens_in: Any,
    tokens_out: Any,
    operation: str,
    max_tokens: Any,
    request_id: str,
    message_id: str,
) -> dict[str, Any]:
    """One invocation record with its prompt and reply (``t`` already formatted)."""
    body_in: dict[str, Any] = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    }
    body_out: dict[str, Any] = {
        "id": "msg_bdrk_" + message_id,
        "type": "message",
        "role": "assistant",
        "model": model_short,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": t,
        "accountId": account,
        "identity": {"arn": arn},
        "region": region,
        "requestId": request_id,
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


def short_model(model: str) -> str:
    """The model name inside the response body: ``claude-3-haiku-20240307`` for its Bedrock id."""
    return model.split(".", 1)[-1].rsplit("-v", 1)[0]


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
    max_tokens = rng.choice(MAX_TOKENS)
    message_id = hexid(rng, 24)
    rec = record(
        iso(t),
        account,
        arn,
        region,
        model,
        short_model(model),
        prompt,
        reply,
        tokens_in,
        tokens_out,
        operation,
        max_tokens,
        uuid4(rng),
        message_id,
    )
    sink.add(FMT, path(account, region, t, sink), GZ_LINES, t, rec)


def template(account: str, arn: str, region: str) -> Template:
    """An invocation by ``arn`` in ``region``; time, model, prompt, reply, tokens and ids are holes."""
    return Template(
        record(
            s("time") + "Z",
            account,
            arn,
            region,
            s("model"),
            s("short"),
            v("prompt", "s"),
            v("reply", "s"),
            v("tin"),
            v("tout"),
            s("op"),
            v("max"),
            s("rid"),
            s("mid"),
        )
    )


def emit_batch(
    sink: Sink,
    tmpl: Template,
    rs: Rand,
    clock: Clock,
    account: str,
    region: str,
    t: np.ndarray,
    cols: dict[str, Any],
) -> None:
    """Queue a batch of invocations of one hour (``cols``: model, short, prompt, reply, tin, tout, op)."""
    n = len(t)
    if not n:
        return
    cols = {
        **cols,
        "time": clock.seconds(t).tolist(),
        "max": MAX_TOKENS_T[rs.g.integers(0, len(MAX_TOKENS), n)].tolist(),
        "rid": rs.uuids(n),
        "mid": rs.hex24(n),
    }
    sink.add_many(FMT, path(account, region, int(t[0]), sink), GZ_LINES, t, tmpl.fill(cols))

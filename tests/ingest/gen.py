"""Generated CloudTrail in the S3 shape, realistic in size (~1 KB a record), for the large-file tests
and the throughput measurement. Deterministic per seed."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from pathlib import Path
from typing import Any

OPS = (
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "Converse",
    "ListFoundationModels",
    "GetModelInvocationLoggingConfiguration",
)
MODELS = (
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-opus-20240229-v1:0",
)


def record(rng: random.Random, i: int) -> dict[str, Any]:
    op = OPS[i % len(OPS)]
    account = f"{rng.randrange(10**11, 10**12)}"
    key = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDA" + key[4:],
            "arn": f"arn:aws:iam::{account}:user/svc-{i % 97}",
            "accountId": account,
            "accessKeyId": key,
            "userName": f"svc-{i % 97}",
        },
        "eventTime": f"2024-07-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z",
        "eventSource": "bedrock.amazonaws.com",
        "eventName": op,
        "awsRegion": rng.choice(("us-east-1", "us-west-2", "eu-central-1")),
        "sourceIPAddress": ".".join(str(rng.randrange(1, 223)) for _ in range(4)),
        "userAgent": "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#6.5.0 md/arch#x86_64 "
        "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
        "requestParameters": {"modelId": rng.choice(MODELS)} if op.startswith(("Invoke", "Conv")) else None,
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": op.startswith(("List", "Get")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "bedrock-runtime.us-east-1.amazonaws.com",
        },
    }
    if i % 11 == 0:
        rec["errorCode"] = "ValidationException"
        rec["errorMessage"] = "Malformed input request: #: extraneous key [max_tokens] is not permitted"
    return rec


def write_records(path: Path, n: int, *, seed: int = 7) -> Path:
    """A gzipped ``{"Records": [...]}`` file of ``n`` generated events."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write('{"Records":[')
        for i in range(n):
            if i:
                f.write(",")
            f.write(json.dumps(record(rng, i), separators=(",", ":")))
        f.write("]}")
    return path

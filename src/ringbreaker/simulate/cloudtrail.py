"""CloudTrail records in the S3 delivery layout.

Files: ``aws/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<end
of 15-minute window>_<16 alnum>.json.gz``, each a gzipped ``{"Records": [...]}``, as CloudTrail
delivers them (it batches roughly every five to fifteen minutes per region). Bedrock runtime calls
(InvokeModel, Converse, ...) are management events with the model id but no prompt.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ringbreaker.simulate.ids import uuid4
from ringbreaker.simulate.sink import GZ, Sink
from ringbreaker.simulate.timefmt import iso

FMT = "cloudtrail"
WINDOW = 900
_HOSTS = {
    "sts.amazonaws.com": "sts.amazonaws.com",
    "bedrock.amazonaws.com": "bedrock.{region}.amazonaws.com",
}
RUNTIME = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
_WRITE = {
    "PutUseCaseForModelAccess",
    "CreateFoundationModelAgreement",
    "PutFoundationModelEntitlement",
    "DeleteModelInvocationLoggingConfiguration",
    "PutModelInvocationLoggingConfiguration",
    "DeleteGuardrail",
    "UpdateGuardrail",
}


def path(account: str, region: str, t: int, sink: Sink) -> str:
    end = (t // WINDOW + 1) * WINDOW
    g = time.gmtime(end)
    stamp = time.strftime("%Y%m%dT%H%MZ", g)
    day = time.strftime("%Y/%m/%d", time.gmtime(t))
    name = f"{account}_CloudTrail_{region}_{stamp}_{sink.suffix(account, region, stamp)}.json.gz"
    return f"aws/AWSLogs/{account}/CloudTrail/{region}/{day}/{name}"


def emit(
    sink: Sink,
    rng: random.Random,
    t: int,
    identity: dict[str, Any],
    source: str,
    name: str,
    region: str,
    ip: str,
    ua: str,
    *,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Queue one API call as CloudTrail records it."""
    account = identity["accountId"]
    host = "bedrock-runtime.{region}.amazonaws.com" if name in RUNTIME else _HOSTS[source]
    rec: dict[str, Any] = {
        "eventVersion": "1.09" if source == "bedrock.amazonaws.com" else "1.08",
        "userIdentity": identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = params
    rec["responseElements"] = response
    if source == "bedrock.amazonaws.com":
        rec["additionalEventData"] = {"callWithBearerToken": False}
    rec.update(
        requestID=uuid4(rng),
        eventID=uuid4(rng),
        readOnly=name not in _WRITE,
        eventType="AwsApiCall",
        managementEvent=True,
        recipientAccountId=account,
        eventCategory="Management",
        tlsDetails={
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host.format(region=region),
        },
    )
    sink.add(FMT, path(account, region, t, sink), GZ, t, rec)

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

import numpy as np

from ringbreaker.simulate.ids import uuid4
from ringbreaker.simulate.sink import GZ, Sink
from ringbreaker.simulate.template import Clock, Rand, Template, s
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


def record(
    t: str,
    identity: dict[str, Any],
    source: str,
    name: str,
    region: str,
    ip: str,
    ua: str,
    request_id: str,
    event_id: str,
    *,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One API call as CloudTrail records it (``t`` already formatted)."""
    host = "bedrock-runtime.{region}.amazonaws.com" if name in RUNTIME else _HOSTS[source]
    rec: dict[str, Any] = {
        "eventVersion": "1.09" if source == "bedrock.amazonaws.com" else "1.08",
        "userIdentity": identity,
        "eventTime": t,
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
        requestID=request_id,
        eventID=event_id,
        readOnly=name not in _WRITE,
        eventType="AwsApiCall",
        managementEvent=True,
        recipientAccountId=identity["accountId"],
        eventCategory="Management",
        tlsDetails={
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host.format(region=region),
        },
    )
    return rec


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
    rec = record(
        iso(t),
        identity,
        source,
        name,
        region,
        ip,
        ua,
        uuid4(rng),
        uuid4(rng),
        params=params,
        response=response,
        error=error,
    )
    sink.add(FMT, path(identity["accountId"], region, t, sink), GZ, t, rec)


def runtime_template(identity: dict[str, Any]) -> Template:
    """A Bedrock runtime call (InvokeModel, Converse, ...) by ``identity``, everything else a hole.

    Every runtime call is read-only and goes to the regional bedrock-runtime host, so one template
    covers all of them; the name only shapes those derived fields through ``RUNTIME``.
    """
    rec = record(
        s("time") + "Z",
        identity,
        "bedrock.amazonaws.com",
        "InvokeModel",
        s("region"),
        s("ip"),
        s("ua"),
        s("rid"),
        s("eid"),
        params={"modelId": s("model")},
    )
    rec["eventName"] = s("name")
    return Template(rec)


def emit_runtime(
    sink: Sink,
    tmpl: Template,
    rs: Rand,
    clock: Clock,
    account: str,
    region: str,
    t: np.ndarray,
    cols: dict[str, Any],
) -> None:
    """Queue a batch of runtime calls in one region (``t`` sorted); ``cols`` names the other holes."""
    n = len(t)
    if not n:
        return
    region_b = region.encode()
    cols = {
        **cols,
        "time": clock.seconds(t).tolist(),
        "region": [region_b] * n,
        "rid": rs.uuids(n),
        "eid": rs.uuids(n),
    }
    lines = tmpl.fill(cols)
    win = t // WINDOW
    cuts = np.flatnonzero(np.diff(win)) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), n], strict=True):
        sink.add_many(FMT, path(account, region, int(t[lo]), sink), GZ, t[lo:hi], lines[lo:hi])

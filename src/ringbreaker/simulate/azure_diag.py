"""Azure OpenAI diagnostic logs (categories RequestResponse and Audit) in the storage-export layout.

``azure/diagnostics/insights-logs-<category>/resourceId=<RESOURCE ID>/y=/m=/d=/h=/m=00/PT1H.json``,
NDJSON. The caller IP has its last octet masked and there is no prompt; ``objectId`` is empty for
key authentication. Some resources write ``properties`` as a JSON string, others as an object, as
both occur in real exports (elastic/integrations azure_openai pipeline tests show both).
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np

from ringbreaker.simulate.ids import uuid4
from ringbreaker.simulate.sink import LINES, Sink
from ringbreaker.simulate.template import Clock, Rand, Template, d, s, v
from ringbreaker.simulate.timefmt import TICKS_AT_EPOCH, dotnet_ticks, hour_parts, iso_azure
from ringbreaker.simulate.world import Org

FMT = "azure-diagnostics"


def path(category: str, resource_id: str, t: int) -> str:
    y, m, d, h = hour_parts(t)
    return (
        f"azure/diagnostics/insights-logs-{category.lower()}/resourceId={resource_id}"
        f"/y={y}/m={m}/d={d}/h={h}/m=00/PT1H.json"
    )


def mask(ip: str) -> str:
    return ip.rsplit(".", 1)[0] + ".***"


def request_record(
    time: str,
    org: Org,
    masked_ip: str,
    operation: str,
    deployment: tuple[str, str, str],
    api_version: str,
    request_time: Any,
    req_len: Any,
    response_time: Any,
    resp_len: Any,
    duration_ms: Any,
    object_id: str,
    correlation_id: str,
    status: str = "200",
) -> dict[str, Any]:
    """One data-plane call as the RequestResponse category records it (``time`` formatted)."""
    props: dict[str, Any] = {
        "apiName": f"Azure OpenAI API version {api_version}",
        "requestTime": request_time,
        "requestLength": req_len,
        "responseTime": response_time,
        "responseLength": resp_len,
        "objectId": object_id,
        "streamType": "Non-Streaming",
        "modelDeploymentName": deployment[0],
        "modelName": deployment[1],
        "modelVersion": deployment[2],
    }
    return {
        "time": time,
        "resourceId": org.resource_id,
        "category": "RequestResponse",
        "operationName": operation,
        "callerIpAddress": masked_ip,
        "correlationId": correlation_id,
        "durationMs": duration_ms,
        "resultSignature": status,
        "location": org.region,
        "Tenant": org.region,
        "event": "ShoeboxCallResult",
        "properties": json.dumps(props, separators=(",", ":")) if org.props_as_string else props,
    }


def request(
    sink: Sink,
    rng: random.Random,
    t: int,
    org: Org,
    ip: str,
    operation: str,
    deployment: tuple[str, str, str],
    api_version: str,
    req_len: int,
    resp_len: int,
    duration_ms: int,
    object_id: str = "",
    status: str = "200",
) -> None:
    """Queue one data-plane call (ChatCompletions_Create, ImageGenerations_Create, ...)."""
    frac = rng.randrange(10_000_000)
    rec = request_record(
        iso_azure(t, frac),
        org,
        mask(ip),
        operation,
        deployment,
        api_version,
        dotnet_ticks(t, frac),
        req_len,
        dotnet_ticks(t, frac) + duration_ms * 10_000,
        resp_len,
        duration_ms,
        object_id,
        uuid4(rng),
        status,
    )
    sink.add(FMT, path("RequestResponse", org.resource_id, t), LINES, t, rec)


def request_template(org: Org) -> Template:
    """A data-plane call on ``org``'s resource; everything that varies per call is a hole."""
    return Template(
        request_record(
            s("time") + "." + d("frac", "07d") + "Z",
            org,
            s("ip"),
            s("op"),
            (s("dep"), s("model"), s("version")),
            s("api"),
            v("reqt"),
            v("reqlen"),
            v("respt"),
            v("resplen"),
            v("dur"),
            s("obj"),
            s("corr"),
        )
    )


def emit_requests(
    sink: Sink,
    tmpl: Template,
    rs: Rand,
    clock: Clock,
    org: Org,
    t: np.ndarray,
    dur: np.ndarray,
    cols: dict[str, Any],
) -> None:
    """Queue a batch of one hour's calls (``cols``: ip (masked), op, dep, model, version, api, reqlen,
    resplen, obj); durations in ms, times sorted."""
    n = len(t)
    if not n:
        return
    frac = rs.g.integers(0, 10_000_000, n)
    ticks = (t + TICKS_AT_EPOCH) * 10_000_000 + frac
    cols = {
        **cols,
        "time": clock.seconds(t).tolist(),
        "frac": frac.tolist(),
        "reqt": ticks.tolist(),
        "respt": (ticks + dur * 10_000).tolist(),
        "dur": dur.tolist(),
        "corr": rs.uuids(n),
    }
    sink.add_many(FMT, path("RequestResponse", org.resource_id, int(t[0])), LINES, t, tmpl.fill(cols))


def audit(sink: Sink, rng: random.Random, t: int, org: Org, operation: str, object_id: str) -> None:
    """Queue one Audit record (e.g. ListKey) as the data plane logs key listing."""
    rec = {
        "time": iso_azure(t),
        "resourceId": org.resource_id,
        "category": "Audit",
        "operationName": operation,
        "AssetIdentity": uuid4(rng),
        "Tenant": org.region,
        "location": org.region,
        "properties": {"objectId": object_id},
    }
    sink.add(FMT, path("Audit", org.resource_id, t), LINES, t, rec)

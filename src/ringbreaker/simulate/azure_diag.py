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

from ringbreaker.simulate.ids import uuid4
from ringbreaker.simulate.sink import LINES, Sink
from ringbreaker.simulate.timefmt import dotnet_ticks, hour_parts, iso_azure
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
    props: dict[str, Any] = {
        "apiName": f"Azure OpenAI API version {api_version}",
        "requestTime": dotnet_ticks(t, frac),
        "requestLength": req_len,
        "responseTime": dotnet_ticks(t, frac) + duration_ms * 10_000,
        "responseLength": resp_len,
        "objectId": object_id,
        "streamType": "Non-Streaming",
        "modelDeploymentName": deployment[0],
        "modelName": deployment[1],
        "modelVersion": deployment[2],
    }
    rec = {
        "time": iso_azure(t, frac),
        "resourceId": org.resource_id,
        "category": "RequestResponse",
        "operationName": operation,
        "callerIpAddress": mask(ip),
        "correlationId": uuid4(rng),
        "durationMs": duration_ms,
        "resultSignature": status,
        "location": org.region,
        "Tenant": org.region,
        "event": "ShoeboxCallResult",
        "properties": json.dumps(props, separators=(",", ":")) if org.props_as_string else props,
    }
    sink.add(FMT, path("RequestResponse", org.resource_id, t), LINES, t, rec)


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

"""Azure Activity Log (control plane) in the storage-export layout.

``azure/activity/insights-activity-logs/resourceId=/SUBSCRIPTIONS/<SUB>/y=/m=/d=/h=/m=00/PT1H.json``,
NDJSON. Key listing, deployments and content-filter (RAI policy) changes live here; an RAI policy
write carries the policy body as a JSON string in ``properties.requestbody``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from ringbreaker.simulate.ids import uuid4
from ringbreaker.simulate.sink import LINES, Sink
from ringbreaker.simulate.timefmt import hour_parts, iso_azure
from ringbreaker.simulate.world import Org

FMT = "azure-activity"
PORTAL_APPID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
CLI_APPID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
OPS = {
    "listkeys": "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION",
    "regeneratekey": "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION",
    "deployment": "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DEPLOYMENTS/WRITE",
    "raipolicy": "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/RAIPOLICIES/WRITE",
}


def path(subscription: str, t: int) -> str:
    y, m, d, h = hour_parts(t)
    return (
        f"azure/activity/insights-activity-logs/resourceId=/SUBSCRIPTIONS/{subscription.upper()}"
        f"/y={y}/m={m}/d={d}/h={h}/m=00/PT1H.json"
    )


def rai_body(weakened: bool) -> dict[str, Any]:
    """An RAI policy body; ``weakened`` disables one filter and makes the others non-blocking."""
    filters = []
    for name in ("hate", "sexual", "selfharm", "violence"):
        for source in ("Prompt", "Completion"):
            f: dict[str, Any] = {
                "name": name,
                "enabled": True,
                "blocking": True,
                "allowedContentLevel": "Medium",
                "source": source,
            }
            if weakened:
                f["blocking"] = False
                f["allowedContentLevel"] = "High"
                if name == "sexual":
                    f["enabled"] = False
            filters.append(f)
    return {
        "properties": {"mode": "Default", "basePolicyName": "Microsoft.DefaultV2", "contentFilters": filters}
    }


def emit(
    sink: Sink,
    rng: random.Random,
    t: int,
    org: Org,
    op: str,
    caller: str,
    ip: str,
    appid: str,
    *,
    sub_resource: str = "",
    body: dict[str, Any] | None = None,
) -> None:
    """Queue one control-plane operation by ``caller`` from ``ip``."""
    rid = org.resource_id + sub_resource
    props: dict[str, Any] = {
        "eventCategory": "Administrative",
        "entity": rid,
        "message": OPS[op].replace("MICROSOFT.COGNITIVESERVICES", "Microsoft.CognitiveServices").lower(),
        "hierarchy": f"{org.subscription}",
    }
    if body is not None:
        props["requestbody"] = json.dumps(body, separators=(",", ":"))
    rec = {
        "time": iso_azure(t, rng.randrange(10_000_000)),
        "resourceId": rid,
        "operationName": OPS[op],
        "category": "Administrative",
        "resultType": "Success",
        "resultSignature": "Succeeded.OK" if op != "deployment" else "Succeeded.Created",
        "durationMs": rng.randint(80, 900),
        "callerIpAddress": ip,
        "correlationId": uuid4(rng),
        "caller": caller,
        "identity": {
            "authorization": {
                "scope": rid,
                "action": OPS[op].replace("MICROSOFT.COGNITIVESERVICES", "Microsoft.CognitiveServices"),
            },
            "claims": {
                "appid": appid,
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": caller,
                "ipaddr": ip,
            },
        },
        "level": "Information",
        "location": "global",
        "properties": props,
    }
    sink.add(FMT, path(org.subscription, t), LINES, t, rec)

"""Legitimate traffic: each organisation's apps and admins, in working hours, from their own IPs.

This is the background a detector must not flag: steady per-app volumes that follow the org's
working day, forwarding headers present behind the tenant's load balancer, admins listing keys
from the portal, benign prompts only.
"""

from __future__ import annotations

import random
import time

import numpy as np

from ringbreaker.simulate import (
    azure_activity,
    azure_diag,
    bedrock_logs,
    cloudtrail,
    litellm,
    openai_audit,
)
from ringbreaker.simulate.ids import hexid
from ringbreaker.simulate.prompts import Corpus
from ringbreaker.simulate.sink import Sink
from ringbreaker.simulate.world import ADMIN_UA, GATEWAY_MODELS, Org

GATEWAY = {m[0]: m for m in GATEWAY_MODELS}
REPLY = "Here is the requested answer (synthetic response)."


def activity(org: Org, t: int) -> float:
    """Relative load: 1 in the org's working hours on weekdays, a trickle otherwise."""
    local = time.gmtime(t + org.tz * 3600)
    if local.tm_wday >= 5:
        return 0.1
    return 1.0 if 8 <= local.tm_hour < 18 else 0.08


def emit_hour(
    orgs: list[Org],
    t0: int,
    scale: float,
    rng: random.Random,
    nrng: np.random.Generator,
    sink: Sink,
    corpus: Corpus,
) -> None:
    """Write one hour of legitimate events starting at ``t0``."""
    benign = corpus.benign
    for org in orgs:
        act = activity(org, t0)
        for app in org.apps:
            n = int(nrng.poisson(app.rate * scale * act))
            for _ in range(n):
                t = t0 + rng.randrange(3600)
                ip = rng.choice(app.ips).ip
                model = rng.choice(app.models)
                tin, tout = rng.randint(40, 1500), rng.randint(20, 700)
                if org.kind == "aws" and app.key is not None:
                    op = "InvokeModel" if rng.random() < 0.7 else "Converse"
                    cloudtrail.emit(
                        sink,
                        rng,
                        t,
                        app.key.principal,
                        "bedrock.amazonaws.com",
                        op,
                        org.region,
                        ip,
                        app.user_agent,
                        params={"modelId": model},
                    )
                    if org.logging_on(org.region, t):
                        bedrock_logs.emit(
                            sink,
                            rng,
                            t,
                            org.subscription,
                            app.key.principal["arn"],
                            org.region,
                            model,
                            rng.choice(benign),
                            REPLY,
                            tin,
                            tout,
                            op,
                        )
                elif org.kind == "azure":
                    dep = next(d for d in org.deployments if d[0] == model)
                    azure_diag.request(
                        sink,
                        rng,
                        t,
                        org,
                        ip,
                        "ChatCompletions_Create",
                        dep,
                        rng.choice(["2024-06-01", "2024-10-21"]),
                        tin * 4,
                        tout * 4 + 300,
                        rng.randint(400, 6000),
                        app.object_id,
                    )
                elif org.kind == "litellm" and app.key is not None:
                    litellm.emit(
                        sink,
                        rng,
                        t,
                        app.key.key_id,
                        org.subscription,
                        GATEWAY[model],
                        ip,
                        app.user_agent,
                        rng.choice(app.end_users),
                        True,
                        rng.choice(benign) if org.store_prompts else None,
                        tin,
                        tout,
                    )
        if act == 1.0:
            _admin(org, t0, rng, sink)


def _admin(org: Org, t0: int, rng: random.Random, sink: Sink) -> None:
    """Occasional admin work in working hours: config reads, key listing, logins."""
    if rng.random() > 0.1:
        return
    t = t0 + rng.randrange(3600)
    ip = org.net[0].ip
    if org.kind == "aws":
        ident = {
            "type": "AssumedRole",
            "principalId": f"AROA{hexid(rng, 4).upper()}EXAMPLEROLE:ops@{org.domain}",
            "arn": org.admins[0],
            "accountId": org.subscription,
            "accessKeyId": "ASIA"
            + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        }
        name = rng.choice(["ListFoundationModels", "GetModelInvocationLoggingConfiguration"])
        cloudtrail.emit(sink, rng, t, ident, "bedrock.amazonaws.com", name, org.region, ip, ADMIN_UA)
    elif org.kind == "azure":
        admin = rng.choice(org.admins)
        azure_activity.emit(sink, rng, t, org, "listkeys", admin, ip, azure_activity.PORTAL_APPID)
        azure_diag.audit(sink, rng, t, org, "ListKey", f"{rng.getrandbits(128):032x}")
    elif org.kind == "openai":
        user = rng.choice(org.users)
        openai_audit.emit(sink, rng, t, "login.succeeded", openai_audit.session_actor(user, ip, ADMIN_UA), {})

"""Legitimate traffic: each organisation's apps and admins, in working hours, from their own IPs.

This is the background a detector must not flag: steady per-app volumes that follow the org's
working day, forwarding headers present behind the tenant's load balancer, admins listing keys
from the portal, benign prompts only.

It is nearly all of the volume, so it is drawn an app-hour at a time with numpy (times, IPs,
models, token counts, ids) and written through pre-encoded templates (see ``template``); only the
rare admin actions build dicts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

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
from ringbreaker.simulate.sink import Sink, encode
from ringbreaker.simulate.template import Clock, Rand, Template, table
from ringbreaker.simulate.world import ADMIN_UA, GATEWAY_MODELS, App, Key, Org

GATEWAY = {m[0]: m for m in GATEWAY_MODELS}
REPLY = "Here is the requested answer (synthetic response)."
REFUSAL = "I can't help with that request."
Streams = dict[str, tuple[random.Random, Rand]]  # org id -> (one-off actions, traffic)


def activity(org: Org, t: int) -> float:
    """Relative load: 1 in the org's working hours on weekdays, a trickle otherwise."""
    local = time.gmtime(t + org.tz * 3600)
    if local.tm_wday >= 5:
        return 0.1
    return 1.0 if 8 <= local.tm_hour < 18 else 0.08


class Tables:
    """Per-run lookup tables and templates for the batch paths (built lazily, reused every hour)."""

    def __init__(self, corpus: Corpus) -> None:
        self.benign = table([encode(x) for x in corpus.benign])
        abusive = corpus.abusive
        self.abusive = table([encode(x) for _, x in abusive])
        self.reply = encode(REPLY)
        self.refusal = encode(REFUSAL)
        self._cache: dict[tuple[Any, ...], Template] = {}
        self._masked: dict[bytes, bytes] = {}

    def masked(self, ips: np.ndarray) -> list[bytes]:
        """Azure's masked caller IPs (``a.b.c.***``) for an array of IPs (bytes)."""
        out = []
        for ip in ips.tolist():
            m = self._masked.get(ip)
            if m is None:
                m = self._masked[ip] = azure_diag.mask(ip.decode()).encode()
            out.append(m)
        return out

    def get(self, key: tuple[Any, ...], build: Callable[[], Template]) -> Template:
        """The template named ``key``, built on first use."""
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = build()
        return got


def emit_hour(
    orgs: list[Org],
    t0: int,
    scale: float,
    streams: Streams,
    sink: Sink,
    tabs: Tables,
    clock: Clock,
) -> None:
    """Write one hour of legitimate events starting at ``t0`` for ``orgs``.

    Each organisation draws from its own streams (``streams[org.id]``), so what it writes does not
    depend on which other organisations the same process handles.
    """
    for org in orgs:
        rng, rs = streams[org.id]
        g = rs.g
        act = activity(org, t0)
        for app in org.apps:
            n = int(g.poisson(app.rate * scale * act))
            if not n:
                continue
            t = t0 + np.sort(g.integers(0, 3600, n))
            ips = table([ip.ip.encode() for ip in app.ips])[g.integers(0, len(app.ips), n)]
            mi = g.integers(0, len(app.models), n)
            tin, tout = g.integers(40, 1501, n), g.integers(20, 701, n)
            if org.kind == "aws" and app.key is not None:
                _aws(org, app, app.key, t, ips, mi, tin, tout, rs, sink, tabs, clock)
            elif org.kind == "azure":
                _azure(org, app, t, ips, mi, tin, tout, rs, sink, tabs, clock)
            elif org.kind == "litellm" and app.key is not None:
                _litellm(org, app, app.key, t, ips, mi, tin, tout, rs, sink, tabs, clock)
        if act == 1.0:
            _admin(org, t0, rng, sink)


def _aws(
    org: Org,
    app: App,
    key: Key,
    t: np.ndarray,
    ips: np.ndarray,
    mi: np.ndarray,
    tin: np.ndarray,
    tout: np.ndarray,
    rs: Rand,
    sink: Sink,
    tabs: Tables,
    clock: Clock,
) -> None:
    n, g = len(t), rs.g
    ops = table([b"InvokeModel", b"Converse"])[(g.random(n) >= 0.7).astype(np.intp)]
    models = table([m.encode() for m in app.models])[mi]
    ct = tabs.get(("ct", key.fingerprint), partial(cloudtrail.runtime_template, key.principal))
    cols = {
        "name": ops.tolist(),
        "ip": ips.tolist(),
        "ua": [app.user_agent.encode()] * n,
        "model": models.tolist(),
    }
    cloudtrail.emit_runtime(sink, ct, rs, clock, org.subscription, org.region, t, cols)
    logged = org.logging_mask(org.region, t)
    if logged is None:
        return
    sel = np.flatnonzero(logged)
    m = len(sel)
    if not m:
        return
    account, arn = org.subscription, key.principal["arn"]
    bl = tabs.get(("bl", arn, org.region), partial(bedrock_logs.template, account, arn, org.region))
    shorts = table([bedrock_logs.short_model(x).encode() for x in app.models])[mi[sel]]
    bcols = {
        "model": models[sel].tolist(),
        "short": shorts.tolist(),
        "prompt": tabs.benign[g.integers(0, len(tabs.benign), m)].tolist(),
        "reply": [tabs.reply] * m,
        "tin": tin[sel].tolist(),
        "tout": tout[sel].tolist(),
        "op": ops[sel].tolist(),
    }
    bedrock_logs.emit_batch(sink, bl, rs, clock, account, org.region, t[sel], bcols)


def _azure(
    org: Org,
    app: App,
    t: np.ndarray,
    ips: np.ndarray,
    mi: np.ndarray,
    tin: np.ndarray,
    tout: np.ndarray,
    rs: Rand,
    sink: Sink,
    tabs: Tables,
    clock: Clock,
) -> None:
    n, g = len(t), rs.g
    deps = [next(d for d in org.deployments if d[0] == model) for model in app.models]
    tmpl = tabs.get(("az", org.id), partial(azure_diag.request_template, org))
    cols = {
        "ip": tabs.masked(ips),
        "op": [b"ChatCompletions_Create"] * n,
        "dep": table([x[0].encode() for x in deps])[mi].tolist(),
        "model": table([x[1].encode() for x in deps])[mi].tolist(),
        "version": table([x[2].encode() for x in deps])[mi].tolist(),
        "api": table([b"2024-06-01", b"2024-10-21"])[g.integers(0, 2, n)].tolist(),
        "reqlen": (tin * 4).tolist(),
        "resplen": (tout * 4 + 300).tolist(),
        "obj": [app.object_id.encode()] * n,
    }
    azure_diag.emit_requests(sink, tmpl, rs, clock, org, t, g.integers(400, 6001, n), cols)


def _litellm(
    org: Org,
    app: App,
    key: Key,
    t: np.ndarray,
    ips: np.ndarray,
    mi: np.ndarray,
    tin: np.ndarray,
    tout: np.ndarray,
    rs: Rand,
    sink: Sink,
    tabs: Tables,
    clock: Clock,
) -> None:
    n, g = len(t), rs.g
    users = table([u.encode() for u in app.end_users])[g.integers(0, len(app.end_users), n)]
    prompts = tabs.benign[g.integers(0, len(tabs.benign), n)] if org.store_prompts else None
    ua = app.user_agent.encode()
    for i, name in enumerate(app.models):
        sel = np.flatnonzero(mi == i)
        m = len(sel)
        if not m:
            continue
        tmpl = tabs.get(
            ("gw", key.key_id, name, True),
            partial(litellm.template, key.key_id, org.subscription, GATEWAY[name], True, org.store_prompts),
        )
        cols: dict[str, Any] = {"ip": ips[sel].tolist(), "ua": [ua] * m, "user": users[sel].tolist()}
        if prompts is not None:
            cols["prompt"] = prompts[sel].tolist()
        litellm.emit_batch(sink, tmpl, rs, clock, name, t[sel], tin[sel], tout[sel], cols)


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

"""The ring: crews of creators, providers and users, and what their abuse leaves in the logs.

Modelled on Storm-2139 and the public oai-reverse-proxy family (../shared/reference/llmjacking.md):
creators publish the tooling; providers run its key checker minutes after a leak (AWS: sts
GetCallerIdentity, GetModelInvocationLoggingConfiguration, InvokeModel with an invalid body on
several models; Azure: 1-token chat probes on old api-versions), enable models, weaken content
filters or delete invocation logging, then serve their users through reverse proxies that pool
several victims' keys from a few egress IPs, around the clock, with forwarding headers stripped.

Every ring event for a key happens at or after the key's ``first_abuse_time``, which is the time of
its first checker call: truth.json and the logs agree to the second.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ringbreaker.model import Role
from ringbreaker.simulate import (
    azure_activity,
    azure_diag,
    bedrock_logs,
    cloudtrail,
    litellm,
    openai_audit,
)
from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.legit import Tables
from ringbreaker.simulate.sink import Sink
from ringbreaker.simulate.template import Clock, Rand, table
from ringbreaker.simulate.world import (
    AWS_REGIONS,
    AZURE_DEPLOYMENTS,
    GATEWAY_MODELS,
    HOSTING_ASNS,
    RING_BEDROCK_MODELS,
    Ip,
    IpPool,
    Key,
    Org,
)

SYL = ["nyx", "vel", "kor", "zan", "mir", "tal", "quo", "rex", "sil", "dra", "fen", "lux", "oro", "pix"]
VALIDATION = (
    "ValidationException",
    "Malformed input request: #/max_tokens: -1 is not greater or equal to 1, please reformat "
    "your input and try again.",
)


@dataclass
class Crew:
    """One ring: its people, tooling, infrastructure, users and the keys it abuses."""

    id: str
    creators: list[str]
    providers: list[str]
    tool: str
    tool_ua: str
    proxy_ua: str
    hosts: list[str]
    ips: list[Ip]
    users: list[str]
    rate: float  # proxied requests per hour at scale 1
    evades: bool
    load: list[float] = field(default_factory=list)  # this hour's rate factor, one per hour
    account: str = ""  # compromised Azure admin sign-in used for control-plane changes
    account_used: bool = False  # it signed in before the world ends (truth lists it only then)
    keys: list[Key] = field(default_factory=list)
    serve_from: dict[str, int] = field(default_factory=dict)  # fingerprint -> first proxied request

    def members(self) -> list[dict[str, str]]:
        """Crew entities for truth.json."""
        m = [{"kind": "person", "value": p, "role": Role.CREATOR} for p in self.creators]
        m += [{"kind": "person", "value": p, "role": Role.PROVIDER} for p in self.providers]
        tools = (self.tool, self.tool_ua, self.proxy_ua)
        m += [{"kind": "tool", "value": v, "role": Role.CREATOR} for v in tools]
        m += [{"kind": "proxy_host", "value": h, "role": Role.PROVIDER} for h in self.hosts]
        m += [{"kind": "ip", "value": ip.ip, "role": Role.PROVIDER} for ip in self.ips]
        if self.account and self.account_used:
            m.append({"kind": "account", "value": self.account, "role": Role.PROVIDER})
        m += [{"kind": "end_user", "value": u, "role": Role.USER} for u in self.users]
        return m


Action = Callable[[Sink, random.Random, int], None]  # (sink, owner's rng, time)
Op = tuple[int, int, str, Action]  # (time, order, owning org id, action)


class Ring:
    """Plans the crews' one-off actions (a time-ordered heap) and draws their hourly traffic.

    Planning (crews, who abuses what, when) uses the world's generator in the parent process.
    What happens at run time is drawn from the victim organisation's own streams, and every
    action is tagged with that organisation: a worker process that owns an organisation replays
    exactly its actions and traffic, so the output does not depend on how organisations are
    spread over processes. State a later hour depends on (logging deleted, DALL-E deployed, key
    rotated) is fixed at planning time for the same reason.
    """

    def __init__(
        self, orgs: list[Org], pool: IpPool, rng: random.Random, scale: float, start: int, end: int
    ) -> None:
        self.orgs = {o.id: o for o in orgs}
        self.rng = rng
        self.scale = scale
        self.start, self.end = start, end
        self.ops: list[Op] = []
        self.seq = 0
        n = 1 if scale < 0.5 else 2 if scale < 5 else 3
        self.crews = [self._crew(i, pool) for i in range(n)]
        hours = (end - start + 3599) // 3600
        for crew in self.crews:
            crew.load = [0.8 + 0.4 * rng.random() for _ in range(hours)]

    def _name(self) -> str:
        return "".join(self.rng.sample(SYL, 2)) + str(self.rng.randint(1, 99))

    def _crew(self, i: int, pool: IpPool) -> Crew:
        r = self.rng
        tool = "".join(r.sample(SYL, 2)) + r.choice(["-proxy", "-gate", "-relay"])
        ips: list[Ip] = []
        hosts = []
        providers = [self._name() for _ in range(r.randint(1, 2))]
        for _ in providers:
            ips += pool.network(r.choice(HOSTING_ASNS), 2)
            hosts.append(f"{r.choice(SYL)}-{r.choice(SYL)}-{hexid(r, 4)}.trycloudflare.com")
        users = [uuid4(r) for _ in range(max(4, int(12 * math.sqrt(max(self.scale, 0.1)))))]
        return Crew(
            id=f"crew-{i + 1}",
            creators=[self._name() for _ in range(r.randint(1, 2))],
            providers=providers,
            tool=tool,
            tool_ua=f"{tool}-keychecker/{r.randint(1, 3)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
            proxy_ua=f"axios/1.{r.randint(6, 7)}.{r.randint(0, 9)}",
            hosts=hosts,
            ips=ips,
            users=users,
            rate=r.uniform(30, 50),
            evades=i % 2 == 0,
            account=f"svc-sync@{self._name()}.example" if i % 2 == 0 else "",
        )

    def at(self, t: int, owner: str, fn: Action) -> None:
        """Schedule a one-off action on organisation ``owner``'s logs."""
        self.seq += 1
        heapq.heappush(self.ops, (t, self.seq, owner, fn))

    # -- planning ---------------------------------------------------------------------------

    def compromise(self, key: Key, crew: Crew, t_first: int) -> None:
        """Plan everything ``crew`` does with ``key``, starting with its first checker call at ``t_first``."""
        r = self.rng
        org = self.orgs[key.owner]
        own = org.id
        key.compromised, key.crew, key.first_abuse_time = True, crew.id, t_first
        crew.keys.append(key)
        ip = r.choice(crew.ips).ip
        if key.provider == "aws":
            self.at(t_first, own, partial(self._aws_check, key, org, crew, ip))
            t = t_first + r.randint(120, 600)
            if crew.evades and org.logging and key.owner != self._keep_logging():
                org.logging_off_at = t + 1
                self.at(
                    t,
                    own,
                    partial(self._ct, key, org, crew, ip, "DeleteModelInvocationLoggingConfiguration", None),
                )
            t += r.randint(300, 900)
            self._aws_enable(key, org, crew, ip, t)
            serve = t + 60 + 10 * r.randint(3, 6) + 10
            nxt = t_first + 5400
            while nxt < self.end:
                self.at(nxt, own, partial(self._aws_check, key, org, crew, r.choice(crew.ips).ip))
                nxt += r.randint(4800, 6000)
        elif key.provider == "azure":
            t = t_first
            while t < self.end:
                self.at(t, own, partial(self._azure_probe, org, r.choice(crew.ips).ip))
                t += r.randint(3300, 3900)
            serve = t_first + r.randint(300, 1200)
            if crew.account:
                t = serve + r.randint(600, 3600)
                deploy = AZURE_DEPLOYMENTS[3] not in org.deployments and t < self.end
                if deploy:  # decided now: later hours' traffic and truth.json depend on it
                    org.deployments.append(AZURE_DEPLOYMENTS[3])
                    org.image_from = t + 40
                self.at(t, own, partial(self._azure_takeover, org, crew, ip, deploy))
                crew.account_used = crew.account_used or t < self.end
        elif key.provider == "litellm":
            self.at(t_first, own, partial(self._gateway_probe, key, org, crew, ip))
            serve = t_first + r.randint(300, 1200)
        else:  # openai admin key: no usage log, only what it creates
            self.at(t_first, own, partial(self._openai_admin, key, org))
            serve = self.end + 1
        crew.serve_from[key.fingerprint] = serve

    def _keep_logging(self) -> str:
        """The AWS victim whose invocation logging the ring leaves on (so prompts exist)."""
        return next(o.id for o in self.orgs.values() if o.kind == "aws" and o.logging)

    # -- one-off actions ----------------------------------------------------------------------

    def _ct(
        self,
        key: Key,
        org: Org,
        crew: Crew,
        ip: str,
        name: str,
        params: dict[str, str] | None,
        sink: Sink,
        rng: random.Random,
        t: int,
        *,
        error: tuple[str, str] | None = None,
        region: str | None = None,
        ua: str | None = None,
    ) -> None:
        src = "sts.amazonaws.com" if name == "GetCallerIdentity" else "bedrock.amazonaws.com"
        reg = "us-east-1" if name == "GetCallerIdentity" else region or org.region
        cloudtrail.emit(
            sink,
            rng,
            t,
            key.principal,
            src,
            name,
            reg,
            ip,
            ua or crew.tool_ua,
            params=params,
            error=error,
        )

    def _aws_check(
        self, key: Key, org: Org, crew: Crew, ip: str, sink: Sink, rng: random.Random, t: int
    ) -> None:
        """The checker: identity, logging config, then invalid InvokeModel calls on several models."""
        self._ct(key, org, crew, ip, "GetCallerIdentity", None, sink, rng, t)
        self._ct(key, org, crew, ip, "GetModelInvocationLoggingConfiguration", None, sink, rng, t + 1)
        dt = 2
        for model in rng.sample(RING_BEDROCK_MODELS, rng.randint(3, 5)):
            self._ct(
                key, org, crew, ip, "InvokeModel", {"modelId": model}, sink, rng, t + dt, error=VALIDATION
            )
            dt += rng.randint(1, 8)

    def _aws_enable(self, key: Key, org: Org, crew: Crew, ip: str, t: int) -> None:
        """Plan model enablement: use-case form, agreement, entitlement, then availability polling."""
        model = RING_BEDROCK_MODELS[0]
        steps: list[tuple[str, dict[str, str] | None]] = [
            ("ListFoundationModels", None),
            ("GetUseCaseForModelAccess", None),
            ("PutUseCaseForModelAccess", {"formData": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
            ("ListFoundationModelAgreementOffers", {"modelId": model}),
            (
                "CreateFoundationModelAgreement",
                {"modelId": model, "offerToken": "HIDDEN_DUE_TO_SECURITY_REASONS"},
            ),
            ("PutFoundationModelEntitlement", {"modelId": model}),
        ]
        for i, (name, params) in enumerate(steps):
            self.at(t + 5 * i, org.id, partial(self._ct, key, org, crew, ip, name, params))
        for j in range(self.rng.randint(3, 6)):
            self.at(
                t + 60 + 10 * j,
                org.id,
                partial(self._ct, key, org, crew, ip, "GetFoundationModelAvailability", {"modelId": model}),
            )

    def _azure_probe(self, org: Org, ip: str, sink: Sink, rng: random.Random, t: int) -> None:
        """Hourly 1-token chat completion on an old api-version."""
        dep = org.deployments[0]
        azure_diag.request(
            sink,
            rng,
            t,
            org,
            ip,
            "ChatCompletions_Create",
            dep,
            "2023-09-01-preview",
            rng.randint(60, 90),
            rng.randint(280, 340),
            rng.randint(150, 400),
        )

    def _azure_takeover(
        self, org: Org, crew: Crew, ip: str, deploy: bool, sink: Sink, rng: random.Random, t: int
    ) -> None:
        """With a stolen admin sign-in: list keys, deploy DALL-E 3, weaken the content filter."""
        a = azure_activity
        a.emit(sink, rng, t, org, "listkeys", crew.account, ip, a.CLI_APPID)
        azure_diag.audit(sink, rng, t, org, "ListKey", f"{rng.getrandbits(128):032x}")
        if deploy:
            a.emit(
                sink,
                rng,
                t + 40,
                org,
                "deployment",
                crew.account,
                ip,
                a.CLI_APPID,
                sub_resource="/DEPLOYMENTS/DALL-E-3",
                body={
                    "sku": {"name": "Standard", "capacity": 1},
                    "properties": {"model": {"format": "OpenAI", "name": "dall-e-3", "version": "3.0"}},
                },
            )
        a.emit(
            sink,
            rng,
            t + 90,
            org,
            "raipolicy",
            crew.account,
            ip,
            a.CLI_APPID,
            sub_resource="/RAIPOLICIES/UNRESTRICTED",
            body=azure_activity.rai_body(weakened=True),
        )

    def _gateway_probe(
        self, key: Key, org: Org, crew: Crew, ip: str, sink: Sink, rng: random.Random, t: int
    ) -> None:
        litellm.emit(
            sink,
            rng,
            t,
            key.key_id,
            org.subscription,
            GATEWAY_MODELS[0],
            ip,
            crew.tool_ua,
            "",
            False,
            "" if org.store_prompts else None,
            8,
            1,
        )

    def _openai_admin(self, key: Key, org: Org, sink: Sink, rng: random.Random, t: int) -> None:
        """A stolen admin key mints a fresh wide-scope key, then a project to hide it in."""
        actor = openai_audit.key_actor(key.key_id, org.users[-1])
        new_id = "key_" + hexid(rng, 16)
        openai_audit.emit(
            sink, rng, t, "api_key.created", actor, {"id": new_id, "data": {"scopes": ["/v1/*"]}}
        )
        proj = "proj_" + hexid(rng, 24)
        openai_audit.emit(
            sink,
            rng,
            t + 95,
            "project.created",
            actor,
            {"id": proj, "data": {"name": "default-2", "title": "default-2"}},
        )

    # -- hourly -------------------------------------------------------------------------------

    def due(self, t1: int, owners: Collection[str]) -> dict[str, list[tuple[int, Action]]]:
        """Pop the one-off actions due before ``t1``; those on ``owners``, by owner, in time order.

        Every process pops every action (each holds the whole plan) and keeps only its own.
        """
        out: dict[str, list[tuple[int, Action]]] = {}
        while self.ops and self.ops[0][0] < t1:
            t, _, owner, fn = heapq.heappop(self.ops)
            if owner in owners:
                out.setdefault(owner, []).append((t, fn))
        return out

    def emit_hour(
        self,
        t0: int,
        hour: int,
        sink: Sink,
        key_streams: dict[str, Rand],
        tabs: Tables,
        clock: Clock,
        owners: Collection[str],
    ) -> None:
        """Draw the proxied traffic of [t0, t0+3600) on the keys of the organisations in ``owners``.

        A crew's hourly volume, Poisson with its rate, spread uniformly over its live keys, is the
        same as an independent Poisson per key with the rate divided among them: so each key draws
        its own share from its own stream, and the organisations can be split across processes.
        """
        t1 = t0 + 3600
        for crew in self.crews:
            live = [k for k in crew.keys if crew.serve_from[k.fingerprint] < t1]
            if not live:
                continue
            lam = crew.rate * self.scale * crew.load[hour] / len(live)
            for key in live:
                if key.owner in owners:
                    self._serve(key, crew, t0, lam, sink, key_streams[key.fingerprint], tabs, clock)

    def _serve(
        self,
        key: Key,
        crew: Crew,
        t0: int,
        lam: float,
        sink: Sink,
        rs: Rand,
        tabs: Tables,
        clock: Clock,
    ) -> None:
        """One key's proxied calls in one hour, vectorised."""
        org, g = self.orgs[key.owner], rs.g
        n = int(g.poisson(lam))
        if not n:
            return
        t = np.maximum(t0 + g.integers(0, 3600, n), crew.serve_from[key.fingerprint])
        t = np.sort(t[t < t0 + 3600])
        n = len(t)
        if not n:
            return
        ips = table([ip.ip.encode() for ip in crew.ips])[g.integers(0, len(crew.ips), n)]
        benign = g.random(n) < 0.45
        prompts = np.where(
            benign,
            tabs.benign[g.integers(0, len(tabs.benign), n)],
            tabs.abusive[g.integers(0, len(tabs.abusive), n)],
        )
        tin, tout = g.integers(200, 4001, n), g.integers(100, 2001, n)
        if key.provider == "aws":
            self._serve_aws(key, org, crew, t, ips, benign, prompts, tin, tout, sink, rs, tabs, clock)
        elif key.provider == "azure":
            self._serve_azure(org, t, ips, tin, tout, sink, rs, tabs, clock)
        elif key.provider == "litellm":
            users = table([u.encode() for u in crew.users])[g.integers(0, len(crew.users), n)]
            mi = g.integers(0, 3, n)
            ua = crew.proxy_ua.encode()
            for i, model in enumerate(GATEWAY_MODELS[:3]):
                sel = np.flatnonzero(mi == i)
                m = len(sel)
                if not m:
                    continue
                tmpl = tabs.get(
                    ("gw", key.key_id, model[0], False),
                    partial(litellm.template, key.key_id, org.subscription, model, False, org.store_prompts),
                )
                cols: dict[str, Any] = {"ip": ips[sel].tolist(), "ua": [ua] * m, "user": users[sel].tolist()}
                if org.store_prompts:
                    cols["prompt"] = prompts[sel].tolist()
                litellm.emit_batch(sink, tmpl, rs, clock, model[0], t[sel], tin[sel], tout[sel], cols)

    def _serve_aws(
        self,
        key: Key,
        org: Org,
        crew: Crew,
        t: np.ndarray,
        ips: np.ndarray,
        benign: np.ndarray,
        prompts: np.ndarray,
        tin: np.ndarray,
        tout: np.ndarray,
        sink: Sink,
        rs: Rand,
        tabs: Tables,
        clock: Clock,
    ) -> None:
        n, g = len(t), rs.g
        home = g.random(n) < 0.8
        region = np.where(home, AWS_REGIONS.index(org.region), g.integers(0, len(AWS_REGIONS), n))
        mi = g.integers(0, 3, n)
        models = table([m.encode() for m in RING_BEDROCK_MODELS[:3]])[mi]
        ops = table([b"InvokeModel", b"InvokeModelWithResponseStream"])[g.integers(0, 2, n)]
        refused = ~benign & (g.random(n) < 0.3)
        ct = tabs.get(("ct", key.fingerprint), partial(cloudtrail.runtime_template, key.principal))
        ua = crew.proxy_ua.encode()
        account, arn = org.subscription, key.principal["arn"]
        for ri in np.unique(region).tolist():
            reg = AWS_REGIONS[ri]
            sel = np.flatnonzero(region == ri)
            m = len(sel)
            cols = {
                "name": ops[sel].tolist(),
                "ip": ips[sel].tolist(),
                "ua": [ua] * m,
                "model": models[sel].tolist(),
            }
            cloudtrail.emit_runtime(sink, ct, rs, clock, account, reg, t[sel], cols)
            logged = org.logging_mask(reg, t[sel])
            if logged is None:
                continue
            sel = sel[logged]
            if not len(sel):
                continue
            bl = tabs.get(("bl", arn, reg), partial(bedrock_logs.template, account, arn, reg))
            shorts = table([bedrock_logs.short_model(x).encode() for x in RING_BEDROCK_MODELS[:3]])
            bcols = {
                "model": models[sel].tolist(),
                "short": shorts[mi[sel]].tolist(),
                "prompt": prompts[sel].tolist(),
                "reply": np.where(refused[sel], tabs.refusal, tabs.reply).tolist(),
                "tin": tin[sel].tolist(),
                "tout": tout[sel].tolist(),
                "op": ops[sel].tolist(),
            }
            bedrock_logs.emit_batch(sink, bl, rs, clock, account, reg, t[sel], bcols)

    def _serve_azure(
        self,
        org: Org,
        t: np.ndarray,
        ips: np.ndarray,
        tin: np.ndarray,
        tout: np.ndarray,
        sink: Sink,
        rs: Rand,
        tabs: Tables,
        clock: Clock,
    ) -> None:
        n, g = len(t), rs.g
        can_draw = t >= org.image_from if org.image_from is not None else np.zeros(n, dtype=bool)
        image = can_draw & (g.random(n) < 0.6)
        chat, dalle = org.deployments[0], AZURE_DEPLOYMENTS[3]
        deps = [[x.encode() for x in chat], [x.encode() for x in dalle]]
        pick = image.astype(np.intp)

        def col(i: int) -> list[bytes]:
            return table([deps[0][i], deps[1][i]])[pick].tolist()  # type: ignore[no-any-return]

        tmpl = tabs.get(("az", org.id), partial(azure_diag.request_template, org))
        cols = {
            "ip": tabs.masked(ips),
            "op": table([b"ChatCompletions_Create", b"ImageGenerations_Create"])[pick].tolist(),
            "dep": col(0),
            "model": col(1),
            "version": col(2),
            "api": [b"2024-02-15-preview"] * n,
            "reqlen": np.where(image, g.integers(150, 901, n), tin * 4).tolist(),
            "resplen": np.where(image, g.integers(400, 701, n), tout * 4 + 300).tolist(),
            "obj": [b""] * n,
        }
        dur = np.where(image, g.integers(8000, 20001, n), g.integers(1500, 30001, n))
        azure_diag.emit_requests(sink, tmpl, rs, clock, org, t, dur, cols)

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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ringbreaker.simulate import (
    azure_activity,
    azure_diag,
    bedrock_logs,
    cloudtrail,
    litellm,
    openai_audit,
)
from ringbreaker.simulate.ids import hexid, uuid4
from ringbreaker.simulate.prompts import Corpus
from ringbreaker.simulate.sink import Sink
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
REFUSAL = "I can't help with that request."
REPLY = "Here is the requested answer (synthetic response)."
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
    account: str = ""  # compromised Azure admin sign-in used for control-plane changes
    keys: list[Key] = field(default_factory=list)
    serve_from: dict[str, int] = field(default_factory=dict)  # fingerprint -> first proxied request

    def members(self) -> list[dict[str, str]]:
        """Crew entities for truth.json."""
        m = [{"kind": "person", "value": p, "role": "creator"} for p in self.creators]
        m += [{"kind": "person", "value": p, "role": "provider"} for p in self.providers]
        m += [
            {"kind": "tool", "value": v, "role": "creator"} for v in (self.tool, self.tool_ua, self.proxy_ua)
        ]
        m += [{"kind": "proxy_host", "value": h, "role": "provider"} for h in self.hosts]
        m += [{"kind": "ip", "value": ip.ip, "role": "provider"} for ip in self.ips]
        if self.account:
            m.append({"kind": "account", "value": self.account, "role": "provider"})
        m += [{"kind": "end_user", "value": u, "role": "user"} for u in self.users]
        return m


Op = tuple[int, int, Callable[[int], None]]


class Ring:
    """Plans the crews' one-off actions (a time-ordered heap) and draws their hourly traffic."""

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

    def at(self, t: int, fn: Callable[[int], None]) -> None:
        """Schedule a one-off action."""
        self.seq += 1
        heapq.heappush(self.ops, (t, self.seq, fn))

    # -- planning ---------------------------------------------------------------------------

    def compromise(self, key: Key, crew: Crew, t_first: int, sink: Sink) -> None:
        """Plan everything ``crew`` does with ``key``, starting with its first checker call at ``t_first``."""
        r = self.rng
        org = self.orgs[key.owner]
        key.compromised, key.crew, key.first_abuse_time = True, crew.id, t_first
        crew.keys.append(key)
        ip = r.choice(crew.ips).ip
        if key.provider == "aws":
            self.at(t_first, partial(self._aws_check, sink, key, org, crew, ip))
            t = t_first + r.randint(120, 600)
            if crew.evades and org.logging and key.owner != self._keep_logging():
                org.logging_off_at = t + 1
                self.at(
                    t,
                    partial(
                        self._ct, sink, key, org, crew, ip, "DeleteModelInvocationLoggingConfiguration", None
                    ),
                )
            t += r.randint(300, 900)
            self._aws_enable(sink, key, org, crew, ip, t)
            serve = t + 60 + 10 * r.randint(3, 6) + 10
            nxt = t_first + 5400
            while nxt < self.end:
                self.at(nxt, partial(self._aws_check, sink, key, org, crew, r.choice(crew.ips).ip))
                nxt += r.randint(4800, 6000)
        elif key.provider == "azure":
            t = t_first
            while t < self.end:
                self.at(t, partial(self._azure_probe, sink, org, r.choice(crew.ips).ip))
                t += r.randint(3300, 3900)
            serve = t_first + r.randint(300, 1200)
            if crew.account:
                t = serve + r.randint(600, 3600)
                self.at(t, partial(self._azure_takeover, sink, org, crew, ip))
        elif key.provider == "litellm":
            self.at(t_first, partial(self._gateway_probe, sink, key, org, crew, ip))
            serve = t_first + r.randint(300, 1200)
        else:  # openai admin key: no usage log, only what it creates
            self.at(t_first, partial(self._openai_admin, sink, key, org))
            serve = self.end + 1
        crew.serve_from[key.fingerprint] = serve

    def _keep_logging(self) -> str:
        """The AWS victim whose invocation logging the ring leaves on (so prompts exist)."""
        return next(o.id for o in self.orgs.values() if o.kind == "aws" and o.logging)

    # -- one-off actions ----------------------------------------------------------------------

    def _ct(
        self,
        sink: Sink,
        key: Key,
        org: Org,
        crew: Crew,
        ip: str,
        name: str,
        params: dict[str, str] | None,
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
            self.rng,
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

    def _aws_check(self, sink: Sink, key: Key, org: Org, crew: Crew, ip: str, t: int) -> None:
        """The checker: identity, logging config, then invalid InvokeModel calls on several models."""
        self._ct(sink, key, org, crew, ip, "GetCallerIdentity", None, t)
        self._ct(sink, key, org, crew, ip, "GetModelInvocationLoggingConfiguration", None, t + 1)
        dt = 2
        for model in self.rng.sample(RING_BEDROCK_MODELS, self.rng.randint(3, 5)):
            self._ct(sink, key, org, crew, ip, "InvokeModel", {"modelId": model}, t + dt, error=VALIDATION)
            dt += self.rng.randint(1, 8)

    def _aws_enable(self, sink: Sink, key: Key, org: Org, crew: Crew, ip: str, t: int) -> None:
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
            self.at(t + 5 * i, partial(self._ct, sink, key, org, crew, ip, name, params))
        for j in range(self.rng.randint(3, 6)):
            self.at(
                t + 60 + 10 * j,
                partial(
                    self._ct, sink, key, org, crew, ip, "GetFoundationModelAvailability", {"modelId": model}
                ),
            )

    def _azure_probe(self, sink: Sink, org: Org, ip: str, t: int) -> None:
        """Hourly 1-token chat completion on an old api-version."""
        dep = org.deployments[0]
        azure_diag.request(
            sink,
            self.rng,
            t,
            org,
            ip,
            "ChatCompletions_Create",
            dep,
            "2023-09-01-preview",
            self.rng.randint(60, 90),
            self.rng.randint(280, 340),
            self.rng.randint(150, 400),
        )

    def _azure_takeover(self, sink: Sink, org: Org, crew: Crew, ip: str, t: int) -> None:
        """With a stolen admin sign-in: list keys, deploy DALL-E 3, weaken the content filter."""
        a = azure_activity
        a.emit(sink, self.rng, t, org, "listkeys", crew.account, ip, a.CLI_APPID)
        azure_diag.audit(sink, self.rng, t, org, "ListKey", f"{self.rng.getrandbits(128):032x}")
        if AZURE_DEPLOYMENTS[3] not in org.deployments:
            org.deployments.append(AZURE_DEPLOYMENTS[3])
            a.emit(
                sink,
                self.rng,
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
            self.rng,
            t + 90,
            org,
            "raipolicy",
            crew.account,
            ip,
            a.CLI_APPID,
            sub_resource="/RAIPOLICIES/UNRESTRICTED",
            body=azure_activity.rai_body(weakened=True),
        )

    def _gateway_probe(self, sink: Sink, key: Key, org: Org, crew: Crew, ip: str, t: int) -> None:
        litellm.emit(
            sink,
            self.rng,
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

    def _openai_admin(self, sink: Sink, key: Key, org: Org, t: int) -> None:
        """A stolen admin key mints a fresh wide-scope key, then a project to hide it in."""
        actor = openai_audit.key_actor(key.key_id, org.users[-1])
        new_id = "key_" + hexid(self.rng, 16)
        openai_audit.emit(
            sink, self.rng, t, "api_key.created", actor, {"id": new_id, "data": {"scopes": ["/v1/*"]}}
        )
        proj = "proj_" + hexid(self.rng, 24)
        openai_audit.emit(
            sink,
            self.rng,
            t + 95,
            "project.created",
            actor,
            {"id": proj, "data": {"name": "default-2", "title": "default-2"}},
        )

    # -- hourly traffic -----------------------------------------------------------------------

    def emit_hour(self, t0: int, nrng: np.random.Generator, sink: Sink, corpus: Corpus) -> None:
        """Run one-off actions due in [t0, t0+3600) and draw the proxied traffic of that hour."""
        t1 = t0 + 3600
        while self.ops and self.ops[0][0] < t1:
            t, _, fn = heapq.heappop(self.ops)
            fn(t)
        abusive = corpus.abusive
        benign = corpus.benign
        r = self.rng
        for crew in self.crews:
            live = [k for k in crew.keys if crew.serve_from[k.fingerprint] < t1]
            if not live:
                continue
            n = int(nrng.poisson(crew.rate * self.scale * (0.8 + 0.4 * r.random())))
            for _ in range(n):
                key = r.choice(live)
                t = max(t0 + r.randrange(3600), crew.serve_from[key.fingerprint])
                if t >= t1:
                    continue
                ip = r.choice(crew.ips).ip
                if r.random() < 0.45:
                    label, prompt = "benign", r.choice(benign)
                else:
                    label, prompt = r.choice(abusive)
                self._serve(sink, key, crew, t, ip, label, prompt)

    def _serve(self, sink: Sink, key: Key, crew: Crew, t: int, ip: str, label: str, prompt: str) -> None:
        r = self.rng
        org = self.orgs[key.owner]
        tin, tout = r.randint(200, 4000), r.randint(100, 2000)
        if key.provider == "aws":
            region = org.region if r.random() < 0.8 else r.choice(AWS_REGIONS)
            model = r.choice(RING_BEDROCK_MODELS[:3])
            op = r.choice(["InvokeModel", "InvokeModelWithResponseStream"])
            cloudtrail.emit(
                sink,
                r,
                t,
                key.principal,
                "bedrock.amazonaws.com",
                op,
                region,
                ip,
                crew.proxy_ua,
                params={"modelId": model},
            )
            if org.logging_on(region, t):
                reply = REFUSAL if label != "benign" and r.random() < 0.3 else REPLY
                bedrock_logs.emit(
                    sink,
                    r,
                    t,
                    org.subscription,
                    key.principal["arn"],
                    region,
                    model,
                    prompt,
                    reply,
                    tin,
                    tout,
                    op,
                )
        elif key.provider == "azure":
            image = AZURE_DEPLOYMENTS[3] in org.deployments and r.random() < 0.6
            if image:
                azure_diag.request(
                    sink,
                    r,
                    t,
                    org,
                    ip,
                    "ImageGenerations_Create",
                    AZURE_DEPLOYMENTS[3],
                    "2024-02-15-preview",
                    r.randint(150, 900),
                    r.randint(400, 700),
                    r.randint(8000, 20000),
                )
            else:
                azure_diag.request(
                    sink,
                    r,
                    t,
                    org,
                    ip,
                    "ChatCompletions_Create",
                    org.deployments[0],
                    "2024-02-15-preview",
                    tin * 4,
                    tout * 4 + 300,
                    r.randint(1500, 30000),
                )
        elif key.provider == "litellm":
            gw_model = r.choice(GATEWAY_MODELS[:3])
            litellm.emit(
                sink,
                r,
                t,
                key.key_id,
                org.subscription,
                gw_model,
                ip,
                crew.proxy_ua,
                r.choice(crew.users),
                False,
                prompt if org.store_prompts else None,
                tin,
                tout,
            )

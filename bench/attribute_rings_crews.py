"""The crews of a harder-ring world (bench/attribute_rings.py), modelled on the public LLMjacking
write-ups (Permiso, Sysdig, Microsoft's Storm-2139 filing; summary in shared/reference/llmjacking.md),
not on ringbreaker's detection or attribution rules.

Every crew runs the same kill chain with its own infrastructure:

1. **Key checker** (one fixed host, the crew's own script and client string): minutes after a leak,
   ``sts GetCallerIdentity``, ``GetModelInvocationLoggingConfiguration``, then ``InvokeModel`` on
   several Claude ids with an invalid body (a ValidationException means "usable"); again on a
   schedule while the crew holds the key; Azure keys get a one-token chat call on an old API version.
   A revoked key fails its next check and is dropped.
2. **Control plane** (another fixed host, the operator's own CLI): once per victim account, model
   access enablement (ListFoundationModels, PutUseCaseForModelAccess, CreateFoundationModelAgreement,
   PutFoundationModelEntitlement, availability polled every ~10 s) and deletion of the invocation
   logging configuration where it was on; a daily look at the logging configuration.
3. **Egress** (the reverse proxy's calls): Invoke*/Converse* on expensive models around the clock,
   the crew's live keys of several victims interleaved on every address. Egress is one of:
   ``fixed`` hosts; ``rotating`` (fresh VPS addresses in fresh /24s of changing hosting ASNs every
   ``rotation_h`` hours, each new host first probing with invalid bodies, plus a few probe-only
   hosts); ``pool`` (a residential proxy pool: each address serves a short session of 1-5 calls).
   A ``vpn_share`` of egress (and of checker) calls goes through commercial VPN exits that other,
   unrelated crews and a legitimate organisation's staff use too; the tunnel keeps one exit for
   2-6 hours before the client reconnects elsewhere.

Options: ``ua`` ``common`` sends the popular SDK string legitimate organisations send
(attribute_rings_world.COMMON_UA); ``tool_change_day`` switches the egress client mid-way (same
keys and hosts); ``azure_keys`` adds stolen Azure OpenAI keys; ``gateway_key`` a stolen LiteLLM
virtual key resold to end users. ``admin_actor`` is the OpenAI admin-key abuser, visible only in the
audit log by key id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from attribute_rings_world import (
    AWS_REGIONS,
    COMMON_UA,
    DAY,
    HOSTING,
    HOUR,
    AddressPlan,
    App,
    LegitOrg,
    Writer,
    aws_key,
    poisson_times,
)
from ringbreaker.rules.examples import expand
from ringbreaker.simulate import openai_audit
from ringbreaker.simulate.ids import hexid
from ringbreaker.simulate.world import Key

RING_MODELS = [
    "anthropic.claude-3-opus-20240229-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-v2:1",
]
RUNTIME_OPS = ["InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"]
INVALID = ("ValidationException", "max_tokens: range: 1..1000000")
REVOKED = ("InvalidClientTokenId", "The security token included in the request is invalid.")


@dataclass
class CrewSpec:
    """One crew's shape; the plans of bench/attribute_rings.py vary these by seed."""

    name: str
    egress: str = "fixed"  # fixed | rotating | pool
    keys: int = 3
    victims: int = 2
    azure_keys: int = 0
    gateway_key: bool = False
    rotation_h: int = 24
    per_period: int = 2  # rotating: egress hosts per period
    asns: int = 3  # rotating: hosting networks rotated through
    probe_only: int = 1  # rotating: hosts that only ever probed keys
    pool: int = 1500  # pool: residential addresses available
    hosts: int = 2  # fixed: egress hosts
    vpn_share: float = 0.0
    ua: str = "own"  # own | common
    tool_change_day: float | None = None
    rate: float = 40.0  # egress calls per busy hour
    check_min: int = 90
    start_day: float = 0.2
    control_plane: bool = True


@dataclass
class Stolen:
    key: Key
    victim: LegitOrg
    leak: int
    got: int  # first check
    live_from: int = 0  # egress may use it from here
    revoked: int | None = None  # the owner deactivated it
    dropped: int | None = None  # the crew noticed (failed check)
    regions: list[str] = field(default_factory=list)


def _sdk_ua(rng: random.Random, kind: str) -> str:
    """A client string of the crew's own tooling: a fresh build nobody else sends."""
    if kind == "py-win":
        b = f"1.{rng.randint(26, 29)}.{rng.randint(1, 80)}"
        return (
            f"Boto3/{b} md/Botocore#1.{rng.randint(29, 32)}.{rng.randint(1, 80)} ua/2.0 os/windows#10 "
            f"md/arch#amd64 lang/python#3.10.{rng.randint(4, 11)} md/pyimpl#CPython cfg/retry-mode#legacy"
        )
    if kind == "node":
        v, node = f"3.{rng.randint(540, 690)}.0", rng.choice(["18.19.1", "20.14.0", "22.3.0"])
        kern = f"6.{rng.randint(1, 8)}.0"
        return f"aws-sdk-js/{v} ua/2.1 os/linux#{kern} lang/js md/nodejs#{node} api/bedrock-runtime#{v}"
    if kind == "go":
        sdk, go = f"1.{rng.randint(24, 32)}.{rng.randint(0, 9)}", f"1.22.{rng.randint(1, 6)}"
        api = f"1.{rng.randint(8, 20)}.{rng.randint(0, 9)}"
        return f"aws-sdk-go-v2/{sdk} os/linux lang/go#{go} md/GOOS#linux md/GOARCH#amd64 " + (
            f"api/bedrockruntime#{api}"
        )
    if kind == "cli":
        cli, crt = (
            f"2.{rng.randint(9, 16)}.{rng.randint(0, 30)}",
            f"0.{rng.randint(16, 20)}.{rng.randint(0, 19)}",
        )
        os_part = rng.choice(["windows#10", "macos#23.5.0", "linux#5.15.0-105-generic"])
        return (
            f"aws-cli/{cli} md/awscrt#{crt} ua/2.0 os/{os_part} md/arch#x86_64 "
            "md/prompt#off md/command#bedrock.put-use-case-for-model-access"
        )
    return f"python-requests/2.{rng.randint(25, 32)}.{rng.randint(0, 3)}"


class Crew:
    """One crew acting on the world: its hosts, keys, clients and kill chain."""

    def __init__(
        self, spec: CrewSpec, plan: AddressPlan, rng: random.Random, t0: int, t1: int, vpn: list[str]
    ) -> None:
        self.spec, self.plan, self.rng, self.t1, self.vpn = spec, plan, rng, t1, vpn
        self.t0 = t0 + int(spec.start_day * DAY)
        self.checker = plan.hosts(rng.choice(HOSTING)[0], 1)[0]
        self.cp = plan.hosts(rng.choice(HOSTING)[0], 1)[0] if spec.control_plane else ""
        self.check_ua = _sdk_ua(rng, rng.choice(["py-win", "go", "requests"]))
        self.cp_ua = _sdk_ua(rng, "cli")
        self.egress_ua = (
            COMMON_UA if spec.ua == "common" else _sdk_ua(rng, rng.choice(["node", "go", "py-win"]))
        )
        self.new_ua = _sdk_ua(rng, "node" if "node" not in self.egress_ua else "go")
        self.stolen: list[Stolen] = []
        self.azure: list[Stolen] = []
        self.gw: Stolen | None = None
        nets = rng.sample(HOSTING, min(spec.asns, len(HOSTING)))
        self.rot_asns = [a[0] for a in nets]
        self.periods: dict[int, list[str]] = {}
        self.fixed = [plan.hosts(rng.choice(HOSTING)[0], 1)[0] for _ in range(spec.hosts)]
        self.pool: list[str] = (
            plan.residential(spec.pool, max(2, spec.pool // 300)) if spec.egress == "pool" else []
        )
        self.end_users = [f"user_{rng.getrandbits(32):08x}" for _ in range(rng.randint(20, 60))]
        self.world_t0 = t0
        self.probers: set[str] = set()  # rotating: hosts that only ever probed
        self.vpn_hours = rng.randint(2, 6)
        self.vpn_sessions: dict[int, str] = {}

    # -- infrastructure --------------------------------------------------------------------------

    def period_hosts(self, k: int) -> list[str]:
        """The rotating egress hosts of period ``k``: fresh /24s, the hosting network changing."""
        got = self.periods.get(k)
        if got is None:
            asn = self.rot_asns[k % len(self.rot_asns)]
            got = self.periods[k] = [self.plan.hosts(asn, 1)[0] for _ in range(self.spec.per_period)]
        return got

    def vpn_exit(self, t: int) -> str:
        """The VPN exit the crew's tunnel holds at ``t``, or "" while it is off: the tunnel is up for
        a ``vpn_share`` of sessions of 2-6 hours, each on one exit."""
        if not self.vpn:
            return ""
        k = t // (self.vpn_hours * HOUR)
        got = self.vpn_sessions.get(k)
        if got is None:
            on = self.rng.random() < self.spec.vpn_share
            got = self.vpn_sessions[k] = self.rng.choice(self.vpn) if on else ""
        return got

    def egress_ip(self, t: int) -> str:
        s = self.spec
        exit_ip = self.vpn_exit(t)
        if exit_ip:
            return exit_ip
        if s.egress == "rotating":
            k = (t - self.t0) // (s.rotation_h * HOUR)
            if k > 0 and (t - self.t0) % (s.rotation_h * HOUR) < 2 * HOUR and self.rng.random() < 0.15:
                k -= 1  # the old hosts drain for a while after a rotation
            return self.rng.choice(self.period_hosts(k))
        return self.rng.choice(self.fixed)

    def ua_at(self, t: int) -> str:
        tc = self.spec.tool_change_day
        return self.new_ua if tc is not None and t >= self.world_t0 + int(tc * DAY) else self.egress_ua

    # -- the kill chain --------------------------------------------------------------------------

    def check_aws(self, w: Writer, s: Stolen, t: int, ip: str) -> bool:
        """One key check; False when the key no longer works (then the crew drops it)."""
        rng, name = self.rng, self.spec.name
        dead = s.revoked is not None and t >= s.revoked
        w.aws(
            name,
            "checker",
            t,
            s.key,
            "GetCallerIdentity",
            ip,
            self.check_ua,
            "us-east-1",
            source="sts.amazonaws.com",
            error=REVOKED if dead else None,
        )
        if dead:
            s.dropped = t
            return False
        region = s.victim.org.region
        w.aws(
            name,
            "checker",
            t + rng.randint(1, 3),
            s.key,
            "GetModelInvocationLoggingConfiguration",
            ip,
            self.check_ua,
            region,
        )
        for i, model in enumerate(rng.sample(RING_MODELS, rng.randint(3, 5))):
            w.aws(
                name,
                "checker",
                t + 4 + i * rng.randint(1, 4),
                s.key,
                "InvokeModel",
                ip,
                self.check_ua,
                region,
                params={"modelId": model},
                error=INVALID,
            )
        return True

    def checker_loop(self, w: Writer, s: Stolen) -> None:
        t, every = s.got, self.spec.check_min * 60
        while t < self.t1:
            exit_ip = self.vpn_exit(t) if self.rng.random() < 0.5 else ""  # the checker, half the time
            ip = exit_ip or self.checker
            if not self.check_aws(w, s, t, ip):
                return
            t += every + self.rng.randint(-300, 300)

    def enable_models(self, w: Writer, s: Stolen, t: int) -> int:
        """Model access enablement and logging deletion on the victim's account; returns its end."""
        rng, name, ip, ua, region = self.rng, self.spec.name, self.cp, self.cp_ua, s.victim.org.region
        model = RING_MODELS[0]
        for op in (
            "ListFoundationModels",
            "GetFoundationModelAvailability",
            "GetUseCaseForModelAccess",
            "PutUseCaseForModelAccess",
            "ListFoundationModelAgreementOffers",
            "CreateFoundationModelAgreement",
            "PutFoundationModelEntitlement",
        ):
            w.aws(name, "control-plane", t, s.key, op, ip, ua, region, params={"modelId": model})
            t += rng.randint(2, 20)
        for _ in range(rng.randint(3, 8)):
            w.aws(
                name,
                "control-plane",
                t,
                s.key,
                "GetFoundationModelAvailability",
                ip,
                ua,
                region,
                params={"modelId": model},
            )
            t += rng.randint(9, 12)
        if s.victim.org.logging:
            w.aws(
                name, "control-plane", t, s.key, "DeleteModelInvocationLoggingConfiguration", ip, ua, region
            )
            s.victim.org.logging_off_at = t
        return t

    def acquire(self, w: Writer) -> None:
        """First checks, enablement per account, then the daily control-plane look and the checks."""
        enabled: set[str] = set()
        for s in sorted(self.stolen, key=lambda x: x.got):
            account = s.key.principal["accountId"]
            if self.spec.control_plane and account not in enabled:
                enabled.add(account)
                s.live_from = self.enable_models(w, s, s.got + self.rng.randint(600, 3000)) + 60
                for day in range(1, 6):
                    t = s.live_from + day * DAY + self.rng.randint(-3 * HOUR, 3 * HOUR)
                    if t < self.t1 and (s.revoked is None or t < s.revoked):
                        w.aws(
                            self.spec.name,
                            "control-plane",
                            t,
                            s.key,
                            "GetModelInvocationLoggingConfiguration",
                            self.cp,
                            self.cp_ua,
                            s.victim.org.region,
                        )
            else:
                s.live_from = s.got + self.rng.randint(300, 1200)
            self.checker_loop(w, s)

    def live(self, t: int) -> list[Stolen]:
        return [s for s in self.stolen if s.live_from <= t and (s.dropped is None or t < s.dropped)]

    def probe_from(self, w: Writer, ip: str, t: int, keys: list[Stolen]) -> None:
        """A new egress host validates the pool's keys before serving (invalid bodies)."""
        for s in keys[:3]:
            w.aws(
                self.spec.name,
                "egress" if ip not in self.probers else "checker",
                t,
                s.key,
                "InvokeModel",
                ip,
                self.egress_ua if ip not in self.probers else self.check_ua,
                s.regions[0],
                params={"modelId": self.rng.choice(RING_MODELS)},
                error=INVALID,
            )
            t += self.rng.randint(1, 5)

    def egress(self, w: Writer) -> None:
        """The reverse proxy's model calls, around the clock."""
        rng, s = self.rng, self.spec
        pool_left: list[str] = self.pool[:]
        rng.shuffle(pool_left)
        session: tuple[str, int] = ("", 0)
        # a pool crew's rate spends most of its pool at ~3 calls an address (busy hours average ~0.55)
        rate = (
            s.rate if s.egress != "pool" else max(s.rate, 2.7 * s.pool / ((self.t1 - self.t0) / HOUR) / 0.55)
        )
        seen_hosts: set[str] = set()
        for t in poisson_times(rng, self.t0, self.t1, rate, "server", -6):  # customers: US evenings
            live = self.live(t)
            azure_live = [a for a in self.azure if a.live_from <= t]
            if not live and not azure_live:
                continue
            if s.egress == "pool" and self.vpn_exit(t):
                ip = self.vpn_exit(t)
            elif s.egress == "pool":
                ip, left = session
                if left <= 0 or not ip:
                    if not pool_left:
                        continue
                    ip, left = pool_left.pop(), rng.randint(1, 5)
                session = (ip, left - 1)
            else:
                ip = self.egress_ip(t)
            if s.egress == "rotating" and ip not in seen_hosts and ip not in self.vpn and live:
                seen_hosts.add(ip)
                self.probe_from(w, ip, t - rng.randint(120, 900), live)
            ua = self.ua_at(t)
            if azure_live and (not live or rng.random() < 0.25):
                a = rng.choice(azure_live)
                op = "ImageGenerations_Create" if rng.random() < 0.3 else "ChatCompletions_Create"
                w.azure(
                    s.name,
                    "egress",
                    t,
                    a.victim.org,
                    a.key,
                    ip,
                    op,
                    "2024-02-15-preview",
                    rng.randint(200, 3000),
                    rng.randint(500, 9000),
                )
                continue
            if self.gw is not None and rng.random() < 0.2:
                g = self.gw
                w.gateway(
                    s.name,
                    "egress" if s.egress != "pool" else "proxy-pool",
                    t,
                    g.key,
                    g.victim.org.subscription,
                    ip,
                    ua,
                    rng.choice(self.end_users),
                    forwarded=False,
                    tokens=(rng.randint(800, 9000), rng.randint(200, 3000)),
                )
                continue
            k = rng.choice(live)
            err = (
                ("ThrottlingException", "Too many requests, please wait before trying again.")
                if rng.random() < 0.04
                else None
            )
            role = "proxy-pool" if s.egress == "pool" and ip not in self.vpn else "egress"
            w.aws(
                s.name,
                role,
                t,
                k.key,
                rng.choice(RUNTIME_OPS),
                ip,
                ua,
                rng.choice(k.regions),
                params={"modelId": rng.choice(RING_MODELS[:4])},
                error=err,
            )
        if s.egress == "rotating":
            for _ in range(s.probe_only):  # hosts the crew only ever probed keys from, on one day
                ip = self.plan.hosts(rng.choice(self.rot_asns), 1)[0]
                self.probers.add(ip)
                t = rng.randrange(self.t0, self.t1 - HOUR)
                keys = self.live(t)
                if keys:
                    self.probe_from(w, ip, t, keys)

    def azure_checks(self, w: Writer) -> None:
        for a in self.azure:
            t = a.got
            while t < self.t1:
                w.azure(
                    self.spec.name,
                    "checker",
                    t,
                    a.victim.org,
                    a.key,
                    self.checker,
                    "ChatCompletions_Create",
                    "2023-09-01-preview",
                    self.rng.randint(40, 90),
                    self.rng.randint(150, 260),
                )
                t += HOUR + self.rng.randint(-120, 120)

    def gateway_checks(self, w: Writer) -> None:
        g = self.gw
        if g is None:
            return
        t = g.got
        while t < self.t1:
            w.gateway(
                self.spec.name,
                "checker",
                t,
                g.key,
                g.victim.org.subscription,
                self.checker,
                self.check_ua,
                "",
                forwarded=False,
                tokens=(8, 1),
            )
            t += 6 * HOUR + self.rng.randint(-600, 600)

    def run(self, w: Writer) -> None:
        self.acquire(w)
        for a in self.azure:
            a.live_from = a.got + self.rng.randint(600, 2400)
        if self.gw is not None:
            self.gw.live_from = self.gw.got + 900
        self.azure_checks(w)
        self.gateway_checks(w)
        self.egress(w)


def steal(
    crew: Crew, victims: list[LegitOrg], rng: random.Random, t0: int, t1: int, revoke_p: float
) -> list[Stolen]:
    """Pick the crew's leaked keys from ``victims`` and time their leaks, checks and revocations."""
    spec, out = crew.spec, []
    aws_v = [v for v in victims if v.org.kind == "aws"]
    for i in range(spec.keys):
        v = aws_v[i % len(aws_v)]
        free = [a for a in v.apps if not getattr(a.key, "crew", None)]
        app: App = rng.choice(free) if free else rng.choice(v.apps)
        if getattr(app.key, "crew", None):  # every key of this victim is taken: it leaks a new one
            key = aws_key(rng, v.org.subscription, v.org.id, f"svc-dev-{rng.randrange(1000)}")
            v.org.keys.append(key)
            office = [ip for ip, kind in v.addresses.items() if kind in ("office", "remote")]
            app = App(key, office, app.ua, 3.0, "office", app.models, "office")
            v.apps.append(app)
        app.key.crew = spec.name
        leak = crew.t0 + int(rng.uniform(0, 0.45) * (t1 - crew.t0)) if i else crew.t0
        s = Stolen(app.key, v, leak, leak + rng.randint(4 * 60, 40 * 60))
        s.regions = [v.org.region, *rng.sample([r for r in AWS_REGIONS if r != v.org.region], 2)]
        if rng.random() < revoke_p and s.got + 30 * HOUR < t1:
            s.revoked = s.got + rng.randint(30 * HOUR, 60 * HOUR)
            new = aws_key(rng, v.org.subscription, v.org.id, f"{app.key.label}-rotated")
            v.org.keys.append(new)
            app.until, app.next = s.revoked, new
        out.append(s)
    crew.stolen = out
    az = [v for v in victims if v.org.kind == "azure"]
    for i in range(spec.azure_keys):
        v = az[i % len(az)]
        key = v.org.keys[1] if getattr(v.org.keys[0], "crew", None) else v.org.keys[0]
        key.crew = spec.name
        leak = crew.t0 + int(rng.uniform(0.05, 0.4) * (t1 - crew.t0))
        crew.azure.append(Stolen(key, v, leak, leak + rng.randint(5 * 60, 50 * 60)))
    gws = [v for v in victims if v.org.kind == "litellm"]
    if spec.gateway_key and gws:
        v = gws[0]
        v.org.keys[0].crew = spec.name
        t = crew.t0 + int(rng.uniform(0.05, 0.3) * (t1 - crew.t0))
        crew.gw = Stolen(v.org.keys[0], v, 0, t)  # stolen, not leaked: no leak time
    return out


def admin_actor(w: Writer, oa: LegitOrg, rng: random.Random, t0: int, t1: int) -> tuple[Key, int]:
    """The OpenAI admin key, leaked and abused: new keys and projects under an ``api_key`` actor.

    Returns (key, leak time). The audit log names the key's id and no address or client."""
    key = oa.org.keys[0]
    key.crew = "admin-key"
    leak = t0 + int(rng.uniform(0.1, 0.5) * (t1 - t0))
    t = leak + rng.randint(8 * 60, 35 * 60)
    actor = openai_audit.key_actor(key.key_id, oa.org.users[-1])
    for i in range(rng.randint(3, 6)):
        new_id = "key_" + expand("{{alnum:16}}", rng)
        w.audit(
            "admin-key",
            t,
            "api_key.created",
            actor,
            {"id": new_id, "data": {"scopes": ["/v1/*"]}},
            fp=key.fingerprint,
        )
        if i == 0:
            w.audit(
                "admin-key",
                t + 95,
                "project.created",
                actor,
                {"id": "proj_" + hexid(rng, 24), "data": {"name": "default-2", "title": "default-2"}},
                fp=key.fingerprint,
            )
        t += rng.randint(2 * HOUR, 20 * HOUR)
        if t >= t1:
            break
    return key, leak

"""The legitimate half of a harder-ring world (bench/attribute_rings.py): the address plan, the
organisations with their keys, networks, clients and daily rhythm, their traffic, and the writer
every record (legitimate or a crew's) goes through so the truth file is exact.

Why a world of its own and not ``ringbreaker simulate``: attribute v2 is judged on worlds its
author did not generate. The records are still the providers' shapes, written by the simulator's
format writers (CloudTrail, Azure diagnostics, LiteLLM SpendLogs, OpenAI audit log), so
``ringbreaker ingest`` reads them as it reads real exports.

Addresses are never routed: 198.18.0.0/15 (RFC 2544) for offices, clouds, CI runners, VPS and VPN
exits; 240.0.0.0/8 (reserved) for residential broadband, where both legitimate remote staff and
the residential proxy pools live, as real proxy exits are home connections. Each network is given
a real ASN and name (``ASNS``) in the GeoLite2-ASN-shaped database the runner writes, so detection
and attribution see hosting, VPN and broadband networks as they would in the field.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringbreaker.rules.examples import expand
from ringbreaker.simulate import azure_diag, cloudtrail, litellm, openai_audit
from ringbreaker.simulate.sink import Sink
from ringbreaker.simulate.timefmt import parse
from ringbreaker.simulate.world import NAMES as SIM_NAMES
from ringbreaker.simulate.world import Key, Org, sha256
from ringbreaker.simulate.world import _aws_key as _sim_aws_key

START = parse("2025-04-03T00:00:00Z")  # a Thursday: the window holds a weekend
DAY = 86_400
HOUR = 3_600

# (asn, organisation, kind): kind hosting | vpn | ci | enterprise | residential
ASNS: list[tuple[int, str, str]] = [
    (16509, "AMAZON-02", "hosting"),
    (14061, "DIGITALOCEAN-ASN", "hosting"),
    (24940, "Hetzner Online GmbH", "hosting"),
    (16276, "OVH SAS", "hosting"),
    (20473, "AS-CHOOPA (Vultr)", "hosting"),
    (51167, "Contabo GmbH", "hosting"),
    (63949, "Akamai Connected Cloud (Linode)", "hosting"),
    (36352, "ColoCrossing", "hosting"),
    (9009, "M247 Europe SRL", "vpn"),
    (8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "ci"),
    (3320, "Deutsche Telekom AG", "enterprise"),
    (2856, "British Telecommunications PLC", "enterprise"),
    (701, "Verizon Business", "enterprise"),
    (7922, "Comcast Cable Communications, LLC", "residential"),
    (20115, "Charter Communications", "residential"),
    (3215, "Orange S.A.", "residential"),
    (12322, "Free SAS", "residential"),
    (6830, "Liberty Global", "residential"),
    (5089, "Virgin Media Limited", "residential"),
    (22773, "Cox Communications Inc.", "residential"),
]
HOSTING = [a for a in ASNS if a[2] == "hosting"]
RESIDENTIAL = [a for a in ASNS if a[2] == "residential"]
ENTERPRISE = [a for a in ASNS if a[2] == "enterprise"]
VPN_ASN = next(a for a in ASNS if a[2] == "vpn")
CI_ASN = next(a for a in ASNS if a[2] == "ci")

AWS_REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "eu-west-3", "ap-northeast-1", "eu-west-1"]
LEGIT_MODELS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "amazon.titan-text-express-v1",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "meta.llama3-70b-instruct-v1:0",
]
AZURE_DEPLOYMENTS = [("gpt-4o", "gpt-4o", "2024-08-06"), ("gpt-4o-mini", "gpt-4o-mini", "2024-07-18")]
GATEWAY_MODELS = [
    ("gpt-4o-mini", "openai", "https://api.openai.com/v1"),
    ("claude-3-5-sonnet", "bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com"),
]
# The popular client string some legitimate organisations and two unrelated crews both send.
COMMON_UA = (
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.220-209.869.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144"
)
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# the simulator's sixteen organisation names and more: a world here has 25 or more
MORE_NAMES = (
    "wonka duff krusty sirius prestige abstergo aperture blackmesa dunder pied rekall weyland zorg octan"
)
NAMES = [*SIM_NAMES, *MORE_NAMES.split()]


def boto_ua(rng: random.Random) -> str:
    b = rng.choice(["1.35.36", "1.34.162", "1.35.10", "1.35.54", "1.33.13"])
    py = rng.choice(["3.11.9", "3.12.4", "3.10.14", "3.12.7"])
    kern = rng.choice(["5.10.225-213.878.amzn2.x86_64", "6.1.109-118.189.amzn2023.x86_64", "6.8.0-1015-aws"])
    return (
        f"Boto3/{b} md/Botocore#{b} ua/2.0 os/linux#{kern} md/arch#x86_64 lang/python#{py} "
        f"md/pyimpl#CPython cfg/retry-mode#legacy Botocore/{b}"
    )


def cli_ua(rng: random.Random, os_part: str = "Linux/6.5.0-35-generic exe/x86_64.ubuntu.22") -> str:
    v = rng.choice(["2.15.30", "2.17.20", "2.13.4", "2.18.1"])
    return f"aws-cli/{v} md/awscrt#0.19.19 ua/2.0 os/{os_part} md/prompt#off md/command#bedrock.list"


@dataclass(frozen=True, slots=True)
class Net:
    """One /24 network: its first three octets and who announces it."""

    prefix: str
    asn: int
    as_org: str
    kind: str


class AddressPlan:
    """Hands out /24s in per-ASN blocks, then addresses in them; records what the ASN database says."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.blocks: dict[int, list[str]] = {}  # asn -> free /24 prefixes of its block
        self.cidrs: list[tuple[str, int, str]] = []  # (cidr, asn, org) for the mmdb
        self.used: set[str] = set()
        dc = [f"198.{18 + i // 256}.{i % 256}" for i in range(512)]
        nonres = [a for a in ASNS if a[2] != "residential"]
        per = len(dc) // len(nonres)  # 39 /24s per hosting / enterprise / VPN / CI network
        for i, (asn, org, _) in enumerate(nonres):
            block = dc[i * per : (i + 1) * per]
            self.blocks[asn] = block
            self.cidrs += [(f"{p}.0/24", asn, org) for p in block]
        for i, (asn, org, _) in enumerate(RESIDENTIAL):  # a /12 (4096 /24s) per broadband ISP
            base = i * 16
            self.blocks[asn] = [f"240.{base + j // 256}.{j % 256}" for j in range(4096)]
            self.cidrs.append((f"240.{base}.0.0/12", asn, org))
        for b in self.blocks.values():
            rng.shuffle(b)
        self.kind = {a[0]: a for a in ASNS}

    def net(self, asn: int) -> Net:
        """A fresh /24 of ``asn``."""
        prefix = self.blocks[asn].pop()
        a = self.kind[asn]
        return Net(prefix, asn, a[1], a[2])

    def host(self, net: Net) -> str:
        """A fresh address in ``net``."""
        while True:
            ip = f"{net.prefix}.{self.rng.randrange(2, 254)}"
            if ip not in self.used:
                self.used.add(ip)
                return ip

    def hosts(self, asn: int, n: int) -> list[str]:
        net = self.net(asn)
        return [self.host(net) for _ in range(n)]

    def residential(self, n: int, nets_per_isp: int) -> list[str]:
        """``n`` fresh broadband addresses spread over ``nets_per_isp`` /24s of every ISP (a proxy pool)."""
        nets = [self.net(a[0]) for a in RESIDENTIAL for _ in range(nets_per_isp)]
        return [self.host(self.rng.choice(nets)) for _ in range(n)]


@dataclass
class Usage:
    """What one actor did from one thing (address, user agent or key): exact first/last and count."""

    first: int
    last: int
    events: int = 0
    role: str = ""
    formats: set[str] = field(default_factory=set)

    def see(self, t: int, fmt: str) -> None:
        self.first, self.last = min(self.first, t), max(self.last, t)
        self.events += 1
        self.formats.add(fmt)


class Writer:
    """Every record of a world goes through here: the format writer, and the truth of who did what."""

    def __init__(self, out: Path, seed: int, rng: random.Random) -> None:
        self.sink = Sink(out, seed)
        self.rng = rng
        self.ips: dict[str, dict[str, Usage]] = defaultdict(dict)  # actor -> ip -> usage
        self.uas: dict[str, dict[str, Usage]] = defaultdict(dict)
        self.keys: dict[str, dict[str, Usage]] = defaultdict(dict)  # actor -> fingerprint -> usage

    def _see(
        self, table: dict[str, dict[str, Usage]], actor: str, thing: str, t: int, fmt: str, role: str
    ) -> None:
        u = table[actor].get(thing)
        if u is None:
            u = table[actor][thing] = Usage(t, t, role=role)
        u.see(t, fmt)

    def note(
        self, actor: str, t: int, fmt: str, *, ip: str = "", role: str = "", ua: str = "", fp: str = ""
    ) -> None:
        if ip:
            self._see(self.ips, actor, ip, t, fmt, role)
        if ua:
            self._see(self.uas, actor, ua, t, fmt, "")
        if fp:
            self._see(self.keys, actor, fp, t, fmt, "")

    def aws(
        self,
        actor: str,
        role: str,
        t: int,
        key: Key,
        name: str,
        ip: str,
        ua: str,
        region: str,
        *,
        source: str = "bedrock.amazonaws.com",
        params: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        """One CloudTrail record of ``key``'s principal (in the key owner's account)."""
        cloudtrail.emit(
            self.sink, self.rng, t, key.principal, source, name, region, ip, ua, params=params, error=error
        )
        self.note(actor, t, "cloudtrail", ip=ip, role=role, ua=ua, fp=key.fingerprint)

    def azure(
        self,
        actor: str,
        role: str,
        t: int,
        org: Org,
        key: Key,
        ip: str,
        op: str,
        api: str,
        req: int,
        resp: int,
    ) -> None:
        """One Azure OpenAI data-plane call with ``key`` (the log names the resource and a masked /24)."""
        dep = org.deployments[0] if op != "ImageGenerations_Create" else ("dall-e-3", "dall-e-3", "3.0")
        dur = self.rng.randint(150, 9000)
        azure_diag.request(self.sink, self.rng, t, org, ip, op, dep, api, req, resp, dur)
        self.note(actor, t, "azure-diagnostics", ip=ip, role=role, fp=key.fingerprint)

    def gateway(
        self,
        actor: str,
        role: str,
        t: int,
        key: Key,
        team: str,
        ip: str,
        ua: str,
        end_user: str,
        *,
        forwarded: bool,
        tokens: tuple[int, int],
        status: str = "success",
    ) -> None:
        """One LiteLLM SpendLogs row of a call with virtual key ``key``."""
        model = GATEWAY_MODELS[self.rng.randrange(len(GATEWAY_MODELS))]
        litellm.emit(
            self.sink,
            self.rng,
            t,
            key.key_id,
            team,
            model,
            ip,
            ua,
            end_user,
            forwarded,
            None,
            *tokens,
            status,
        )
        self.note(actor, t, "litellm-spendlogs", ip=ip, role=role, ua=ua, fp=key.fingerprint)

    def audit(
        self, actor: str, t: int, kind: str, who: dict[str, Any], payload: dict[str, Any], fp: str = ""
    ) -> None:
        """One OpenAI organisation audit-log event."""
        openai_audit.emit(self.sink, self.rng, t, kind, who, payload)
        sess = who.get("session") or {}
        self.note(
            actor, t, "openai-audit", ip=sess.get("ip_address", ""), ua=sess.get("user_agent", ""), fp=fp
        )


def aws_key(rng: random.Random, account: str, org_id: str, user: str) -> Key:
    """A fake long-term IAM user key pair (fingerprint: SHA-256 of the access key id, as scan):
    the simulator's own maker, so both worlds' AWS keys have one shape."""
    return _sim_aws_key(rng, account, org_id, user)


@dataclass
class App:
    """A legitimate workload on one key: where it calls from, with what, how often and when."""

    key: Key
    ips: list[str]  # CI: the runner /24 prefixes
    ua: str
    rate: float  # calls (CI: jobs) per busy hour
    shape: str  # office | server | ci
    models: list[str]
    role: str  # office | cloud | ci | remote | vpn
    until: int | None = None  # the key was revoked: the app moved to ``next``
    next: Key | None = None


@dataclass
class LegitOrg:
    org: Org
    tz: int
    apps: list[App] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)  # ip -> kind


def busy(shape: str, t: int, tz: int) -> float:
    """How busy a workload is at ``t``: office hours, servers with a day peak, CI at night and on pushes."""
    local = (t // HOUR + tz) % 24
    weekday = ((t + tz * HOUR) // DAY + 3) % 7 < 5  # day 0 of the epoch was a Thursday
    if shape == "office":
        f = 1.0 if 9 <= local < 18 else 0.35 if 7 <= local < 21 else 0.03
        return f if weekday else f * 0.1
    if shape == "ci":
        return (1.0 if local == 2 else 0.25 if 9 <= local < 19 else 0.0) * (1.0 if weekday else 0.3)
    return (0.35 + 0.65 * math.exp(-(((local - 14) / 4.0) ** 2))) * (1.0 if weekday else 0.6)


def build_legit(
    plan: AddressPlan, rng: random.Random, n_aws: int, n_azure: int, n_gw: int, vpn_exits: list[str]
) -> tuple[list[LegitOrg], LegitOrg | None]:
    """Organisations with keys, networks and apps; returns (orgs, the OpenAI organisation or None)."""
    names = NAMES[:]
    rng.shuffle(names)
    runners = [plan.net(CI_ASN[0]).prefix for _ in range(16)]  # GitHub-hosted runners: any job, any address
    orgs: list[LegitOrg] = []
    for i in range(n_aws):
        name = names.pop()
        account = "".join(rng.choice("0123456789") for _ in range(12))
        o = Org(f"aws-{name}", "aws", name.title(), f"{name}.example", 0, [], region=AWS_REGIONS[i % 3])
        o.subscription, o.logging = account, rng.random() < 0.6
        lo = LegitOrg(o, rng.choice([-8, -5, -4, 0, 1, 2, 5, 9]))
        office = plan.hosts(rng.choice(ENTERPRISE)[0], rng.randint(2, 4))
        cloud_asn = rng.choice(HOSTING)[0] if rng.random() < 0.3 else 16509  # some orgs on VPS clouds
        cloud = plan.hosts(cloud_asn, rng.randint(1, 3))
        remote = [plan.residential(1, 1)[0] for _ in range(rng.randint(1, 3))]
        lo.addresses.update({**dict.fromkeys(office, "office"), **dict.fromkeys(cloud, "cloud")})
        lo.addresses.update(dict.fromkeys(remote, "remote"))
        server_ua = COMMON_UA if rng.random() < 0.3 else boto_ua(rng)
        models = rng.sample(LEGIT_MODELS, 2)
        for j, (shape, ips, ua, rate, role) in enumerate(
            [
                ("server", cloud, server_ua, rng.uniform(15, 35), "cloud"),
                (
                    "office",
                    office + remote,
                    cli_ua(rng) if rng.random() < 0.5 else boto_ua(rng),
                    rng.uniform(4, 10),
                    "office",
                ),
                ("ci", runners, boto_ua(rng) + " exec-env/GitHubActions", rng.uniform(2, 5), "ci"),
            ][: rng.randint(2, 3)]
        ):
            key = aws_key(rng, account, o.id, f"svc-{['app', 'dev', 'ci'][j]}-{rng.randrange(100)}")
            o.keys.append(key)
            lo.apps.append(App(key, ips, ua, rate, shape, models, role))
        orgs.append(lo)
    if vpn_exits:  # one organisation's remote staff sit behind the same commercial VPN as crews
        lo = rng.choice(orgs)
        app = next(a for a in lo.apps if a.shape == "office")
        app.ips = app.ips + vpn_exits[: max(2, len(vpn_exits) // 2)]
        lo.addresses.update(dict.fromkeys(vpn_exits[: max(2, len(vpn_exits) // 2)], "vpn"))
    for i in range(n_azure):
        name = names.pop()
        o = Org(f"azure-{name}", "azure", name.title(), f"{name}.example", 0, [], region="eastus")
        o.subscription = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        o.resource_group, o.account_name = f"rg-{name}-ai", f"{name}-openai-{rng.choice(['prod', 'eus'])}"
        o.deployments, o.props_as_string = AZURE_DEPLOYMENTS, i % 2 == 1
        lo = LegitOrg(o, rng.choice([-5, 0, 1, 9]))
        office = plan.hosts(rng.choice(ENTERPRISE)[0], 2)
        lo.addresses.update(dict.fromkeys(office, "office"))
        for label in ("key1", "key2"):
            k = expand("{{hex:32}}", rng)
            o.keys.append(Key("azure", k, o.resource_id, sha256(k), o.id, label))
        lo.apps.append(
            App(
                o.keys[0],
                office,
                f"AzureOpenAI/Python {rng.choice(['1.51.0', '1.47.1'])}",
                rng.uniform(8, 20),
                "office",
                [],
                "office",
            )
        )
        orgs.append(lo)
    for _ in range(n_gw):
        name = names.pop()
        o = Org(f"gw-{name}", "litellm", name.title(), f"{name}.example", 0, [])
        o.subscription = f"team-{name}"
        lo = LegitOrg(o, rng.choice([-5, 0, 1]))
        cloud = plan.hosts(rng.choice([16509, *[h[0] for h in HOSTING[:3]]]), 2)
        lo.addresses.update(dict.fromkeys(cloud, "cloud"))
        vk = expand("sk-{{urlsafe:22}}", rng)
        key = Key("litellm", vk, sha256(vk), sha256(vk), o.id, f"{name}-app")
        o.keys.append(key)
        lo.apps.append(
            App(
                key,
                cloud,
                f"OpenAI/Python {rng.choice(['1.51.0', '1.52.2'])}",
                rng.uniform(15, 30),
                "server",
                [],
                "cloud",
            )
        )
        orgs.append(lo)
    name = names.pop()
    o = Org(f"openai-{name}", "openai", name.title(), f"{name}.example", 0, [])
    o.subscription = "org-" + expand("{{alnum:24}}", rng)
    o.users = [(f"user-{expand('{{alnum:24}}', rng)}", f"{n}@{o.domain}") for n in ("alex", "kim", "ops")]
    k = expand("sk-admin-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}", rng)
    o.keys.append(Key("openai", k, "key_" + expand("{{alnum:16}}", rng), sha256(k), o.id, "admin-automation"))
    oa = LegitOrg(o, 1)
    oa.addresses.update(dict.fromkeys(plan.hosts(rng.choice(ENTERPRISE)[0], 2), "office"))
    return orgs, oa


def poisson_times(rng: random.Random, t0: int, t1: int, rate: float, shape: str, tz: int) -> list[int]:
    """Event times in [t0, t1): an inhomogeneous Poisson process, ``rate`` per busy hour."""
    out: list[int] = []
    h = t0 - t0 % HOUR
    while h < t1:
        lam = rate * busy(shape, h, tz)
        n = _poisson(rng, lam)
        out += [t for t in (h + rng.randrange(HOUR) for _ in range(n)) if t0 <= t < t1]
        h += HOUR
    return sorted(out)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    n, p, limit = 0, rng.random(), math.exp(-lam)
    while p > limit:
        n += 1
        p *= rng.random()
    return n


def _calls(rng: random.Random, app: App, t0: int, t1: int, tz: int) -> list[tuple[int, str]]:
    """An app's (time, address) calls; for CI, ``ips`` are runner /24s and a job is a burst of calls
    from one runner address drawn per job, as GitHub-hosted runners are handed out."""
    if app.shape != "ci":
        return [(t, rng.choice(app.ips)) for t in poisson_times(rng, t0, t1, app.rate, app.shape, tz)]
    out = []
    for job in poisson_times(rng, t0, t1, app.rate, "ci", tz):
        ip, t = f"{rng.choice(app.ips)}.{rng.randrange(2, 254)}", job
        for _ in range(rng.randint(3, 8)):
            out.append((t, ip))
            t += rng.randint(5, 60)
    return out


def legit_traffic(w: Writer, orgs: list[LegitOrg], oa: LegitOrg | None, t0: int, t1: int) -> None:
    """Every organisation's own calls, from its own addresses, with its own clients, on its rhythm."""
    rng = w.rng
    for lo in orgs:
        o = lo.org
        for app in lo.apps:
            for t, ip in _calls(rng, app, t0, t1, lo.tz):
                key = (
                    app.next if app.until is not None and app.next is not None and t >= app.until else app.key
                )
                if o.kind == "aws":
                    op = rng.choice(
                        ["InvokeModel", "InvokeModel", "Converse", "InvokeModelWithResponseStream"]
                    )
                    w.aws(
                        o.id,
                        app.role,
                        t,
                        key,
                        op,
                        ip,
                        app.ua,
                        o.region,
                        params={"modelId": rng.choice(app.models)},
                    )
                elif o.kind == "azure":
                    w.azure(
                        o.id,
                        app.role,
                        t,
                        o,
                        key,
                        ip,
                        "ChatCompletions_Create",
                        "2024-06-01",
                        rng.randint(400, 6000),
                        rng.randint(300, 4000),
                    )
                else:
                    w.gateway(
                        o.id,
                        app.role,
                        t,
                        key,
                        o.subscription,
                        ip,
                        app.ua,
                        f"u_{rng.getrandbits(24):06x}",
                        forwarded=True,
                        tokens=(rng.randint(200, 3000), rng.randint(50, 900)),
                    )
        if o.kind == "aws":  # admins now and then look at model access and logging from the office
            admin = next(a for a in lo.apps if a.shape in ("office", "server"))
            for day in range((t1 - t0) // DAY):
                if rng.random() < 0.5:
                    t = t0 + day * DAY + (10 - lo.tz) % 24 * HOUR + rng.randrange(HOUR)
                    ip = rng.choice([a for a, k in lo.addresses.items() if k == "office"])
                    for name in ("ListFoundationModels", "GetModelInvocationLoggingConfiguration"):
                        w.aws(o.id, "office", t, admin.key, name, ip, BROWSER_UA, o.region)
                        t += rng.randint(3, 40)
    if oa is not None:
        office = list(oa.addresses)
        for day in range((t1 - t0) // DAY):
            for user in oa.org.users:
                t = t0 + day * DAY + 8 * HOUR + rng.randrange(4 * HOUR)
                who = openai_audit.session_actor(user, rng.choice(office), BROWSER_UA)
                w.audit(oa.org.id, t, "login.succeeded", who, {})

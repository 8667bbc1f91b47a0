"""The simulated world: organisations, their keys, apps, egress IPs and habits.

Everything here is drawn from one seeded ``random.Random`` so a seed names one world. Keys are
fake, expanded from the same templates the secret rules test with, and fingerprinted exactly as
``ringbreaker scan`` does (SHA-256 of the key string; AWS: of the access key id), so a leak found by
scan and a request seen in telemetry join on the fingerprint.

IPs come from 198.18.0.0/15 (RFC 2544 benchmarking space, never routed), one /24 per tenant so the
masked Azure ``callerIpAddress`` (a.b.c.***) still tells tenants apart. The ASNs are documentation
ASNs (RFC 5398) with invented hosting names; ring proxies share some of those ASNs with legitimate
tenants, as real proxies sit in the same clouds as their victims.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ringbreaker.rules.examples import expand

# (ASN, organisation) pairs; first four are hosting/VPS, the rest enterprise and broadband.
ASNS: list[tuple[int, str]] = [
    (64496, "Example Cloud Compute"),
    (64497, "Tailspin VPS"),
    (64498, "Northwind Hosting"),
    (64499, "Proseware Edge"),
    (64500, "Contoso Enterprise Networks"),
    (64501, "Fabrikam Broadband"),
    (64502, "Litware Transit"),
    (64503, "Adatum Datacenter"),
]
HOSTING_ASNS = ASNS[:4]

AWS_REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "eu-west-3", "ap-northeast-1"]
AZURE_LOCATIONS = ["eastus", "swedencentral", "westeurope", "eastus2", "francecentral"]
BEDROCK_MODELS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "amazon.titan-text-express-v1",
]
RING_BEDROCK_MODELS = [
    "anthropic.claude-3-opus-20240229-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-v2:1",
]
AZURE_DEPLOYMENTS = [
    ("gpt-4o", "gpt-4o", "2024-08-06"),
    ("gpt-4o-mini", "gpt-4o-mini", "2024-07-18"),
    ("gpt-35-turbo", "gpt-35-turbo", "0125"),
    ("dall-e-3", "dall-e-3", "3.0"),
]
GATEWAY_MODELS = [
    ("gpt-4o-mini", "openai", "https://api.openai.com/v1"),
    ("gpt-4o", "openai", "https://api.openai.com/v1"),
    ("claude-3-5-sonnet", "bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com"),
    ("llama-3.1-70b", "together_ai", "https://api.together.xyz/v1"),
]
PY_VERSIONS = ["3.11.9", "3.12.4", "3.10.14", "3.12.7"]
BOTO_VERSIONS = ["1.35.36", "1.34.144", "1.35.10", "1.35.54"]
OPENAI_PY_VERSIONS = ["1.51.0", "1.47.1", "1.52.2", "1.45.0"]
NAMES = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "wayne",
    "stark",
    "tyrell",
    "soylent",
    "cyberdyne",
    "gringotts",
    "monarch",
    "oscorp",
    "massive",
    "nakatomi",
]
APP_KINDS = [
    "support-bot",
    "doc-search",
    "summariser",
    "code-review",
    "translator",
    "classifier",
    "sales-assist",
    "report-writer",
]


@dataclass(frozen=True, slots=True)
class Ip:
    """An egress address and who announces it."""

    ip: str
    asn: int
    as_org: str


@dataclass(slots=True)
class Key:
    """One credential. ``secret`` is the string scan finds; ``key_id`` is what the logs name."""

    provider: str  # aws | azure | litellm | openai
    secret: str
    key_id: str
    fingerprint: str
    owner: str
    label: str  # human handle: IAM user name, key1, virtual key alias, key name
    companion: str = ""  # AWS secret access key
    principal: dict[str, Any] = field(default_factory=dict)  # CloudTrail userIdentity
    leaked: bool = False
    leak_time: int | None = None
    leak_repo: str | None = None
    revoked_time: int | None = None
    compromised: bool = False
    first_abuse_time: int | None = None
    crew: str | None = None


@dataclass(slots=True)
class App:
    """A legitimate workload: who calls, from where, how often and with what client."""

    name: str
    user_agent: str
    ips: list[Ip]
    rate: float  # requests per working hour at scale 1
    models: list[str]
    key: Key | None = None
    end_users: list[str] = field(default_factory=list)
    object_id: str = ""  # Entra object id; empty means key auth


@dataclass(slots=True)
class Org:
    """A tenant of one provider. Provider-specific fields are empty for the others."""

    id: str
    kind: str  # aws | azure | litellm | openai
    name: str
    domain: str
    tz: int  # hours from UTC
    net: list[Ip]
    apps: list[App] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    region: str = ""  # AWS home region / Azure location
    logging: bool = False  # Bedrock invocation logging on in the home region
    logging_off_at: int | None = None  # when the ring deleted it
    image_from: int | None = None  # when the ring deployed DALL-E 3 on this Azure resource
    subscription: str = ""
    resource_group: str = ""
    account_name: str = ""
    deployments: list[tuple[str, str, str]] = field(default_factory=list)
    props_as_string: bool = False  # Azure diagnostics write `properties` as a JSON string
    store_prompts: bool = False  # LiteLLM stores messages/response
    users: list[tuple[str, str]] = field(default_factory=list)  # OpenAI (user id, email)

    @property
    def resource_id(self) -> str:
        return (
            f"/SUBSCRIPTIONS/{self.subscription.upper()}/RESOURCEGROUPS/{self.resource_group.upper()}"
            f"/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/{self.account_name.upper()}"
        )

    def logging_on(self, region: str, t: int) -> bool:
        """Is Bedrock invocation logging on in ``region`` at ``t``? Only the home region logs."""
        return (
            self.logging
            and region == self.region
            and (self.logging_off_at is None or t < self.logging_off_at)
        )

    def logging_mask(self, region: str, t: np.ndarray) -> np.ndarray | None:
        """``logging_on`` for a batch of times: None when nothing in ``region`` is logged."""
        if not self.logging or region != self.region:
            return None
        if self.logging_off_at is None:
            return np.ones(len(t), dtype=bool)
        return t < self.logging_off_at


def sha256(text: str) -> str:
    """The fingerprint scan computes."""
    return hashlib.sha256(text.encode()).hexdigest()


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class IpPool:
    """Hands out /24 networks of 198.18.0.0/15, never the same twice, each tied to an ASN."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        nets = list(range(512))
        rng.shuffle(nets)
        self.free = nets
        self.by_ip: dict[str, Ip] = {}

    def network(self, asn: tuple[int, str], hosts: int) -> list[Ip]:
        """``hosts`` addresses in one fresh /24 announced by ``asn``."""
        n = self.free.pop()
        base = f"198.{18 + n // 256}.{n % 256}"
        last = self.rng.sample(range(2, 254), hosts)
        ips = [Ip(f"{base}.{h}", asn[0], asn[1]) for h in last]
        for ip in ips:
            self.by_ip[ip.ip] = ip
        return ips


def _boto_ua(rng: random.Random) -> str:
    b, py = rng.choice(BOTO_VERSIONS), rng.choice(PY_VERSIONS)
    kern = rng.choice(["5.10.225-213.878.amzn2.x86_64", "6.1.109-118.189.amzn2023.x86_64", "6.8.0-1015-aws"])
    return (
        f"Boto3/{b} md/Botocore#{b} ua/2.0 os/linux#{kern} md/arch#x86_64 lang/python#{py} "
        f"md/pyimpl#CPython cfg/retry-mode#legacy Botocore/{b}"
    )


def _aws_key(rng: random.Random, account: str, org_id: str, user: str) -> Key:
    akid = expand("AKIA{{b32:16}}", rng)
    secret = expand("{{b64:40}}", rng)
    principal = {
        "type": "IAMUser",
        "principalId": expand("AIDA{{b32:17}}", rng),
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
        "accessKeyId": akid,
        "userName": user,
    }
    return Key("aws", akid, akid, sha256(akid), org_id, user, companion=secret, principal=principal)


def build_world(rng: random.Random, scale: float, start: int) -> tuple[list[Org], IpPool]:
    """Organisations of every provider with keys, apps and networks. Org counts grow with log2(scale)."""
    import math

    extra = max(0, int(math.log2(scale))) if scale >= 1 else 0
    pool = IpPool(rng)
    names = NAMES[:]
    rng.shuffle(names)
    orgs: list[Org] = []

    def base(kind: str, i: int) -> Org:
        name = names.pop() if names else f"org{len(orgs)}"
        asn = rng.choice(ASNS)
        return Org(
            id=f"{kind}-{name}",
            kind=kind,
            name=name.title(),
            domain=f"{name}.example",
            tz=rng.choice([-8, -5, 0, 1, 2, 9]),
            net=pool.network(asn, 3),
        )

    for i in range(3 + extra):
        o = base("aws", i)
        o.region = AWS_REGIONS[i % 2]  # us-east-1 / us-west-2 homes
        o.logging = i != 2  # one account without invocation logging
        account = "".join(rng.choice("0123456789") for _ in range(12))
        o.subscription = account
        for j in range(2):
            user = f"svc-{rng.choice(APP_KINDS)}-{j}"
            key = _aws_key(rng, account, o.id, user)
            o.keys.append(key)
            o.apps.append(
                App(
                    f"{o.name.lower()}-{user}",
                    _boto_ua(rng),
                    [rng.choice(o.net)],
                    rate=rng.uniform(8, 16),
                    models=rng.sample(BEDROCK_MODELS, 2),
                    key=key,
                )
            )
        o.admins = [f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_AdministratorAccess/ops@{o.domain}"]
        orgs.append(o)

    for i in range(3 + extra):
        o = base("azure", i)
        o.region = AZURE_LOCATIONS[i % len(AZURE_LOCATIONS)]
        o.subscription = rand_uuid(rng)
        o.resource_group = f"rg-{o.name.lower()}-ai"
        o.account_name = f"{o.name.lower()}-openai-{rng.choice(['prod', 'eus', 'main'])}"
        o.deployments = AZURE_DEPLOYMENTS[:3] if i % 2 == 0 else AZURE_DEPLOYMENTS[:2]
        o.props_as_string = i % 2 == 1
        for label in ("key1", "key2"):
            k = expand("{{hex:32}}", rng)
            o.keys.append(Key("azure", k, o.resource_id, sha256(k), o.id, label))
        o.admins = [f"admin@{o.domain}", f"platform@{o.domain}"]
        for j in range(2):
            v = rng.choice(OPENAI_PY_VERSIONS)
            entra = j == 0
            o.apps.append(
                App(
                    f"{o.name.lower()}-{rng.choice(APP_KINDS)}-{j}",
                    f"AzureOpenAI/Python {v}",
                    [rng.choice(o.net)],
                    rate=rng.uniform(10, 20),
                    models=[d[0] for d in o.deployments if d[1] != "dall-e-3"],
                    key=None if entra else o.keys[0],
                    object_id=rand_uuid(rng) if entra else "",
                )
            )
        orgs.append(o)

    for i in range(4 + extra):
        o = base("litellm", i)
        o.subscription = f"team-{o.name.lower()}"
        o.store_prompts = i % 2 == 0
        for j in range(2):
            vk = expand("sk-{{urlsafe:22}}", rng)
            key = Key("litellm", vk, sha256(vk), sha256(vk), o.id, f"{o.name.lower()}-app{j}")
            o.keys.append(key)
            v = rng.choice(OPENAI_PY_VERSIONS)
            o.apps.append(
                App(
                    f"{o.name.lower()}-{rng.choice(APP_KINDS)}-{j}",
                    f"OpenAI/Python {v}",
                    [rng.choice(o.net)],
                    rate=rng.uniform(10, 20),
                    models=[m[0] for m in rng.sample(GATEWAY_MODELS, 2)],
                    key=key,
                    end_users=[f"u_{rng.getrandbits(40):010x}" for _ in range(rng.randint(5, 15))],
                )
            )
        orgs.append(o)

    o = base("openai", 0)
    o.subscription = "org-" + expand("{{alnum:24}}", rng)
    o.users = [(f"user-{expand('{{alnum:24}}', rng)}", f"{n}@{o.domain}") for n in ("alex", "kim", "ops")]
    for label, tmpl in (
        ("prod-backend", "sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"),
        ("notebook", "sk-proj-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"),
        ("admin-automation", "sk-admin-{{urlsafe:74}}T3BlbkFJ{{urlsafe:74}}"),
    ):
        k = expand(tmpl, rng)
        o.keys.append(Key("openai", k, "key_" + expand("{{alnum:16}}", rng), sha256(k), o.id, label))
    orgs.append(o)
    return orgs, pool


def legit_entities(orgs: list[Org]) -> dict[str, list[str]]:
    """IPs, user agents and end users of the legitimate world, for truth.json."""
    ips = sorted({ip.ip for o in orgs for ip in o.net})
    uas = sorted({a.user_agent for o in orgs for a in o.apps} | {ADMIN_UA})
    users = sorted({u for o in orgs for a in o.apps for u in a.end_users})
    return {"ips": ips, "user_agents": uas, "end_users": users}


ADMIN_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"
)


def org_summary(o: Org) -> dict[str, Any]:
    """An organisation as truth.json records it (no secrets)."""
    d: dict[str, Any] = {
        "id": o.id,
        "kind": o.kind,
        "name": o.name,
        "domain": o.domain,
        "tz": o.tz,
        "ips": [{"ip": ip.ip, "asn": ip.asn, "as_org": ip.as_org} for ip in o.net],
        "apps": [{"name": a.name, "user_agent": a.user_agent, "ips": [i.ip for i in a.ips]} for a in o.apps],
        "keys": [k.fingerprint for k in o.keys],
    }
    if o.kind == "aws":
        d.update(account=o.subscription, region=o.region, invocation_logging=o.logging)
    elif o.kind == "azure":
        d.update(
            subscription=o.subscription,
            resource_group=o.resource_group,
            account_name=o.account_name,
            resource_id=o.resource_id,
            location=o.region,
            deployments=[x[0] for x in o.deployments],
        )
    elif o.kind == "litellm":
        d.update(team_id=o.subscription, store_prompts=o.store_prompts)
    else:
        d.update(organization=o.subscription)
    return d

"""The scenario world of bench/detect_scenarios.py: accounts, networks, models, user agents, and the
CloudTrail record builders every scenario uses (real record shapes, fake keys, documentation addresses)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
SEVERITY = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
MEDIUM = SEVERITY["medium"]

# ---------------------------------------------------------------------------------------------
# The world: accounts, networks (documentation ranges), models, user agents.
# ---------------------------------------------------------------------------------------------

PROD, DEV = "111122223333", "444455556666"  # acme's two accounts
GLOBEX, INITECH, UMBRELLA = "210987654321", "333344445555", "777788889999"  # unrelated victims (A5)

# (cidr, asn, organisation, country): what a GeoLite2-ASN database would say about each range.
ASN_MAP = [
    ("203.0.113.0/25", 3320, "Deutsche Telekom AG", "DE"),  # acme Berlin office egress
    ("203.0.113.128/25", 7922, "Comcast Cable Communications, LLC", "US"),  # hotel / home ISP
    ("198.51.100.0/25", 14061, "DIGITALOCEAN-ASN", "US"),  # attacker VPS
    ("198.51.100.128/25", 24940, "Hetzner Online GmbH", "DE"),  # attacker VPS
    ("192.0.2.0/26", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "US"),  # GitHub-hosted CI runners
    ("192.0.2.64/27", 16509, "AMAZON-02", "US"),  # acme's VPC NAT gateways (Elastic IPs)
    ("192.0.2.96/27", 16509, "AMAZON-02", "US"),  # CSPM vendor's scanners (on AWS)
    ("192.0.2.128/25", 9009, "M247 Europe SRL", "RO"),  # commercial VPN exit / attacker
]
OFFICE = ["203.0.113.10", "203.0.113.11", "203.0.113.12"]
HOTEL = "203.0.113.150"
NAT = ["192.0.2.70", "192.0.2.71"]
CSPM = "192.0.2.100"

OPUS = "anthropic.claude-3-opus-20240229-v1:0"
SONNET = "anthropic.claude-3-sonnet-20240229-v1:0"
SONNET35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
TITAN_TEXT = "amazon.titan-text-premier-v1:0"
LLAMA = "meta.llama3-70b-instruct-v1:0"
MISTRAL = "mistral.mistral-large-2402-v1:0"
COHERE = "cohere.command-r-plus-v1:0"

UA_CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-35-generic exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
UA_BOTO_LINUX = (
    "Boto3/1.34.120 md/Botocore#1.34.120 ua/2.0 os/linux#5.10.217-205.860.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.3 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.120"
)
UA_BOTO_MAC = (
    "Boto3/1.34.98 md/Botocore#1.34.98 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.12.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.98"
)
UA_CONSOLE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36"
)
UA_TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.4 (+https://www.terraform.io) terraform-provider-aws/5.53.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.27.1 os/linux "
    "lang/go#1.22.3 md/GOOS#linux md/GOARCH#amd64 api/bedrock#1.8.1"
)
UA_PROWLER = UA_BOTO_LINUX.replace("retry-mode#legacy", "retry-mode#standard") + " prowler/4.2.1"
UA_AXIOS = "axios/1.6.8"
UA_REQUESTS = "python-requests/2.31.0"
UA_NODE_SDK = (
    "aws-sdk-js/3.583.0 ua/2.0 os/linux#5.15.0-107-generic lang/js md/nodejs#18.19.0 "
    "api/bedrock-runtime#3.583.0"
)
UA_BOTO_ATTACK = (
    "Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.57"
)

ERRORS = {
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ValidationException": "Malformed input request: #: required key [messages] not found, please reformat "
    "your input and try again.",
    "ResourceNotFoundException": "Model use case details have not been submitted for this account. Fill out "
    "the Anthropic use case details form before using the model.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
}
RUNTIME = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "ApplyGuardrail"}
END = dt.datetime(2025, 6, 16, tzinfo=dt.UTC)  # a Monday; scenarios end around here


def day(n: int) -> dt.datetime:
    """Midnight UTC ``n`` days before END (negative n: after)."""
    return END - dt.timedelta(days=n)


# ---------------------------------------------------------------------------------------------
# CloudTrail record builders.
# ---------------------------------------------------------------------------------------------


class Gen:
    """Deterministic ids, keys and times for one scenario."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def chars(self, n: int) -> str:
        return "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))

    def key(self, prefix: str = "AKIA") -> str:
        return prefix + self.chars(16)

    def times(self, start: dt.datetime, n: int, hours: float) -> list[dt.datetime]:
        """``n`` sorted random times in ``[start, start + hours)``."""
        span = int(hours * 3600)
        return sorted(start + dt.timedelta(seconds=self.rng.randrange(span)) for _ in range(n))

    def workdays(self, first: int, last: int) -> Iterable[dt.datetime]:
        """Midnights of the weekdays from ``first`` to ``last`` days before END."""
        for n in range(first, last - 1, -1):
            d = day(n)
            if d.weekday() < 5:
                yield d


@dataclass
class Identity:
    doc: dict[str, Any]
    targets: set[str] = field(default_factory=set)  # ARNs that name this identity

    @property
    def arn(self) -> str:
        return str(self.doc["arn"])


def user(g: Gen, account: str, name: str, key: str | None) -> Identity:
    doc: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDA" + g.chars(17),
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
    }
    if key:
        doc["accessKeyId"] = key
    doc["userName"] = name
    return Identity(doc, {doc["arn"]} | ({key} if key else set()))


def with_key(ident: Identity, key: str) -> Identity:
    doc = dict(ident.doc, accessKeyId=key)
    return Identity(doc, ident.targets | {key})


def role(
    g: Gen,
    account: str,
    name: str,
    session: str,
    key: str,
    created: dt.datetime,
    mfa: bool = False,
    path: str = "",
) -> Identity:
    role_id = "AROA" + g.chars(17)
    role_arn = f"arn:aws:iam::{account}:role/{path}{name}"
    doc: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": role_arn,
                "accountId": account,
                "userName": name,
            },
            "attributes": {"creationDate": iso(created), "mfaAuthenticated": str(mfa).lower()},
        },
    }
    return Identity(doc, {doc["arn"], role_arn, key})


def session(ident: Identity, g: Gen, key: str, created: dt.datetime, name: str | None = None) -> Identity:
    """The same role in a new session (new ASIA key, maybe new session name)."""
    doc = json.loads(json.dumps(ident.doc))
    doc["accessKeyId"] = key
    doc["sessionContext"]["attributes"]["creationDate"] = iso(created)
    if name:
        base = doc["arn"].rsplit("/", 1)[0]
        doc["arn"] = f"{base}/{name}"
        doc["principalId"] = doc["principalId"].split(":")[0] + ":" + name
    return Identity(doc, ident.targets | {doc["arn"], key})


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(
    g: Gen,
    ident: Identity,
    t: dt.datetime,
    name: str,
    *,
    ip: str,
    ua: str,
    source: str = "bedrock.amazonaws.com",
    region: str = "us-east-1",
    req: dict[str, Any] | None = None,
    resp: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
    console: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    svc = source.split(".", maxsplit=1)[0]
    if svc == "bedrock" and name in RUNTIME:
        host = f"bedrock-runtime.{region}.amazonaws.com"
    elif svc in ("iam", "sts") and svc == "iam":
        host = "iam.amazonaws.com"
    elif svc == "s3":
        host = "s3.amazonaws.com"
    else:
        host = f"{svc}.{region}.amazonaws.com"
    read_only = name.startswith(
        ("Get", "List", "Describe", "Invoke", "Converse", "Apply", "CallWith", "Lookup", "Head")
    )
    rec: dict[str, Any] = {
        "eventVersion": "1.10" if svc == "bedrock" and name in RUNTIME else "1.09",
        "userIdentity": ident.doc,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = message or ERRORS.get(error, "Access denied")
    rec["requestParameters"] = req
    rec["responseElements"] = None if error else resp
    if extra:
        rec.update(extra)
    rec.update(
        {
            "requestID": g.uuid(),
            "eventID": g.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ident.doc["accountId"],
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host,
            },
        }
    )
    if console:
        rec["sessionCredentialFromConsole"] = "true"
    return rec


def invoke(
    g: Gen,
    ident: Identity,
    t: dt.datetime,
    model: str,
    *,
    ip: str,
    ua: str,
    op: str = "InvokeModel",
    region: str = "us-east-1",
    error: str | None = None,
    console: bool = False,
    guardrail: str | None = None,
    bearer: bool = False,
) -> dict[str, Any]:
    req: dict[str, Any] = {"modelId": model}
    if guardrail and op.startswith("Converse"):
        req["guardrailConfig"] = {"guardrailIdentifier": guardrail, "guardrailVersion": "1"}
    elif guardrail:
        req |= {"guardrailIdentifier": guardrail, "guardrailVersion": "1"}
    extra = (
        {"additionalEventData": {"callWithBearerToken": True, "bearerTokenType": "LONG_TERM"}}
        if bearer
        else None
    )
    return event(
        g, ident, t, op, ip=ip, ua=ua, region=region, req=req, error=error, console=console, extra=extra
    )


# ---------------------------------------------------------------------------------------------
# Scenarios.
# ---------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    id: str
    kind: str  # legit | attack
    title: str
    records: list[dict[str, Any]]
    context: dict[str, Any]
    targets: set[str] = field(default_factory=set)


def acme_context() -> dict[str, Any]:
    """What acme's security team keeps about its own estate (the same file for every acme scenario)."""
    return {
        "version": 1,
        "networks": [
            {"cidr": "203.0.113.0/25", "kind": "office", "name": "Berlin HQ egress"},
            {"cidr": "192.0.2.64/27", "kind": "datacenter", "name": "prod VPC NAT gateways"},
            {"cidr": "192.0.2.0/26", "kind": "ci", "name": "GitHub-hosted runners"},
            {"cidr": "192.0.2.96/27", "kind": "partner", "name": "CSPM vendor scanners"},
        ],
        "principals": [
            {"match": "arn:aws:sts::*:assumed-role/terraform-*", "kind": "iac", "name": "Terraform"},
            {"match": "arn:aws:sts::*:assumed-role/AWSReservedSSO_AdministratorAccess_*", "kind": "admin"},
            {"match": "arn:aws:sts::*:assumed-role/github-actions-*", "kind": "ci"},
            {"match": "arn:aws:iam::*:user/ci-*", "kind": "ci"},
            {"match": "arn:aws:sts::*:assumed-role/llm-router-task/*", "kind": "service"},
            {"match": "arn:aws:sts::*:assumed-role/batch-summarizer/*", "kind": "service"},
            {"match": "arn:aws:sts::*:assumed-role/SecurityAudit-*", "kind": "service", "name": "CSPM"},
            {"match": "arn:aws:iam::*:user/svc-*", "kind": "service"},
            {"match": "arn:aws:iam::*:user/BedrockAPIKey-*", "kind": "service"},
        ],
        "accounts": [{"id": PROD, "owner": "acme"}, {"id": DEV, "owner": "acme"}],
        "models": [
            {
                "principal": "arn:aws:sts::*:assumed-role/llm-router-task/*",
                "models": [SONNET35, HAIKU, TITAN_EMBED],
            },
            {
                "principal": "arn:aws:sts::*:assumed-role/batch-summarizer/*",
                "models": ["anthropic.claude-3-haiku*"],
            },
            {"principal": "arn:aws:iam::*:user/svc-chatbot", "models": [SONNET35]},
            {"principal": "arn:aws:iam::*:user/svc-genai", "models": ["anthropic.claude-3-haiku*"]},
            {"principal": "arn:aws:iam::*:user/svc-support-bot", "models": [SONNET]},
        ],
    }

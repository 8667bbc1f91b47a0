"""Scenario benchmark of ``ringbreaker detect``: hand-built CloudTrail recordings of real account behaviour.

Independent of the rules: every scenario was written from how AWS accounts behave and from the shapes
of real CloudTrail records (the Stratus Red Team detonation logs, AWS's Bedrock CloudTrail
documentation), never from the built-in rules' SQL. Each scenario is a small AWS account history in
S3 delivery shape (``AWSLogs/ACCOUNT/CloudTrail/REGION/Y/M/D/*.json.gz`` files holding
``{"Records": [...]}``), with fake keys (``AKIA``/``ASIA`` + 16 invented characters) and addresses
from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24). An ASN database
written here (``mmdb_writer``) maps those ranges as a GeoLite2-ASN database maps real ones: the office
and a hotel to consumer ISPs, the attackers to DigitalOcean, Hetzner and M247, CI runners to
Microsoft (GitHub-hosted runners) and the owner's NAT gateways and a CSPM vendor to Amazon.

Each scenario runs twice through the real CLI, as a user would::

    python -m ringbreaker ingest DIR --workspace W -q --geoip asn.mmdb
    python -m ringbreaker detect --workspace W --format jsonl -q [--context owner.yaml]

once without and once with the context file a real owner would keep (their office, NAT and CI
networks, IaC/admin/service/CI principals, their accounts, the models their services call).

Judgement: a legitimate scenario passes with no alert at medium or above; an attack passes when at
least one alert at medium or above names one of the scenario's target keys (by fingerprint) or
principals (user ARN, assumed-role session ARN or role ARN).

Results: a markdown table on stdout, ``bench/out/detect_scenarios.json`` and (unless ``--no-docs``)
the ``## detect scenarios`` section of docs/benchmarks.md.

Usage::

    .venv/bin/python bench/detect_scenarios.py
    .venv/bin/python bench/detect_scenarios.py --no-docs --keep /tmp/scenarios   # keep the files
    .venv/bin/python bench/detect_scenarios.py --stratus /work/.mirror/DataDog+stratus-red-team/repo
    .venv/bin/python bench/detect_scenarios.py --only A1,L5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import OUT, machine, update_docs

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


def l1() -> Scenario:
    g = Gen("L1")
    alice = user(g, PROD, "alice", g.key())
    bob = user(g, DEV, "bob", g.key())
    recs = []
    for d in g.workdays(10, 0):
        for who in (alice, bob):
            for t in g.times(d + dt.timedelta(hours=7), 12, 9):
                if g.rng.random() < 0.6:
                    recs.append(
                        event(
                            g,
                            who,
                            t,
                            "DescribeInstances",
                            source="ec2.amazonaws.com",
                            ip=OFFICE[0],
                            ua=UA_CLI.format(cmd="ec2.describe-instances"),
                            req={"instancesSet": {}, "filterSet": {}},
                        )
                    )
                else:
                    recs.append(
                        event(
                            g,
                            who,
                            t,
                            "ListBuckets",
                            source="s3.amazonaws.com",
                            ip=OFFICE[0],
                            ua=UA_CLI.format(cmd="s3.ls"),
                            req={"Host": "s3.amazonaws.com"},
                        )
                    )
    return Scenario(
        "L1", "legit", "two engineers, one office IP, two accounts of one company", recs, acme_context()
    )


def l2() -> Scenario:
    g = Gen("L2")
    recs = []
    for n in (9, 6, 2, 0):
        t0 = day(n) + dt.timedelta(hours=10, minutes=g.rng.randrange(300))
        tf = role(g, PROD, "terraform-apply", f"aws-go-sdk-{int(t0.timestamp())}", g.key("ASIA"), t0)
        ip = NAT[1]
        ts = g.times(t0, 25, 0.1)
        for t in ts[:-4]:
            name, src, req = g.rng.choice(
                [
                    ("GetCallerIdentity", "sts.amazonaws.com", None),
                    ("GetRole", "iam.amazonaws.com", {"roleName": "bedrock-logging"}),
                    (
                        "GetBucketPolicy",
                        "s3.amazonaws.com",
                        {"bucketName": "acme-bedrock-logs", "policy": ""},
                    ),
                    ("DescribeLogGroups", "logs.amazonaws.com", {"logGroupNamePrefix": "/aws/bedrock"}),
                ]
            )
            recs.append(event(g, tf, t, name, source=src, ip=ip, ua=UA_TERRAFORM, req=req))
        recs.append(event(g, tf, ts[-4], "GetModelInvocationLoggingConfiguration", ip=ip, ua=UA_TERRAFORM))
        if n == 0:
            cfg = {
                "loggingConfig": {
                    "cloudWatchConfig": {
                        "logGroupName": "/aws/bedrock/model-invocations",
                        "roleArn": f"arn:aws:iam::{PROD}:role/bedrock-logging",
                        "largeDataDeliveryS3Config": {
                            "bucketName": "acme-bedrock-logs",
                            "keyPrefix": "large/",
                        },
                    },
                    "s3Config": {"bucketName": "acme-bedrock-logs", "keyPrefix": "invocations/"},
                    "textDataDeliveryEnabled": True,
                    "imageDataDeliveryEnabled": True,
                    "embeddingDataDeliveryEnabled": True,
                }
            }
            recs.append(
                event(
                    g, tf, ts[-3], "PutModelInvocationLoggingConfiguration", ip=ip, ua=UA_TERRAFORM, req=cfg
                )
            )
            recs.append(
                event(g, tf, ts[-2], "GetModelInvocationLoggingConfiguration", ip=ip, ua=UA_TERRAFORM)
            )
    return Scenario("L2", "legit", "Terraform role turns Bedrock invocation logging on", recs, acme_context())


def sso_admin(g: Gen, who: str, t: dt.datetime) -> Identity:
    return role(
        g,
        PROD,
        "AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6a7b",
        who,
        g.key("ASIA"),
        t,
        mfa=True,
        path="aws-reserved/sso.amazonaws.com/",
    )


def l3() -> Scenario:
    g = Gen("L3")
    recs = []
    for n in (8, 5, 1):  # ordinary console days
        t0 = day(n) + dt.timedelta(hours=8)
        adm = sso_admin(g, "carol@acme.example", t0)
        for t in g.times(t0, 10, 6):
            recs.append(
                event(
                    g,
                    adm,
                    t,
                    "DescribeInstances",
                    source="ec2.amazonaws.com",
                    ip=OFFICE[1],
                    ua=UA_CONSOLE,
                    console=True,
                    req={"instancesSet": {}},
                )
            )
    t0 = day(0) + dt.timedelta(hours=9, minutes=12)
    adm = sso_admin(g, "carol@acme.example", t0 - dt.timedelta(minutes=20))
    steps: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("ListFoundationModels", {"byOutputModality": "TEXT"}, None),
        ("ListFoundationModelAgreementOffers", {"modelId": SONNET35}, None),
        ("PutUseCaseForModelAccess", None, None),
        (
            "CreateFoundationModelAgreement",
            {"offerToken": "OT-" + g.chars(40), "modelId": SONNET35},
            {"modelId": SONNET35},
        ),
        ("PutFoundationModelEntitlement", {"modelId": SONNET35}, {"status": "SUCCESS"}),
        ("GetFoundationModelAvailability", {"modelId": SONNET35}, None),
        ("GetFoundationModelAvailability", {"modelId": SONNET35}, None),
        ("GetFoundationModelAvailability", {"modelId": SONNET35}, None),
    ]
    t = t0
    for name, req, resp in steps:
        t += dt.timedelta(seconds=g.rng.randrange(5, 60))
        recs.append(event(g, adm, t, name, ip=OFFICE[1], ua=UA_CONSOLE, console=True, req=req, resp=resp))
    for _ in range(4):  # trying it in the chat playground
        t += dt.timedelta(seconds=g.rng.randrange(30, 180))
        recs.append(
            invoke(g, adm, t, SONNET35, op="ConverseStream", ip=OFFICE[1], ua=UA_CONSOLE, console=True)
        )
    s = Scenario(
        "L3", "legit", "console admin enables model access, tries the playground", recs, acme_context()
    )
    return s


def l4() -> Scenario:
    g = Gen("L4")
    recs = []
    name = "BedrockAPIKey-7qk2"
    t0 = day(15) + dt.timedelta(hours=9, minutes=30)
    adm = sso_admin(g, "carol@acme.example", t0)
    api = user(g, PROD, name, None)
    steps: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        ("CreateUser", {"userName": name}, {"user": {"userName": name, "arn": api.arn}}),
        (
            "AttachUserPolicy",
            {"userName": name, "policyArn": "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"},
            None,
        ),
        (
            "CreateServiceSpecificCredential",
            {"userName": name, "serviceName": "bedrock.amazonaws.com", "credentialAgeDays": 90},
            {
                "serviceSpecificCredential": {
                    "serviceName": "bedrock.amazonaws.com",
                    "userName": name,
                    "serviceSpecificCredentialId": "ACCA" + g.chars(17),
                    "status": "Active",
                }
            },
        ),
    ]
    for i, (op, req, resp) in enumerate(steps):
        recs.append(
            event(
                g,
                adm,
                t0 + dt.timedelta(seconds=20 * i),
                op,
                source="iam.amazonaws.com",
                ip=OFFICE[1],
                ua=UA_CONSOLE,
                console=True,
                req=req,
                resp=resp,
            )
        )
    for n in range(14, -1, -1):
        d = day(n)
        recs.append(
            event(
                g,
                api,
                d + dt.timedelta(hours=6, minutes=g.rng.randrange(60)),
                "ListFoundationModels",
                ip=NAT[0],
                ua=UA_BOTO_LINUX,
                extra={"additionalEventData": {"callWithBearerToken": True}},
            )
        )
        for t in g.times(d + dt.timedelta(hours=7), 30 if d.weekday() < 5 else 6, 11):
            recs.append(
                event(
                    g,
                    api,
                    t,
                    "CallWithBearerToken",
                    ip=NAT[0],
                    ua=UA_BOTO_LINUX,
                    req={"bearerTokenType": "LONG_TERM"},
                )
            )
            recs.append(
                event(
                    g,
                    api,
                    t + dt.timedelta(milliseconds=300),
                    "ApplyGuardrail",
                    ip=NAT[0],
                    ua=UA_BOTO_LINUX,
                    req={"guardrailIdentifier": "gr-7f3kq2", "guardrailVersion": "2", "source": "INPUT"},
                    extra={"additionalEventData": {"callWithBearerToken": True}},
                )
            )
            recs.append(
                invoke(g, api, t + dt.timedelta(seconds=1), HAIKU, ip=NAT[0], ua=UA_BOTO_LINUX, bearer=True)
            )
    return Scenario(
        "L4",
        "legit",
        "app with a Bedrock API key (bearer token): list, guardrail, invoke",
        recs,
        acme_context(),
    )


def service_days(
    g: Gen,
    base: Identity,
    first: int,
    last: int,
    per_day: int,
    models: list[str],
    ip: str,
    ua: str,
    hours: tuple[float, float] = (0, 24),
    op: str = "InvokeModel",
) -> list[dict[str, Any]]:
    """A role that takes a fresh session (ASIA key) each day and calls ``models`` ``per_day`` times."""
    recs = []
    for n in range(first, last - 1, -1):
        d = day(n)
        ident = session(base, g, g.key("ASIA"), d + dt.timedelta(hours=hours[0]))
        for t in g.times(d + dt.timedelta(hours=hours[0]), per_day, hours[1]):
            recs.append(invoke(g, ident, t, g.rng.choice(models), op=op, ip=ip, ua=ua))
    return recs


def l5() -> Scenario:
    g = Gen("L5")
    models = [SONNET35, HAIKU, TITAN_EMBED]
    base = role(g, PROD, "llm-router-task", "3f2c9a51b7e04c6f", g.key("ASIA"), day(14))
    recs = service_days(g, base, 14, 1, 120, models, NAT[0], UA_BOTO_LINUX)
    d = day(0)
    ident = session(base, g, g.key("ASIA"), d)
    recs += [
        invoke(g, ident, t, g.rng.choice(models), ip=NAT[0], ua=UA_BOTO_LINUX) for t in g.times(d, 60, 14)
    ]
    t0 = d + dt.timedelta(hours=14, minutes=5)  # bad deploy
    for t in g.times(t0, 180, 1 / 3):
        err = "ValidationException" if g.rng.random() < 0.7 else "AccessDeniedException"
        recs.append(invoke(g, ident, t, g.rng.choice(models), ip=NAT[0], ua=UA_BOTO_LINUX, error=err))
    recs += [
        invoke(g, ident, t, g.rng.choice(models), ip=NAT[0], ua=UA_BOTO_LINUX)
        for t in g.times(t0 + dt.timedelta(minutes=25), 40, 8)
    ]
    return Scenario(
        "L5",
        "legit",
        "model router bad deploy: 20 min of Validation/AccessDenied on its models",
        recs,
        acme_context(),
    )


def l6() -> Scenario:
    g = Gen("L6")
    base = role(g, PROD, "batch-summarizer", "nightly", g.key("ASIA"), day(50))
    recs = []
    # Nightly at 01:00 UTC from 2025-04-24 to 2025-05-30; 5x on the month-end run of 2025-05-31.
    start = dt.datetime(2025, 4, 24, 1, tzinfo=dt.UTC)
    for i in range(38):
        d = start + dt.timedelta(days=i)
        ident = session(base, g, g.key("ASIA"), d)
        month_end = d.date() == dt.date(2025, 5, 31)
        n = 1000 if month_end else 200
        recs += [
            invoke(g, ident, t, HAIKU, ip=NAT[1], ua=UA_BOTO_LINUX)
            for t in g.times(d, n, 3.0 if month_end else 1.0)
        ]
    return Scenario(
        "L6",
        "legit",
        "nightly batch 5x its usual volume at month-end, weeks of history",
        recs,
        acme_context(),
    )


def l7() -> Scenario:
    g = Gen("L7")
    dave = user(g, PROD, "dave", g.key())
    recs = []
    for d in g.workdays(28, 1):
        recs += [
            invoke(g, dave, t, HAIKU, op="Converse", ip=OFFICE[2], ua=UA_BOTO_MAC)
            for t in g.times(d + dt.timedelta(hours=8), 20, 8)
        ]
    d = day(0)
    recs += [
        invoke(g, dave, t, HAIKU, op="Converse", ip=OFFICE[2], ua=UA_BOTO_MAC)
        for t in g.times(d + dt.timedelta(hours=8), 8, 3)
    ]
    recs += [
        invoke(g, dave, t, OPUS, op="Converse", ip=OFFICE[2], ua=UA_BOTO_MAC)
        for t in g.times(d + dt.timedelta(hours=11), 12, 2)
    ]
    return Scenario(
        "L7",
        "legit",
        "developer tries a pricier model from the office after weeks of haiku",
        recs,
        acme_context(),
    )


def l8() -> Scenario:
    g = Gen("L8")
    recs = []
    for n in range(21, -1, -1):
        d = day(n)
        if d.weekday() >= 5:
            continue
        for run in range(2):
            t0 = d + dt.timedelta(hours=6 + 6 * run, minutes=g.rng.randrange(50))
            ip = f"192.0.2.{g.rng.randrange(2, 62)}"
            run_id = str(9_400_000_000 + g.rng.randrange(10**7))
            ident = role(g, PROD, "github-actions-eval", f"GitHubActions-{run_id}", g.key("ASIA"), t0)
            web = {
                "type": "WebIdentityUser",
                "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:"
                "repo:acme/llm-evals:ref:refs/heads/main",
                "userName": "repo:acme/llm-evals:ref:refs/heads/main",
                "identityProvider": "token.actions.githubusercontent.com",
            }
            rec = event(
                g,
                Identity({**web, "accountId": PROD}),
                t0,
                "AssumeRoleWithWebIdentity",
                source="sts.amazonaws.com",
                ip=ip,
                ua="aws-sdk-js/3.577.0 ua/2.0 os/linux lang/js "
                "md/nodejs#20.13.1 api/sts#3.577.0 configure-aws-credentials-for-github-actions",
                req={
                    "roleArn": f"arn:aws:iam::{PROD}:role/github-actions-eval",
                    "roleSessionName": f"GitHubActions-{run_id}",
                    "durationSeconds": 3600,
                },
                resp={
                    "credentials": {"accessKeyId": ident.doc["accessKeyId"]},
                    "subjectFromWebIdentityToken": web["userName"],
                },
            )
            del rec["userIdentity"]["accountId"]
            recs.append(rec)
            for t in g.times(t0 + dt.timedelta(minutes=2), 30, 0.25):
                recs.append(
                    invoke(
                        g, ident, t, g.rng.choice([HAIKU, SONNET35]), op="Converse", ip=ip, ua=UA_BOTO_LINUX
                    )
                )
    return Scenario(
        "L8",
        "legit",
        "CI role (ASIA keys) invoking models daily from CI runners on hosting IPs",
        recs,
        acme_context(),
    )


def l9() -> Scenario:
    g = Gen("L9")
    old, new = g.key(), g.key()
    app = user(g, PROD, "svc-chatbot", old)
    recs = []
    for n in range(21, 1, -1):
        recs += [invoke(g, app, t, SONNET35, ip=NAT[0], ua=UA_BOTO_LINUX) for t in g.times(day(n), 80, 24)]
    t0 = day(1) + dt.timedelta(hours=10)
    adm = sso_admin(g, "carol@acme.example", t0)
    recs.append(
        event(
            g,
            adm,
            t0,
            "CreateAccessKey",
            source="iam.amazonaws.com",
            ip=OFFICE[1],
            ua=UA_CONSOLE,
            console=True,
            req={"userName": "svc-chatbot"},
            resp={
                "accessKey": {
                    "accessKeyId": new,
                    "status": "Active",
                    "userName": "svc-chatbot",
                    "createDate": "Jun 15, 2025, 10:00:00 AM",
                }
            },
        )
    )
    recs += [invoke(g, app, t, SONNET35, ip=NAT[0], ua=UA_BOTO_LINUX) for t in g.times(day(1), 30, 10.5)]
    app2 = with_key(app, new)
    recs += [
        invoke(g, app2, t, SONNET35, ip=NAT[0], ua=UA_BOTO_LINUX)
        for t in g.times(t0 + dt.timedelta(minutes=40), 120, 37)
    ]
    recs.append(
        event(
            g,
            adm,
            t0 + dt.timedelta(hours=26),
            "UpdateAccessKey",
            source="iam.amazonaws.com",
            ip=OFFICE[1],
            ua=UA_CONSOLE,
            console=True,
            req={"userName": "svc-chatbot", "accessKeyId": old, "status": "Inactive"},
        )
    )
    return Scenario(
        "L9",
        "legit",
        "key rotation: new access key for an app user, same network and UA",
        recs,
        acme_context(),
    )


def l10() -> Scenario:
    g = Gen("L10")
    erin = user(g, PROD, "erin", g.key())
    recs = []
    for d in g.workdays(24, 3):
        recs += [
            invoke(g, erin, t, SONNET35, op="Converse", ip=OFFICE[0], ua=UA_BOTO_MAC)
            for t in g.times(d + dt.timedelta(hours=7), 15, 9)
        ]
    for n in (2, 1, 0):  # at a conference in the US: a hotel's ISP, US business hours
        recs += [
            invoke(g, erin, t, SONNET35, op="Converse", ip=HOTEL, ua=UA_BOTO_MAC)
            for t in g.times(day(n) + dt.timedelta(hours=14), 15, 8)
        ]
    return Scenario(
        "L10",
        "legit",
        "engineer travelling: new public IP, same UA and models, business hours",
        recs,
        acme_context(),
    )


def l11() -> Scenario:
    g = Gen("L11")
    base = role(g, PROD, "SecurityAudit-Prowler", "prowler-scan", g.key("ASIA"), day(14))
    recs = []
    calls = [
        ("ListFoundationModels", "bedrock.amazonaws.com", None),
        ("GetModelInvocationLoggingConfiguration", "bedrock.amazonaws.com", None),
        ("ListGuardrails", "bedrock.amazonaws.com", {"maxResults": 100}),
        ("ListCustomModels", "bedrock.amazonaws.com", None),
        ("ListProvisionedModelThroughputs", "bedrock.amazonaws.com", None),
        ("ListModelInvocationJobs", "bedrock.amazonaws.com", None),
        ("ListAgents", "bedrock.amazonaws.com", None),
        ("ListUsers", "iam.amazonaws.com", None),
        ("ListAccessKeys", "iam.amazonaws.com", {"userName": "svc-chatbot"}),
        ("DescribeTrails", "cloudtrail.amazonaws.com", None),
    ]
    for n in range(14, -1, -1):
        t = day(n) + dt.timedelta(hours=3, minutes=g.rng.randrange(20))
        ident = session(base, g, g.key("ASIA"), t)
        for region in ("us-east-1", "us-west-2", "eu-central-1"):
            for name, src, req in calls:
                if src != "bedrock.amazonaws.com" and region != "us-east-1":
                    continue
                t += dt.timedelta(seconds=g.rng.randrange(1, 4))
                recs.append(
                    event(g, ident, t, name, source=src, region=region, ip=CSPM, ua=UA_PROWLER, req=req)
                )
    return Scenario(
        "L11",
        "legit",
        "security team's read-only audit tool lists models, reads logging config",
        recs,
        acme_context(),
    )


def l12() -> Scenario:
    g = Gen("L12")
    recs = []
    for d in g.workdays(10, 0):
        t0 = d + dt.timedelta(hours=8, minutes=g.rng.randrange(120))
        frank = role(
            g,
            PROD,
            "AWSReservedSSO_BedrockUsers_5e6f7a8b9c0d1e2f",
            "frank@acme.example",
            g.key("ASIA"),
            t0,
            mfa=True,
            path="aws-reserved/sso.amazonaws.com/",
        )
        t = t0
        for name, req in [
            ("ListFoundationModels", None),
            ("ListInferenceProfiles", {"maxResults": 1000}),
            ("GetFoundationModel", {"modelIdentifier": SONNET35}),
        ]:
            t += dt.timedelta(seconds=g.rng.randrange(2, 20))
            recs.append(event(g, frank, t, name, ip=OFFICE[2], ua=UA_CONSOLE, console=True, req=req))
        for _ in range(g.rng.randrange(6, 14)):
            t += dt.timedelta(seconds=g.rng.randrange(30, 600))
            model = g.rng.choice([HAIKU, SONNET35, LLAMA, MISTRAL])
            op = g.rng.choice(["ConverseStream", "InvokeModelWithResponseStream"])
            recs.append(invoke(g, frank, t, model, op=op, ip=OFFICE[2], ua=UA_CONSOLE, console=True))
    return Scenario(
        "L12", "legit", "Bedrock playground via the console (SSO user, several models)", recs, acme_context()
    )


# --- attacks ---------------------------------------------------------------------------------


def a1() -> Scenario:
    g = Gen("A1")
    u = user(g, PROD, "svc-ml-pipeline", g.key())
    t0 = day(0) + dt.timedelta(hours=2, minutes=13)
    recs = [
        invoke(g, u, t, OPUS, op="InvokeModelWithResponseStream", ip="198.51.100.23", ua=UA_AXIOS)
        for t in g.times(t0, 360, 6)
    ]
    return Scenario(
        "A1",
        "attack",
        "logs start mid-attack: 360 Opus streams in 6 h, hosting IP, axios, AKIA",
        recs,
        acme_context(),
        u.targets,
    )


def a2() -> Scenario:
    g = Gen("A2")
    recs = []
    name = "BedrockAPIKey-x9f3"
    api = user(g, PROD, name, None)
    t0 = day(20) + dt.timedelta(hours=9)
    adm = sso_admin(g, "carol@acme.example", t0)
    recs.append(
        event(
            g,
            adm,
            t0,
            "CreateUser",
            source="iam.amazonaws.com",
            ip=OFFICE[1],
            ua=UA_CONSOLE,
            console=True,
            req={"userName": name},
            resp={"user": {"userName": name, "arn": api.arn}},
        )
    )
    recs.append(
        event(
            g,
            adm,
            t0 + dt.timedelta(seconds=30),
            "CreateServiceSpecificCredential",
            source="iam.amazonaws.com",
            ip=OFFICE[1],
            ua=UA_CONSOLE,
            console=True,
            req={"userName": name, "serviceName": "bedrock.amazonaws.com", "credentialAgeDays": 30},
            resp={
                "serviceSpecificCredential": {
                    "serviceName": "bedrock.amazonaws.com",
                    "userName": name,
                    "status": "Active",
                }
            },
        )
    )
    for n in range(19, 0, -1):
        recs += [
            invoke(g, api, t, HAIKU, ip=NAT[0], ua=UA_BOTO_LINUX, bearer=True)
            for t in g.times(day(n) + dt.timedelta(hours=7), 25, 10)
        ]
    ci = user(g, PROD, "ci-deployer", g.key())
    for d in g.workdays(14, 1):
        for t in g.times(d + dt.timedelta(hours=8), 6, 8):
            recs.append(
                event(
                    g,
                    ci,
                    t,
                    "DescribeStacks",
                    source="cloudformation.amazonaws.com",
                    ip="192.0.2.17",
                    ua=UA_CLI.format(cmd="cloudformation.describe-stacks"),
                    req={"stackName": "web"},
                )
            )
    t1 = day(0) + dt.timedelta(hours=19, minutes=40)
    ip = "198.51.100.140"
    new = g.key()
    recs.append(event(g, ci, t1, "ListUsers", source="iam.amazonaws.com", ip=ip, ua=UA_BOTO_ATTACK))
    recs.append(
        event(
            g,
            ci,
            t1 + dt.timedelta(seconds=40),
            "CreateAccessKey",
            source="iam.amazonaws.com",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={"userName": name},
            resp={
                "accessKey": {
                    "accessKeyId": new,
                    "status": "Active",
                    "userName": name,
                    "createDate": "Jun 16, 2025, 7:41:00 PM",
                }
            },
        )
    )
    stolen = with_key(api, new)
    recs += [
        invoke(g, stolen, t, SONNET35, op="InvokeModelWithResponseStream", ip=ip, ua=UA_BOTO_ATTACK)
        for t in g.times(t1 + dt.timedelta(minutes=3), 80, 3)
    ]
    return Scenario(
        "A2",
        "attack",
        "CreateAccessKey for a BedrockAPIKey-* user by another principal, then used",
        recs,
        acme_context(),
        stolen.targets | ci.targets,
    )


def a3() -> Scenario:
    g = Gen("A3")
    recs = []
    base = role(g, DEV, "dev-sandbox", "botocore-session-1718000000", g.key("ASIA"), day(10))
    for d in g.workdays(10, 1):
        ident = session(base, g, g.key("ASIA"), d + dt.timedelta(hours=8))
        for t in g.times(d + dt.timedelta(hours=8), 10, 8):
            recs.append(
                event(g, ident, t, "ListBuckets", source="s3.amazonaws.com", ip=OFFICE[0], ua=UA_BOTO_MAC)
            )
    t = day(0) + dt.timedelta(hours=21, minutes=5)
    ident = session(base, g, g.key("ASIA"), t - dt.timedelta(minutes=3), "botocore-session-1718571600")
    ip = "192.0.2.140"
    chain: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("ListFoundationModels", None, None),
        ("ListFoundationModelAgreementOffers", {"modelId": SONNET}, None),
        ("PutUseCaseForModelAccess", None, None),
        (
            "CreateFoundationModelAgreement",
            {"offerToken": "OT-" + g.chars(40), "modelId": SONNET},
            {"modelId": SONNET},
        ),
        ("PutFoundationModelEntitlement", {"modelId": SONNET}, {"status": "SUCCESS"}),
    ] + [("GetFoundationModelAvailability", {"modelId": SONNET}, None)] * 5
    for name, req, resp in chain:
        t += dt.timedelta(seconds=g.rng.randrange(1, 20))
        recs.append(event(g, ident, t, name, ip=ip, ua=UA_BOTO_ATTACK, req=req, resp=resp))
    t += dt.timedelta(seconds=90)
    recs += [invoke(g, ident, x, SONNET, ip=ip, ua=UA_BOTO_ATTACK) for x in [t, *g.times(t, 20, 0.5)]]
    return Scenario(
        "A3",
        "attack",
        "Stratus chain: enable model access, availability, first InvokeModel (ASIA)",
        recs,
        acme_context(),
        ident.targets,
    )


def a4() -> Scenario:
    g = Gen("A4")
    u = user(g, PROD, "svc-reporting", g.key())
    recs = []
    for n in range(14, 0, -1):
        for t in g.times(day(n), 20, 24):
            recs.append(
                event(
                    g,
                    u,
                    t,
                    "GetObject",
                    source="s3.amazonaws.com",
                    ip=NAT[0],
                    ua=UA_BOTO_LINUX,
                    req={"bucketName": "acme-reports", "key": f"daily/{n}.csv"},
                )
            )
    t0 = day(0) + dt.timedelta(hours=15)
    for i, t in enumerate(g.times(t0, 14, 3)):
        err = "AccessDeniedException" if i % 2 == 0 else "ResourceNotFoundException"
        recs.append(invoke(g, u, t, [SONNET, HAIKU][i % 2], ip="198.51.100.45", ua=UA_REQUESTS, error=err))
    return Scenario(
        "A4",
        "attack",
        "key checker: 2 models over 3 h, AccessDenied and ResourceNotFound",
        recs,
        acme_context(),
        u.targets,
    )


def a5() -> Scenario:
    g = Gen("A5")
    ip = "198.51.100.77"
    recs, targets = [], set()
    for acct, name in ((GLOBEX, "bedrock-dev"), (INITECH, "ml-team"), (UMBRELLA, "app-prod")):
        u = user(g, acct, name, g.key())
        targets |= u.targets
        start = day(0) + dt.timedelta(hours=g.rng.randrange(1, 12))
        recs += [
            invoke(
                g,
                u,
                t,
                g.rng.choice([SONNET35, OPUS]),
                op="InvokeModelWithResponseStream",
                ip=ip,
                ua=UA_NODE_SDK,
            )
            for t in g.times(start, 60, 10)
        ]
    ctx = {
        "version": 1,
        "accounts": [
            {"id": GLOBEX, "owner": "globex"},
            {"id": INITECH, "owner": "initech"},
            {"id": UMBRELLA, "owner": "umbrella"},
        ],
    }
    return Scenario(
        "A5",
        "attack",
        "reseller proxy: one hosting IP, keys of 3 unrelated accounts in a day",
        recs,
        ctx,
        targets,
    )


def a6() -> Scenario:
    g = Gen("A6")
    u = user(g, PROD, "svc-genai", g.key())
    recs = []
    for n in range(14, 0, -1):
        recs += [invoke(g, u, t, HAIKU, ip=NAT[0], ua=UA_BOTO_LINUX) for t in g.times(day(n), 60, 24)]
    t0 = day(0) + dt.timedelta(hours=22, minutes=30)
    ip = "192.0.2.150"
    ua = "aws-cli/2.13.0 Python/3.11.4 Windows/10 exe/AMD64 prompt/off command/bedrock.{}"
    recs.append(
        event(
            g,
            u,
            t0,
            "GetModelInvocationLoggingConfiguration",
            ip=ip,
            ua=ua.format("get-model-invocation-logging-configuration"),
        )
    )
    recs.append(
        event(
            g,
            u,
            t0 + dt.timedelta(seconds=25),
            "DeleteModelInvocationLoggingConfiguration",
            ip=ip,
            ua=ua.format("delete-model-invocation-logging-configuration"),
        )
    )
    recs += [
        invoke(g, u, t, OPUS, ip=ip, ua=UA_REQUESTS) for t in g.times(t0 + dt.timedelta(minutes=2), 100, 1.4)
    ]
    return Scenario(
        "A6",
        "attack",
        "logging deleted from a new hosting IP by a long-term key, then invocations",
        recs,
        acme_context(),
        u.targets,
    )


def a7() -> Scenario:
    g = Gen("A7")
    u = user(g, PROD, "greg", g.key())
    recs = []
    for d in g.workdays(28, 1):
        recs += [
            invoke(g, u, t, HAIKU, op="Converse", ip=OFFICE[1], ua=UA_BOTO_MAC)
            for t in g.times(d + dt.timedelta(hours=8), 15, 8)
        ]
    recs += [
        invoke(g, u, t, OPUS, op="InvokeModelWithResponseStream", ip="198.51.100.160", ua=UA_NODE_SDK)
        for t in g.times(day(0) + dt.timedelta(hours=20), 150, 3)
    ]
    return Scenario(
        "A7",
        "attack",
        "known key from a new hosting network and UA after weeks of office use: Opus",
        recs,
        acme_context(),
        u.targets,
    )


def a8() -> Scenario:
    g = Gen("A8")
    u = user(g, PROD, "svc-search", g.key())
    recs = []
    for n in range(7, 0, -1):
        for t in g.times(day(n), 30, 24):
            recs.append(
                event(
                    g,
                    u,
                    t,
                    "GetObject",
                    source="s3.amazonaws.com",
                    ip=NAT[1],
                    ua=UA_BOTO_LINUX,
                    req={"bucketName": "acme-search-index", "key": "shard-0001"},
                )
            )
    t = day(0) + dt.timedelta(hours=13, minutes=2)
    ip = "198.51.100.99"
    recs.append(event(g, u, t, "ListFoundationModels", ip=ip, ua=UA_BOTO_ATTACK))
    recs.append(
        event(
            g,
            u,
            t + dt.timedelta(seconds=4),
            "GetModelInvocationLoggingConfiguration",
            ip=ip,
            ua=UA_BOTO_ATTACK,
        )
    )
    t += dt.timedelta(seconds=20)
    for m in (OPUS, SONNET, HAIKU, SONNET35, LLAMA, MISTRAL, TITAN_TEXT, COHERE):
        for _ in range(2):
            t += dt.timedelta(seconds=g.rng.randrange(3, 25))
            err = "AccessDeniedException" if m in (MISTRAL, COHERE) else None
            recs.append(invoke(g, u, t, m, ip=ip, ua=UA_BOTO_ATTACK, error=err))
    return Scenario(
        "A8",
        "attack",
        "recon (list models, logging config) then InvokeModel on 8 models in minutes",
        recs,
        acme_context(),
        u.targets,
    )


def a9() -> Scenario:
    g = Gen("A9")
    u = user(g, PROD, "svc-support-bot", g.key())
    gr = "gr-4k2m9x7q1z"
    recs = []
    for n in range(14, 0, -1):
        recs += [
            invoke(g, u, t, SONNET, op="Converse", ip=NAT[0], ua=UA_BOTO_LINUX, guardrail=gr)
            for t in g.times(day(n), 50, 24)
        ]
    t0 = day(0) + dt.timedelta(hours=1, minutes=30)
    ip = "198.51.100.180"
    recs.append(event(g, u, t0, "GetGuardrail", ip=ip, ua=UA_BOTO_ATTACK, req={"guardrailIdentifier": gr}))
    recs.append(
        event(
            g,
            u,
            t0 + dt.timedelta(seconds=30),
            "UpdateGuardrail",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={
                "guardrailIdentifier": gr,
                "name": "support-bot",
                "contentPolicyConfig": {
                    "filtersConfig": [
                        {"type": t, "inputStrength": "NONE", "outputStrength": "NONE"}
                        for t in ("SEXUAL", "VIOLENCE", "HATE", "INSULTS", "MISCONDUCT")
                    ]
                },
                "blockedInputMessaging": "HIDDEN",
                "blockedOutputsMessaging": "HIDDEN",
            },
            resp={"guardrailId": gr, "version": "DRAFT"},
        )
    )
    recs.append(
        event(
            g,
            u,
            t0 + dt.timedelta(seconds=70),
            "DeleteGuardrail",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={"guardrailIdentifier": gr},
        )
    )
    recs += [
        invoke(g, u, t, SONNET, ip=ip, ua=UA_BOTO_ATTACK)
        for t in g.times(t0 + dt.timedelta(minutes=3), 60, 2)
    ]
    return Scenario(
        "A9",
        "attack",
        "guardrail weakened and deleted, then invocations without guardrail",
        recs,
        acme_context(),
        u.targets,
    )


def a10() -> Scenario:
    g = Gen("A10")
    u = user(g, PROD, "svc-etl", g.key())
    recs = []
    for n in range(14, 0, -1):
        for t in g.times(day(n) + dt.timedelta(hours=2), 15, 2):
            recs.append(
                event(
                    g,
                    u,
                    t,
                    "GetJobRun",
                    source="glue.amazonaws.com",
                    ip=NAT[1],
                    ua=UA_BOTO_LINUX,
                    req={"jobName": "etl-orders", "runId": "jr_" + g.chars(20).lower()},
                )
            )
    t = day(0) + dt.timedelta(hours=3, minutes=12)
    ip = "192.0.2.170"
    recs.append(event(g, u, t, "ListFoundationModels", ip=ip, ua=UA_BOTO_ATTACK))
    recs.append(
        event(
            g,
            u,
            t + dt.timedelta(seconds=50),
            "CreateProvisionedModelThroughput",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={
                "modelUnits": 2,
                "provisionedModelName": "prod-capacity",
                "modelId": SONNET,
                "commitmentDuration": "OneMonth",
            },
            resp={
                "provisionedModelArn": f"arn:aws:bedrock:us-east-1:{PROD}:provisioned-model/"
                + g.chars(12).lower()
            },
        )
    )
    recs.append(
        event(
            g,
            u,
            t + dt.timedelta(minutes=3),
            "CreateModelInvocationJob",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={
                "jobName": "batch-" + g.chars(6).lower(),
                "modelId": OPUS,
                "roleArn": f"arn:aws:iam::{PROD}:role/etl-glue-role",
                "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://acme-etl-tmp/in/"}},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://acme-etl-tmp/out/"}},
            },
            resp={"jobArn": f"arn:aws:bedrock:us-east-1:{PROD}:model-invocation-job/" + g.chars(12).lower()},
        )
    )
    recs.append(
        event(
            g,
            u,
            t + dt.timedelta(minutes=5),
            "GetModelInvocationJob",
            ip=ip,
            ua=UA_BOTO_ATTACK,
            req={"jobIdentifier": "batch"},
        )
    )
    return Scenario(
        "A10",
        "attack",
        "provisioned throughput + batch job from a stolen key (cost harvesting)",
        recs,
        acme_context(),
        u.targets,
    )


SCENARIOS: list[Callable[[], Scenario]] = [
    l1,
    l2,
    l3,
    l4,
    l5,
    l6,
    l7,
    l8,
    l9,
    l10,
    l11,
    l12,
    a1,
    a2,
    a3,
    a4,
    a5,
    a6,
    a7,
    a8,
    a9,
    a10,
]

# ---------------------------------------------------------------------------------------------
# Writing, running, judging.
# ---------------------------------------------------------------------------------------------


def write_trail(records: list[dict[str, Any]], folder: Path, g: Gen) -> int:
    """S3 delivery layout: one gzip file per account, region and day, events in time order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["recipientAccountId"], r["awsRegion"], r["eventTime"][:10]), []).append(r)
    for (acct, region, date), recs in sorted(groups.items()):
        y, m, d = date.split("-")
        sub = folder / "AWSLogs" / acct / "CloudTrail" / region / y / m / d
        sub.mkdir(parents=True, exist_ok=True)
        recs.sort(key=lambda r: r["eventTime"])
        stamp = recs[-1]["eventTime"][11:16].replace(":", "")
        name = f"{acct}_CloudTrail_{region}_{y}{m}{d}T{stamp}Z_{g.chars(16)}.json.gz"
        with gzip.open(sub / name, "wt", encoding="utf-8") as fh:
            json.dump({"Records": recs}, fh)
    return len(groups)


def write_mmdb(path: Path) -> bool:
    try:
        import mmdb_writer
        from netaddr import IPSet
    except ImportError:
        return False
    w = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", int_type="u32")
    for cidr, asn, org, country in ASN_MAP:
        w.insert_network(
            IPSet([cidr]),
            {
                "autonomous_system_number": asn,
                "autonomous_system_organization": org,
                "country": {"iso_code": country},
            },
        )
    w.to_db_file(str(path))
    return True


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "ringbreaker", *args], capture_output=True, text=True, check=False)


def fingerprints(ws: Path) -> dict[str, str]:
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT key_id, key_fingerprint FROM events "
            "WHERE key_id IS NOT NULL AND key_fingerprint IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    return {str(k): str(f) for k, f in rows}


def detect_alerts(ws: Path, context: Path | None) -> list[dict[str, Any]]:
    args = ["detect", "--workspace", str(ws), "--format", "jsonl", "-q"]
    if context:
        args += ["--context", str(context)]
    res = cli(*args)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"detect failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def ingest(folder: Path, ws: Path, mmdb: Path | None) -> dict[str, Any]:
    args = ["ingest", str(folder), "--workspace", str(ws), "-q"]
    if mmdb:
        args += ["--geoip", str(mmdb)]
    res = cli(*args)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"ingest failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    import duckdb

    con = duckdb.connect(str(ws), read_only=True)
    try:
        stored = con.execute("SELECT count(*) FROM events").fetchone()
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()
    finally:
        con.close()
    return {
        "exit": res.returncode,
        "events": stored[0] if stored else 0,
        "quarantined": quarantined[0] if quarantined else 0,
    }


def judge(s: Scenario, alerts: list[dict[str, Any]], fps: dict[str, str]) -> dict[str, Any]:
    target_fps = {fps[k] for k in s.targets if k in fps}
    rows, medium, named = [], 0, 0
    for a in alerts:
        e = a["entities"]
        hit = bool(
            set(e.get("principals", [])) & s.targets or set(e.get("key_fingerprints", [])) & target_fps
        )
        high = SEVERITY.get(a["severity"], 0) >= MEDIUM
        medium += high
        named += high and hit
        rows.append(
            {"rule": a["rule"], "severity": a["severity"], "names_target": hit, "summary": a["summary"]}
        )
    ok = medium == 0 if s.kind == "legit" else named > 0
    return {"alerts": rows, "medium_plus": medium, "named_medium_plus": named, "pass": ok}


def run_scenario(s: Scenario, root: Path, mmdb: Path | None, keep: Path | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = (keep or root) / s.id
    if folder.exists():
        shutil.rmtree(folder)
    trail = folder / "trail"
    trail.mkdir(parents=True)
    files = write_trail(s.records, trail, Gen(s.id + "-files"))
    ctx = folder / "context.yaml"
    ctx.write_text(yaml.safe_dump(s.context, sort_keys=False))
    ws_plain, ws_ctx = root / f"{s.id}-plain.duckdb", root / f"{s.id}-ctx.duckdb"
    ing = ingest(trail, ws_plain, mmdb)
    shutil.copy(ws_plain, ws_ctx)
    fps = fingerprints(ws_plain)
    plain = judge(s, detect_alerts(ws_plain, None), fps)
    withc = judge(s, detect_alerts(ws_ctx, ctx), fps)
    return {
        "id": s.id,
        "kind": s.kind,
        "title": s.title,
        "records": len(s.records),
        "files": files,
        "ingest": ing,
        "targets": sorted(s.targets),
        "without_context": plain,
        "with_context": withc,
        "seconds": time.perf_counter() - t0,
    }


# --- Stratus Red Team detonation logs ----------------------------------------------------------


def stratus_logs(src: Path) -> dict[str, bytes]:
    """technique -> detonation log, from a work tree or a bare/mirror git directory."""
    out: dict[str, bytes] = {}
    tree = src / "docs" / "detonation-logs"
    if tree.is_dir():
        for p in sorted(tree.glob("*.json")):
            out[p.stem] = p.read_bytes()
        return out
    ls = subprocess.run(
        ["git", "--git-dir", str(src), "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    for path in ls.stdout.splitlines():
        if path.startswith("docs/detonation-logs/") and path.endswith(".json"):
            blob = subprocess.run(
                ["git", "--git-dir", str(src), "show", f"HEAD:{path}"], capture_output=True, check=False
            )
            if blob.returncode == 0:
                out[Path(path).stem] = blob.stdout
    return out


def run_stratus(src: Path, root: Path, jobs: int) -> list[dict[str, Any]]:
    logs = stratus_logs(src)

    def one(item: tuple[str, bytes]) -> dict[str, Any]:
        name, data = item
        folder = root / "stratus" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_bytes(data)
        ws = root / "stratus" / f"{name}.duckdb"
        ing = ingest(folder, ws, None)
        alerts = detect_alerts(ws, None)
        return {
            "technique": name,
            "events": ing["events"],
            "quarantined": ing["quarantined"],
            "alerts": [{"rule": a["rule"], "severity": a["severity"]} for a in alerts],
        }

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, sorted(logs.items())))


# --- Rendering ---------------------------------------------------------------------------------


def fmt_alerts(j: dict[str, Any]) -> str:
    if not j["alerts"]:
        return "—"
    counts: dict[tuple[str, str], int] = {}
    for a in j["alerts"]:
        k = (a["rule"].removeprefix("det."), a["severity"])
        counts[k] = counts.get(k, 0) + 1
    return "<br>".join(f"`{r}` {s}" + (f" x{n}" if n > 1 else "") for (r, s), n in sorted(counts.items()))


def verdict(r: dict[str, Any], key: str) -> str:
    j = r[key]
    if r["kind"] == "legit":
        return ("pass" if j["pass"] else "**FAIL**") + f" ({j['medium_plus']} false)"
    return ("pass" if j["pass"] else "**MISS**") + f" ({j['named_medium_plus']} named)"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Scenario | Records | Alerts without context (rule, severity) | Without context | "
        "Alerts with context | With context |",
        "|---|---:|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| **{r['id']}** {r['title']} | {r['records']:,} | {fmt_alerts(r['without_context'])} | "
            f"{verdict(r, 'without_context')} | {fmt_alerts(r['with_context'])} | "
            f"{verdict(r, 'with_context')} |"
        )
    return lines


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("without_context", "with_context"):
        legit = [r for r in results if r["kind"] == "legit"]
        attack = [r for r in results if r["kind"] == "attack"]
        out[key] = {
            "legit_clean": sum(r[key]["pass"] for r in legit),
            "legit": len(legit),
            "false_medium_plus_alerts": sum(r[key]["medium_plus"] for r in legit),
            "attacks_caught": sum(r[key]["pass"] for r in attack),
            "attacks": len(attack),
            "failed": [r["id"] for r in results if not r[key]["pass"]],
        }
    return out


def render(res: dict[str, Any]) -> str:
    m, s = res["machine"], res["summary"]
    lines = [
        "## detect scenarios",
        "",
        f"Generated by `bench/detect_scenarios.py` on {res['date']} ({m['nproc']} cores, {m['cpu_model']}, "
        f"Python {m['python']}); {len(res['scenarios'])} scenarios, {res['wall_s']:.0f} s wall. "
        "Hand-built CloudTrail histories (S3 delivery shape, gzip) of 12 legitimate behaviours and 10 "
        "LLMjacking attacks, written from real record shapes (Stratus Red Team detonations, AWS Bedrock "
        "CloudTrail docs) and how accounts behave, not from the rules' SQL. Each is ingested with an ASN "
        "database that maps the documentation ranges as GeoLite2-ASN maps real ones (office: Deutsche "
        "Telekom, hotel: Comcast, attackers: DigitalOcean/Hetzner/M247, CI runners: Microsoft, NAT "
        "gateways and a CSPM vendor: Amazon) and detected through the CLI, without and with the owner's "
        "context file. Legitimate: pass with no alert at medium or above; attack: pass when an alert at "
        "medium or above names a target key or principal.",
        "",
    ]
    for key, label in (("without_context", "Without context"), ("with_context", "With context")):
        x = s[key]
        lines.append(
            f"- {label}: legitimate scenarios clean **{x['legit_clean']}/{x['legit']}** "
            f"({x['false_medium_plus_alerts']} false medium+ alerts), attacks caught "
            f"**{x['attacks_caught']}/{x['attacks']}**; failing: {', '.join(x['failed']) or 'none'}."
        )
    lines += ["", *table(res["scenarios"]), ""]
    st = res.get("stratus")
    if st:
        lines += [
            f"### Stratus Red Team detonation logs ({len(st)} techniques, each ingested alone, no context)",
            "",
            "| Technique | Events | Alerts (rule, severity) |",
            "|---|---:|---|",
        ]
        for t in st:
            lines.append(f"| `{t['technique']}` | {t['events']} | {fmt_alerts(t) if t['alerts'] else '—'} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--only", default="", help="comma-separated scenario ids (e.g. A1,L5)")
    ap.add_argument(
        "--keep", type=Path, help="write the scenario files (trail/, context.yaml) under this folder"
    )
    ap.add_argument("--no-geoip", action="store_true", help="ingest without the ASN database")
    ap.add_argument(
        "--stratus",
        type=Path,
        default=os.environ.get("RINGBREAKER_STRATUS") or None,
        help="a stratus-red-team checkout or git mirror: detect over each detonation log",
    )
    ap.add_argument("-j", "--jobs", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()

    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    scenarios = [f() for f in SCENARIOS]
    if only:
        scenarios = [s for s in scenarios if s.id in only]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rb-scenarios-") as tmp:
        root = Path(tmp)
        mmdb: Path | None = root / "asn.mmdb"
        if args.no_geoip or not write_mmdb(root / "asn.mmdb"):
            mmdb = None
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            if mmdb:
                shutil.copy(mmdb, args.keep / "asn.mmdb")
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda s: run_scenario(s, root, mmdb, args.keep), scenarios))
        stratus = run_stratus(args.stratus, root, args.jobs) if args.stratus else None
    wall = time.perf_counter() - t0
    res: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "geoip": mmdb is not None,
        "wall_s": wall,
        "summary": summary(results),
        "scenarios": results,
    }
    if stratus is not None:
        res["stratus"] = stratus
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "detect_scenarios.json").write_text(json.dumps(res, indent=2) + "\n")
    text = render(res)
    print(text)
    if not args.no_docs and not only:
        update_docs(text)
    print(f"[detect-scenarios] {len(results)} scenarios in {wall:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

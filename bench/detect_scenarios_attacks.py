"""The 10 attack scenarios of bench/detect_scenarios.py (an alert at medium or above expected)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collections.abc import Callable

from detect_scenarios_legit import (
    sso_admin,
)
from detect_scenarios_world import (
    COHERE,
    DEV,
    GLOBEX,
    HAIKU,
    INITECH,
    LLAMA,
    MISTRAL,
    NAT,
    OFFICE,
    OPUS,
    PROD,
    SONNET,
    SONNET35,
    TITAN_TEXT,
    UA_AXIOS,
    UA_BOTO_ATTACK,
    UA_BOTO_LINUX,
    UA_BOTO_MAC,
    UA_CLI,
    UA_CONSOLE,
    UA_NODE_SDK,
    UA_REQUESTS,
    UMBRELLA,
    Gen,
    Scenario,
    acme_context,
    day,
    event,
    invoke,
    role,
    session,
    user,
    with_key,
)


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


ATTACKS: list[Callable[[], Scenario]] = [a1, a2, a3, a4, a5, a6, a7, a8, a9, a10]

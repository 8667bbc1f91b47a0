"""The 12 legitimate scenarios of bench/detect_scenarios.py (no alert at medium or above expected)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collections.abc import Callable

from detect_scenarios_world import (
    CSPM,
    DEV,
    HAIKU,
    HOTEL,
    LLAMA,
    MISTRAL,
    NAT,
    OFFICE,
    OPUS,
    PROD,
    SONNET35,
    TITAN_EMBED,
    UA_BOTO_LINUX,
    UA_BOTO_MAC,
    UA_CLI,
    UA_CONSOLE,
    UA_PROWLER,
    UA_TERRAFORM,
    Gen,
    Identity,
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


LEGITIMATE: list[Callable[[], Scenario]] = [l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12]

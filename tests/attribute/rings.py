"""Small hand-made rings for attribute's harder cases, as real CloudTrail files and a real git leak.

Each world is a list of calls (time, address, key, operation, client string); they are written as
CloudTrail ``{"Records": [...]}`` files in the shape the simulator and AWS use, ingested by the real
ingest, and the keys' leak is a commit in a real git repository that the real scanner reads. Alerts
are inserted as detect writes them: the test decides which addresses and keys an alert names, so
what attribute must find beyond them is exactly what the test asserts.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.model import fingerprint
from ringbreaker.rules.loader import load_secret_rules
from ringbreaker.scan import ScanConfig, scan
from ringbreaker.simulate.cloudtrail import record
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.findings import upsert_findings

T0 = datetime(2025, 3, 3, tzinfo=UTC)
CHECKS = ("GetCallerIdentity", "ListFoundationModels")


@dataclass(frozen=True)
class Key:
    """A fake AWS key pair made at test time, owned by ``account``."""

    account: str
    key_id: str
    secret: str

    @property
    def fp(self) -> str:
        return fingerprint(self.key_id)


def new_key(rng: random.Random, account: str) -> Key:
    key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
    return Key(account, key_id, secret)


@dataclass
class World:
    """Calls to write, leaks to commit and alerts to raise."""

    calls: list[tuple[datetime, str, Key, str, str]] = field(default_factory=list)
    leaks: list[tuple[datetime, Key]] = field(default_factory=list)
    alerts: list[tuple[str, list[str], list[Key]]] = field(default_factory=list)

    def call(
        self, t: datetime, ip: str, key: Key, op: str = "InvokeModel", ua: str = "Boto3/1.35.0", n: int = 1
    ) -> None:
        for i in range(n):
            self.calls.append((t + timedelta(seconds=37 * i), ip, key, op, ua))

    def build(self, root: Path) -> Path:
        """Write, commit, scan and ingest; return the workspace file (alerts inserted)."""
        logs = root / "logs"
        logs.mkdir(parents=True)
        records = []
        for i, (t, ip, key, op, ua) in enumerate(sorted(self.calls, key=lambda c: (c[0], c[1]))):
            source = "sts.amazonaws.com" if op == "GetCallerIdentity" else "bedrock.amazonaws.com"
            identity = {
                "type": "IAMUser",
                "principalId": "AIDA" + key.key_id[4:],
                "arn": f"arn:aws:iam::{key.account}:user/app",
                "accountId": key.account,
                "accessKeyId": key.key_id,
                "userName": "app",
            }
            params = {"modelId": "anthropic.claude-3-sonnet-20240229-v1:0"} if op == "InvokeModel" else None
            records.append(
                record(
                    t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    identity,
                    source,
                    op,
                    "us-east-1",
                    ip,
                    ua,
                    f"req-{i:08d}",
                    f"evt-{i:08d}-0000-4000-8000-000000000000",
                    params=params,
                )
            )
        (logs / "trail.json").write_text(json.dumps({"Records": records}))
        repo = root / "leaks"
        repo.mkdir()
        _git(repo, T0, "init", "-q", "-b", "main")
        for n, (t, key) in enumerate(sorted(self.leaks, key=lambda x: x[0])):
            (repo / f"app{n}.py").write_text(
                f"import boto3\nclient = boto3.client('bedrock-runtime', aws_access_key_id='{key.key_id}', "
                f"aws_secret_access_key='{key.secret}')\n"
            )
            _git(repo, t, "add", "-A")
            _git(repo, t, "commit", "-qm", f"app {n}")
        ws = root / "ws.duckdb"
        con = open_workspace(ws)
        try:
            result = scan([repo], ScanConfig(jobs=1), load_secret_rules(), mode="history")
            upsert_findings(con, list(result.findings))
            ingest(con, [logs], IngestConfig())
            for aid, ips, keys in self.alerts:
                alert(con, aid, "high", ips, [k.fp for k in keys])
        finally:
            con.close()
        return ws


def alert(con: duckdb.DuckDBPyConnection, aid: str, severity: str, ips: list[str], keys: list[str]) -> None:
    """An alert row as detect writes it (migration 4), naming source addresses and keys."""
    con.execute(
        "INSERT INTO alerts VALUES (?, 'det.test', ?, 'test', 'test', TIMESTAMPTZ '2025-03-04 00:00:00+00', "
        "TIMESTAMPTZ '2025-03-04 00:00:00+00', 1, ?, [], ?, [], [], [], [], [], NULL, now(), now())",
        [aid, severity, keys, ips],
    )


def _git(repo: Path, t: datetime, *args: str) -> None:
    date = t.isoformat()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)

"""attribute on a real simulated world: crews, roles, keys and timeline against truth.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb

from ringbreaker.attribute import AttributeConfig, attribute
from ringbreaker.attribute.code import index
from ringbreaker.attribute.evaluate import adjusted_rand, evaluate
from ringbreaker.model import Crew, CrewMember, Role
from ringbreaker.workspace import open_workspace
from tests.conftest import rb

World = tuple[Path, Path, dict[str, Any]]


def _alert(con: duckdb.DuckDBPyConnection, aid: str, severity: str, ips: list[str], keys: list[str]) -> None:
    """An alert row as detect writes it (migration 4), naming source addresses and keys."""
    con.execute(
        "INSERT INTO alerts VALUES (?, 'det.test', ?, 'test', 'test', TIMESTAMPTZ '2025-03-01 00:00:00+00', "
        "TIMESTAMPTZ '2025-03-01 00:00:00+00', 1, ?, [], ?, [], [], [], [], [], NULL, now(), now())",
        [aid, severity, keys, ips],
    )


def _ring_alerts(con: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> None:
    """What the leaked-key and reseller-proxy detections name: each crew's proxy addresses."""
    for crew in truth["crews"]:
        for m in crew["members"]:
            if m["kind"] == "ip":
                _alert(con, f"a-{m['value']}", "critical", [m["value"]], [])


def test_crews_roles_and_keys_match_the_planted_ring(world: World, workspace: Path) -> None:
    out, _, truth = world
    con = open_workspace(workspace)
    _ring_alerts(con, truth)
    result = attribute(con, AttributeConfig(code=(out / "public-code",)))
    q = evaluate(con, truth)
    assert len(result.crews) == len(truth["crews"]) == q["crews_found"]
    assert q["ari"] >= 0.9
    assert q["role_accuracy"] >= 0.9
    assert q["members_found"] >= 0.9 * q["members_planted"]
    assert q["strays"] == []
    # Every compromised key that left a trace in the logs is in exactly one crew's case.
    traced = {fp for (fp,) in con.execute("SELECT DISTINCT key_fingerprint FROM crew_keys").fetchall()}
    assert q["keys_not_compromised_in_case"] == []
    assert q["keys_in_exactly_one_case"] == len(traced)
    # Victims are never members: no member is a victim's account or one of its addresses.
    victims = {o.get("account") for o in truth["orgs"]} | {ip["ip"] for o in truth["orgs"] for ip in o["ips"]}
    members = {e for (e,) in con.execute("SELECT entity FROM crew_members").fetchall()}
    assert not members & victims
    # The named members are the contract's rows: the crew's id, a Role, and each one in the table.
    stored = set(con.execute("SELECT crew_id, kind, entity, role FROM crew_members").fetchall())
    for c in result.crews:
        assert c.crew == Crew(*con.execute("SELECT * FROM crews WHERE id = ?", [c.id]).fetchone())
        for m in c.members:
            assert isinstance(m, CrewMember)
            assert m.crew_id == c.id
            assert isinstance(m.role, Role)
            assert (m.crew_id, m.kind, m.entity, m.role) in stored
    con.close()


def test_timeline_runs_from_leak_to_abuse_with_evidence(world: World, workspace: Path) -> None:
    out, _, truth = world
    con = open_workspace(workspace)
    _ring_alerts(con, truth)
    attribute(con, AttributeConfig(code=(out / "public-code",)))
    keys = con.execute(
        "SELECT key_fingerprint, minutes_to_abuse, leak_time IS NOT NULL FROM crew_keys"
    ).fetchall()
    leaked = [k for k in keys if k[2]]
    assert leaked, "the simulated ring abuses leaked keys"
    by_fp = {k["fingerprint"]: k for k in truth["keys"]}
    for fp, minutes, _ in leaked:
        assert 0 < minutes < 120, "first abuse follows the leak within the simulator's delay"
        assert by_fp[fp]["compromised"]
    stages = con.execute(
        "SELECT key_fingerprint, list(stage ORDER BY time, stage) FROM timeline "
        "WHERE key_fingerprint IS NOT NULL GROUP BY ALL"
    ).fetchall()
    for fp, seq in stages:
        if fp in {k[0] for k in leaked}:
            assert seq[0] == "leak"
            assert "abuse" in seq
    empty = con.execute("SELECT count(*) FROM timeline WHERE len(evidence_ids) = 0").fetchall()[0][0]
    assert empty == 0, "every timeline step cites its evidence"
    con.close()


def test_a_false_alert_on_a_customer_address_makes_no_crew(world: World, workspace: Path) -> None:
    """A customer's own address wrongly alerted uses one victim's keys only: not a crew."""
    out, _, truth = world
    org = next(o for o in truth["orgs"] if o["kind"] == "aws")
    con = open_workspace(workspace)
    _alert(con, "false-positive", "high", [ip["ip"] for ip in org["ips"]], [])
    result = attribute(con, AttributeConfig(code=(out / "public-code",)))
    assert result.crews == []
    assert any("not a crew" in n for n in result.notes)
    assert con.execute("SELECT count(*) FROM crew_members").fetchall()[0][0] == 0
    con.close()


def test_without_alerts_nothing_is_attributed_and_the_reason_is_given(workspace: Path) -> None:
    con = open_workspace(workspace)
    result = attribute(con, AttributeConfig())
    assert result.crews == []
    assert "run detect first" in result.notes[0]
    con.close()


def test_rerun_replaces_the_attribution(world: World, workspace: Path) -> None:
    out, _, truth = world
    con = open_workspace(workspace)
    _ring_alerts(con, truth)
    cfg = AttributeConfig(code=(out / "public-code",))
    first = [c.id for c in attribute(con, cfg).crews]
    counts = con.execute(
        "SELECT (SELECT count(*) FROM crew_members), (SELECT count(*) FROM timeline)"
    ).fetchall()
    second = [c.id for c in attribute(con, cfg).crews]
    assert first == second, "crew ids are stable across runs"
    assert (
        con.execute("SELECT (SELECT count(*) FROM crew_members), (SELECT count(*) FROM timeline)").fetchall()
        == counts
    )
    con.close()


def test_code_index_reads_authors_and_deployment_hosts(tmp_path: Path) -> None:
    repo = tmp_path / "code" / "tool"
    repo.mkdir(parents=True)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}

    def git(*args: str, author: str = "ann") -> None:
        subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                f"user.name={author}",
                "-c",
                f"user.email={author}@x.example",
                *args,
            ],
            check=True,
            capture_output=True,
            env=env,
        )

    git("init", "-q", "-b", "main")
    (repo / "client.py").write_text('UA = "toolname/1.2.3"\n')
    git("add", "-A")
    git("commit", "-q", "-m", "v1")
    (repo / "deploy.env").write_text("PUBLIC_HOST=relay-abc.example.net\nPORT=8080\n")
    git("add", "-A")
    git("commit", "-q", "-m", "deploy", author="bob")
    [r] = index([tmp_path / "code"])
    assert [(c.author, c.hosts()) for c in r.commits] == [("ann", []), ("bob", ["relay-abc.example.net"])]
    assert '"toolname/1.2.3"' in r.added_text()


def test_adjusted_rand_index() -> None:
    assert adjusted_rand(list("aabb"), list("xxyy")) == 1.0
    assert adjusted_rand(list("aabb"), list("xyxy")) < 0
    assert 0 < adjusted_rand(list("aaabbb"), list("xxxyyx")) < 1


def test_cli_writes_tables_and_json(world: World, workspace: Path) -> None:
    out, _, truth = world
    con = open_workspace(workspace)
    _ring_alerts(con, truth)
    con.close()
    proc = rb(
        "attribute", "--workspace", str(workspace), "--code", str(out / "public-code"), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["crews"]) == len(truth["crews"])
    roles = {m["role"] for c in doc["crews"] for m in c["members"]}
    assert roles == {"creator", "provider", "user"}
    assert all(m["evidence"] and m["evidence_ids"] for c in doc["crews"] for m in c["members"])
    bad = rb("attribute", "--workspace", str(workspace), "--code", "/nonexistent")
    assert bad.returncode == 2
    assert "/nonexistent" in bad.stderr


def test_min_severity_filters_seeds(world: World, workspace: Path) -> None:
    out, _, truth = world
    con = open_workspace(workspace)
    for crew in truth["crews"]:
        for m in crew["members"]:
            if m["kind"] == "ip":
                _alert(con, f"a-{m['value']}", "medium", [m["value"]], [])
    assert attribute(con, AttributeConfig(code=(out / "public-code",), min_severity="critical")).crews == []
    assert len(attribute(con, AttributeConfig(code=(out / "public-code",), min_severity="medium")).crews) == 2
    con.close()


def test_alerted_key_no_crew_explains_gets_a_case_of_its_own(world: World, workspace: Path) -> None:
    """A stolen key whose use left no address (an admin key in an audit log) is not dropped."""
    out, _, truth = world
    con = open_workspace(workspace)
    _ring_alerts(con, truth)
    lone = next(k for k in truth["keys"] if not k["compromised"])["fingerprint"]
    _alert(con, "lone-key", "critical", [], [lone])
    result = attribute(con, AttributeConfig(code=(out / "public-code",)))
    assert result.crews[-1].id == "unattributed"
    assert [k["key_fingerprint"] for k in result.crews[-1].keys] == [lone]
    rows = con.execute("SELECT crew_id FROM crew_keys WHERE key_fingerprint = ?", [lone]).fetchall()
    assert rows == [("unattributed",)]
    con.close()


def test_bad_memory_limit_is_a_usage_error(workspace: Path) -> None:
    proc = rb("attribute", "--workspace", str(workspace), "--memory-limit", "1'; x")
    assert proc.returncode == 2
    assert "not a size" in proc.stderr

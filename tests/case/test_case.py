"""`ringbreaker case` on a simulated world: files, content against truth.json, schema, secrets, STIX."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from stix2validator import ValidationOptions, validate_string

from ringbreaker.case import write_cases
from ringbreaker.case.build import SHARED_SUFFIXES
from ringbreaker.case.prices import estimate, price_table
from ringbreaker.simulate.world import AZURE_DEPLOYMENTS, BEDROCK_MODELS, GATEWAY_MODELS, RING_BEDROCK_MODELS
from ringbreaker.workspace import open_workspace
from tests.case.conftest import World

SCHEMA = json.loads(resources.files("ringbreaker.case").joinpath("case.schema.json").read_text())


def load(world: World, crew: str, name: str = "case.json") -> Any:
    return json.loads((world.out / crew / name).read_text())


def truth_crew(world: World, crew: str) -> dict[str, Any]:
    return next(c for c in world.truth["crews"] if c["id"] == crew)


def test_writes_three_files_per_crew_and_an_index(world: World) -> None:
    crews = sorted(c["id"] for c in world.truth["crews"])
    assert len(crews) == 2
    assert sorted(w["crew_id"] for w in world.written) == crews
    for c in crews:
        for name in ("case.html", "case.json", "case.stix.json"):
            assert (world.out / c / name).stat().st_size > 1000
    index = (world.out / "index.html").read_text()
    assert all(f'href="{c}/case.html"' in index for c in crews)


@pytest.mark.parametrize("crew", ["crew-1", "crew-2"])
def test_case_json_matches_schema_and_truth(world: World, crew: str) -> None:
    case = load(world, crew)
    jsonschema.Draft202012Validator(SCHEMA).validate(case)
    t = truth_crew(world, crew)
    for role in ("creator", "provider", "user"):
        want = {(m["kind"], m["value"]) for m in t["members"] if m["role"] == role}
        assert {(m["kind"], m["entity"]) for m in case["members"][role]} == want
    assert {k["fingerprint"] for k in case["keys"]} == set(t["keys"])
    leaked = {k["fingerprint"]: k for k in world.truth["keys"] if k["crew"] == crew and k["leaked"]}
    for k in case["keys"]:
        if k["fingerprint"] in leaked:
            assert k["leak_time"] == leaked[k["fingerprint"]]["leak_time"]
            assert 0 < k["minutes_to_abuse"] < 60
    # every member, key and evidence id the case names exists in the workspace
    con = open_workspace(world.workspace, read_only=True)
    try:
        ids = [e["id"] for e in case["evidence"]["events"]]
        found = con.execute("SELECT count(*) FROM events WHERE list_contains(?, id)", [ids]).fetchone()
        assert found == (len(ids),)
        assert case["evidence"]["events_total"] >= len(ids) > 0
    finally:
        con.close()
    # recommended actions cover the ring's keys, addresses and hosts
    a = case["actions"]
    assert {k["fingerprint"] for k in a["revoke_keys"]} == set(t["keys"])
    assert {i["ip"] for i in a["block_ips"]} == {m["value"] for m in t["members"] if m["kind"] == "ip"}
    hosts = {m["value"] for m in t["members"] if m["kind"] == "proxy_host"}
    assert {h["host"] for h in a["block_hosts"]} == hosts
    # the simulator's hosts are quick tunnels: a takedown request, not a seizure of the shared domain
    assert all(d["action"] == "takedown-request" for d in a["seize_domains"])
    assert len(a["seize_domains"]) == len(hosts)
    assert all(h.endswith(SHARED_SUFFIXES) for h in hosts)


def test_no_victim_or_legitimate_entity_in_the_case(world: World) -> None:
    legit_ips = set(world.truth["legit"]["ips"])
    for c in world.truth["crews"]:
        case = load(world, c["id"])
        members = {m["entity"] for ms in case["members"].values() for m in ms}
        assert not members & legit_ips
        drawn = {n["label"] for n in case["infrastructure"]["nodes"] if n["kind"] == "ip"}
        assert not drawn & legit_ips


def _leaked_secrets(world: World) -> list[str]:
    """The real key strings in the simulated public code, cut out of the commits scan recorded."""
    con = open_workspace(world.workspace, read_only=True)
    try:
        rows = con.execute(
            "SELECT fingerprint, repo, path, commit_id, line, col, length FROM findings"
        ).fetchall()
    finally:
        con.close()
    secrets = []
    for fp, repo, path, commit, line, col, length in rows:
        rel = Path(path).relative_to(repo).as_posix()
        text = subprocess.run(
            ["git", "-C", repo, "show", f"{commit}:{rel}"], capture_output=True, text=True, check=True
        ).stdout
        src = text.splitlines()[line - 1]
        secret = next(
            src[i : i + length]
            for i in (col - 1, col)
            if hashlib.sha256(src[i : i + length].encode()).hexdigest() == fp
        )
        secrets.append(secret)
    return secrets


def test_no_secret_appears_in_any_case_file(world: World) -> None:
    secrets = _leaked_secrets(world)
    assert len(secrets) >= 6
    files = list(world.out.rglob("*.*"))
    assert len(files) == 7
    for f in files:
        text = f.read_text()
        for s in secrets:
            assert s not in text, f"{f} contains a key"


def test_cost_is_tokens_times_the_price_table(world: World) -> None:
    for c in world.truth["crews"]:
        cost = load(world, c["id"])["cost"]
        assert cost["price_table_as_of"] == price_table().as_of
        assert cost["total_usd_metered"] > 0
        assert cost["total_usd_estimated"] >= cost["total_usd_metered"]
        for line in cost["by_model"]:
            p = price_table().lookup(line["model"])
            assert p is not None, line["model"]
            if not p.per_image:
                want = (line["tokens_in"] * p.input_per_mtok + line["tokens_out"] * p.output_per_mtok) / 1e6
                assert line["usd_metered"] == pytest.approx(want, abs=0.01)
        assert sum(x["usd_metered"] for x in cost["by_model"]) == pytest.approx(
            cost["total_usd_metered"], abs=0.05
        )


def test_estimate_by_hand() -> None:
    usage = [
        {"model": "gpt-4o", "requests": 10, "metered": 10, "tokens_in": 1_000_000, "tokens_out": 100_000},
        {
            "model": "anthropic.claude-3-opus-20240229-v1:0",
            "requests": 4,
            "metered": 0,
            "tokens_in": 0,
            "tokens_out": 0,
        },
        {"model": "dall-e-3", "requests": 25, "metered": 0, "tokens_in": 0, "tokens_out": 0},
        {"model": "mystery-model-9", "requests": 3, "metered": 3, "tokens_in": 5, "tokens_out": 5},
    ]
    averages = {"anthropic.claude-3-opus-20240229-v1:0": (1000.0, 200.0)}
    cost = estimate(usage, averages)
    by = {x["model"]: x for x in cost["by_model"]}
    assert by["gpt-4o"]["usd_metered"] == 3.50  # 1M in at $2.50 + 0.1M out at $10
    assert by["anthropic.claude-3-opus-20240229-v1:0"]["usd_metered"] == 0
    assert by["anthropic.claude-3-opus-20240229-v1:0"]["usd_estimated"] == pytest.approx(
        4 * (0.015 + 0.015), abs=0.01
    )
    assert by["dall-e-3"]["usd_metered"] == 1.00  # 25 images at $0.04
    assert cost["unpriced_models"] == ["mystery-model-9"]
    assert by["mystery-model-9"]["usd_estimated"] is None
    assert cost["total_usd_metered"] == 4.50


def test_price_table_covers_every_simulated_model() -> None:
    table = price_table()
    models = (
        BEDROCK_MODELS
        + RING_BEDROCK_MODELS
        + [d[0] for d in AZURE_DEPLOYMENTS]
        + [g[0] for g in GATEWAY_MODELS]
    )
    assert [m for m in models if table.lookup(m) is None] == []
    assert all(u.startswith("https://") for u in table.sources.values())
    assert all(p.source in table.sources for p in table.by_model.values())


@pytest.mark.parametrize("crew", ["crew-1", "crew-2"])
def test_stix_bundle_validates_and_models_the_crew(world: World, crew: str) -> None:
    text = (world.out / crew / "case.stix.json").read_text()
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.is_valid, [str(e) for e in result.errors]
    assert [str(w) for w in result.warnings or []] == []
    objs = json.loads(text)["objects"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
    assert len(by_type["intrusion-set"]) == 1
    t = truth_crew(world, crew)
    people = {m["value"]: m["role"] for m in t["members"] if m["kind"] in ("person", "account", "end_user")}
    actors = {a["name"]: a for a in by_type["threat-actor"]}
    assert set(actors) == set(people)
    for name, role in people.items():
        assert f"ringbreaker-role:{role}" in actors[name]["labels"]
    assert {"infrastructure-operator"} <= {r for a in actors.values() for r in a.get("roles", [])}
    patterns = " ".join(i["pattern"] for i in by_type["indicator"])
    for m in t["members"]:
        if m["kind"] in ("ip", "proxy_host"):
            assert f"'{m['value']}'" in patterns
    keys = by_type["x-ringbreaker-api-key"]
    assert {k["fingerprint"] for k in keys} == set(t["keys"])
    assert all(set(k) == {"type", "spec_version", "id", "fingerprint", "extensions"} for k in keys)
    assert by_type["sighting"]
    assert by_type["observed-data"]
    kinds = {(r["relationship_type"]) for r in by_type["relationship"]}
    assert {"attributed-to", "uses", "consists-of", "indicates", "targets"} <= kinds
    refs = {o["id"] for o in objs}
    for r in by_type["relationship"]:
        assert r["source_ref"] in refs
        assert r["target_ref"] in refs


def test_rerun_gives_the_same_stix_ids(world: World, tmp_path: Path) -> None:
    con = open_workspace(world.workspace, read_only=True)
    try:
        write_cases(con, tmp_path, ["crew-1"])
    finally:
        con.close()
    ids = lambda p: sorted(o["id"] for o in json.loads(p.read_text())["objects"])  # noqa: E731
    assert ids(tmp_path / "crew-1" / "case.stix.json") == ids(world.out / "crew-1" / "case.stix.json")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringbreaker", "case", *args], capture_output=True, text=True, check=False
    )


def test_cli_one_crew_jsonl_and_errors(world: World, tmp_path: Path) -> None:
    p = _cli(
        "--workspace", str(world.workspace), "--crew", "crew-2", "--out", str(tmp_path), "--format", "jsonl"
    )
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)
    assert rec["crew_id"] == "crew-2"
    assert rec["keys"] == len(truth_crew(world, "crew-2")["keys"])
    assert not (tmp_path / "index.html").exists()
    bad = _cli("--workspace", str(world.workspace), "--crew", "crew-9", "--out", str(tmp_path))
    assert bad.returncode == 2
    assert "crew-1" in bad.stderr
    both = _cli("--workspace", str(world.workspace), "--crew", "crew-1", "--all", "--out", str(tmp_path))
    assert both.returncode == 2
    missing = _cli("--workspace", str(tmp_path / "none.duckdb"), "--out", str(tmp_path))
    assert missing.returncode == 2
    assert "no workspace" in missing.stderr
    assert "Examples" in _cli("--help").stdout


def test_case_cites_each_evidence_record_by_file_hash_and_position(world: World) -> None:
    """Chain of custody (issue 13): case.json's evidence events, the HTML table and the STIX bundle
    name the source file, the record's position and the file's SHA-256 as ingested."""
    case = json.loads((world.out / "crew-1" / "case.json").read_text())
    events = case["evidence"]["events"]
    assert events
    con = open_workspace(world.workspace, read_only=True)
    try:
        for e in events[:20]:
            row = con.execute(
                "SELECT source_file, source_offset, source_sha256 FROM events WHERE id = ?", [e["id"]]
            ).fetchone()
            assert row == (e["source_file"], e["source_offset"], e["source_sha256"])
            assert e["source_sha256"] == hashlib.sha256(Path(e["source_file"]).read_bytes()).hexdigest()
    finally:
        con.close()
    html = (world.out / "crew-1" / "case.html").read_text()
    assert f"sha256 {events[0]['source_sha256']}" in html
    bundle = json.loads((world.out / "crew-1" / "case.stix.json").read_text())
    files = {o["hashes"]["SHA-256"]: o["id"] for o in bundle["objects"] if o["type"] == "file"}
    assert {e["source_sha256"] for e in events} <= set(files)
    cited = [o for o in bundle["objects"] if o["type"] == "observed-data" and "x_ringbreaker_evidence" in o]
    assert cited
    for od in cited:
        for c in od["x_ringbreaker_evidence"]:
            assert files[c["source_sha256"]] in od["object_refs"]
            assert c["source_offset"] is not None

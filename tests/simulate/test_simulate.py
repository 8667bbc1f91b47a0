"""simulate: deterministic worlds whose logs parse, match truth.json, and whose leaks scan finds."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ringbreaker.cli.simulate import simulate as simulate_cmd
from ringbreaker.simulate import SimConfig, simulate
from ringbreaker.simulate.prompts import BUILTIN, load

from ..conftest import SHARED

SCALE = 0.1
CT_FIELDS = {
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
    "tlsDetails",
    "userIdentity",
}
ID_FIELDS = {"type", "principalId", "arn", "accountId", "accessKeyId"}


def ts(value: str | int) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(value).timestamp())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "w1"
    simulate(SimConfig(out=out, seed=11, scale=SCALE))
    return out


@pytest.fixture(scope="module")
def truth(world: Path) -> dict[str, Any]:
    return dict(json.loads((world / "truth.json").read_text()))


@pytest.fixture(scope="module")
def records(world: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record of every log file, by format; also checks each file parses in its format."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in sorted((world / "aws" / "AWSLogs").rglob("*.json.gz")):
        data = json.loads(gzip.decompress(p.read_bytes()))
        assert list(data) == ["Records"], p
        assert data["Records"], p
        out["cloudtrail"] += data["Records"]
    for p in sorted((world / "aws" / "bedrock-invocation").rglob("*.json.gz")):
        out["bedrock-invocation"] += [json.loads(x) for x in gzip.decompress(p.read_bytes()).splitlines()]
    for p in sorted((world / "azure" / "diagnostics").rglob("PT1H.json")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if isinstance(rec["properties"], str):
                rec["properties"] = json.loads(rec["properties"])
                rec["_props_string"] = True
            out["azure-diagnostics"].append(rec)
    for p in sorted((world / "azure" / "activity").rglob("PT1H.json")):
        out["azure-activity"] += [json.loads(x) for x in p.read_text().splitlines()]
    out["litellm-spendlogs"] = [
        json.loads(x) for x in (world / "gateway/litellm_spendlogs.jsonl").read_text().splitlines()
    ]
    out["openai-audit"] = [json.loads(x) for x in (world / "openai/audit_log.jsonl").read_text().splitlines()]
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _heads(root: Path) -> dict[str, str]:
    return {
        r.name: subprocess.run(
            ["git", "-C", str(r), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout
        for r in sorted((root / "public-code").iterdir())
    }


def test_same_seed_same_bytes_and_commits(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "w1"
    simulate(SimConfig(out=again, seed=11, scale=SCALE))
    assert _tree(world) == _tree(again)
    assert _heads(world) == _heads(again)


def test_different_seed_differs(world: Path, tmp_path: Path) -> None:
    other = tmp_path / "w2"
    simulate(SimConfig(out=other, seed=12, scale=SCALE))
    assert (world / "truth.json").read_bytes() != (other / "truth.json").read_bytes()
    assert (world / "gateway/litellm_spendlogs.jsonl").read_bytes() != (
        other / "gateway/litellm_spendlogs.jsonl"
    ).read_bytes()


def test_counts_match_files(truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> None:
    assert truth["counts"] == {k: len(v) for k, v in sorted(records.items())}
    assert all(truth["counts"][f] > 0 for f in truth["counts"])


def test_cloudtrail_fields_and_layout(world: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    for rec in records["cloudtrail"]:
        assert rec.keys() >= CT_FIELDS, rec
        assert rec["userIdentity"].keys() >= ID_FIELDS
    for p in (world / "aws" / "AWSLogs").rglob("*.json.gz"):
        acct, _, region = p.relative_to(world / "aws/AWSLogs").parts[:3]
        assert p.name.startswith(f"{acct}_CloudTrail_{region}_")


def test_key_checker_sequence_for_each_compromised_aws_key(
    truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]
) -> None:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records["cloudtrail"]:
        by_key[rec["userIdentity"]["accessKeyId"]].append(rec)
    for key in (k for k in truth["keys"] if k["compromised"] and k["provider"] == "aws"):
        evs = sorted(by_key[key["key_id"]], key=lambda r: ts(r["eventTime"]))
        first = ts(key["first_abuse_time"])
        window = [r for r in evs if first <= ts(r["eventTime"]) < first + 60]
        names = [r["eventName"] for r in window]
        assert names[:2] == ["GetCallerIdentity", "GetModelInvocationLoggingConfiguration"], names
        invalid = {
            r["requestParameters"]["modelId"]
            for r in window
            if r["eventName"] == "InvokeModel" and r.get("errorCode") == "ValidationException"
        }
        assert len(invalid) >= 3
        assert "PutFoundationModelEntitlement" in {r["eventName"] for r in evs}


def _ring_times(truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> dict[str, list[int]]:
    """key_id -> times of events by a crew's IPs (or, for OpenAI, by the stolen admin key)."""
    crew_ips = {c["id"]: {m["value"] for m in c["members"] if m["kind"] == "ip"} for c in truth["crews"]}
    key_crew = {k["key_id"]: k["crew"] for k in truth["keys"] if k["compromised"]}
    out: dict[str, list[int]] = defaultdict(list)

    def add(key_id: str, ip: str, t: int, masked: bool = False) -> None:
        crew = key_crew.get(key_id)
        if crew is None:
            return
        ips = {i.rsplit(".", 1)[0] + ".***" for i in crew_ips[crew]} if masked else crew_ips[crew]
        if ip in ips:
            out[key_id].append(t)

    for r in records["cloudtrail"]:
        add(r["userIdentity"]["accessKeyId"], r["sourceIPAddress"], ts(r["eventTime"]))
    for r in records["azure-diagnostics"]:
        if "callerIpAddress" in r:
            add(r["resourceId"], r["callerIpAddress"], ts(r["time"]), masked=True)
    for r in records["azure-activity"]:
        add(
            r["resourceId"].split("/DEPLOYMENTS")[0].split("/RAIPOLICIES")[0],
            r["callerIpAddress"],
            ts(r["time"]),
        )
    for r in records["litellm-spendlogs"]:
        add(r["api_key"], r["requester_ip_address"], ts(r["startTime"]))
    for r in records["openai-audit"]:
        if r["actor"]["type"] == "api_key" and r["actor"]["api_key"]["id"] in key_crew:
            out[r["actor"]["api_key"]["id"]].append(r["effective_at"])
    return out


def test_truth_first_abuse_is_first_ring_event(
    truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]
) -> None:
    times = _ring_times(truth, records)
    compromised = [k for k in truth["keys"] if k["compromised"]]
    assert {k["provider"] for k in compromised} == {"aws", "azure", "litellm", "openai"}
    for key in compromised:
        assert times[key["key_id"]], key
        assert min(times[key["key_id"]]) == ts(key["first_abuse_time"]), key
        if key["leaked"]:
            assert ts(key["leak_time"]) < ts(key["first_abuse_time"])


def test_ring_ips_in_logs_and_legit_never_in_crews(
    world: Path, truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]
) -> None:
    seen = {r["sourceIPAddress"] for r in records["cloudtrail"]}
    seen |= {r["requester_ip_address"] for r in records["litellm-spendlogs"]}
    seen |= {r["callerIpAddress"] for r in records["azure-activity"]}
    masked = {r["callerIpAddress"] for r in records["azure-diagnostics"] if "callerIpAddress" in r}
    members = [m for c in truth["crews"] for m in c["members"]]
    for m in members:
        if m["kind"] == "ip":
            assert m["value"] in seen or m["value"].rsplit(".", 1)[0] + ".***" in masked, m
    values = {m["value"] for m in members}
    legit = truth["legit"]
    assert not values & (set(legit["ips"]) | set(legit["user_agents"]) | set(legit["end_users"]))
    users = {r["end_user"] for r in records["litellm-spendlogs"]}
    assert {m["value"] for m in members if m["kind"] == "end_user"} & users


def test_evasion_and_prompts_present(truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> None:
    names = {r["eventName"] for r in records["cloudtrail"]}
    assert "DeleteModelInvocationLoggingConfiguration" in names
    rai = [r for r in records["azure-activity"] if r["operationName"].endswith("RAIPOLICIES/WRITE")]
    assert rai
    body = json.loads(rai[0]["properties"]["requestbody"])
    assert any(not f["enabled"] or not f["blocking"] for f in body["properties"]["contentFilters"])
    ring_arns = {
        f"arn:aws:iam::{r['userIdentity']['accountId']}:user/{r['userIdentity']['userName']}"
        for r in records["cloudtrail"]
        if r["userAgent"].startswith("axios/")
    }
    ring_prompts = [r for r in records["bedrock-invocation"] if r["identity"]["arn"] in ring_arns]
    assert ring_prompts, "one victim keeps invocation logging on"
    labels = {lab for lab, _ in BUILTIN}
    texts = {r["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"] for r in ring_prompts}
    assert any(t in {x for lab, x in BUILTIN if lab != "benign"} for t in texts)
    assert labels
    assert any(r.get("_props_string") for r in records["azure-diagnostics"])
    assert any(not r.get("_props_string") for r in records["azure-diagnostics"])


def test_scan_finds_every_leak_at_leak_time_and_no_decoy(world: Path, truth: dict[str, Any]) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ringbreaker",
            "scan",
            "--history",
            str(world / "public-code"),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    found: dict[str, set[int]] = defaultdict(set)
    for line in proc.stdout.splitlines():
        f = json.loads(line)
        found[f["fingerprint"]].add(ts(f["time"]))
    leaked = {k["fingerprint"]: ts(k["leak_time"]) for k in truth["keys"] if k["leaked"]}
    assert set(found) == set(leaked)  # every leak, nothing else (decoys and ring tooling stay quiet)
    for fp, t in leaked.items():
        assert found[fp] == {t}


def test_builtin_prompts_name_no_one() -> None:
    for _, text in BUILTIN:
        words = text.replace(",", " ").split()
        allowed = {"French"}  # languages are not people
        assert all(
            w[0].islower() or i == 0 or w.strip(".") in allowed for i, w in enumerate(words) if w[0].isalpha()
        ), text
        assert len(text) < 120


def test_cli_with_dataset_prompts(tmp_path: Path) -> None:
    coco, i2p = SHARED / "datasets/prompts/coco_10k.csv", SHARED / "datasets/prompts/i2p.csv"
    if not (coco.exists() and i2p.exists()):
        pytest.skip("shared prompt datasets not present")
    corpus = tmp_path / "prompts.jsonl"
    with coco.open(newline="") as a, i2p.open(newline="") as b, corpus.open("w") as out:
        for i, row in enumerate(csv.DictReader(a)):
            if i >= 30:
                break
            out.write(json.dumps({"text": row["prompt"], "label": "benign"}) + "\n")
        for i, row in enumerate(csv.DictReader(b)):
            if i >= 30:
                break
            out.write(json.dumps({"text": row["prompt"].strip(), "label": "i2p"}) + "\n")
    assert len(load(corpus).by_label["i2p"]) == 30
    result = CliRunner().invoke(
        simulate_cmd,
        [str(tmp_path / "w"), "--seed", "5", "--scale", "0.05", "--days", "2", "--prompts", str(corpus)],
    )
    assert result.exit_code == 0, result.output
    assert "compromised" in result.output
    truth = json.loads((tmp_path / "w/truth.json").read_text())
    assert truth["start"] == "2025-03-03T00:00:00Z"
    assert truth["end"] == "2025-03-05T00:00:00Z"
    texts = set()
    for p in (tmp_path / "w/aws/bedrock-invocation").rglob("*.json.gz"):
        for line in gzip.decompress(p.read_bytes()).splitlines():
            texts.add(json.loads(line)["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"])
    assert texts
    assert texts <= {json.loads(x)["text"] for x in corpus.read_text().splitlines()}


def test_cli_refuses_non_empty_out(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    result = CliRunner().invoke(simulate_cmd, [str(tmp_path), "--scale", "0.05"])
    assert result.exit_code != 0
    assert (tmp_path / "x").read_text() == "keep me"


def test_same_bytes_with_any_number_of_workers(tmp_path: Path) -> None:
    """Each organisation draws from its own streams, so splitting them over processes changes nothing."""
    one, two = tmp_path / "one", tmp_path / "two"
    simulate(SimConfig(out=one, seed=3, scale=0.5, days=2, workers=1))
    simulate(SimConfig(out=two, seed=3, scale=0.5, days=2, workers=2))
    assert _tree(one) == _tree(two)


def _times(fmt: str, rec: dict[str, Any]) -> int:
    field = {
        "cloudtrail": "eventTime",
        "bedrock-invocation": "timestamp",
        "azure-diagnostics": "time",
        "azure-activity": "time",
        "litellm-spendlogs": "startTime",
        "openai-audit": "effective_at",
    }[fmt]
    return ts(rec[field])


def test_invariants_hold_at_larger_scale(tmp_path: Path) -> None:
    """At a scale where the batch paths and several workers carry the volume: every file parses,
    sits in the partition of its records' time, is sorted by time, and truth.json still agrees."""
    out = tmp_path / "big"
    simulate(SimConfig(out=out, seed=21, scale=6, days=1, workers=2))
    truth = json.loads((out / "truth.json").read_text())
    recs: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def check(fmt: str, rows: list[dict[str, Any]], lo: int | None = None, hi: int | None = None) -> None:
        times = [_times(fmt, r) for r in rows]
        assert times == sorted(times), fmt
        if lo is not None and hi is not None:
            assert all(lo <= t < hi for t in times), (fmt, lo, hi)
        recs[fmt] += rows

    for p in (out / "aws" / "AWSLogs").rglob("*.json.gz"):
        end = ts(datetime.strptime(p.name.split("_")[3], "%Y%m%dT%H%MZ").strftime("%Y-%m-%dT%H:%M:00+00:00"))
        check("cloudtrail", json.loads(gzip.decompress(p.read_bytes()))["Records"], end - 900, end)
    for p in (out / "aws" / "bedrock-invocation").rglob("*.json.gz"):
        rows = [json.loads(x) for x in gzip.decompress(p.read_bytes()).splitlines()]
        h0 = ts(datetime.strptime(p.name[:16], "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        check("bedrock-invocation", rows, h0, h0 + 3600)
    for fmt, sub in (("azure-diagnostics", "diagnostics"), ("azure-activity", "activity")):
        for p in (out / "azure" / sub).rglob("PT1H.json"):
            parts: dict[str, str] = {}
            for x in p.parent.parts:  # y=, m= (month), d=, h=, then m= (minute) again
                k, _, val = x.partition("=")
                if val and len(x) < 8:
                    parts.setdefault(k, val)
            h0 = ts(f"{parts['y']}-{parts['m']}-{parts['d']}T{parts['h']}:00:00+00:00")
            check(fmt, [json.loads(x) for x in p.read_text().splitlines()], h0, h0 + 3600)
    for fmt, rel in (
        ("litellm-spendlogs", "gateway/litellm_spendlogs.jsonl"),
        ("openai-audit", "openai/audit_log.jsonl"),
    ):
        check(fmt, [json.loads(x) for x in (out / rel).read_text().splitlines()])
    assert truth["counts"] == {k: len(v) for k, v in sorted(recs.items())}
    assert sum(truth["counts"].values()) > 50_000
    for r in recs["azure-diagnostics"]:
        if isinstance(r["properties"], str):
            r["properties"] = json.loads(r["properties"])
    times = _ring_times(truth, recs)
    for key in (k for k in truth["keys"] if k["compromised"] and k["provider"] != "openai"):
        if times[key["key_id"]]:
            assert min(times[key["key_id"]]) == ts(key["first_abuse_time"]), key


def test_templates_write_what_the_dict_path_writes() -> None:
    """The batch path fills templates built from the same record functions as the one-off path."""
    from ringbreaker.simulate import azure_diag, bedrock_logs, cloudtrail, litellm
    from ringbreaker.simulate.sink import encode
    from ringbreaker.simulate.world import Org

    ident = {"type": "IAMUser", "arn": "arn:aws:iam::1:user/u", "accountId": "1", "accessKeyId": "AKIA1"}
    got = cloudtrail.runtime_template(ident).fill(
        {
            "time": [b"2025-03-03T09:00:01"],
            "name": [b"Converse"],
            "region": [b"eu-west-3"],
            "ip": [b"198.18.0.9"],
            "ua": [b"ua/1 100%"],
            "model": [b"m.x-v1:0"],
            "rid": [b"r"],
            "eid": [b"e"],
        }
    )
    want = cloudtrail.record(
        "2025-03-03T09:00:01Z",
        ident,
        "bedrock.amazonaws.com",
        "Converse",
        "eu-west-3",
        "198.18.0.9",
        "ua/1 100%",
        "r",
        "e",
        params={"modelId": "m.x-v1:0"},
    )
    assert got == [encode(want)]

    got = bedrock_logs.template("1", "arn", "us-east-1").fill(
        {
            "time": [b"2025-03-03T09:00:01"],
            "model": [b"m"],
            "short": [b"s"],
            "prompt": [encode('say "hi"')],
            "reply": [encode("ok")],
            "tin": [3],
            "tout": [4],
            "op": [b"InvokeModel"],
            "max": [512],
            "rid": [b"r"],
            "mid": [b"m1"],
        }
    )
    want = bedrock_logs.record(
        "2025-03-03T09:00:01Z",
        "1",
        "arn",
        "us-east-1",
        "m",
        "s",
        'say "hi"',
        "ok",
        3,
        4,
        "InvokeModel",
        512,
        "r",
        "m1",
    )
    assert got == [encode(want)]

    for as_string in (False, True):
        org = Org(
            "azure-x",
            "azure",
            "X",
            "x.example",
            0,
            [],
            region="eastus",
            subscription="s",
            resource_group="rg",
            account_name="a",
            props_as_string=as_string,
        )
        got = azure_diag.request_template(org).fill(
            {
                "time": [b"2025-03-03T09:00:01"],
                "frac": [42],
                "ip": [b"198.18.0.***"],
                "op": [b"Op"],
                "corr": [b"c"],
                "dur": [5],
                "dep": [b"d"],
                "model": [b"mo"],
                "version": [b"v"],
                "api": [b"1"],
                "reqt": [7],
                "reqlen": [8],
                "respt": [9],
                "resplen": [10],
                "obj": [b""],
            }
        )
        want = azure_diag.request_record(
            "2025-03-03T09:00:01.0000042Z",
            org,
            "198.18.0.***",
            "Op",
            ("d", "mo", "v"),
            "1",
            7,
            8,
            9,
            10,
            5,
            "",
            "c",
        )
        assert got == [encode(want)]

    model = ("gpt-4o", "openai", "https://api.openai.com/v1")
    for prompts in (False, True):
        cols: dict[str, Any] = {
            "rid": [b"r"],
            "ip": [b"198.18.0.9"],
            "ua": [b"ua"],
            "user": [b"u"],
            "respid": [b"x"],
            "tin": [1],
            "tout": [2],
            "total": [3],
            "spend": [1.5e-05],
            "start": [b"2025-03-03T09:00:01"],
            "smicro": [7],
            "end": [b"2025-03-03T09:00:02"],
            "emicro": [8],
            "sid": [b"s"],
        }
        if prompts:
            cols["prompt"] = [encode("p\n")]
        got = litellm.template("k", "team", model, False, prompts).fill(cols)
        want = litellm.record(
            "r",
            "k",
            "team",
            model,
            "198.18.0.9",
            "ua",
            "u",
            False,
            "p\n" if prompts else None,
            "x",
            1,
            2,
            3,
            1.5e-05,
            "2025-03-03T09:00:01.000007+00:00",
            "2025-03-03T09:00:02.000008+00:00",
            "s",
        )
        assert json.loads(got[0]) == json.loads(encode(want))

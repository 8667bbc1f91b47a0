"""Every route of the workbench on a demo workspace: 200 with the content it promises, 404 for
unknown ids, 400 for bad filters, and JSON twins whose field names are the CLI's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from tests.serve.conftest import Demo, Server, one, running


def cli_json(demo: Demo, tmp_path: Path, *args: str) -> str:
    """Run a verb on a copy of the demo workspace (the verbs write; the served file stays as it is)."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(demo.workspace, copy)
    p = subprocess.run(
        [sys.executable, "-m", "ringbreaker", *args, "--workspace", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode in (0, 1), p.stderr
    return p.stdout


def test_overview_counts_and_chart(server: Server, demo: Demo) -> None:
    r = server.get("/")
    assert r.status == 200
    events = one(demo, "SELECT count(*) FROM events")
    assert f"{events:,}" in r.text
    assert "<svg" in r.text
    assert "alerts per day by severity" in r.text
    crew = one(demo, "SELECT id FROM crews LIMIT 1")
    assert f'href="/crews/{crew}"' in r.text
    critical = one(demo, "SELECT count(*) FROM alerts WHERE severity = 'critical'")
    assert critical > 0
    assert r.text.count('href="/alerts/') >= min(critical, 10)


def test_alerts_json_twin_matches_detect_jsonl(server: Server, demo: Demo, tmp_path: Path) -> None:
    lines = [
        json.loads(x)
        for x in cli_json(demo, tmp_path, "detect", "--dry-run", "--format", "jsonl").splitlines()
    ]
    api = server.get("/api/alerts?per_page=500").json()
    assert api["total"] == len(lines) == len(api["alerts"])
    assert {k for a in api["alerts"] for k in a} == {k for a in lines for k in a}
    by_id = {a["id"]: a for a in lines}
    for a in api["alerts"]:
        cli = by_id[a["id"]]
        for k in ("rule", "severity", "title", "first_seen", "last_seen", "count", "entities"):
            assert a[k] == cli[k], (a["id"], k)
        assert set(a["evidence"]) == set(cli["evidence"])
    one_alert = server.get(f"/api/alerts/{lines[0]['id']}").json()
    assert set(one_alert) == set(lines[0])


def test_crews_json_twin_matches_attribute_json(server: Server, demo: Demo, tmp_path: Path) -> None:
    doc = json.loads(
        cli_json(
            demo, tmp_path, "attribute", "--format", "json", "--code", str(demo.out / "world" / "public-code")
        )
    )
    api = server.get("/api/crews").json()
    assert [c["id"] for c in api["crews"]] == [c["id"] for c in doc["crews"]]
    for mine, theirs in zip(api["crews"], doc["crews"], strict=True):
        assert set(mine) == set(theirs)
        for part in ("members", "keys", "timeline"):
            assert len(mine[part]) == len(theirs[part]), part
            if theirs["id"] == "unattributed" and not theirs[part]:
                continue  # the case of alerted keys no crew explains has no members
            assert theirs[part], part
            assert set(mine[part][0]) == set(theirs[part][0]), part
        assert mine["first_time"] == theirs["first_time"]
        assert {k["key_fingerprint"]: k["leak_time"] for k in mine["keys"]} == {
            k["key_fingerprint"]: k["leak_time"] for k in theirs["keys"]
        }
    crew = server.get(f"/api/crews/{doc['crews'][0]['id']}").json()
    assert crew["id"] == doc["crews"][0]["id"]


def test_inbox_filters_sort_and_pages(server: Server, demo: Demo) -> None:
    high = one(demo, "SELECT count(*) FROM alerts WHERE severity IN ('high', 'critical')")
    api = server.get("/api/alerts?severity=high,critical&per_page=5&sort=severity").json()
    assert api["total"] == high
    assert len(api["alerts"]) == 5
    assert {a["severity"] for a in api["alerts"]} == {"critical"}  # most severe first
    seen: list[str] = []
    for page in range(1, -(-high // 5) + 1):
        seen += [
            a["id"]
            for a in server.get(f"/api/alerts?severity=high,critical&per_page=5&page={page}").json()["alerts"]
        ]
    assert len(seen) == len(set(seen)) == high  # pages neither repeat nor skip
    rule = one(demo, "SELECT rule FROM alerts GROUP BY rule ORDER BY count(*) DESC LIMIT 1")
    by_rule = server.get(f"/api/alerts?rule={rule}").json()
    assert by_rule["total"] == one(demo, f"SELECT count(*) FROM alerts WHERE rule = '{rule}'")
    since = one(demo, "SELECT strftime(max(last_time), '%Y-%m-%dT%H:%M:%SZ') FROM alerts")
    recent = server.get(f"/api/alerts?since={since}").json()
    assert 0 < recent["total"] < one(demo, "SELECT count(*) FROM alerts")
    ip = one(demo, "SELECT src_ips[1] FROM alerts WHERE len(src_ips) > 0 LIMIT 1")
    by_ip = server.get(f"/api/alerts?q={ip}&per_page=500").json()
    assert by_ip["total"] > 0
    assert all(ip in a["entities"]["src_ips"] or ip in a["summary"] for a in by_ip["alerts"])
    asc = server.get("/api/alerts?sort=count&order=asc&per_page=500").json()["alerts"]
    assert [a["count"] for a in asc] == sorted(a["count"] for a in asc)
    page = server.get("/alerts?severity=high,critical&per_page=5")
    assert page.status == 200
    assert 'rel="next"' in page.text
    assert "page 1 of" in page.text
    for bad in ("severity=urgent", "sort=colour", "page=0", "since=yesterday-ish"):
        assert server.get(f"/api/alerts?{bad}").status == 400, bad
        assert server.get(f"/alerts?{bad}").status == 400, bad


def test_alert_page_links_entities_and_evidence(server: Server, demo: Demo) -> None:
    aid, fp, ev = one(
        demo,
        "SELECT id, key_fingerprints[1], event_ids[1] FROM alerts WHERE len(key_fingerprints) > 0 "
        "AND len(event_ids) > 0 ORDER BY id LIMIT 1",
    )
    r = server.get(f"/alerts/{aid}")
    assert r.status == 200
    assert f'href="/keys/{fp}"' in r.text
    assert f'href="/events/{ev}"' in r.text
    assert "Related alerts" in r.text
    assert "<pre>" in r.text
    for link in sorted(set(re.findall(r'href="(/(?:keys|events|alerts|crews)/[^"?]+)"', r.text)))[:20]:
        assert server.get(unescape(link)).status == 200, link  # every link between pages resolves


def test_key_page_and_twin(server: Server, demo: Demo) -> None:
    fp = one(
        demo, "SELECT key_fingerprint FROM crew_keys WHERE leak_time IS NOT NULL AND provider = 'aws' LIMIT 1"
    )
    r = server.get(f"/keys/{fp}")
    assert r.status == 200
    assert "Where and when it leaked" in r.text
    assert "Abuse by network" in r.text
    assert "<svg" in r.text
    repo = one(demo, f"SELECT repo FROM findings WHERE fingerprint = '{fp}' LIMIT 1")
    assert repo in unescape(r.text)
    k = server.get(f"/api/keys/{fp}").json()
    assert k["fingerprint"] == fp
    assert k["leaks"]
    assert k["usage"]["events"] == one(demo, f"SELECT count(*) FROM events WHERE key_fingerprint = '{fp}'")
    azure, resource = one(
        demo,
        "SELECT fingerprint, resource FROM findings WHERE provider LIKE 'azure%' AND resource IS NOT NULL",
    )
    used = one(demo, f"SELECT count(*) FROM events WHERE lower(resource) LIKE '%/accounts/{resource}'")
    assert server.get(f"/api/keys/{azure}").json()["usage"]["events"] == used > 0  # joined by its resource
    assert k["alerts"]
    assert set(k["alerts"][0]) >= {
        "id",
        "rule",
        "severity",
        "first_seen",
        "entities",
        "evidence",
    }


def test_crew_event_search_and_case_pages(server: Server, demo: Demo) -> None:
    crew = one(demo, "SELECT id FROM crews LIMIT 1")
    r = server.get(f"/crews/{crew}")
    assert r.status == 200
    assert "creators" in r.text
    assert "Stolen keys" in r.text
    assert f"/cases/{crew}" in r.text
    assert server.get("/crews").status == 200
    ev = one(demo, "SELECT id FROM events WHERE source_format = 'cloudtrail' LIMIT 1")
    e = server.get(f"/events/{ev}")
    assert e.status == 200
    assert "Raw record" in e.text
    assert "eventName" in e.text
    ip = one(
        demo, "SELECT src_ip FROM events WHERE key_fingerprint IS NOT NULL AND src_ip IS NOT NULL LIMIT 1"
    )
    s = server.get(f"/api/search?q={ip}").json()
    assert any(x["ip"] == ip for x in s["ips"])
    pivot = server.get(f"/api/search?q={ip}&field=src_ip").json()["pivot"]
    assert pivot
    assert all(p["key_fingerprint"] for p in pivot)
    fp = one(demo, "SELECT fingerprint FROM findings LIMIT 1")
    assert server.get(f"/api/search?q={fp[:10]}").json()["keys"][0]["fingerprint"] == fp
    assert server.get(f"/api/search?q={ev}").json()["events"][0]["id"] == ev
    aid = one(demo, "SELECT id FROM alerts LIMIT 1")
    assert server.get(f"/api/search?q={aid[:8]}").json()["alerts"][0]["id"] == aid
    repo = one(demo, "SELECT repo FROM findings LIMIT 1")
    assert server.get(f"/api/search?q={quote(repo.rsplit('/', 1)[-1])}").json()["repositories"]
    ua = one(demo, "SELECT user_agent FROM events WHERE user_agent IS NOT NULL LIMIT 1")
    assert server.get(f"/search?q={quote(ua)}").status == 200
    assert server.get(f"/cases/{crew}").status == 200
    html = server.get(f"/cases/{crew}/case.html")
    assert html.status == 200
    assert "Content-Security-Policy" in html.text
    assert "frame-ancestors 'none'" in html.headers["content-security-policy"]
    stix = server.get(f"/cases/{crew}/case.stix.json")
    assert stix.status == 200
    assert "attachment" in stix.headers["content-disposition"]
    assert json.loads(stix.body)["type"] == "bundle"


@pytest.mark.parametrize(
    "path",
    [
        "/alerts/0000dead",
        "/keys/" + "0" * 64,
        "/crews/no-such-crew",
        "/events/no-such-event",
        "/cases/no-such-crew",
        "/cases/no-such-crew/case.html",
        "/api/alerts/0000dead",
        "/api/keys/" + "0" * 64,
        "/api/crews/no-such-crew",
        "/no/such/page",
        "/static/evil.js",
    ],
)
def test_unknown_ids_are_404(server: Server, path: str) -> None:
    r = server.get(path)
    assert r.status == 404
    assert "not found" in r.text


def test_prompts_are_redacted_and_secrets_never_shown(server: Server, demo: Demo) -> None:
    ev, prompt = one(
        demo,
        "SELECT id, prompt FROM events WHERE source_format = 'bedrock-invocation' "
        "AND length(prompt) > 40 LIMIT 1",
    )
    page = unescape(server.get(f"/events/{ev}").text)
    assert prompt not in page
    assert "prompt redacted" in page
    key_id = one(
        demo, "SELECT key_id FROM events WHERE source_format = 'cloudtrail' AND key_id LIKE 'AKIA%' LIMIT 1"
    )
    shown = server.get(
        "/events/" + one(demo, f"SELECT id FROM events WHERE key_id = '{key_id}' LIMIT 1")
    ).text
    assert key_id not in shown
    assert f"{key_id[:4]}…(20)" in unescape(shown)


def test_show_prompts_reveals_them(demo: Demo, tmp_path: Path) -> None:
    ev, prompt = one(
        demo,
        "SELECT id, prompt FROM events WHERE source_format = 'bedrock-invocation' "
        "AND length(prompt) > 40 LIMIT 1",
    )
    with running(demo.workspace, tmp_path, "--show-prompts") as s:
        page = unescape(s.get(f"/events/{ev}").text)
    assert prompt in page
    assert "prompt redacted" not in page


def test_concurrent_readers_all_get_answers(server: Server, demo: Demo) -> None:
    """Requests run in a thread pool: pages that redact records (the secret scanner) and read the
    snapshot at once must not trip over each other."""
    aid = one(demo, "SELECT id FROM alerts ORDER BY len(event_ids) DESC LIMIT 1")
    ev = one(demo, "SELECT id FROM events WHERE source_format = 'cloudtrail' LIMIT 1")
    paths = [f"/alerts/{aid}", f"/events/{ev}", "/", "/api/alerts"] * 6
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda p: server.get(p).status, paths))
    assert statuses == [200] * len(paths)


def test_an_event_kept_by_reference_shows_its_record_verified(server: Server, demo: Demo) -> None:
    """The demo ingests by reference: a model call's record is not in the workspace (raw NULL); its
    page reads it from the evidence store and checks the file's hash."""
    ev, sha, _ = one(
        demo,
        "SELECT id, source_sha256, 0 FROM events "
        "WHERE source_format = 'bedrock-invocation' AND raw IS NULL LIMIT 1",
    )
    page = unescape(server.get(f"/events/{ev}").text)
    assert f"sha256 {sha} (record verified against the file)" in page
    assert '"modelId"' in page  # the Bedrock invocation log record itself


def test_alerts_cite_their_evidence_by_file_hash_and_position(server: Server, demo: Demo) -> None:
    """detect's jsonl fields, added for chain of custody: each evidence event's file hash + position."""
    aid = one(demo, "SELECT id FROM alerts ORDER BY len(event_ids) DESC LIMIT 1")
    a = server.get(f"/api/alerts/{aid}").json()
    refs = a["evidence_refs"]
    assert [r["event_id"] for r in refs] == a["evidence"][: len(refs)]
    assert len(refs) == min(len(a["evidence"]), 100)
    for r in refs[:5]:
        want = one(
            demo, f"SELECT source_file, source_offset, source_sha256 FROM events WHERE id = '{r['event_id']}'"
        )
        assert (r["source_file"], r["source_offset"], r["source_sha256"]) == want
        assert len(r["source_sha256"]) == 64


def test_key_cost_at_the_dated_list_prices(server: Server, demo: Demo) -> None:
    """The key page's cost is tokens x the shipped price table, per model, recomputed here from
    prices.yaml and the events themselves; models the table lacks are listed, never priced at 0."""
    from importlib import resources

    import duckdb
    import yaml

    table = yaml.safe_load(resources.files("ringbreaker.case").joinpath("prices.yaml").read_text())
    price = {str(a).lower(): m for m in table["models"] for a in [m["id"], *m["match"]]}
    fp = one(
        demo,
        "SELECT key_fingerprint FROM events WHERE model IS NOT NULL AND tokens_in > 0 "
        "GROUP BY 1 ORDER BY sum(tokens_in) DESC LIMIT 1",
    )
    con = duckdb.connect(str(demo.workspace), read_only=True)
    try:
        use = con.execute(
            "SELECT model, count(*), sum(tokens_in), sum(tokens_out) FROM events "
            "WHERE key_fingerprint = ? AND model IS NOT NULL GROUP BY model",
            [fp],
        ).fetchall()
    finally:
        con.close()
    want, unpriced = 0.0, set()
    for model, n, tin, tout in use:
        m = price.get(model.lower())
        if m is None:
            unpriced.add(model)
        elif m.get("per_image"):
            want += m["per_image"] * n
        else:
            tokens = (tin or 0) * m.get("input_per_mtok", 0) + (tout or 0) * m.get("output_per_mtok", 0)
            want += tokens / 1e6
    cost = server.get(f"/api/keys/{fp}").json()["cost"]
    assert cost["currency"] == "USD"
    assert cost["price_table_as_of"] == str(table["as_of"])
    assert set(cost["unpriced_models"]) == unpriced
    assert want > 0
    assert abs(cost["total_usd_metered"] - want) < 0.01 * len(use) + 1e-9
    page = server.get(f"/keys/{fp}").text
    assert f"${cost['total_usd_metered']:,.2f}" in page


def test_key_page_charts_abuse_by_network_and_model(server: Server, demo: Demo) -> None:
    fp = one(demo, "SELECT key_fingerprint FROM crew_keys ORDER BY events DESC, key_fingerprint LIMIT 1")
    k = server.get(f"/api/keys/{fp}").json()
    abuse = k["abuse_per_day"]
    assert abuse["series"] == 8
    assert sum(r["events"] for r in abuse["by_network"]) == k["usage"]["events"]
    assert sum(r["events"] for r in abuse["by_model"]) == k["usage"]["events"]
    con = duckdb.connect(str(demo.workspace), read_only=True)
    try:  # the demo has no GeoIP data: a network is its address; at most 8 of each here
        want = con.execute(
            "SELECT strftime(timezone('UTC', date_trunc('day', time)), '%Y-%m-%d'), src_ip, count(*) "
            "FROM events WHERE key_fingerprint = ? GROUP BY ALL ORDER BY 1, 3 DESC, 2",
            [fp],
        ).fetchall()
    finally:
        con.close()
    assert [(r["day"], r["network"], r["events"]) for r in abuse["by_network"]] == want
    page = server.get(f"/keys/{fp}").text
    for what in ("network", "model"):
        assert f'aria-label="events per day on this key by {what}"' in page
    chart = page[page.index('aria-label="events per day on this key by model"') :]
    chart = chart[: chart.index("</svg>")]
    models = {r["model"] for r in abuse["by_model"]}
    assert chart.count('<g class="legend">') == len(models) > 1
    for m in models:
        assert f"<title>{m}</title>" in chart


def test_key_lists_page_in_html_and_api(server: Server, demo: Demo) -> None:
    fp, probes = one(
        demo,
        "SELECT key_fingerprint, count(*) FROM events WHERE status = 'failure' OR model IS NULL "
        "GROUP BY ALL HAVING count(*) > 7 ORDER BY 2 DESC, 1 LIMIT 1",
    )
    whole = server.get(f"/api/keys/{fp}?probes_per_page=500").json()
    assert whole["totals"]["probes"] == probes == len(whole["probes"])
    assert whole["paging"]["probes"] == {"page": 1, "per_page": 500, "pages": 1}
    assert whole["totals"]["alerts"] == one(
        demo, f"SELECT count(*) FROM alerts WHERE list_contains(key_fingerprints, '{fp}')"
    )
    second = server.get(f"/api/keys/{fp}?probes_page=2&probes_per_page=3&alerts_per_page=1").json()
    assert second["probes"] == whole["probes"][3:6]
    assert second["paging"]["probes"] == {"page": 2, "per_page": 3, "pages": -(-probes // 3)}
    assert len(second["alerts"]) == min(1, whole["totals"]["alerts"])
    assert second["usage"] == whole["usage"]  # not paged
    assert second["cost"] == whole["cost"]
    html = server.get(f"/keys/{fp}?probes_page=2&probes_per_page=3").text
    assert f"4\u20136 of {probes:,}" in html  # rows 4 to 6
    links = dict(re.findall(r'<a rel="(prev|next)" href="(\?[^"]*#probes)"', html))
    assert unescape(links["next"]) == "?probes_page=3&probes_per_page=3#probes"
    assert unescape(links["prev"]) == "?probes_per_page=3#probes"
    third = server.get(f"/keys/{fp}" + unescape(links["next"]).split("#")[0]).text
    assert whole["probes"][6]["id"] in third
    assert whole["probes"][3]["id"] not in third
    for bad in ("probes_page=0", "leaks_per_page=9999", "models_page=x"):
        r = server.get(f"/api/keys/{fp}?{bad}")
        assert r.status == 400
        assert bad.split("=")[0] in r.json()["error"]

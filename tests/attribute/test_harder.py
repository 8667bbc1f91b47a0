"""attribute on hand-made harder rings: one operator's stolen key, rotation, a proxy pool, a shared exit."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from ringbreaker.attribute import AttributeConfig, attribute
from ringbreaker.workspace import open_workspace
from tests.attribute.rings import CHECKS, T0, World, new_key

DAY = timedelta(days=1)
TOOL = "kchk/0.3 (+ranger)"


def _members(ws: Path) -> dict[str, dict[str, str | None]]:
    con = open_workspace(ws)
    try:
        rows = con.execute(
            "SELECT crew_id, kind, entity, infra_role FROM crew_members WHERE kind <> 'end_user'"
        )
        out: dict[str, dict[str, str | None]] = {}
        for crew_id, kind, entity, role in rows.fetchall():
            out.setdefault(crew_id, {})[f"{kind}:{entity}"] = role
        return out
    finally:
        con.close()


def _single_key_world(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """One victim, one leaked key, one operator: a checker, and egress that moves to a new /24 each day.
    The owner goes on using the key from the office after the leak. Only the first day's egress is alerted."""
    rng = random.Random(7)
    w = World()
    k1, other = new_key(rng, "111111111111"), new_key(rng, "111111111111")
    office, office2 = "198.51.100.10", "198.51.100.11"
    for day in range(4):
        w.call(T0 + day * DAY + timedelta(hours=9), office, k1, n=20)
        w.call(T0 + day * DAY + timedelta(hours=10), office2, other, n=10)
    leak = T0 + DAY
    w.leaks.append((leak, k1))
    checker, egress = "203.0.113.5", ["203.0.113.77", "192.0.2.40", "100.24.7.9"]
    for op in CHECKS:
        w.call(leak + timedelta(minutes=14), checker, k1, op, TOOL)
    for day, ip in enumerate(egress):
        w.call(leak + day * DAY + timedelta(hours=2), ip, k1, ua=TOOL, n=40)
    w.alerts.append(("a-egress", [egress[0]], [k1]))
    ws = w.build(tmp_path)
    return ws, {"checker": checker, "office": office, **{f"egress{i}": ip for i, ip in enumerate(egress)}}


def test_one_operator_with_one_stolen_key_is_a_crew_with_every_address_it_used(tmp_path: Path) -> None:
    ws, ip = _single_key_world(tmp_path)
    con = open_workspace(ws)
    result = attribute(con, AttributeConfig())
    con.close()
    crews = [c for c in result.crews if c.id != "unattributed"]
    assert len(crews) == 1, result.notes
    crew = crews[0]
    assert crew.crew.ties
    assert crew.crew.ties.startswith("one operator")
    assert crew.crew.confidence is not None
    assert 0.5 <= crew.crew.confidence <= 0.8
    members = _members(ws)[crew.id]
    assert members[f"ip:{ip['checker']}"] == "checker"
    for i in range(3):
        assert members[f"ip:{ip[f'egress{i}']}"] == "egress"
    assert f"ip:{ip['office']}" not in members, "the owner's office keeps using its key: not a member"
    assert f"tool:{TOOL}" in members


def test_a_customer_alerted_by_mistake_is_still_no_crew(tmp_path: Path) -> None:
    """The same world, but the alert names the owner's office: its use began before the leak."""
    rng = random.Random(3)
    w = World()
    k1 = new_key(rng, "222222222222")
    for day in range(3):
        w.call(T0 + day * DAY, "198.51.100.20", k1, n=30)
    w.leaks.append((T0 + DAY, k1))
    w.alerts.append(("fp", ["198.51.100.20"], [k1]))
    ws = w.build(tmp_path)
    con = open_workspace(ws)
    result = attribute(con, AttributeConfig())
    con.close()
    # The alerted key was used only by its owner: no crew, and the key waits in the unattributed case.
    assert [c.id for c in result.crews] == ["unattributed"]
    assert any("not a crew" in n for n in result.notes)


def test_first_and_last_seen_and_edges(tmp_path: Path) -> None:
    ws, ip = _single_key_world(tmp_path)
    con = open_workspace(ws)
    attribute(con, AttributeConfig())
    row = con.execute(
        "SELECT first_seen, last_seen FROM crew_members WHERE entity = ?", [ip["egress2"]]
    ).fetchone()
    assert row is not None
    first, last = row
    assert first.date() == (T0 + 3 * DAY).date()
    assert last >= first
    kinds = dict(con.execute("SELECT kind, count(*) FROM crew_edges GROUP BY kind").fetchall())
    assert kinds["used-key"] == 4  # checker and three egress addresses, one key
    assert kinds["sent-client"] == 4
    weight = con.execute(
        "SELECT weight FROM crew_edges WHERE kind = 'used-key' AND source = ?", [f"ip:{ip['egress1']}"]
    ).fetchone()
    assert weight == (40.0,)
    con.close()


@pytest.fixture(scope="module")
def pool_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Crew P: a checker and 120 residential exits (two requests each) over two victims' keys.
    Crew Q: its own egress over two other victims' keys. Both send part of their traffic through
    one commercial VPN exit, which an alert names with P's checker and Q's egress."""
    rng = random.Random(11)
    w = World()
    kp = [new_key(rng, f"3000000000{i:02d}") for i in range(2)]
    kq = [new_key(rng, f"4000000000{i:02d}") for i in range(2)]
    for k in kp + kq:
        w.call(T0, f"198.51.100.{30 + int(k.account[-2:]) + (10 if k in kq else 0)}", k, n=5)
        w.leaks.append((T0 + timedelta(hours=6), k))
    start = T0 + DAY
    checker, q_egress, vpn = "203.0.113.9", "198.18.0.10", "192.0.2.200"
    for k in kp:
        for op in CHECKS:
            w.call(start, checker, k, op, "pchk/1.1")
    for i in range(120):
        exit_ip = f"100.{70 + i % 6}.{(i * 7) % 250}.{10 + i}"
        w.call(start + timedelta(minutes=5 + i), exit_ip, kp[i % 2], ua="Mozilla/5.0 (proxy)", n=2)
    for k in kq:
        w.call(start + timedelta(hours=1), q_egress, k, ua="qq-proxy/2.0", n=50)
    w.call(start + timedelta(hours=3), vpn, kp[0], ua="Mozilla/5.0 (proxy)", n=12)
    w.call(start + timedelta(hours=4), vpn, kq[0], ua="qq-proxy/2.0", n=12)
    w.alerts += [("a-p", [checker], kp), ("a-q", [q_egress], kq), ("a-vpn", [vpn], [])]
    ws = w.build(tmp_path_factory.mktemp("pool"))
    con = open_workspace(ws)
    attribute(con, AttributeConfig())
    con.close()
    return ws, {"checker": checker, "q": q_egress, "vpn": vpn}


def test_a_proxy_pool_is_one_member_and_its_exits_are_edges(pool_world: tuple[Path, dict[str, str]]) -> None:
    ws, ip = pool_world
    members = _members(ws)
    p = next(c for c, m in members.items() if f"ip:{ip['checker']}" in m)
    assert members[p]["proxy_pool:proxy-pool"] == "proxy-pool"
    assert not any(e.startswith("ip:100.") for e in members[p]), "exits are not members one by one"
    con = open_workspace(ws)
    exits = con.execute(
        "SELECT count(*) FROM crew_edges WHERE crew_id = ? AND kind = 'pool-address'", [p]
    ).fetchone()
    evidence = con.execute(
        "SELECT evidence FROM crew_members WHERE crew_id = ? AND kind = 'proxy_pool'", [p]
    ).fetchone()
    con.close()
    assert exits == (120,)
    assert evidence is not None
    assert "120 exit addresses" in evidence[0]


def test_a_shared_exit_merges_nothing_and_says_with_whom(pool_world: tuple[Path, dict[str, str]]) -> None:
    ws, ip = pool_world
    members = _members(ws)
    p = next(c for c, m in members.items() if f"ip:{ip['checker']}" in m)
    q = next(c for c, m in members.items() if f"ip:{ip['q']}" in m)
    assert p != q, "the VPN exit both crews used does not merge them"
    assert members[p][f"ip:{ip['vpn']}"] == members[q][f"ip:{ip['vpn']}"] == "shared"
    con = open_workspace(ws)
    shared = con.execute(
        "SELECT crew_id, target FROM crew_edges WHERE kind = 'shared-with' ORDER BY crew_id"
    ).fetchall()
    keys = dict(con.execute("SELECT crew_id, count(*) FROM crew_keys GROUP BY crew_id").fetchall())
    ev = con.execute(
        "SELECT evidence FROM crew_members WHERE crew_id = ? AND entity = ?", [p, ip["vpn"]]
    ).fetchone()
    con.close()
    assert sorted(shared) == sorted([(p, f"crew:{q}"), (q, f"crew:{p}")])
    assert keys == {p: 2, q: 2}, "each crew keeps its own stolen keys"
    assert ev is not None
    assert f"shared with {q}" in ev[0]


def test_the_case_names_the_pool_and_the_shared_exit(pool_world: tuple[Path, dict[str, str]]) -> None:
    """case.json (valid against its schema), the page and the STIX bundle say what is shared and pooled."""
    import json
    from importlib import resources

    import jsonschema

    from ringbreaker.case import build_case
    from ringbreaker.case.html import render_html
    from ringbreaker.case.stix import build_bundle

    ws, ip = pool_world
    members = _members(ws)
    p = next(c for c, m in members.items() if f"ip:{ip['checker']}" in m)
    q = next(c for c, m in members.items() if f"ip:{ip['q']}" in m)
    con = open_workspace(ws)
    case = build_case(con, p)
    con.close()
    schema = json.loads(resources.files("ringbreaker.case").joinpath("case.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(case)
    infra = case["infrastructure"]
    assert infra["proxy_pool"]["addresses"] == 120
    assert [(s["address"], s["other_crew"]) for s in infra["shared"]] == [(ip["vpn"], q)]
    assert case["crew"]["ties"].startswith("pools")
    assert case["evidence"]["events_total"] >= 240 + 4, "the pool exits' requests are the crew's events"
    page = render_html(case)
    assert "proxy pool of 120 exit addresses" in page
    assert f"shared with {q}" in page
    stix = build_bundle(case)
    assert f"Crew proxy address {ip['checker']}" in stix
    assert f"Crew proxy address {ip['vpn']}" not in stix


def test_logs_that_begin_after_the_leak_keep_the_owner_out(tmp_path: Path) -> None:
    """The key leaked before the first log line: time cannot tell the owner from the thief, the
    crew's client string can. Its rotated egress joins; the owner's office (the SDK everyone sends)
    does not, although it too used the key only after the leak."""
    rng = random.Random(5)
    w = World()
    k1 = new_key(rng, "555555555555")
    w.leaks.append((T0 - 30 * DAY, k1))
    office, egress = "198.51.100.50", ["203.0.113.60", "192.0.2.61", "100.24.9.62"]
    for day in range(3):
        w.call(T0 + day * DAY + timedelta(hours=9), office, k1, n=15)
        w.call(T0 + day * DAY + timedelta(hours=2), egress[day], k1, ua=TOOL, n=30)
    w.call(T0, "198.51.100.77", new_key(rng, "666666666666"), n=5)  # the SDK string is common
    w.alerts.append(("a-egress", [egress[0]], [k1]))
    ws = w.build(tmp_path)
    con = open_workspace(ws)
    result = attribute(con, AttributeConfig())
    con.close()
    members = _members(ws)
    crew = next(c.id for c in result.crews if c.id != "unattributed")
    assert {f"ip:{ip}" for ip in egress} <= set(members[crew])
    assert f"ip:{office}" not in members[crew]


def test_an_owner_address_on_its_usual_network_and_client_is_no_crew_member(tmp_path: Path) -> None:
    """With ASNs (ingest --geoip): after the leak the owner's CI moves to a new /24 of the same
    cloud, with the same client, and an alert names it with the thief's egress. Only the thief's
    address is the crew's."""
    rng = random.Random(9)
    w = World()
    k1 = new_key(rng, "777777777777")
    ci_before, ci_after, thief = "198.51.100.70", "192.0.2.71", "203.0.113.72"
    w.call(T0, ci_before, k1, ua="Boto3/1.35.36 ci", n=20)
    w.leaks.append((T0 + DAY, k1))
    w.call(T0 + 2 * DAY, ci_after, k1, ua="Boto3/1.35.36 ci", n=20)
    w.call(T0 + DAY + timedelta(hours=1), thief, k1, ua=TOOL, n=30)
    w.alerts.append(("a", [ci_after, thief], [k1]))
    ws = w.build(tmp_path)
    con = open_workspace(ws)
    con.execute(  # what ingest --geoip writes: the owner's cloud and the thief's host
        "UPDATE events SET src_asn = CASE WHEN src_ip = ? THEN 64999 ELSE 64500 END", [thief]
    )
    result = attribute(con, AttributeConfig())
    con.close()
    crew = next(c for c in result.crews if c.id != "unattributed")
    addresses = {m.entity for m in crew.members if m.kind == "ip"}
    assert addresses == {thief}
    assert any("owners, not a crew" in n for n in result.notes)

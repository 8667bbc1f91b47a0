"""The snapshot's summaries give exactly what the request-time SQL gives: every key of the demo
workspace (AWS, OpenAI, an Azure key found through its resource), every crew's activity, searches
and pivots, compared between the workspace itself (no summaries: the scan path) and a copy that
carries them (the path a served snapshot takes)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import duckdb
import pytest

from ringbreaker.serve import entities, keys, summaries
from ringbreaker.serve.alerts import tables
from ringbreaker.serve.keys import KEY_LISTS
from ringbreaker.serve.paging import Page, Pages
from tests.serve.conftest import Demo


@pytest.fixture(scope="module")
def both(
    demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[duckdb.DuckDBPyConnection, ...]]:
    copy = tmp_path_factory.mktemp("summaries") / "copy.duckdb"
    shutil.copy(demo.workspace, copy)
    con = duckdb.connect(str(copy))
    summaries.build(con)
    con.close()
    plain = duckdb.connect(str(demo.workspace), read_only=True)
    fast = duckdb.connect(str(copy), read_only=True)
    try:
        yield plain, fast
    finally:
        plain.close()
        fast.close()


def test_the_copy_has_summaries_and_the_workspace_not(both: tuple[duckdb.DuckDBPyConnection, ...]) -> None:
    plain, fast = both
    assert not summaries.ready(tables(plain))
    assert summaries.ready(tables(fast))


def test_every_key_reads_the_same(both: tuple[duckdb.DuckDBPyConnection, ...]) -> None:
    plain, fast = both
    fps = [
        r[0]
        for r in plain.execute(
            "SELECT fingerprint FROM findings UNION SELECT key_fingerprint FROM events "
            "WHERE key_fingerprint IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    azure = plain.execute("SELECT fingerprint FROM findings WHERE resource IS NOT NULL").fetchall()
    assert len(fps) > 20
    assert azure
    checked_verdicts = 0
    later = Pages.parse(  # later pages of every list, small ones
        {f"{n}_{p}": v for n in KEY_LISTS for p, v in (("page", "2"), ("per_page", "2"))}, KEY_LISTS
    )
    for fp in [*fps, "0" * 64]:
        want, got = entities.key(plain, fp), entities.key(fast, fp)
        assert got == want, fp
        assert keys.key(fast, fp, later) == keys.key(plain, fp, later), fp
        if want and want["flagged_prompts"]:
            checked_verdicts += 1
    assert checked_verdicts  # the comparison covered flagged prompts too
    for (fp,) in azure:  # found through the resource its leak names
        k = entities.key(fast, fp)
        assert k is not None
        assert k["usage"]["events"] > 0


def test_crew_activity_search_and_pivots_read_the_same(both: tuple[duckdb.DuckDBPyConnection, ...]) -> None:
    plain, fast = both
    for crew in entities.crews(plain):
        assert entities.crew_events(fast, crew) == entities.crew_events(plain, crew), crew["id"]
    ip, actor, ua, fp = plain.execute(
        "SELECT any_value(src_ip), any_value(actor), any_value(user_agent), any_value(key_fingerprint) "
        "FROM events WHERE src_ip IS NOT NULL AND actor IS NOT NULL AND user_agent IS NOT NULL "
        "AND key_fingerprint IS NOT NULL"
    ).fetchone() or ("", "", "", "")
    for q in (ip, ip.rsplit(".", 1)[0], "198.", actor, ua[:6], fp[:8], "a", "crew", "e"):
        for page in (Page(1, 25), Page(2, 3)):
            assert entities.search(fast, q, page) == entities.search(plain, q, page), (q, page)
    for col, value in (("src_ip", ip), ("actor", actor), ("user_agent", ua), ("end_user", "nobody")):
        assert entities.keys_of(fast, col, value) == entities.keys_of(plain, col, value), col

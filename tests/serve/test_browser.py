"""The workbench in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Every page loads with no console message (a CSP violation is one), no page error and no request
to anywhere but the server; links, filters and pagination work by clicking; hostile log fields
(markup in user agents, user names, crew names) stay text. A screenshot per page goes to the test's
temporary directory (and to $RINGBREAKER_SCREENSHOTS when set).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import Browser, Page

from ringbreaker.workspace import open_workspace
from tests.case.hostile import HOSTILE_UA, IMG, SCRIPT, SVG_BREAK, hostile_workspace
from tests.case.test_render import browser, screenshot
from tests.serve.conftest import TOKEN, Demo, Server, one, running

__all__ = ["browser"]  # the case tests' Chromium fixture, used here by name


def session(browser: Browser, server: Server) -> tuple[Page, list[str]]:
    """A page logged in the way a user is (the start line's ?token= URL), watching for problems."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    origin = f"http://127.0.0.1:{server.port}/"
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"error: {e}"))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("request", lambda r: None if r.url.startswith(origin) else problems.append(f"request: {r.url}"))
    page.goto(f"{origin}?token={TOKEN}")
    assert "token" not in page.url  # redirected to the same page without it
    return page, problems


def test_every_page_loads_clean(browser: Browser, server: Server, demo: Demo, tmp_path: Path) -> None:
    crew = one(demo, "SELECT id FROM crews")
    pages = {
        "overview": "/",
        "alerts": "/alerts?severity=high,critical",
        "alert": "/alerts/" + one(demo, "SELECT id FROM alerts WHERE severity = 'critical' ORDER BY id"),
        "key": "/keys/" + one(demo, "SELECT key_fingerprint FROM crew_keys ORDER BY events DESC"),
        "crews": "/crews",
        "crew": f"/crews/{crew}",
        "event": "/events/" + one(demo, "SELECT id FROM events WHERE prompt IS NOT NULL ORDER BY id"),
        "search": "/search?q=198.18",
        "case": f"/cases/{crew}",
        "case-html": f"/cases/{crew}/case.html",
        "missing": "/alerts/no-such-alert",
    }
    page, problems = session(browser, server)
    for name, path in pages.items():
        response = page.goto(f"http://127.0.0.1:{server.port}{path}")
        assert response is not None
        assert response.status == (404 if name == "missing" else 200), name
        page.wait_for_load_state("load")
        assert page.title(), name
        screenshot(page, tmp_path, f"serve-{name}.png")
        if name == "missing":  # the browser reports the 404 of the document itself, and only that
            assert len(problems) == 1
            assert "status of 404" in problems[0]
            problems.clear()
        assert not problems, f"{name}: {problems}"
    assert page.evaluate("document.styleSheets.length") >= 1  # app.css loaded under the CSP


def test_filters_pagination_and_links_by_clicking(browser: Browser, server: Server) -> None:
    page, problems = session(browser, server)
    page.goto(f"http://127.0.0.1:{server.port}/alerts?per_page=10")
    assert "page 1 of" in page.inner_text("nav.pages")
    page.click("a[rel=next]")
    assert "page=2" in page.url
    assert "page 2 of" in page.inner_text("nav.pages")
    page.fill("input[name=severity]", "critical")
    page.click("form.filters button[type=submit]")
    sev = {s.strip() for s in page.locator("#inbox tbody .sev").all_inner_texts()}
    assert sev == {"critical"}
    page.click("#inbox tbody tr >> nth=0 >> a")
    assert "/alerts/" in page.url
    page.click("ul.entities a[href^='/keys/'] >> nth=0")
    assert "/keys/" in page.url
    assert page.locator("h2", has_text="Abuse by network").count() == 1
    page.click("text=Crews")
    page.click("table.list tbody a[href^='/crews/'] >> nth=0")
    assert page.locator("h2", has_text="Organisation by role").count() == 1
    assert not problems, problems


def test_hostile_fields_stay_text(browser: Browser, tmp_path: Path) -> None:
    ws = hostile_workspace(tmp_path)
    with running(ws, tmp_path) as s:
        page, problems = session(browser, s)
        alert = s.get("/api/alerts").json()["alerts"][0]["id"]
        key = hashlib.sha256(b"not-a-real-key").hexdigest()  # the key hostile_workspace plants
        pages = (
            "/crews/crew-x",
            f"/keys/{key}",
            "/crews",
            "/alerts",
            f"/alerts/{alert}",
            "/events/ev0",
            "/search?q=evil-proxy",
            "/",
        )
        for path in pages:
            raw = s.get(path)
            assert raw.status == 200, path
            assert SCRIPT not in raw.text, path
            if path.startswith("/keys/"):  # the hostile alert title is listed on the key's page, escaped
                assert "title &lt;script&gt;" in raw.text, path
            page.goto(f"http://127.0.0.1:{s.port}{path}")
            page.wait_for_load_state("load")
            assert page.title() != "pwned", path
            assert page.locator("script:not([src])").count() == 0, path
        page.goto(f"http://127.0.0.1:{s.port}/events/ev0")
        assert HOSTILE_UA in page.inner_text("main")  # shown, as text
        screenshot(page, tmp_path, "serve-hostile-event.png")
        assert not problems, problems


# A repository name comes from the scanned code host (a fork can be named anything) and a finding's
# location from the paths in it: markup, quotes and a javascript: URL in both.
JS_URL = "javascript:document.title='pwned'"
HOSTILE_REPO = f'evil-repo/{SCRIPT}"\'><a href="{JS_URL}">x</a>'
HOSTILE_PATH = f"{JS_URL}//{IMG}.py"
HOSTILE_MODEL = f"gpt{SVG_BREAK}"


def hostile_leak(ws: Path, fp: str) -> None:
    """Add to ``ws`` a finding of key ``fp`` in HOSTILE_REPO at HOSTILE_PATH, and a call on the key
    with HOSTILE_MODEL (named in the key page's chart and legend)."""
    con = open_workspace(ws)
    try:
        con.execute(
            "INSERT INTO findings (fingerprint, location, id, rule, provider, preview, length, path, "
            "line, col, confidence, leak_time, repo, author, first_seen, last_seen) VALUES (?, ?, "
            "'finding-x', 'secret.openai.x', 'openai', 'sk-…(51)', 51, ?, 1, 1, 'high', "
            "TIMESTAMPTZ '2025-03-04 10:00:00+00', ?, ?, now(), now())",
            [fp, f"{HOSTILE_REPO}/{HOSTILE_PATH}", HOSTILE_PATH, HOSTILE_REPO, f"mallory{IMG}"],
        )
        con.execute(
            "INSERT INTO events (id, time, provider, operation, status, key_fingerprint, src_ip, model, "
            "source_format, source_file) VALUES ('ev-model', TIMESTAMPTZ '2025-03-05 10:00:00+00', "
            "'gateway', 'acompletion', 'success', ?, '203.0.113.8', ?, 'litellm-spendlogs', 'f.jsonl')",
            [fp, HOSTILE_MODEL],
        )
    finally:
        con.close()


def test_hostile_repository_names_stay_text(browser: Browser, tmp_path: Path) -> None:
    ws = hostile_workspace(tmp_path)
    key = hashlib.sha256(b"not-a-real-key").hexdigest()
    hostile_leak(ws, key)
    with running(ws, tmp_path) as s:
        assert s.get(f"/api/keys/{key}").json()["leaks"][0]["repo"] == HOSTILE_REPO  # the data is there
        page, problems = session(browser, s)
        for path in (f"/keys/{key}", "/search?q=evil-repo", f"/search?q={key[:12]}"):
            raw = s.get(path).text
            assert SCRIPT not in raw, path
            assert 'href="javascript:' not in raw.lower(), path
            assert "onerror=" not in raw.replace("onerror=&#34;", "").replace("onerror=&quot;", ""), path
            page.goto(f"http://127.0.0.1:{s.port}{path}")
            page.wait_for_load_state("load")
            assert page.title() != "pwned", path
            assert page.locator("script:not([src])").count() == 0, path
            assert page.locator("a[href^='javascript:' i], img[onerror], svg[onload]").count() == 0, path
        page.goto(f"http://127.0.0.1:{s.port}/search?q=evil-repo")
        results = page.locator("ul.results li").all_inner_texts()
        assert any(HOSTILE_REPO in r for r in results), results  # shown, as text
        page.goto(f"http://127.0.0.1:{s.port}/keys/{key}")
        main = page.inner_text("main")
        assert HOSTILE_REPO in main
        assert HOSTILE_PATH in main
        # the model chart: one <svg> each (the name did not close it), the name in its legend as text
        assert page.locator("svg.chart").count() == 3
        legend = page.locator("svg[aria-label='events per day on this key by model'] g.legend title")
        assert HOSTILE_MODEL in legend.all_text_contents()
        page.click("main a[href^='/search?']:has-text('203.0.113.7') >> nth=0")  # links still work
        assert "field=src_ip" in page.url
        screenshot(page, tmp_path, "serve-hostile-repo.png")
        assert not problems, problems


def test_key_page_lists_page_by_clicking(browser: Browser, server: Server, demo: Demo) -> None:
    fp, probes = one(
        demo,
        "SELECT key_fingerprint, count(*) FROM events WHERE status = 'failure' OR model IS NULL "
        "GROUP BY ALL HAVING count(*) > 7 ORDER BY 2 DESC, 1 LIMIT 1",
    )
    page, problems = session(browser, server)
    page.goto(f"http://127.0.0.1:{server.port}/keys/{fp}?probes_per_page=3&alerts_per_page=1")
    nav = page.locator("nav[aria-label='probes pages']")
    assert f"page 1 of {-(-probes // 3)}" in nav.inner_text()
    first = page.locator("#probes + table tbody a").all_inner_texts()
    nav.locator("a[rel=next]").click()
    assert "probes_page=2" in page.url
    assert "alerts_per_page=1" in page.url  # the other list's page kept
    assert page.url.endswith("#probes")
    second = page.locator("#probes + table tbody a").all_inner_texts()
    assert len(first) == len(second) == 3
    assert first != second
    page.locator("nav[aria-label='probes pages'] a[rel=prev]").click()
    assert page.locator("#probes + table tbody a").all_inner_texts() == first
    assert not problems, problems


def test_crews_and_search_pages_by_clicking(browser: Browser, server: Server, demo: Demo) -> None:
    crews = one(demo, "SELECT count(*) FROM crews")
    assert crews >= 2
    page, problems = session(browser, server)
    page.goto(f"http://127.0.0.1:{server.port}/crews?per_page=1")
    assert f"page 1 of {crews}" in page.inner_text("nav.pages")
    first = page.locator("table.list tbody a[href^='/crews/']").all_inner_texts()
    page.click("a[rel=next]")
    assert "page=2" in page.url
    second = page.locator("table.list tbody a[href^='/crews/']").all_inner_texts()
    assert len(first) == len(second) == 1
    assert first != second
    page.click("a[rel=prev]")
    assert page.locator("table.list tbody a[href^='/crews/']").all_inner_texts() == first
    ips = one(demo, "SELECT count(DISTINCT src_ip) FROM events WHERE starts_with(src_ip, '198.')")
    assert ips > 2
    page.goto(f"http://127.0.0.1:{server.port}/search?q=198.&per_page=2")
    assert f"2 of {ips}" in page.inner_text("main")
    seen = set(page.locator("ul.results a[href*='field=src_ip']").all_inner_texts())
    page.click("a[rel=next]")
    assert "page=2" in page.url
    more = set(page.locator("ul.results a[href*='field=src_ip']").all_inner_texts())
    assert more
    assert not seen & more
    assert not problems, problems

"""case.html in a real headless Chromium (the system's Debian `chromium`, driven by Playwright).

Checks what a reader sees: the page loads from file:// with nothing fetched and no Content-Security-
Policy complaint, the org chart and the timeline are drawn with one box per member and one marker per
timeline step, table sorting and filtering work, and hostile log fields stay text. Screenshots go
to the test's temporary directory (and to $RINGBREAKER_SCREENSHOTS when set) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ringbreaker.case import write_cases
from ringbreaker.workspace import open_workspace
from tests.case.conftest import World
from tests.case.hostile import hostile_workspace

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    for name in (os.environ.get("RINGBREAKER_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name) if name else None
        if found:
            return found
    pytest.fail(
        "no Chromium: install the Debian package `chromium` (`make test` does) or set RINGBREAKER_CHROMIUM"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        yield b
        b.close()


def open_case(browser: Browser, path: Path) -> tuple[Page, list[str]]:
    """Open a case page; collect console messages, page errors and any request other than the file."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"error: {e}"))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("request", lambda r: None if r.url == path.as_uri() else problems.append(f"request: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    page.screenshot(path=str(out), full_page=False)
    target = os.environ.get("RINGBREAKER_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(target) / name)
    return out


def boxes(page: Page, selector: str) -> list[dict[str, Any]]:
    return [b for b in (h.bounding_box() for h in page.query_selector_all(selector)) if b]


@pytest.mark.parametrize("crew", ["crew-1", "crew-2"])
def test_org_chart_and_timeline_are_drawn(browser: Browser, world: World, crew: str, tmp_path: Path) -> None:
    import json

    case = json.loads((world.out / crew / "case.json").read_text())
    page, problems = open_case(browser, world.out / crew / "case.html")
    assert problems == []
    assert page.title().startswith("Case file:")

    org = page.query_selector("svg.org-chart")
    assert org is not None
    ob = org.bounding_box()
    assert ob is not None
    assert ob["width"] > 600
    assert ob["height"] > 250
    for role in ("creator", "provider", "user"):
        assert page.query_selector(f"svg.org-chart g.tier-{role}") is not None
    people = sum(
        min(15, sum(1 for m in case["members"][r] if m["kind"] in ("person", "account", "end_user")))
        for r in ("creator", "provider", "user")
    )
    drawn = boxes(page, "svg.org-chart g.member rect")
    assert len(drawn) == people > 0
    assert all(b["width"] > 50 and b["height"] > 20 for b in drawn)
    assert all(ob["x"] <= b["x"] and b["x"] + b["width"] <= ob["x"] + ob["width"] + 1 for b in drawn)
    # tiers top to bottom: creators above providers above users
    tiers = [
        page.query_selector(f"svg.org-chart g.tier-{r} rect").bounding_box()["y"]
        for r in ("creator", "provider", "user")
    ]  # type: ignore[union-attr]
    assert tiers == sorted(tiers)

    tl = page.query_selector("svg.timeline-chart")
    assert tl is not None
    tb = tl.bounding_box()
    assert tb is not None
    assert tb["height"] > 100
    markers = boxes(page, "svg.timeline-chart g.event")
    assert len(markers) == len(case["timeline"]) > 0
    leak = boxes(page, "svg.timeline-chart g.stage-leak")
    later = boxes(page, "svg.timeline-chart g.stage-abuse")
    assert leak
    assert later
    assert min(b["x"] for b in leak) < max(b["x"] for b in later)

    links = page.query_selector_all("svg.link-chart g.edges path")
    assert len(links) == len(case["infrastructure"]["edges"]) > 0

    # sorting and filtering (the only JS on the page)
    page.click("#keys-table th:nth-child(8)")  # Requests
    counts = [
        int(c.get_attribute("data-v") or 0)
        for c in page.query_selector_all("#keys-table tbody td:nth-child(8)")
    ]
    assert counts == sorted(counts)
    page.fill('input[data-table="events-table"]', "no-such-value-anywhere")
    assert page.locator("#events-table tbody tr:visible").count() == 0
    page.fill('input[data-table="events-table"]', "")
    assert page.locator("#events-table tbody tr:visible").count() == case["evidence"]["events_listed"]

    screenshot(page, tmp_path, f"case-{crew}-top.png")
    org.scroll_into_view_if_needed()
    screenshot(page, tmp_path, f"case-{crew}-org.png")
    tl.scroll_into_view_if_needed()
    screenshot(page, tmp_path, f"case-{crew}-timeline.png")
    assert problems == []
    page.close()


def test_hostile_fields_stay_text_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    con = open_workspace(hostile_workspace(tmp_path), read_only=True)
    try:
        write_cases(con, tmp_path / "out")
    finally:
        con.close()
    page, problems = open_case(browser, tmp_path / "out" / "crew-x" / "case.html")
    assert problems == []
    assert page.title() == "Case file: crew <script>document.title='pwned'</script>"  # text, never run
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert (
        page.evaluate("document.querySelectorAll('main img, main svg svg, [onerror], [onload]').length") == 0
    )
    assert "<script>document.title='pwned'</script>" in page.inner_text("h1")
    page.close()

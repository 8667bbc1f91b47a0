"""A key page's lists and charts on a hand-built workspace whose answers are known: abuse per day
by network and by model (top series by events, the rest summed, networks named by class,
organisation, ASN or address), every list paged in SQL (pages add up to the whole list, in a total
order, with exact totals), and the same answers from the snapshot's summaries as from the scan."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ringbreaker.serve import charts, keys, summaries
from ringbreaker.serve.paging import Pages
from ringbreaker.workspace import open_workspace

FP = hashlib.sha256(b"not-a-real-key-for-lists").hexdigest()
MODELS = [f"model-{i:02d}" for i in range(11)]  # model-00 the most used, then fewer and fewer
NETWORKS = [  # (src_ip, src_asn, src_org, src_anonymizer) -> the chart's label
    (("203.0.113.9", 64500, "Example Hosting SAS", "hosting"), "hosting: Example Hosting SAS"),
    (("198.51.100.4", 64501, None, None), "AS64501"),
    (("192.0.2.77", None, None, None), "192.0.2.77"),
    ((None, None, None, None), "(no address)"),
]


def _build(path: Path) -> Path:
    """Events on FP over four days: model i gets 12 - i calls, spread over the networks; every
    fourth call failed (a probe); and 7 findings of the key (leaks)."""
    con = open_workspace(path)
    try:
        n = 0
        for i, model in enumerate(MODELS):
            for _ in range(12 - i):
                network, _ = NETWORKS[n % len(NETWORKS)]  # src_ip, src_asn, src_org, src_anonymizer
                con.execute(
                    "INSERT INTO events (id, time, provider, operation, status, key_fingerprint, src_ip, "
                    "src_asn, src_org, src_anonymizer, model, tokens_in, tokens_out, source_format, "
                    "source_file) VALUES (?, TIMESTAMPTZ '2025-03-04 10:00:00+00' + INTERVAL (?) HOUR, "
                    "'openai', 'chat', ?, ?, ?, ?, ?, ?, ?, 10, 1, 'openai-audit', 'f.jsonl')",
                    [f"e{n:04d}", n * 7 % 72, "failure" if n % 4 == 0 else "success", FP, *network, model],
                )
                n += 1
        for i in range(7):
            con.execute(
                "INSERT INTO findings (fingerprint, location, id, rule, provider, preview, length, path, "
                "line, col, confidence, leak_time, repo, first_seen, last_seen) VALUES (?, ?, ?, "
                "'secret.openai.x', 'openai', 'sk-…(51)', 51, ?, 1, 1, 'high', "
                "TIMESTAMPTZ '2025-03-01 00:00:00+00' + INTERVAL (?) DAY, 'org/repo', now(), now())",
                [FP, f"org/repo/f{i}.py", f"finding-{i}", f"f{i}.py", i % 3],
            )
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[duckdb.DuckDBPyConnection, ...]]:
    tmp = tmp_path_factory.mktemp("key-lists")
    ws = _build(tmp / "ws.duckdb")
    copy = tmp / "copy.duckdb"
    shutil.copy(ws, copy)
    con = duckdb.connect(str(copy))
    summaries.build(con)
    con.close()
    plain, fast = duckdb.connect(str(ws), read_only=True), duckdb.connect(str(copy), read_only=True)
    try:
        yield plain, fast
    finally:
        plain.close()
        fast.close()


def test_abuse_by_model_keeps_the_top_series_and_sums_the_rest(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    plain, fast = both
    k = keys.key(fast, FP)
    assert k is not None
    assert k == keys.key(plain, FP)
    by_model = k["abuse_per_day"]["by_model"]
    per_series = Counter[str]()
    for r in by_model:
        per_series[r["model"]] += r["events"]
    top = MODELS[: keys.TOP_SERIES]
    assert set(per_series) == {*top, keys.OTHERS}
    assert per_series[keys.OTHERS] == sum(12 - i for i in range(keys.TOP_SERIES, len(MODELS)))
    assert all(per_series[m] == 12 - i for i, m in enumerate(top))
    assert sum(per_series.values()) == k["usage"]["events"] == sum(12 - i for i in range(len(MODELS)))
    assert sorted({r["day"] for r in by_model}) == ["2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
    # each day's rows: most events first, then by name; days in order
    assert by_model == sorted(by_model, key=lambda r: (r["day"], -r["events"], r["model"]))


def test_abuse_by_network_names_the_network(both: tuple[duckdb.DuckDBPyConnection, ...]) -> None:
    plain, _ = both
    k = keys.key(plain, FP)
    assert k is not None
    labels = {r["network"] for r in k["abuse_per_day"]["by_network"]}
    assert labels == {label for _, label in NETWORKS}
    want = plain.execute(
        "SELECT count(*) FROM events WHERE src_anonymizer = 'hosting' AND key_fingerprint = ?", [FP]
    ).fetchone()
    got = sum(r["events"] for r in k["abuse_per_day"]["by_network"] if r["network"].startswith("hosting: "))
    assert want is not None
    assert got == want[0] > 0


@pytest.mark.parametrize("name", ["leaks", "networks", "models", "probes"])
def test_every_list_pages_in_a_total_order(both: tuple[duckdb.DuckDBPyConnection, ...], name: str) -> None:
    plain, fast = both
    whole = keys.key(plain, FP, Pages.parse({f"{name}_per_page": "500"}, keys.KEY_LISTS))
    assert whole is not None
    total = whole["totals"][name]
    assert total == len(whole[name]) > 3
    seen = []
    for page in range(1, total // 3 + 2):
        pages = Pages.parse({f"{name}_page": str(page), f"{name}_per_page": "3"}, keys.KEY_LISTS)
        got = keys.key(fast, FP, pages)
        assert got == keys.key(plain, FP, pages), (name, page)  # summaries == scan on every page
        assert got is not None
        assert got["totals"][name] == total
        seen += got[name]
    assert seen == whole[name]  # pages neither repeat nor skip
    probes = plain.execute(
        "SELECT count(*) FROM events WHERE key_fingerprint = ? AND (status = 'failure' OR model IS NULL)",
        [FP],
    ).fetchone()
    assert probes is not None
    assert whole["totals"]["probes"] == probes[0]
    assert whole["totals"]["leaks"] == 7


def test_the_cost_counts_every_model_whatever_the_models_page(
    both: tuple[duckdb.DuckDBPyConnection, ...],
) -> None:
    _, fast = both
    k = keys.key(fast, FP, Pages.parse({"models_per_page": "2"}, keys.KEY_LISTS))
    assert k is not None
    assert len(k["models"]) == 2
    assert {m["model"] for m in k["cost"]["by_model"]} == set(MODELS)


def test_bad_page_parameters_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="probes_page"):
        Pages.parse({"probes_page": "two"}, keys.KEY_LISTS)
    with pytest.raises(ValueError, match="alerts_per_page"):
        Pages.parse({"alerts_per_page": "501"}, keys.KEY_LISTS)
    pages = Pages.parse({"probes_page": "2", "leaks_per_page": "5"}, keys.KEY_LISTS)
    assert pages.href("probes", 3) == "?leaks_per_page=5&probes_page=3#probes"
    assert pages.href("probes", 1) == "?leaks_per_page=5#probes"


def test_stacked_chart_has_a_legend_titles_and_escaped_labels() -> None:
    hostile = "</text></svg><script>alert(1)</script>"
    found = [
        {"day": "2025-03-04", "model": "gpt-4o", "events": 5},
        {"day": "2025-03-04", "model": hostile, "events": 9},
        {"day": "2025-03-05", "model": keys.OTHERS, "events": 30},
    ]
    svg = str(charts.stacked(found, "model", 'models "per day"', keys.OTHERS))
    assert "<script>" not in svg
    assert "&lt;/text&gt;&lt;/svg&gt;&lt;script&gt;" in svg
    assert svg.count("<svg") == 1
    assert svg.count("</svg>") == 1
    assert 'aria-label="models &quot;per day&quot;"' in svg
    assert svg.count('<g class="legend">') == 3
    assert "<title>2025-03-04 gpt-4o: 5</title>" in svg
    legend = svg[svg.index('<g class="legend">') :]
    # legend in order of totals, the summed rest last and grey
    assert legend.index("&lt;/text") < legend.index("gpt-4o") < legend.index(keys.OTHERS)
    assert f'fill="{charts.OTHERS_COLOUR}"' in legend
    assert str(charts.stacked([], "model", "nothing")) == '<p class="note">Nothing to chart.</p>'

"""`classify --calibrate`: thresholds fitted to a workspace's own traffic, on real DuckDB files.

Prompts are benign texts generated here; where a test needs particular scores (high ones included)
it stores verdicts with those scores for the shipped model version, as a previous `classify
--workspace` run would have: calibration reuses stored scores, so no text needs to be harmful.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringbreaker.classify import (
    LABELS,
    calibrate,
    default_model,
    reset_calibration,
    severity,
    stored_thresholds,
)
from ringbreaker.classify.calibrate import bounds, quantile
from ringbreaker.errors import InputError
from ringbreaker.workspace import open_workspace
from tests.conftest import rb

MODEL = default_model()
SHIPPED = MODEL.thresholds
VERSION = MODEL.version
RUN_FIELDS = {
    *("action", "model_version", "workspace", "fpr", "min_prompts", "n_events", "n_prompts"),
    *("scored", "reused", "removed", "verdicts", "severity_changed", "labels_changed", "severity"),
    *("thresholds", "ignored_versions", "created_at"),
}
FIT_FIELDS = {
    *("label", "shipped", "previous", "quantile", "threshold", "clamped", "lo", "hi", "n_prompts"),
    *("flagged_before", "flagged_after"),
}

_ASKS = ("Describe", "Write a short poem about", "Give three facts about", "Summarise a story about")
_COLOURS = ("red", "blue", "green", "yellow", "white", "orange")
_THINGS = ("bicycle", "kite", "teapot", "dog", "sofa", "lamp", "boat", "garden", "train", "cake")
_PLACES = ("on a beach", "in a kitchen", "next to a bench", "under a tree", "at sunset")


def benign(n: int, seed: int = 1, start: int = 0) -> list[str]:
    """``n`` distinct everyday requests."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_ASKS)} a {rng.choice(_COLOURS)} {rng.choice(_THINGS)} {rng.choice(_PLACES)}, item {i}"
        for i in range(start, start + n)
    ]


def make_workspace(
    path: Path,
    prompts: list[str],
    scores: dict[str, list[float]] | None = None,
    *,
    version: str = VERSION,
    start: int = 0,
) -> None:
    """Events with ``prompts``; with ``scores`` (label -> one score per prompt, others 0) also their
    verdicts, decided with the shipped thresholds as `classify --workspace` would have."""
    ids = [f"ev{i:06d}" for i in range(start, start + len(prompts))]
    con = open_workspace(path)
    try:
        con.execute("SELECT 1").fetchall()  # finish the migration's last result: `register` needs that
        con.register("rb_t", pa.table({"id": ids, "prompt": prompts}))
        con.execute(
            "INSERT INTO events (id, time, provider, operation, status, prompt, source_format, source_file) "
            "SELECT id, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'gateway', 'acompletion', 'success', prompt, "
            "'litellm-spendlogs', 'f' FROM rb_t"
        )
        con.unregister("rb_t")
        if scores is None:
            return
        rows = [{k: scores.get(k, [0.0] * len(ids))[i] for k in LABELS} for i in range(len(ids))]
        con.register(
            "rb_v",
            pa.table(
                {
                    "event_id": ids,
                    **{k: [r[k] for r in rows] for k in LABELS},
                    "severity": [str(severity(r, SHIPPED)) for r in rows],
                    "labels": pa.array(
                        [[k for k in LABELS if r[k] >= SHIPPED[k]] for r in rows], type=pa.list_(pa.string())
                    ),
                }
            ),
        )
        con.execute(
            "INSERT INTO verdicts BY NAME SELECT *, ? AS model_version, now() AS scored_at FROM rb_v",
            [version],
        )
        con.unregister("rb_v")
    finally:
        con.close()


def spread(n: int, lo: float, hi: float, step: int = 1) -> list[float]:
    """``n`` distinct 4-decimal scores evenly over [lo, hi), in a shuffled order (``step`` coprime to n)."""
    return [round(lo + (hi - lo) * ((i * step) % n) / n, 4) for i in range(n)]


def table_rows(path: Path) -> list[tuple[object, ...]]:
    con = open_workspace(path)
    try:
        return con.execute(
            "SELECT model_version, label, threshold, shipped, fpr, n_prompts, quantile "
            "FROM classify_thresholds ORDER BY created_at, label"
        ).fetchall()
    finally:
        con.close()


def verdicts(path: Path) -> list[tuple[object, ...]]:
    con = open_workspace(path)
    try:
        return con.execute(
            f"SELECT event_id, {', '.join(LABELS)}, severity, labels FROM verdicts ORDER BY event_id"
        ).fetchall()
    finally:
        con.close()


# --- the fit itself ------------------------------------------------------------------------------


def test_quantile_is_the_conservative_one() -> None:
    s = [i / 1000 for i in range(1000)]  # 0.000 .. 0.999
    assert quantile(s, 0.01) == pytest.approx(0.99)  # ten scores (0.990 .. 0.999) at or above
    assert quantile([0.5] * 100, 0.01) == pytest.approx(0.5001)  # all tied: just above them
    assert quantile([0.1] * 98 + [0.7, 0.7], 0.01) == pytest.approx(0.7001)  # one allowed, two tie
    assert quantile([0.1] * 98 + [0.7, 0.7], 0.02) == pytest.approx(0.7)
    assert bounds(0.6) == (0.3, 0.9)
    assert bounds(0.95) == (0.475, 0.95)  # a shipped threshold above the ceiling is the ceiling


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=400),
    st.floats(0.001, 0.5),
)
def test_quantile_keeps_the_budget(ints: list[int], fpr: float) -> None:
    s = np.asarray(ints, dtype=np.float64) / 10_000  # 4-decimal scores, ties likely
    t = quantile(s, fpr)
    allowed = math.floor(fpr * s.size + 1e-9)
    assert (s >= t).sum() <= allowed  # never over the budget
    lower = s[s < t]  # and the smallest such threshold among the observed scores
    if lower.size:
        assert (s >= lower.max()).sum() > allowed


# --- the CLI on real workspaces ------------------------------------------------------------------


def test_thresholds_move_to_the_quantile(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    n = 2000
    scores = {"bypass": spread(n, 0.3, 0.8, 7), "sexual": spread(n, 0.2, 0.8, 13)}
    make_workspace(ws, benign(n), scores)
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == RUN_FIELDS | {"labels"}
    assert (doc["n_events"], doc["n_prompts"], doc["scored"], doc["reused"]) == (n, n, 0, n)
    fits = {f["label"]: f for f in doc["labels"]}
    assert set(fits) == {"bypass", "sexual"}
    for label, f in fits.items():
        want = sorted(scores[label])[-20]  # 1% of 2,000: the 20 highest stay at or above
        assert f["quantile"] == pytest.approx(want)
        assert f["threshold"] == pytest.approx(want)
        assert f["clamped"] is None
        assert f["shipped"] == f["previous"] == pytest.approx(SHIPPED[label])
        assert f["flagged_after"] == pytest.approx(0.01)
        assert f["flagged_before"] == pytest.approx(sum(x >= SHIPPED[label] for x in scores[label]) / n)
        assert doc["thresholds"][label] == pytest.approx(want)
    assert doc["thresholds"]["minor"] == SHIPPED["minor"]  # rule/lexicon labels are never fitted
    rows = table_rows(ws)
    assert [(v, lab) for v, lab, *_ in rows] == [(VERSION, "bypass"), (VERSION, "sexual")]
    assert all(fpr == 0.01 and n_p == n for *_, fpr, n_p, _q in rows)
    assert "99% quantile" in r.stderr
    assert "identical prompts count once" in r.stderr

    # a second fit with another budget: appended, and the latest row is the one in use
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--fpr", "0.05", "--format", "json", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    again = {f["label"]: f for f in json.loads(r.stdout)["labels"]}
    assert again["bypass"]["previous"] == pytest.approx(fits["bypass"]["threshold"])
    assert again["bypass"]["threshold"] == pytest.approx(sorted(scores["bypass"])[-100])
    assert len(table_rows(ws)) == 4
    con = open_workspace(ws)
    try:
        assert stored_thresholds(con, VERSION)["bypass"] == pytest.approx(again["bypass"]["threshold"])
    finally:
        con.close()


def test_the_clamp_holds(tmp_path: Path) -> None:
    """Traffic that scores high everywhere cannot lift a threshold over the ceiling (attacks stay
    flagged), and traffic that scores nothing cannot sink it under half the shipped value."""
    ws = tmp_path / "ws.duckdb"
    n = 1200
    make_workspace(ws, benign(n), {"bypass": [0.99] * n, "sexual": [0.0] * n})
    con = open_workspace(ws)
    try:
        report = calibrate(con, MODEL)
    finally:
        con.close()
    fits = {f.label: f for f in report.fits}
    hi = bounds(SHIPPED["bypass"])[1]
    assert fits["bypass"].quantile > hi
    assert fits["bypass"].threshold == pytest.approx(hi) == pytest.approx(max(SHIPPED["bypass"], 0.9))
    assert fits["bypass"].clamped == "hi"
    assert fits["bypass"].flagged_after == 1.0  # every high-scoring prompt is still flagged
    assert fits["sexual"].threshold == pytest.approx(bounds(SHIPPED["sexual"])[0])
    assert fits["sexual"].clamped == "lo"
    assert fits["bypass"].threshold <= max(SHIPPED["bypass"], 0.9)


def test_identical_prompts_count_once(tmp_path: Path) -> None:
    """One template sent all day (here 3,000 times, twice the rest together) must not set the
    threshold: the quantile is over distinct texts."""
    ws = tmp_path / "ws.duckdb"
    n = 1500
    template = "Translate the following product description into French."
    low = spread(n, 0.3, 0.6, 7)
    make_workspace(ws, [*benign(n), *[template] * 3000], {"bypass": [*low, *[0.85] * 3000]})
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["n_events"], doc["n_prompts"]) == (n + 3000, n + 1)
    bypass = next(f for f in doc["labels"] if f["label"] == "bypass")
    allowed = math.floor(0.01 * (n + 1))  # 15: the template and the 14 highest of the rest
    assert bypass["threshold"] == pytest.approx(sorted([*low, 0.85])[-allowed])
    assert bypass["threshold"] < 0.6  # counted per event the template (2/3 of traffic) would set it at 0.85


def test_too_few_prompts_is_an_error_and_stores_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    make_workspace(ws, [p for p in benign(40) for _ in range(50)])  # 2,000 events, 40 distinct prompts
    r = rb("classify", "--calibrate", "--workspace", str(ws))
    assert r.returncode == 2
    assert "at least 1,000 distinct prompts" in r.stderr
    assert "has 40" in r.stderr
    assert "Traceback" not in r.stderr
    assert table_rows(ws) == []
    assert verdicts(ws) == []  # not even scored
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--min-prompts", "41")
    assert r.returncode == 2
    con = open_workspace(ws)
    try:
        with pytest.raises(InputError, match="nothing stored"):
            calibrate(con, MODEL, min_prompts=41)
    finally:
        con.close()
    assert table_rows(ws) == []


def test_unscored_prompts_are_scored_then_fitted(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    make_workspace(ws, benign(600), {"bypass": spread(600, 0.0, 0.2)})  # half already scored
    make_workspace(ws, benign(600, seed=2, start=600), start=600)
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--min-prompts", "1000", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["scored"], doc["reused"], doc["verdicts"]) == (600, 600, 1200)
    assert len(verdicts(ws)) == 1200


def test_stored_verdicts_are_rederived(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    n = 1000
    # bypass scores straddle the shipped threshold; a few prompts also name a person (real_person)
    scores = {
        "bypass": spread(n, SHIPPED["bypass"] - 0.5, min(SHIPPED["bypass"] + 0.05, 0.999), 3),
        "sexual": spread(n, 0.0, 0.3, 7),
        "real_person": [0.85 if i % 50 == 0 else 0.0 for i in range(n)],
    }
    make_workspace(ws, benign(n), scores)
    before = {row[0]: row for row in verdicts(ws)}
    con = open_workspace(ws)
    try:
        report = calibrate(con, MODEL)
    finally:
        con.close()
    th = report.thresholds
    assert th["sexual"] > SHIPPED["sexual"]  # 1% of these prompts is far above the shipped one: it rises
    assert bounds(SHIPPED["bypass"])[0] <= th["bypass"] <= bounds(SHIPPED["bypass"])[1]
    changed = 0
    for event_id, *vals, sev, labels in verdicts(ws):
        s = dict(zip(LABELS, vals, strict=True))
        assert sev == severity(s, th)
        assert labels == [k for k in LABELS if s[k] >= th[k]]
        changed += sev != before[event_id][-2]
    assert changed == report.rederived.severity_changed > 0
    assert report.rederived.verdicts == n
    assert sum(report.rederived.severity.values()) == n


def test_reset(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    n = 1000
    make_workspace(ws, benign(n), {"bypass": spread(n, 0.2, 0.7, 3)})
    shipped_verdicts = verdicts(ws)
    assert rb("classify", "--calibrate", "--workspace", str(ws), "-q").returncode == 0
    assert verdicts(ws) != shipped_verdicts
    r = rb("classify", "--calibrate", "--reset", "--workspace", str(ws), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert line["action"] == "reset"
    assert line["removed"] == 2
    assert line["label"] is None
    assert line["thresholds"] == SHIPPED
    assert line["severity_changed"] > 0
    assert "removed" in r.stderr
    assert table_rows(ws) == []
    assert verdicts(ws) == shipped_verdicts  # decided with the shipped thresholds again
    con = open_workspace(ws)
    try:
        again = reset_calibration(con, MODEL)  # nothing left to remove: a no-op
    finally:
        con.close()
    assert (again.removed, again.rederived.severity_changed) == (0, 0)


def _store(ws: Path, version: str, label: str, value: float) -> None:
    con = open_workspace(ws)
    try:
        con.execute(
            "INSERT INTO classify_thresholds VALUES (?, ?, ?, ?, 0.01, 1000, ?, now())",
            [version, label, value, SHIPPED[label], value],
        )
    finally:
        con.close()


def test_thresholds_of_another_model_version_are_ignored(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    make_workspace(ws, benign(30))
    _store(ws, "rb-prompt-0-000000000000", "bypass", 0.01)  # would flag everything if applied
    r = rb("classify", "--workspace", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["thresholds"] == SHIPPED
    assert doc["calibrated"] == []
    assert doc["ignored_versions"] == ["rb-prompt-0-000000000000"]
    assert "ignored: rb-prompt-0-000000000000" in r.stderr
    assert all(labels == [] for *_, labels in verdicts(ws))
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--min-prompts", "30", "--format", "json")
    assert json.loads(r.stdout)["ignored_versions"] == ["rb-prompt-0-000000000000"]
    assert "other model version" in r.stderr


def test_later_runs_use_the_stored_thresholds(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    make_workspace(ws, benign(100))
    _store(ws, VERSION, "bypass", 0.0)  # stored by hand, below any fit: every prompt is labelled bypass
    _store(ws, VERSION, "sexual", 0.99)
    r = rb("classify", "--workspace", str(ws), "--format", "json")
    assert r.returncode == 1, r.stderr  # every prompt is now a medium (bypass) verdict
    doc = json.loads(r.stdout)
    assert doc["calibrated"] == ["bypass", "sexual"]
    assert doc["thresholds"]["bypass"] == 0.0
    assert doc["severity"] == {"medium": 100}
    assert "calibrated thresholds (bypass 0.0000, sexual 0.9900)" in r.stderr
    assert all(labels == ["bypass"] for *_, labels in verdicts(ws))
    # prompts given as arguments with --workspace decide with them too; without it, shipped
    r = rb("classify", "A teapot on a table.", "--workspace", str(ws), "--format", "jsonl")
    assert json.loads(r.stdout)["thresholds"]["bypass"] == 0.0
    r = rb("classify", "A teapot on a table.", "--format", "jsonl")
    assert json.loads(r.stdout)["thresholds"] == SHIPPED


def test_jsonl_fields(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    n = 1000
    make_workspace(ws, benign(n), {"bypass": spread(n, 0.3, 0.8, 7)})
    r = rb("classify", "--calibrate", "--workspace", str(ws), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["label"] for x in lines] == ["bypass", "sexual"]
    for x in lines:
        assert set(x) == RUN_FIELDS | FIT_FIELDS
        assert x["action"] == "calibrate"
        assert x["model_version"] == VERSION
        assert (x["fpr"], x["min_prompts"], x["n_prompts"]) == (0.01, 1000, n)
        assert x["lo"] <= x["threshold"] <= x["hi"]
        assert x["clamped"] in {None, "lo", "hi"}
        assert x["created_at"].endswith("Z")
    r = rb("classify", "--calibrate", "--workspace", str(ws))  # the table on stdout, summary on stderr
    assert r.returncode == 0
    assert "bypass" in r.stdout
    assert "sexual" in r.stdout
    assert "calibrate:" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--fpr", "0.05"],
        ["--reset"],
        ["--min-prompts", "10"],
        ["--calibrate", "some text"],
        ["--calibrate", "--fpr", "1.5"],
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str]) -> None:
    ws = tmp_path / "ws.duckdb"
    make_workspace(ws, benign(5))
    r = rb("classify", *args, "--workspace", str(ws))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert table_rows(ws) == []


def test_missing_workspace(tmp_path: Path) -> None:
    r = rb("classify", "--calibrate", "--workspace", str(tmp_path / "none.duckdb"))
    assert r.returncode == 2
    assert "no workspace" in r.stderr
    assert not (tmp_path / "none.duckdb").exists()

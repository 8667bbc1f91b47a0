"""`detect --engine spark`: the same rules on Spark (local[2]) over an exported lake give the DuckDB
engine's alerts field for field (ids, evidence, summaries, citations), and bad use is a clear error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from ringbreaker.detect import detect
from ringbreaker.ingest import ingest
from ringbreaker.rules import load_detection_rules
from ringbreaker.simulate import SimConfig, simulate
from ringbreaker.spark import session
from ringbreaker.spark.detect import detect as spark_detect
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.export import export
from tests.conftest import rb


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sparkworld")
    simulate(SimConfig(out=root / "world", seed=3, scale=0.1, days=2, workers=1))
    ws = root / "ws.duckdb"
    con = open_workspace(ws)
    try:
        ingest(con, [root / "world"])
        detect(con, load_detection_rules())
        export(con, root / "lake")
    finally:
        con.close()
    return ws, root / "lake"


def test_both_engines_give_the_same_alerts(world: tuple[Path, Path]) -> None:
    ws, lake = world
    rules = load_detection_rules()
    con = duckdb.connect(str(ws), read_only=True)
    try:
        want = {a.id: dataclasses.asdict(a) for a in detect(con, rules, write=False).alerts}
    finally:
        con.close()
    spark = session()
    try:
        got = {a.id: dataclasses.asdict(a) for a in spark_detect(spark, str(lake), rules, write=False).alerts}
    finally:
        spark.stop()
    assert want, "the simulated ring raises alerts"
    assert sorted(got) == sorted(want)
    for aid, alert in want.items():
        assert got[aid] == alert, alert["rule"]


def test_spark_engine_needs_a_lake(tmp_path: Path) -> None:
    proc = rb("detect", "--engine", "spark")
    assert proc.returncode == 2
    assert "--lake" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = rb("detect", "--engine", "spark", "--lake", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "no such lake directory" in proc.stderr
    assert "Traceback" not in proc.stderr

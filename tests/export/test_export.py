"""`ringbreaker export`: a simulated world's workspace as Parquet, read back by DuckDB, pyarrow and
ringbreaker's own ``ocsf`` ingest; Spark-safe types only; atomic under SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from ringbreaker.ingest import ingest
from ringbreaker.simulate import SimConfig, simulate
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.export import export, spark_type
from tests.conftest import rb

MAPPED = (
    "time, provider, service, operation, category, status, error_code, actor, actor_type, account, resource, "
    "key_id, key_fingerprint, src_ip, src_asn, src_org, src_country, user_agent, model, region, api_version, "
    "tokens_in, tokens_out, end_user, forwarded, prompt"
)


@pytest.fixture(scope="module")
def world_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    simulate(SimConfig(out=root / "world", seed=3, scale=0.1, days=2, workers=1))
    path = root / "ws.duckdb"
    con = open_workspace(path)
    try:
        ingest(con, [root / "world"])
    finally:
        con.close()
    return path


def _bad_types(t: pa.DataType) -> bool:
    if pa.types.is_unsigned_integer(t):
        return True
    if pa.types.is_timestamp(t):
        return t.unit != "us" or t.tz != "UTC"
    if pa.types.is_list(t):
        return _bad_types(t.value_type)
    if pa.types.is_struct(t):
        return any(_bad_types(t.field(i).type) for i in range(t.num_fields))
    return False


def test_export_writes_every_table_partitions_events_and_reads_back(world_ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    proc = rb("export", "--workspace", str(world_ws), "--out", str(out), "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    src = duckdb.connect(str(world_ws), read_only=True)
    tables = [t for (t,) in src.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    assert [x["table"] for x in lines] == tables
    events = next(x for x in lines if x["table"] == "events")
    (n,) = src.execute("SELECT count(*) FROM events").fetchone() or (0,)
    assert n > 1000
    assert events["rows"] == n
    assert events["partitioned_by"] == ["source", "day"]
    # Hive layout: one directory per source format and UTC day, as the workspace has them
    want = set(
        src.execute(
            "SELECT DISTINCT 'source=' || source_format || '/day=' "
            "|| strftime(time AT TIME ZONE 'UTC', '%Y-%m-%d') "
            "FROM events"
        ).fetchall()
    )
    got = {(str(p.parent.relative_to(out / "events")),) for p in (out / "events").rglob("*.parquet")}
    assert got == want
    # DuckDB and pyarrow read the same rows; no column Spark cannot read, in any table
    lake = duckdb.connect()
    glob = f"{out}/events/**/*.parquet"
    assert lake.execute(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone() == (n,)
    dataset = ds.dataset(out / "events", format="parquet", partitioning="hive")
    assert dataset.count_rows() == n
    for table in tables:
        schema = ds.dataset(out / table, format="parquet", partitioning="hive").schema
        assert not [f for f in schema if _bad_types(f.type)], table
    schema = dataset.schema
    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    for name in ("api.operation", "src_endpoint.ip", "actor.user.uid", "class_uid", "status_id", "time_dt"):
        assert name in schema.names
    # the OCSF columns hold the same values as ringbreaker's
    assert lake.execute(
        f"SELECT count(*) FROM read_parquet('{glob}') WHERE \"api.operation\" IS DISTINCT FROM "
        'operation OR "src_endpoint.ip" IS DISTINCT FROM src_ip OR "metadata.uid" <> id OR class_uid <> 6003'
    ).fetchone() == (0,)
    lake.close()
    # ringbreaker's ocsf format reads its own export back: the same events, field for field
    back = open_workspace(tmp_path / "back.duckdb")
    try:
        report = ingest(back, [out])
        assert report.totals()["stored"] == n
        assert report.totals()["quarantined"] == 0
        assert {f.format for f in report.files if f.status == "ingested"} == {"ocsf"}
        back.execute(f"ATTACH '{world_ws}' AS src (READ_ONLY)")
        diff = back.execute(
            f"SELECT count(*) FROM ((SELECT {MAPPED} FROM src.events) "
            f"EXCEPT ALL (SELECT {MAPPED} FROM events))"
        ).fetchone()
        assert diff == (0,)
    finally:
        back.close()
        src.close()


def test_refusals_exit_2_with_one_line(world_ws: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me")
    for args, message in (
        (
            ["--workspace", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "a")],
            "no such workspace",
        ),
        (["--workspace", str(world_ws), "--out", str(taken)], "already exists"),
        (
            ["--workspace", str(world_ws), "--out", str(tmp_path / "b"), "--tables", "events,nope"],
            "no such table: nope",
        ),
    ):
        proc = rb("export", *args)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
    assert (taken / "x").read_text() == "keep me"
    assert not (tmp_path / "missing.duckdb").exists()
    assert not (tmp_path / "b").exists()
    # an empty directory is fine; --tables picks tables; json is one document
    (tmp_path / "empty").mkdir()
    proc = rb("export", "--workspace", str(world_ws), "--out", str(tmp_path / "empty"), "--tables", "alerts",
              "--tables", "findings", "--format", "json", "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [t["table"] for t in doc["tables"]] == ["alerts", "findings"]
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["alerts", "findings"]


def test_spark_types_replace_unsigned_and_nanosecond_types(tmp_path: Path) -> None:
    assert spark_type("UBIGINT") == "DECIMAL(20,0)"
    assert spark_type("UINTEGER[]") == "BIGINT[]"
    assert spark_type("TIMESTAMP_NS") == "TIMESTAMPTZ"
    assert spark_type("VARCHAR") is None
    con = duckdb.connect(str(tmp_path / "odd.duckdb"))
    con.execute(
        "CREATE TABLE odd AS SELECT 1::UTINYINT AS a, 2::UBIGINT AS b, [3]::UINTEGER[] AS c, "
        "TIMESTAMP_NS '2025-01-01 00:00:00.123456789' AS d, TIMESTAMP '2025-01-01 00:00:00' AS e"
    )
    export(con, tmp_path / "out")
    con.close()
    schema = ds.dataset(tmp_path / "out" / "odd", format="parquet").schema
    assert not [f for f in schema if _bad_types(f.type)]
    assert schema.field("d").type == pa.timestamp("us", tz="UTC")


def test_a_killed_export_leaves_no_half_directory(tmp_path: Path) -> None:
    ws = tmp_path / "big.duckdb"
    con = open_workspace(ws)
    con.execute(
        "INSERT INTO events (id, time, provider, operation, status, source_format, source_file, raw) "
        "SELECT 'e' || i, TIMESTAMPTZ '2025-03-01' + INTERVAL (i % 30) DAY, 'aws', 'InvokeModel', 'success', "
        "'cloudtrail', 'f', repeat('x', 200) FROM range(400000) t(i)"
    )
    con.close()
    out = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if k != "RINGBREAKER_WORKSPACE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringbreaker", "export", "--workspace", str(ws), "--out", str(out), "-q"],
        env=env,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".lake.partial-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".lake.partial-*")), "the export ended before it could be killed"
    assert not out.exists()  # nothing half-written where the user looks
    done = rb("export", "--workspace", str(ws), "--out", str(out), "--tables", "alerts", "-q")
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob(".lake.partial-*"))  # the leftover is cleared
    assert (out / "alerts" / "data.parquet").is_file()

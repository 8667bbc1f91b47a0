"""OCSF API Activity: Security Lake-style Parquet (built at test time from the documented records)
and OCSF JSON mapped into events, one bad record quarantined alone, non-OCSF Parquet left alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ringbreaker.ingest import IngestConfig, ingest
from ringbreaker.model import fingerprint
from tests.ingest.conftest import DATA, rows
from tests.ingest.ocsf_lake import records, write_lake_parquet

COLUMNS = (
    "time::VARCHAR, provider, service, operation, category, status, error_code, actor, actor_type, account, "
    "resource, key_id, key_fingerprint, src_ip, user_agent, model, region"
)
INVOKE = (
    "2025-03-10 09:14:02+00",
    "aws",
    "bedrock.amazonaws.com",
    "InvokeModel",
    "data",
    "success",
    None,
    "arn:aws:iam::111122223333:user/Level6",
    "IAMUser",
    "111122223333",
    "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0",
    "AKIAIOSFODNN7EXAMPLE",
    fingerprint("AKIAIOSFODNN7EXAMPLE"),  # as CloudTrail's and scan's: SHA-256 of the key id
    "198.51.100.23",
    "aws-sdk-js/3.540.0 ua/2.0 os/linux lang/js md/nodejs#20.11.1",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",  # from api.request.data (requestParameters JSON)
    "us-west-2",
)


def test_security_lake_parquet_maps_api_actor_endpoint_and_model(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lake = write_lake_parquet(tmp_path / "region=us-west-2" / "part-0.zstd.parquet")
    (f,) = ingest(ws, [lake], IngestConfig(keep_raw=True)).files  # raw read below
    assert (f.format, f.compression, f.shape, f.read, f.stored, f.quarantined) == (
        "ocsf",
        "parquet",
        "parquet",
        4,
        4,
        0,
    )
    assert f.why.startswith("Parquet, OCSF columns")
    assert rows(ws, f"SELECT {COLUMNS} FROM events WHERE operation = 'InvokeModel'") == [INVOKE]
    assert rows(
        ws, "SELECT status, error_code FROM events WHERE operation = 'GetFoundationModelAvailability'"
    ) == [("failure", "AccessDenied")]
    # epoch ms time, Management feature, no key; an Authentication (3002) record of the same table
    assert rows(
        ws,
        "SELECT time::VARCHAR, category, key_id, raw->>'$.class_uid' FROM events "
        "WHERE operation = 'ConsoleLogin'",
    ) == [("2025-03-10 09:46:40+00", "management", None, "3002")]
    # offsets are row numbers; raw is the row as OCSF JSON (nested objects, the map as an object)
    assert rows(
        ws, "SELECT source_offset, raw->>'$.unmapped.eventType' FROM events ORDER BY source_offset"
    ) == [
        (0, "AwsApiCall"),
        (1, "AwsApiCall"),
        (2, "AwsApiCall"),
        (3, "AwsApiCall"),
    ]


def test_ocsf_json_and_parquet_of_the_same_records_are_the_same_events(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    (j,) = ingest(ws, [DATA / "ocsf-security-lake.jsonl"]).files
    assert (j.format, j.stored) == ("ocsf", 4)
    assert rows(ws, f"SELECT {COLUMNS} FROM events WHERE operation = 'InvokeModel'") == [INVOKE]
    (p,) = ingest(ws, [write_lake_parquet(tmp_path / "lake.parquet")]).files
    assert (p.format, p.read, p.stored, p.duplicates) == ("ocsf", 4, 0, 4)  # metadata.uid: the same ids


def test_many_row_groups_and_a_bad_record_quarantined_alone(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    base = records()
    recs = []
    for i in range(2500):  # nine row groups of 300 rows
        r = dict(base[i % len(base)])
        r["metadata"] = {**r["metadata"], "uid": f"uid-{i}"}
        if i == 1234:
            r["api"] = {**r["api"], "operation": None}
        recs.append(r)
    (f,) = ingest(ws, [write_lake_parquet(tmp_path / "big.parquet", recs, row_group=300)]).files
    assert (f.read, f.stored, f.quarantined) == (2500, 2499, 1)
    assert rows(ws, "SELECT source_offset, reason FROM quarantine") == [
        (1234, "cannot map record: KeyError: \"missing required field 'api.operation'\"")
    ]
    assert rows(ws, "SELECT min(source_offset), max(source_offset), count(DISTINCT id) FROM events") == [
        (0, 2499, 2499)
    ]


def test_parquet_without_ocsf_columns_is_unknown_and_a_broken_one_fails_alone(
    ws: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    other = tmp_path / "metrics.parquet"
    pq.write_table(pa.table({"host": ["a"], "cpu": [0.5]}), other)
    broken = tmp_path / "cut.parquet"
    whole = write_lake_parquet(tmp_path / "whole.parquet").read_bytes()
    broken.write_bytes(whole[: len(whole) // 2] + b"PAR1")  # magic at both ends, footer gone
    good = write_lake_parquet(tmp_path / "good" / "lake.parquet")
    report = ingest(ws, [other, broken, good])
    by = {Path(f.path).name: f for f in report.files}
    assert by["metrics.parquet"].status == "unknown"
    assert "Parquet without OCSF API Activity columns" in by["metrics.parquet"].why
    assert by["cut.parquet"].status == "failed"
    assert (by["lake.parquet"].status, by["lake.parquet"].stored) == ("ingested", 4)
    assert rows(ws, "SELECT reason LIKE 'unknown format: Parquet without OCSF%' FROM quarantine") == [(True,)]


def test_parquet_from_stdin(ws: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    data = write_lake_parquet(tmp_path / "lake.parquet").read_bytes()
    (f,) = ingest(ws, [], stdin=data).files
    assert (f.path, f.format, f.stored) == ("-", "ocsf", 4)

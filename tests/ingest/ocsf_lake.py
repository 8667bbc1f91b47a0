"""Amazon Security Lake-shaped Parquet, built at test time from the documented OCSF 1.1 records in
data/ocsf-security-lake.jsonl (see README.md): nested structs, ``time`` as epoch milliseconds,
``time_dt`` a UTC timestamp, ``unmapped`` a string map, ``metadata.profiles`` a list, as Security
Lake's CloudTrail tables declare them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.ingest.conftest import DATA

S = pa.string()
_USER = pa.struct(
    [
        ("account", pa.struct([("uid", S)])),
        ("credential_uid", S),
        ("name", S),
        ("type", S),
        ("uid", S),
        ("uid_alt", S),
    ]
)
SCHEMA = pa.schema(
    [
        ("activity_id", pa.int32()),
        ("activity_name", S),
        ("actor", pa.struct([("user", _USER), ("invoked_by", S)])),
        (
            "api",
            pa.struct(
                [
                    ("operation", S),
                    ("request", pa.struct([("uid", S), ("data", S)])),
                    ("response", pa.struct([("error", S), ("message", S)])),
                    ("service", pa.struct([("name", S)])),
                ]
            ),
        ),
        ("category_name", S),
        ("category_uid", pa.int32()),
        ("class_name", S),
        ("class_uid", pa.int32()),
        ("cloud", pa.struct([("provider", S), ("region", S), ("account", pa.struct([("uid", S)]))])),
        ("http_request", pa.struct([("user_agent", S)])),
        (
            "metadata",
            pa.struct(
                [
                    (
                        "product",
                        pa.struct(
                            [
                                ("feature", pa.struct([("name", S)])),
                                ("name", S),
                                ("vendor_name", S),
                                ("version", S),
                            ]
                        ),
                    ),
                    ("profiles", pa.list_(S)),
                    ("uid", S),
                    ("version", S),
                    ("event_code", S),
                ]
            ),
        ),
        ("resources", pa.list_(pa.struct([("uid", S), ("type", S)]))),
        ("severity", S),
        ("severity_id", pa.int32()),
        ("src_endpoint", pa.struct([("ip", S)])),
        ("status", S),
        ("status_id", pa.int32()),
        ("time", pa.int64()),
        ("time_dt", pa.timestamp("ms", tz="UTC")),
        ("type_name", S),
        ("type_uid", pa.int64()),
        ("unmapped", pa.map_(S, S)),
    ]
)


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "ocsf-security-lake.jsonl").read_text().splitlines()]


def write_lake_parquet(
    path: Path, recs: list[dict[str, Any]] | None = None, *, row_group: int = 1024
) -> Path:
    """``recs`` (default: the documented sample) as one Security Lake-style Parquet object."""
    rows = []
    for rec in recs if recs is not None else records():
        r = dict(rec)
        r["time_dt"] = datetime.fromisoformat(r["time_dt"].replace("Z", "+00:00"))
        r["unmapped"] = list(r.get("unmapped", {}).items())
        rows.append(r)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group, compression="zstd")
    return path

"""model.py is the contract: every table a fresh workspace migrates to matches its row type (names
through the declared mapping, types, nullability, order), ingest's Arrow batch matches ``events``,
the severity and confidence enums match the rule schemas, ``Case`` and ``Role`` match the case
schema, and the JSON each stage prints keeps its documented keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from importlib import resources
from typing import Any, get_args, get_origin

import pyarrow as pa
import pytest

from ringbreaker.detect.output import render
from ringbreaker.ingest.columns import FROM_STORE, HELPERS, SCHEMA
from ringbreaker.model import (
    ALERT_SEVERITIES,
    ENTITY_FIELDS,
    EVENT_COLUMNS,
    ROW_TYPES,
    VERDICT_SEVERITIES,
    Alert,
    Case,
    Citation,
    Confidence,
    Finding,
    Role,
    Row,
    Severity,
    Verdict,
)
from ringbreaker.workspace import open_workspace
from ringbreaker.workspace.context import TABLES as CONTEXT_TABLES
from tests.conftest import rb

TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"


def _sql_type(t: str) -> str:
    return TIMESTAMPTZ if t == "TIMESTAMPTZ" else t


def _compatible(py: Any) -> set[str]:
    """The column types a field of Python type ``py`` may be stored as."""
    if get_origin(py) is tuple and get_args(py) == (str, ...):
        return {"VARCHAR[]"}
    if isinstance(py, type) and issubclass(py, str):  # str and the StrEnums
        return {"VARCHAR"}
    return {bool: {"BOOLEAN"}, int: {"INTEGER", "BIGINT"}, float: {"DOUBLE"}, datetime: {TIMESTAMPTZ}}[py]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (data type, nullable), columns in table order, from a fresh workspace."""
    con = open_workspace(tmp_path_factory.mktemp("contract") / "ws.duckdb")
    rows = con.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    con.close()
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, typ, nullable in rows:
        out.setdefault(table, {})[column] = (typ, nullable == "YES")
    return out


def test_every_stage_table_has_a_row_type(tables: dict[str, dict[str, tuple[str, bool]]]) -> None:
    owner_input = set(CONTEXT_TABLES)  # the context file's rows: their contract is context.schema.json
    assert set(tables) - {"schema_migrations"} - owner_input == {r.TABLE for r in ROW_TYPES}


def test_context_tables_are_what_the_context_module_writes(
    tables: dict[str, dict[str, tuple[str, bool]]],
) -> None:
    for table, cols in CONTEXT_TABLES.items():
        assert tuple(tables[table]) == cols, table


@pytest.mark.parametrize("row", ROW_TYPES, ids=lambda r: r.__name__)
def test_table_matches_row_type(row: type[Row], tables: dict[str, dict[str, tuple[str, bool]]]) -> None:
    cols = tables[row.TABLE]
    mapping = row.column_map()
    declared = {*row.COLUMNS, *row.NOT_STORED, *row.STORED_AS, *row.ALWAYS_SET}
    assert declared <= {f.name for f in fields(row)}  # type: ignore[arg-type]  # no stale declaration
    assert sorted([*mapping.values(), *row.EXTRA_COLUMNS]) == sorted(cols)
    hints = row.field_types()
    for name, column in mapping.items():
        typ, nullable = cols[column]
        py, optional = hints[name]
        want = {_sql_type(row.STORED_AS[name])} if name in row.STORED_AS else _compatible(py)
        assert typ in want, f"{row.__name__}.{name}: column {column} is {typ}, field is {py}"
        if name in row.ALWAYS_SET:
            assert nullable, f"{row.__name__}.{name}: column {column} is NOT NULL, needs no ALWAYS_SET"
            assert not optional, f"{row.__name__}.{name} is Optional, needs no ALWAYS_SET"
        else:
            assert nullable == optional, f"{row.__name__}.{name}: nullable {nullable}, Optional {optional}"
    if row is not Finding:  # findings grew a column by migration 6; the others mirror the table's order
        stored = [c for c in cols if c not in row.EXTRA_COLUMNS]
        assert stored == list(mapping.values())


def test_finding_mapping_is_the_released_names() -> None:
    assert Finding.column_map()["time"] == "leak_time"
    assert Finding.column_map()["commit"] == "commit_id"
    assert Finding.column_map()["column"] == "col"


def test_ingest_batch_is_the_events_columns(tables: dict[str, dict[str, tuple[str, bool]]]) -> None:
    """ingest/columns.py SCHEMA: the events columns a parser fills, plus its two helper columns."""
    events = tables["events"]
    assert tuple(events) == EVENT_COLUMNS
    names = [n for n in SCHEMA.names if n not in HELPERS]
    assert set(names) == set(events) - FROM_STORE
    assert [n for n in EVENT_COLUMNS if n in names] == names  # table order
    arrow_sql = {pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int32(): "INTEGER"}
    arrow_sql |= {pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}
    for name in names:
        got = arrow_sql[SCHEMA.field(name).type]
        want = events[name][0]
        if name == "time":  # text until the store casts it, so one bad value quarantines one record
            assert (got, want) == ("VARCHAR", TIMESTAMPTZ)
        else:
            assert got == want, name


def _schema_enum(name: str, prop: str) -> list[str]:
    path = resources.files("ringbreaker.rules").joinpath("schema", name)
    return list(json.loads(path.read_text(encoding="utf-8"))["properties"][prop]["enum"])


def test_enums_match_the_rule_schemas() -> None:
    assert _schema_enum("detection-rule.schema.json", "severity") == [s.value for s in ALERT_SEVERITIES]
    assert _schema_enum("secret-rule.schema.json", "confidence") == [c.value for c in Confidence]


def test_one_severity_scale() -> None:
    for scale in (ALERT_SEVERITIES, VERDICT_SEVERITIES):
        ranks = [s.rank for s in scale]
        assert ranks == sorted(ranks)
        assert len(set(ranks)) == len(ranks)
    assert set(ALERT_SEVERITIES) | set(VERDICT_SEVERITIES) == set(Severity)
    assert Severity.HIGH.at_least("medium")
    assert Severity.LOW.at_least(Severity.INFO)
    assert not Severity.INFO.at_least("low")
    assert not Severity.NONE.at_least("info")
    assert Severity.worst(["low", "critical", "info"]) is Severity.CRITICAL
    assert Severity.worst([]) is None
    assert sorted(["high", Severity.CRITICAL, "low"]) == ["critical", "high", "low"]  # still strings


def _alert() -> Alert:
    return Alert(
        id="a" * 32,
        rule="det.example",
        severity=Severity.HIGH,
        title="Example",
        summary="one line",
        first_time=1_741_132_800_000,
        last_time=1_741_136_400_000,
        count=2,
        **{f: (f"{f}-1",) for f in ENTITY_FIELDS},
        event_ids=("e1", "e2"),
        details={"minutes_from_leak": 19.0},
        citations=(
            Citation("e1", "/logs/ct.json.gz", 3, "b" * 64),
            Citation("e2", "/logs/old.json", 1, None),
        ),
    )


def _json_path(d: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        d = d[part]
    return d


def test_alert_json_keeps_its_keys() -> None:
    alert = _alert()
    line = json.loads(render([alert], "jsonl", {}))
    assert list(line) == [
        *("id", "rule", "severity", "title", "summary", "first_seen", "last_seen", "count"),
        *("entities", "evidence", "details", "new"),
        "evidence_refs",  # added by issue 13 (evidence by reference): a later key, never a renamed one
    ]
    assert list(line["entities"]) == list(ENTITY_FIELDS)
    assert line["first_seen"] == "2025-03-05T00:00:00Z"
    assert line["last_seen"] == "2025-03-05T01:00:00Z"
    for f in fields(alert):  # every field is in the JSON, under its declared key
        value = getattr(alert, f.name)
        got = _json_path(line, Alert.JSON_KEYS.get(f.name, f.name))
        if f.name not in ("first_time", "last_time"):
            if f.name == "citations":
                value = tuple(c.to_json() for c in value)
            assert got == (list(value) if isinstance(value, tuple) else value), f.name
    assert line["evidence_refs"][0] == {
        "event_id": "e1",
        "source_file": "/logs/ct.json.gz",
        "source_offset": 3,
        "source_sha256": "b" * 64,
    }


def test_finding_json_keys_are_its_fields() -> None:
    f = Finding(
        "id", "secret.x", "openai", "t", "fp", "sk-…(9)", 9, "a.py", 1, 2, Confidence.HIGH, secret="s"
    )
    assert set(f.to_dict()) == {x.name for x in fields(Finding)} - {"secret", "companion"}
    assert f.to_dict(show_secret=True)["secret"] == "s"
    paired = Finding(
        "id", "secret.aws.access-key", "aws", "t", "fp", "AKIA…(20)", 20, "a", 1, 1, Confidence.HIGH,
        secret="AKIA", companion="the-aws-secret",
    )  # fmt: skip
    assert "companion" not in paired.to_dict(show_secret=True)  # the paired secret is never printed
    assert paired.to_dict()["verified"] is None  # null until scan --verify
    assert json.loads(json.dumps(f.to_dict()))["confidence"] == "high"


def test_verdict_json_keeps_its_keys() -> None:
    proc = rb("classify", "A red bicycle leaning on a wall", "--format", "jsonl")
    line = json.loads(proc.stdout.splitlines()[0])
    assert list(line) == [
        *("index", "bypass", "sexual", "real_person", "minor", "severity", "labels"),
        *("thresholds", "model_version"),
    ]
    assert line["severity"] in [s.value for s in VERDICT_SEVERITIES]
    v = Verdict(0.1, 0.2, 0.3, 0.4, Severity.NONE, ())
    assert list(v.to_json()) == [f.name for f in fields(Verdict)]


def test_case_keys_are_the_case_schema() -> None:
    path = resources.files("ringbreaker.case").joinpath("case.schema.json")
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert Case.__total__
    assert list(Case.__annotations__) == list(schema["properties"])  # the same keys, in schema order
    assert Case.__required_keys__ == set(schema["required"]) == set(schema["properties"])
    assert list(schema["properties"]["members"]["properties"]) == [r.value for r in Role]

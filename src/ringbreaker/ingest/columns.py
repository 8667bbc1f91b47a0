"""The batch that every format parser produces: column lists turned into one Arrow table.

The batch's columns are derived from ``model.Event`` (the one list of the events columns), minus
those the store fills (FROM_STORE). A parser fills the columns it knows; the rest are NULL.
Three columns are not stored as such:
``rid`` (the record's own id, hashed with the format into ``events.id``), ``time`` (text, cast by
DuckDB so one bad value quarantines one record, not the batch) and ``key_src`` (a credential string
whose SHA-256 becomes ``key_fingerprint``, computed in SQL).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from ringbreaker.model import Event, Row

# Columns the store fills itself, from the record's file and rid: not in a parser's batch.
FROM_STORE = frozenset({"id", "source_format", "source_file", "source_sha256"})
# Arrow types that are not the default for the field's Python type (str -> string, int -> int64,
# bool -> bool_): ``time`` stays text until DuckDB casts it, ``src_asn`` is the INTEGER column,
# ``raw`` may be one large buffer of record slices.
_ARROW = {"time": pa.string(), "src_asn": pa.int32(), "raw": pa.large_string()}
_DEFAULT = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64()}


def arrow_schema(row: type[Row], types: dict[str, pa.DataType] | None = None) -> pa.Schema:
    """The Arrow schema of a row type's stored columns, in field order (``types`` overrides);
    ``datetime`` is microseconds in UTC, as DuckDB's TIMESTAMPTZ."""
    hints = row.field_types()
    out = []
    for name, column in row.column_map().items():
        if types and name in types:
            out.append((column, types[name]))
            continue
        base = hints[name][0]
        out.append((column, pa.timestamp("us", tz="UTC") if base is datetime else _DEFAULT[base]))
    return pa.schema(out)


def _batch_schema() -> pa.Schema:
    """The events columns a parser may fill, in table order, plus two helpers that are not stored:
    ``rid`` first and ``key_src`` before ``key_fingerprint``, which it becomes."""
    events = arrow_schema(Event, _ARROW)
    out = [pa.field("rid", pa.string())]
    for f in events:
        if f.name in FROM_STORE:
            continue
        if f.name == "key_fingerprint":
            out.append(pa.field("key_src", pa.string()))
        out.append(f)
    return pa.schema(out)


SCHEMA = _batch_schema()
HELPERS = frozenset({"rid", "key_src"})
NAMES = frozenset(SCHEMA.names)
RAW_LIMIT = 64 * 1024  # quarantine keeps at most this much of a bad record


@dataclass(slots=True)
class Bad:
    """A record that could not be mapped: where it was, why, and its text as read."""

    offset: int | None
    reason: str
    raw: str


@dataclass(slots=True)
class Parsed:
    """What a format parser returns for one chunk of records."""

    columns: dict[str, Any]  # column name -> list/tuple of values, or an Arrow array already built
    count: int
    bad: list[Bad] = field(default_factory=list)


def to_table(columns: dict[str, Any], n: int) -> pa.Table:
    """An Arrow table with every column of SCHEMA; the ones a parser did not fill are NULL."""
    unknown = set(columns) - NAMES
    if unknown:
        raise ValueError(f"unknown batch columns: {sorted(unknown)}")
    arrays = []
    for f in SCHEMA:
        values = columns.get(f.name)
        if values is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(values, pa.Array):
            arrays.append(values if values.type == f.type else values.cast(f.type))
        elif f.name == "raw" and values and not isinstance(values[0], str):
            arrays.append(_raw_array(values))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _raw_array(values: list[Any]) -> pa.Array:
    """Raw records (bytes or msgspec.Raw slices of the file) as one string array: one join into a
    single buffer, offsets from the lengths; no Python object per record. Checked as UTF-8."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(values)
    arr = pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data))
    arr.validate(full=True)
    return arr


def text(raw: bytes | memoryview | str | msgspec.Raw) -> str:
    """A record's text for quarantine, cut to RAW_LIMIT."""
    if isinstance(raw, str):
        return raw[:RAW_LIMIT]
    return bytes(memoryview(raw)[:RAW_LIMIT]).decode("utf-8", "replace")


_SORTED = msgspec.json.Encoder(order="sorted")


def canonical_id(raw: bytes | memoryview | msgspec.Raw) -> str:
    """Fallback record id when a record has none: its JSON with keys sorted and no whitespace."""
    try:
        body = _SORTED.encode(msgspec.json.decode(raw))
    except msgspec.DecodeError:
        body = bytes(raw)
    return "raw:" + hashlib.sha256(body).hexdigest()

"""The batch that every format parser produces: column lists turned into one Arrow table.

A parser fills the columns it knows; the rest are NULL. Three columns are not stored as such:
``rid`` (the record's own id, hashed with the format into ``events.id``), ``time`` (text, cast by
DuckDB so one bad value quarantines one record, not the batch) and ``key_src`` (a credential string
whose SHA-256 becomes ``key_fingerprint``, computed in SQL).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("rid", pa.string()),
        ("time", pa.string()),
        ("provider", pa.string()),
        ("service", pa.string()),
        ("operation", pa.string()),
        ("category", pa.string()),
        ("status", pa.string()),
        ("error_code", pa.string()),
        ("actor", pa.string()),
        ("actor_type", pa.string()),
        ("account", pa.string()),
        ("resource", pa.string()),
        ("key_id", pa.string()),
        ("key_src", pa.string()),
        ("key_fingerprint", pa.string()),
        ("src_ip", pa.string()),
        ("src_asn", pa.int32()),
        ("src_org", pa.string()),
        ("src_country", pa.string()),
        ("user_agent", pa.string()),
        ("model", pa.string()),
        ("region", pa.string()),
        ("api_version", pa.string()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("end_user", pa.string()),
        ("forwarded", pa.bool_()),
        ("prompt", pa.string()),
        ("source_offset", pa.int64()),
        ("raw", pa.large_string()),
    ]
)
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

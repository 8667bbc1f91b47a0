"""One module per log format; each maps a chunk of raw records into the batch columns.

Every module exposes ``NAME`` and ``parse(raws, offsets) -> Parsed``. Decoding is done for the whole
chunk in one msgspec call; only when that fails are records decoded one by one, so a malformed
record is quarantined with its offset and the rest of the chunk is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from ringbreaker.ingest.columns import Bad, Parsed, text

Raw = bytes | memoryview | msgspec.Raw
T = TypeVar("T")


def decode_chunk(
    raws: Sequence[Raw],
    offsets: Sequence[int],
    many: msgspec.json.Decoder[list[T]],
    one: msgspec.json.Decoder[T],
) -> tuple[list[T], list[int], list[Raw], list[Bad]]:
    """Decode all records at once; on failure, one by one, quarantining the ones that fail."""
    try:
        items = many.decode(b"[" + b",".join(raws) + b"]")
        if len(items) == len(raws):
            return items, list(offsets), list(raws), []
    except msgspec.DecodeError:
        pass
    good: list[T] = []
    good_off: list[int] = []
    good_raw: list[Raw] = []
    bad: list[Bad] = []
    for raw, off in zip(raws, offsets, strict=True):
        try:
            good.append(one.decode(raw))
        except msgspec.ValidationError as e:
            bad.append(Bad(off, f"not a valid record: {e}", text(raw)))
            continue
        except msgspec.DecodeError as e:
            bad.append(Bad(off, f"not valid JSON: {e}", text(raw)))
            continue
        good_off.append(off)
        good_raw.append(raw)
    return good, good_off, good_raw, bad


def map_dicts(
    raws: Sequence[Raw],
    offsets: Sequence[int],
    mapper: Callable[[dict[str, Any]], dict[str, Any]],
) -> Parsed:
    """Decode records to dicts and map each with ``mapper`` (for the lower-volume formats).

    ``mapper`` returns the column values of one record; a KeyError/TypeError/ValueError it raises
    quarantines that record with the message as reason.
    """
    recs, offs, rws, bad = decode_chunk(raws, offsets, _DICTS, _DICT)
    rows: list[dict[str, Any]] = []
    kept_off: list[int] = []
    kept_raw: list[Raw] = []
    for rec, off, raw in zip(recs, offs, rws, strict=True):
        try:
            rows.append(mapper(rec))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            bad.append(Bad(off, f"cannot map record: {type(e).__name__}: {e}", text(raw)))
            continue
        kept_off.append(off)
        kept_raw.append(raw)
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    cols: dict[str, list[Any]] = {k: [row.get(k) for row in rows] for k in keys}
    cols["source_offset"] = kept_off
    cols["raw"] = kept_raw
    n = len(rows)
    return Parsed(cols, n, bad)


_DICTS: msgspec.json.Decoder[list[dict[str, Any]]] = msgspec.json.Decoder(list[dict[str, Any]])
_DICT: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def parser(name: str) -> Callable[[Sequence[Raw], Sequence[int]], Parsed]:
    """The parse function of a format by name."""
    from ringbreaker.ingest.formats import (
        azure_activity,
        azure_diagnostics,
        bedrock,
        cloudtrail,
        litellm,
        openai_audit,
    )

    table: dict[str, Callable[[Sequence[Raw], Sequence[int]], Parsed]] = {
        cloudtrail.NAME: cloudtrail.parse,
        bedrock.NAME: bedrock.parse,
        azure_diagnostics.NAME: azure_diagnostics.parse,
        azure_activity.NAME: azure_activity.parse,
        litellm.NAME: litellm.parse,
        openai_audit.NAME: openai_audit.parse,
    }
    return table[name]


def required(rec: dict[str, Any], key: str) -> Any:
    """A field the record cannot be stored without."""
    v = rec.get(key)
    if v is None or v == "":
        raise KeyError(f"missing required field {key!r}")
    return v


def get(rec: Any, *path: str) -> Any:
    """rec[a][b]... or None when any step is missing or not an object."""
    for p in path:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(p)
    return rec


def as_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and "value" in v:  # Azure REST {value, localizedValue}
        return as_str(v["value"])
    return msgspec.json.encode(v).decode() if isinstance(v, dict | list) else str(v)


def as_int(v: Any) -> int | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None

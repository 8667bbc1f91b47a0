"""The log-format registry, and which format a file holds, decided from its records' fields (never
from the name alone).

The registry is built once, at import, from the ``FORMAT`` of every public module in
``ringbreaker.ingest.formats``; nothing here names a format. Lookups happen once a file, never
once a record.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import msgspec

from ringbreaker.errors import UsageError
from ringbreaker.ingest import formats
from ringbreaker.ingest.formats import Format
from ringbreaker.ingest.tolerant import standardize

SAMPLE = 20
AGREED = 5  # this many records in a row of one format decide it (most files hold one format)


def _discover() -> Mapping[str, Format]:
    """name -> Format for every module of the formats package (``_private`` helpers skipped), in
    sniffing order."""
    found: list[Format] = []
    for info in pkgutil.iter_modules(formats.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{formats.__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if not isinstance(fmt, Format):
            raise TypeError(f"{module.__name__} defines no FORMAT = Format(...)")
        found.append(fmt)
    found.sort(key=lambda f: (f.priority, f.name))
    names = [f.name for f in found]
    if len(set(names)) != len(names):
        raise TypeError(f"two log formats share a name: {names}")
    return MappingProxyType({f.name: f for f in found})


FORMATS: Mapping[str, Format] = _discover()
_ORDER = tuple(FORMATS.values())


def get_format(name: str) -> Format:
    """The format called ``name``; UsageError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(f"unknown log format {name!r}; one of: {', '.join(FORMATS)}") from None


def classify(rec: Any) -> str | None:
    """The format of one decoded record (the first, by priority, whose ``sniff`` accepts it), or None."""
    if not isinstance(rec, dict):
        return None
    for fmt in _ORDER:
        if fmt.sniff(rec):
            return fmt.name
    return None


def sniff(raws: Sequence[bytes | memoryview | msgspec.Raw]) -> tuple[str | None, str]:
    """(format, why) from the first records that decode: the most common verdict wins; the first
    AGREED records agreeing end the sampling (detection is a per-file cost, for thousands of files)."""
    votes: dict[str, int] = {}
    seen = 0
    for raw in raws[: SAMPLE * 3]:
        try:
            rec = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            fixed = standardize(bytes(raw))
            if fixed is None:
                continue
            rec = msgspec.json.decode(fixed)
        except RecursionError:
            continue
        seen += 1
        fmt = classify(rec)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
        if seen >= SAMPLE or (seen == AGREED and len(votes) == 1 and fmt and votes[fmt] == AGREED):
            break
    if not votes:
        if not seen:
            return None, "no JSON records found"
        return None, f"none of {seen} sampled record(s) matches a known format"
    best = max(votes, key=lambda k: votes[k])
    return best, f"{votes[best]} of {seen} sampled record(s)"

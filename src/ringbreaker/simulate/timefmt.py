"""Timestamp formatting in each provider's own style, fast enough for millions of records.

All simulated times are whole epoch seconds (UTC), so an event's time reads the same in every
format and truth.json can name the exact second of a key's first abuse.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

TICKS_AT_EPOCH = 62135596800  # seconds from 0001-01-01 to 1970-01-01


def iso(t: int) -> str:
    """CloudTrail / Bedrock style: ``2025-03-03T09:12:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def iso_azure(t: int, frac: int = 0) -> str:
    """Azure diagnostics style, 7 fractional digits: ``2025-03-03T09:12:00.4350000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{frac:07d}Z"


def iso_micro(t: int, micro: int = 0) -> str:
    """LiteLLM style: ``2025-03-03T09:12:00.123000+00:00``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{micro:06d}+00:00"


def dotnet_ticks(t: int, frac: int = 0) -> int:
    """.NET ticks (100 ns since 0001-01-01), as Azure puts in requestTime/responseTime."""
    return (t + TICKS_AT_EPOCH) * 10_000_000 + frac


def parse(value: str) -> int:
    """ISO date or datetime (naive means UTC) to epoch seconds."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def hour_parts(t: int) -> tuple[str, str, str, str]:
    """(YYYY, MM, DD, HH) of an epoch second, for partitioned paths."""
    g = time.gmtime(t)
    return f"{g.tm_year:04d}", f"{g.tm_mon:02d}", f"{g.tm_mday:02d}", f"{g.tm_hour:02d}"

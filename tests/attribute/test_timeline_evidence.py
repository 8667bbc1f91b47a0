"""The timeline's evidence: the first EVIDENCE_STEP events of a step by (time, id), also when
times tie at the cut (the fixed-size top-n states then hand over to an exact ranking)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from ringbreaker.attribute import store
from ringbreaker.attribute.roles import EVIDENCE_STEP

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _evidence(rows: list[tuple[str, datetime]]) -> tuple[bool, list[str]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TEMP TABLE tl_ab (crew INTEGER, key_fp VARCHAR, stage VARCHAR, operation VARCHAR, "
        "id VARCHAR, time TIMESTAMPTZ)"
    )
    con.executemany("INSERT INTO tl_ab VALUES (1, 'k', 'abuse', 'InvokeModel', ?, ?)", rows)
    con.execute(f"CREATE TEMP TABLE tl_steps AS {store._TL_STEPS}")
    con.execute(f"CREATE TEMP TABLE tl_tied AS {store._TL_TIED}")
    (tied,) = con.execute("SELECT tied FROM tl_steps").fetchone() or (None,)
    got = con.execute(
        f"SELECT coalesce(x.ids, [p[2] FOR p IN list_sort(list_zip(t.ks, t.ids))[:{EVIDENCE_STEP}]]) "
        "FROM tl_steps t LEFT JOIN tl_tied x USING (crew, key_fp, stage)"
    ).fetchone()
    return bool(tied), list(got[0]) if got else []


@pytest.mark.parametrize("order", [1, -1])
def test_a_tie_at_the_cut_is_ranked_by_id(order: int) -> None:
    # Ten events in the same second: which five are first is decided by id alone.
    ids = [f"e{i:02d}" for i in range(10)][::order]
    tied, got = _evidence([(i, T0) for i in ids])
    assert tied
    assert got == sorted(ids)[:EVIDENCE_STEP]


def test_without_a_tie_the_first_events_by_time_then_id() -> None:
    rows = [("z", T0), ("a", T0), ("m", T0 + timedelta(seconds=1))]
    rows += [(f"late{i}", T0 + timedelta(minutes=i + 1)) for i in range(5)]
    tied, got = _evidence(rows)
    assert not tied
    assert got == ["a", "z", "m", "late0", "late1"]

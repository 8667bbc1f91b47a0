"""Owner-inventory key aliases (table ``key_aliases``) and the fill of ``events.key_fingerprint``.

Some logs name a key by an id and never carry the secret, so nothing ingest computes from the record
joins the key to its leak: the OpenAI audit log names ``actor.api_key.id`` (``key_...``), Azure
OpenAI diagnostics the resource (``/accounts/NAME``), CloudTrail for temporary credentials the
principal ARN and an ``ASIA`` key derived from the leaked ``AKIA`` one. The owner knows which of their
keys each id is and says so in the inventory (``scan --inventory``); ``store_aliases`` keeps those
rows and ``fill_key_fingerprints`` writes the key's fingerprint into the events that name it.

Why an UPDATE of ``events`` and not a view: every detection rule, attribute and the case read
``events.key_fingerprint`` directly (rules are SQL files over the table, with zone-map pruning on the
column); a view would have to replace ``events`` under every reader, and the join to ``key_aliases``
would run again in each of the dozens of rules on every ``detect``. The fill writes only the rows
that name an alias, once: after each ``scan --workspace`` (all candidate rows) and after each ingest
(the rows it stored), so the order of scan and ingest does not matter. ``events.key_via`` marks the
rows it filled (the alias kind), so a later fill undoes them when the inventory no longer says so;
the values it overwrites are NULL or, for CloudTrail temporary keys, ``sha256(key_id)``, which the
undo recomputes.

Which rows are filled, per kind (the alias must name exactly one key: two keys under one Azure
resource, say key1 and key2, cannot be told apart in the log, so such an alias joins nothing):

- ``openai-key-id``: OpenAI audit events whose actor is an API key, by ``actor.api_key.id`` (the key
  that made the call; for ``api_key.*`` events ``key_id`` is the key acted on, not the caller);
- ``azure-resource``: Azure OpenAI diagnostics of key-authenticated calls (no Entra object id), by
  the resource name: every key call to the resource is taken to be made with the aliased key;
- ``aws-principal``: CloudTrail records made with a temporary (``ASIA``) key or none, outside console
  sessions, by the principal ARN (a role ARN, with or without its path, or an assumed-role session
  ARN matches every session of the role); a temporary key that itself leaked (its fingerprint is a
  finding) keeps its own fingerprint. Records with a long-term key keep the fingerprint they name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ringbreaker.model import KeyAlias

if TYPE_CHECKING:
    import duckdb

__all__ = ["ALIAS_KINDS", "Fill", "fill_key_fingerprints", "last_event", "read_aliases", "store_aliases"]

ALIAS_KINDS = ("openai-key-id", "azure-resource", "aws-principal")
_COLUMNS = tuple(KeyAlias.column_map().values())


_SESSION = r"'^arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/.*$', 'arn:\1:iam::\2:role/\3'"
_ROLE_PATH = r"'^(arn:[^:]+:iam::\d+:role/)(?:[^/]*/)*([^/]+)$', '\1\2'"


def _arn_key(x: str) -> str:
    """SQL: the ARN ``x`` as an alias matches it: an assumed-role session ARN becomes its role's
    ARN, and a role ARN loses its path (a session ARN names the role without it)."""
    return f"regexp_replace(regexp_replace({x}, {_SESSION}), {_ROLE_PATH})"


_RESOLVED = f"""
SELECT kind, CASE WHEN kind = 'aws-principal' THEN {_arn_key("alias")} ELSE alias END AS name,
       min(fingerprint) AS fingerprint, count(DISTINCT fingerprint) AS keys
FROM key_aliases GROUP BY ALL
"""
# The events that name an alias, per kind: (rowid, fingerprint, kind). Rows the fill wrote before
# (key_via set) are candidates again, so a changed inventory moves or undoes them. Resources and
# principals are few and repeat on millions of rows, so each is matched once, on its distinct values,
# and the rows join that small map on plain equality (no per-row regex or hash).
_PARTS = {
    "openai-key-id": """
SELECT e.rowid AS rid, a.fingerprint, a.kind FROM events e JOIN __rb_alias a
  ON a.kind = 'openai-key-id' AND a.name = coalesce(  -- api_key.* events: key_id is the key acted on
       e.raw->>'$.actor.api_key.id', CASE WHEN NOT starts_with(e.operation, 'api_key.') THEN e.key_id END)
WHERE e.source_format = 'openai-audit' AND e.actor_type = 'api_key' AND e.rowid > {since}
  AND (e.key_fingerprint IS NULL OR e.key_via IS NOT NULL)
""",
    "azure-resource": """
SELECT e.rowid AS rid, m.fingerprint, 'azure-resource' AS kind FROM events e JOIN (
    SELECT r.resource, a.fingerprint
    FROM (SELECT DISTINCT resource FROM events
          WHERE source_format = 'azure-diagnostics' AND actor_type = 'api_key' AND rowid > {since}) r
    JOIN __rb_alias a
      ON a.kind = 'azure-resource' AND a.name = lower(regexp_extract(r.resource, '(?i)/accounts/([^/]+)', 1))
) m ON e.resource = m.resource
WHERE e.source_format = 'azure-diagnostics' AND e.actor_type = 'api_key' AND e.rowid > {since}
  AND (e.key_fingerprint IS NULL OR e.key_via IS NOT NULL)
""",
    # a temporary key that itself leaked keeps its own fingerprint: sha256(key_id), which is the
    # stored fingerprint of every row not filled yet (only filled rows need the hash)
    "aws-principal": f"""
SELECT e.rowid AS rid, m.fingerprint, 'aws-principal' AS kind FROM events e JOIN (
    SELECT r.actor, a.fingerprint
    FROM (SELECT DISTINCT actor FROM events
          WHERE source_format = 'cloudtrail' AND (key_id IS NULL OR starts_with(key_id, 'ASIA'))
            AND rowid > {{since}}) r
    JOIN __rb_alias a ON a.kind = 'aws-principal' AND a.name = {_arn_key("r.actor")}
) m ON e.actor = m.actor
WHERE e.source_format = 'cloudtrail' AND (e.key_id IS NULL OR starts_with(e.key_id, 'ASIA'))
  AND e.rowid > {{since}} AND NOT coalesce(e.console, false)
  AND coalesce(CASE WHEN e.key_via IS NULL THEN e.key_fingerprint ELSE sha256(e.key_id) END, '')
      NOT IN (SELECT fingerprint FROM findings)
""",
}
_UNDO = """
UPDATE events SET key_fingerprint = CASE WHEN source_format = 'cloudtrail' THEN sha256(key_id) END,
                  key_via = NULL
WHERE key_via IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM __rb_alias_want w
    WHERE w.rid = events.rowid AND w.fingerprint = events.key_fingerprint AND w.kind = events.key_via
)
"""
_FILL = """
UPDATE events SET key_fingerprint = w.fingerprint, key_via = w.kind
FROM __rb_alias_want w WHERE events.rowid = w.rid AND events.key_via IS NULL
"""


@dataclass(frozen=True, slots=True)
class Fill:
    """What one fill did: events given a key's fingerprint, earlier fills undone (the inventory
    changed), and aliases that name several keys and so join nothing (kind, alias)."""

    joined: int = 0
    undone: int = 0
    ambiguous: tuple[tuple[str, str], ...] = ()


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _fill(con: duckdb.DuckDBPyConnection, since: int | None = None) -> Fill:
    # the aliases that name one key; the others cannot tell which key a record used
    con.execute(f"CREATE OR REPLACE TEMP TABLE __rb_alias AS SELECT * FROM ({_RESOLVED}) WHERE keys = 1")
    ambiguous = con.execute(f"SELECT kind, name FROM ({_RESOLVED}) WHERE keys > 1 ORDER BY ALL").fetchall()
    aliased = {str(k) for (k,) in con.execute("SELECT DISTINCT kind FROM __rb_alias").fetchall()}
    filled = con.execute("SELECT DISTINCT key_via FROM events WHERE key_via IS NOT NULL").fetchall()
    kinds = [k for k in ALIAS_KINDS if k in aliased | {str(v) for (v,) in filled}]
    undone = joined = 0
    if kinds:  # only the kinds with something to join or to undo
        parts = " UNION ALL ".join(_PARTS[k].format(since=-1 if since is None else int(since)) for k in kinds)
        con.execute(f"CREATE OR REPLACE TEMP TABLE __rb_alias_want AS {parts}")
        undone = _count(con, _UNDO) if since is None else 0  # new rows hold no earlier fill
        joined = _count(con, _FILL)
        con.execute("DROP TABLE __rb_alias_want")
    con.execute("DROP TABLE __rb_alias")
    return Fill(joined, undone, tuple((str(k), str(a)) for k, a in ambiguous))


def _atomic(
    con: duckdb.DuckDBPyConnection, work: Sequence[tuple[str, list[object]]], since: int | None = None
) -> Fill:
    con.execute("BEGIN TRANSACTION")
    try:
        for sql, params in work:
            con.execute(sql, params)
        out = _fill(con, since)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return out


def last_event(con: duckdb.DuckDBPyConnection) -> int:
    """The rowid of the newest stored event (-1 when there is none): what ``since`` takes so that a
    fill after an ingest looks at the rows that ingest appended (``events`` is only appended to)."""
    row = con.execute("SELECT coalesce(max(rowid), -1) FROM events").fetchone()
    return int(row[0]) if row else -1


def fill_key_fingerprints(con: duckdb.DuckDBPyConnection, since: int | None = None) -> Fill:
    """Give the events that name one of the stored aliases that key's fingerprint, in one
    transaction. With ``since`` (a ``last_event`` taken before an ingest) only the rows stored after
    it are looked at, which is all an ingest needs: the aliases and findings did not change, so no
    earlier fill is undone (on 10M events the whole pass costs seconds, the new rows' pass a
    fraction). Without it every candidate row is looked at again and the fills the stored aliases
    no longer back are undone. Cheap when there are no aliases."""
    return _atomic(con, [], since)


def store_aliases(con: duckdb.DuckDBPyConnection, source: str, aliases: Sequence[KeyAlias]) -> Fill:
    """Replace the aliases of inventory file ``source`` with ``aliases`` and fill the events, in one
    transaction (only fingerprints are stored, never a key)."""
    marks = ", ".join("?" * len(_COLUMNS))
    insert = f"INSERT INTO key_aliases ({', '.join(_COLUMNS)}) VALUES ({marks})"
    work: list[tuple[str, list[object]]] = [("DELETE FROM key_aliases WHERE source = ?", [source])]
    work += [(insert, [getattr(a, c) for c in _COLUMNS]) for a in dict.fromkeys(aliases)]
    return _atomic(con, work)


def read_aliases(con: duckdb.DuckDBPyConnection) -> list[KeyAlias]:
    """Every stored alias, by kind and alias."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM key_aliases ORDER BY kind, alias, source"
    rows = con.execute(sql).fetchall()
    return [KeyAlias(*row) for row in rows]

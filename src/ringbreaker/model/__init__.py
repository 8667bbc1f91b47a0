"""Frozen value types shared by every stage: the contract between stages, tables and JSON.

Every row a stage writes to the workspace has one type here, and its table in
``workspace/schema.sql`` mirrors its fields: ``tests/test_contract.py`` migrates a fresh workspace
and compares ``information_schema.columns`` with these types (names, types, nullability), and the
ingest Arrow batch with ``events``. Readers that are not stages (``serve``, the case file) read the
tables through these types, never through a stage's internals.

One name per field across dataclass, column and JSON key, except where a type declares otherwise.
The declarations are class variables of each type (see ``Row``), so a writer uses the mapping
instead of restating it:

- ``COLUMNS``: fields stored under another column name. Only ``Finding`` has any: its ``time`` is
  column ``leak_time``, ``commit`` is ``commit_id``, ``column`` is ``col`` (the JSON keeps the field
  names, and both names are released contracts).
- ``NOT_STORED``: fields with no column (``Finding.title``, ``secret`` and ``companion``, and its
  ``verified``/``verified_at``, which table ``verifications`` holds; ``Alert.new``).
- ``EXTRA_COLUMNS``: columns the writer fills that are not fields: bookkeeping (``first_seen``,
  ``first_detected``, ``scored_at``) or the run's context (``Verdict``'s ``event_id``).
- ``STORED_AS``: fields whose Python type is not the column's natural one: ``Alert.first_time`` is
  epoch milliseconds in Python and TIMESTAMPTZ in the table (ISO text as JSON ``first_seen``),
  ``Alert.details`` is a dict stored as JSON text, ``Finding.time`` is ISO text cast on insert.
- ``ALWAYS_SET``: fields the writer always sets although their column allows NULL (a released
  migration's choice, kept): only ``Alert.details``.
- ``JSON_KEYS``: fields under another key in the stage's JSON output: ``Alert.first_time`` is
  ``first_seen``, ``last_time`` is ``last_seen``, ``event_ids`` is ``evidence``, and the seven entity
  lists sit inside ``entities`` (``entities.key_fingerprints``, ...).

Types otherwise map as str ↔ VARCHAR, int ↔ INTEGER/BIGINT, float ↔ DOUBLE, bool ↔ BOOLEAN,
datetime ↔ TIMESTAMPTZ, tuple[str, ...] ↔ VARCHAR[], and ``X | None`` ↔ a nullable column.
The enums (``Severity``, ``Confidence``, ``Role``) are ``StrEnum``: their members *are* their
strings, so they go into DuckDB, Arrow and JSON unchanged.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from ringbreaker.documents import CITED, Case, Citation  # documents, not rows: see documents.py

__all__ = [
    "ALERT_SEVERITIES",
    "CITED",
    "ENTITY_FIELDS",
    "EVENT_COLUMNS",
    "ROW_TYPES",
    "VERDICT_LABELS",
    "VERDICT_SEVERITIES",
    "Alert",
    "Case",
    "Citation",
    "ClassifyThreshold",
    "Confidence",
    "Crew",
    "CrewEdge",
    "CrewKey",
    "CrewMember",
    "Event",
    "EvidenceFile",
    "Finding",
    "IngestedFile",
    "KeyAlias",
    "Quarantined",
    "Role",
    "Row",
    "Severity",
    "TimelineEntry",
    "Verdict",
    "Verification",
    "fingerprint",
    "iso_ms",
]


def fingerprint(secret: str | bytes) -> str:
    """SHA-256 hex of the exact credential string: the thread that joins a leak to its abuse."""
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()


class Severity(StrEnum):
    """One severity scale for alerts and verdicts, in rank order (``none`` lowest).

    Alerts use ``info`` .. ``critical`` (``ALERT_SEVERITIES``: the detection rule schema's enum and
    OCSF's 1..5); verdicts use ``none`` .. ``critical`` (``VERDICT_SEVERITIES``: a prompt with nothing
    at threshold is ``none``, never ``info``). The two share low, medium, high and critical, so an
    alert and a verdict compare on one ``rank``. Members compare as the strings they are, so
    sorting them sorts by name exactly as the plain strings did; order by severity with ``rank``.
    """

    NONE = "none"
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position on the scale: none 0, info 1, low 2, medium 3, high 4, critical 5."""
        return _RANK[self]

    def at_least(self, floor: str) -> bool:
        """Whether this severity is ``floor`` or above (``floor`` a Severity or its name)."""
        return self.rank >= Severity(floor).rank

    @classmethod
    def worst(cls, values: Iterable[str]) -> Severity | None:
        """The highest of ``values`` (names or members), or None when there are none."""
        return max((cls(v) for v in values), key=lambda s: s.rank, default=None)


_RANK = {s: i for i, s in enumerate(Severity)}
ALERT_SEVERITIES = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
VERDICT_SEVERITIES = (Severity.NONE, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class Confidence(StrEnum):
    """How sure a secret rule is of a finding (the secret rule schema's enum), in rank order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Role(StrEnum):
    """A crew member's role: wrote the tools, runs the infrastructure, or consumes the stolen access."""

    CREATOR = "creator"
    PROVIDER = "provider"
    USER = "user"


class Row:
    """What every row type declares about its table (see the module docstring for each mapping).

    Mappings are read-only by convention; a type overrides only what differs from the defaults.
    """

    __slots__ = ()

    TABLE: ClassVar[str]
    COLUMNS: ClassVar[Mapping[str, str]] = {}
    NOT_STORED: ClassVar[frozenset[str]] = frozenset()
    EXTRA_COLUMNS: ClassVar[tuple[str, ...]] = ()
    STORED_AS: ClassVar[Mapping[str, str]] = {}
    ALWAYS_SET: ClassVar[frozenset[str]] = frozenset()
    JSON_KEYS: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def column_map(cls) -> dict[str, str]:
        """Field name -> column name for every stored field, in field order."""
        return {
            f.name: cls.COLUMNS.get(f.name, f.name)
            for f in fields(cls)  # type: ignore[arg-type]  # every Row is a dataclass
            if f.name not in cls.NOT_STORED
        }

    @classmethod
    def field_types(cls) -> dict[str, tuple[Any, bool]]:
        """Field name -> (its type without ``| None``, whether it may be None), in field order: what
        a column's type and nullability are checked against, and Arrow schemas are built from."""
        out: dict[str, tuple[Any, bool]] = {}
        for name, hint in typing.get_type_hints(cls).items():
            if typing.get_origin(hint) is ClassVar:
                continue
            args = typing.get_args(hint)
            optional = isinstance(hint, types.UnionType) and type(None) in args
            out[name] = (next(a for a in args if a is not type(None)) if optional else hint, optional)
        return out


@dataclass(frozen=True, slots=True)
class Finding(Row):
    """One leaked credential at one location (table ``findings``; the scan jsonl contract).

    ``id`` is stable across runs and edits (rule, fingerprint and path; never the line), so
    baselines survive. ``secret`` is kept in memory only, for ``--show-secrets``; it is never
    stored in the workspace and never printed otherwise; ``companion`` (the paired part, an AWS
    secret access key) is kept in memory only for ``--verify`` and never printed at all.
    ``verified``/``verified_at`` are set by ``scan --verify`` only (else None, JSON null).
    Stored as: ``time`` -> ``leak_time``, ``commit`` -> ``commit_id``, ``column`` -> ``col``; the
    JSON keys are the field names.
    ``location`` (path, plus ``#cellN`` for a notebook cell) is the row's identity with
    ``fingerprint``; ``first_seen``/``last_seen`` are the scans that reported it.
    """

    TABLE: ClassVar[str] = "findings"
    COLUMNS: ClassVar[Mapping[str, str]] = {"time": "leak_time", "commit": "commit_id", "column": "col"}
    NOT_STORED: ClassVar[frozenset[str]] = frozenset(
        {"title", "secret", "companion", "verified", "verified_at"}
    )
    EXTRA_COLUMNS: ClassVar[tuple[str, ...]] = ("location", "first_seen", "last_seen")
    STORED_AS: ClassVar[Mapping[str, str]] = {"time": "TIMESTAMPTZ", "author_date": "TIMESTAMPTZ"}

    id: str
    rule: str
    provider: str
    title: str
    fingerprint: str
    preview: str
    length: int
    path: str
    line: int
    column: int
    confidence: Confidence
    time: str | None = None  # ISO 8601 text
    commit: str | None = None
    author: str | None = None
    author_email: str | None = None
    author_date: str | None = None  # ISO 8601 text
    repo: str | None = None
    cell: int | None = None
    owned: bool = False
    paired: bool = False
    resource: str | None = None  # where the key is used, named near it (Azure resource name)
    secret: str | None = None
    verified: str | None = None  # scan --verify: live | invalid | unknown | error; None: not checked
    verified_at: str | None = None  # ISO 8601 text: when the provider answered (or was tried)
    companion: str | None = None  # the paired part (AWS secret access key), memory only, for --verify

    @property
    def location(self) -> str:
        """The ``location`` column: the path, with ``#cellN`` for a notebook cell."""
        return self.path if self.cell is None else f"{self.path}#cell{self.cell}"

    def to_dict(self, *, show_secret: bool = False) -> dict[str, Any]:
        """The JSON shape of a finding (the jsonl contract); the secret only on request."""
        d = asdict(self)
        d.pop("companion")
        if not show_secret:
            d.pop("secret")
        return d


@dataclass(frozen=True, slots=True)
class Event(Row):
    """One telemetry record, whatever its source format (table ``events``; OCSF API Activity names).

    The field order is the column order, and ``EVENT_COLUMNS`` is the one list of them that ingest
    derives its Arrow batch and its INSERT from. Ingest never builds an Event per record (it writes
    Arrow columns); this is the row type for readers. See schema.sql migration 2 for each column.
    """

    TABLE: ClassVar[str] = "events"

    id: str
    time: datetime
    provider: str
    service: str | None
    operation: str
    category: str | None
    status: str
    error_code: str | None
    actor: str | None
    actor_type: str | None
    account: str | None
    resource: str | None
    key_id: str | None
    key_fingerprint: str | None
    src_ip: str | None
    src_asn: int | None
    src_org: str | None
    src_country: str | None
    user_agent: str | None
    model: str | None
    region: str | None
    api_version: str | None
    tokens_in: int | None
    tokens_out: int | None
    end_user: str | None
    forwarded: bool | None
    prompt: str | None
    source_format: str
    source_file: str
    source_offset: int | None
    raw: str | None
    # migration 10: fields the rules read on every model call, parsed once at ingest (not from raw)
    request_length: int | None
    response_length: int | None
    guardrail: str | None
    console: bool | None
    src_anonymizer: str | None
    # migration 11: which owner-inventory alias filled key_fingerprint (NULL: the record names the key)
    key_via: str | None
    source_sha256: str | None  # migration 13: SHA-256 of the source file (workspace/evidence.py)


EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Event))


@dataclass(frozen=True, slots=True)
class Quarantined(Row):
    """A record that could not be mapped (table ``quarantine``): where it was, why, its text."""

    TABLE: ClassVar[str] = "quarantine"

    source_file: str
    source_offset: int | None
    source_format: str | None
    reason: str
    raw: str | None
    ingested_at: datetime


@dataclass(frozen=True, slots=True)
class IngestedFile(Row):
    """A file already ingested (table ``ingested_files``), for incremental runs."""

    TABLE: ClassVar[str] = "ingested_files"

    path: str
    sha256: str
    size: int
    format: str
    records: int
    stored: int
    duplicates: int
    quarantined: int
    finished_at: datetime


VERDICT_LABELS = ("bypass", "sexual", "real_person", "minor")


@dataclass(frozen=True, slots=True)
class Verdict(Row):
    """Scores of one prompt (each in [0, 1]), its severity and the labels at or above threshold.

    Table ``verdicts`` adds the run's context: ``event_id`` (the scored event), ``model_version``
    and ``scored_at``. JSON (``classify --format jsonl``): the field names, via ``to_json``.
    """

    TABLE: ClassVar[str] = "verdicts"
    EXTRA_COLUMNS: ClassVar[tuple[str, ...]] = ("event_id", "model_version", "scored_at")

    bypass: float
    sexual: float
    real_person: float
    minor: float
    severity: Severity  # one of VERDICT_SEVERITIES
    labels: tuple[str, ...]

    def scores(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in VERDICT_LABELS}

    def to_json(self) -> dict[str, Any]:
        """The verdict's part of a classify jsonl line: the four scores, severity, labels."""
        return {**self.scores(), "severity": self.severity, "labels": list(self.labels)}


ENTITY_FIELDS = (
    "key_fingerprints",
    "principals",
    "src_ips",
    "accounts",
    "resources",
    "proxy_hosts",
    "end_users",
)


@dataclass(frozen=True, slots=True)
class Alert(Row):
    """One alert: a detection rule's hits on one entity group (table ``alerts``; the detect jsonl).

    Field names are the column names. ``first_time``/``last_time`` are epoch milliseconds here,
    TIMESTAMPTZ in the table and ISO text as JSON ``first_seen``/``last_seen``; ``event_ids`` is JSON
    ``evidence``; the entity lists (ENTITY_FIELDS) are JSON ``entities``; ``details`` is JSON text in
    the table. ``new`` (not raised by an earlier run) is not stored; ``first_detected`` and
    ``last_detected`` are the detect runs that raised it first and last.
    """

    TABLE: ClassVar[str] = "alerts"
    NOT_STORED: ClassVar[frozenset[str]] = frozenset({"new", "citations"})
    ALWAYS_SET: ClassVar[frozenset[str]] = frozenset({"details"})
    EXTRA_COLUMNS: ClassVar[tuple[str, ...]] = ("first_detected", "last_detected")
    STORED_AS: ClassVar[Mapping[str, str]] = {
        "first_time": "TIMESTAMPTZ",
        "last_time": "TIMESTAMPTZ",
        "details": "VARCHAR",
    }
    JSON_KEYS: ClassVar[Mapping[str, str]] = {
        "first_time": "first_seen",
        "last_time": "last_seen",
        "event_ids": "evidence",
        "citations": "evidence_refs",
        **{f: f"entities.{f}" for f in ENTITY_FIELDS},
    }

    id: str
    rule: str
    severity: Severity  # one of ALERT_SEVERITIES
    title: str
    summary: str
    first_time: int  # epoch milliseconds
    last_time: int
    count: int
    key_fingerprints: tuple[str, ...]
    principals: tuple[str, ...]
    src_ips: tuple[str, ...]
    accounts: tuple[str, ...]
    resources: tuple[str, ...]
    proxy_hosts: tuple[str, ...]
    end_users: tuple[str, ...]
    event_ids: tuple[str, ...]
    details: Mapping[str, Any]
    new: bool = True
    # the first CITED evidence events with their file hash + position (workspace.evidence.cite)
    citations: tuple[Citation, ...] = ()

    @property
    def entities(self) -> dict[str, list[str]]:
        """The entity lists by name, in ENTITY_FIELDS order (JSON ``entities``)."""
        return {f: list(getattr(self, f)) for f in ENTITY_FIELDS}

    def to_json(self) -> dict[str, Any]:
        """The jsonl contract (DESIGN.md): id, rule, severity, first_seen, last_seen, entities, evidence."""
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "title": self.title,
            "summary": self.summary,
            "first_seen": iso_ms(self.first_time),
            "last_seen": iso_ms(self.last_time),
            "count": self.count,
            "entities": self.entities,
            "evidence": list(self.event_ids),
            "details": dict(self.details),
            "new": self.new,
            "evidence_refs": [c.to_json() for c in self.citations],
        }


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC text with a ``Z``, as alerts print their times."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


# The attribute stage's rows live in model/crews.py (this module stays under 600 lines); imported
# here, where they were defined before, so ``from ringbreaker.model import Crew`` works as it did.
from ringbreaker.model.crews import Crew, CrewEdge, CrewKey, CrewMember, TimelineEntry  # noqa: E402


@dataclass(frozen=True, slots=True)
class Verification(Row):
    """The provider's answer to ``scan --verify`` for one key and rule (table ``verifications``, the
    cache a later run with the same workspace reads instead of asking again). Only definitive
    answers (``live``, ``invalid``) are stored; ``endpoint`` is the method and URL, never the key."""

    TABLE: ClassVar[str] = "verifications"

    fingerprint: str
    rule: str
    provider: str
    verified: str  # live | invalid
    http_status: int | None
    endpoint: str
    verified_at: datetime


@dataclass(frozen=True, slots=True)
class ClassifyThreshold(Row):
    """One label's decision threshold fitted by ``classify --calibrate`` to a workspace's own
    traffic (table ``classify_thresholds``, appended per run; the latest row per model version and
    label is the one ``classify --workspace`` uses). ``quantile`` is the raw fit, ``threshold`` the
    value kept after the clamp that stops calibration from hiding attacks."""

    TABLE: ClassVar[str] = "classify_thresholds"

    model_version: str
    label: str
    threshold: float
    shipped: float
    fpr: float
    n_prompts: int
    quantile: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyAlias(Row):
    """An id under which a log names one of the owner's keys (table ``key_aliases``, from ``scan
    --inventory``): an OpenAI key id, an Azure resource, an AWS principal. Logs that never carry the
    secret join the key's fingerprint through it (``workspace.aliases.fill_key_fingerprints``)."""

    TABLE: ClassVar[str] = "key_aliases"

    alias: str  # as the logs write it: key_..., the resource name (lower case), the principal ARN
    kind: str  # openai-key-id | azure-resource | aws-principal
    fingerprint: str
    source: str  # the inventory file it came from (a later scan with that file replaces its rows)
    added: datetime


@dataclass(frozen=True, slots=True)
class EvidenceFile(Row):
    """A source file kept in an evidence store (table ``evidence``; events cite it by ``sha256``)."""

    TABLE: ClassVar[str] = "evidence"

    sha256: str
    source_file: str
    line_base: int
    size: int
    store: str
    added: datetime


ROW_TYPES: tuple[type[Row], ...] = (
    Finding,
    Event,
    Quarantined,
    IngestedFile,
    Verdict,
    Alert,
    Crew,
    CrewMember,
    CrewEdge,
    CrewKey,
    TimelineEntry,
    Verification,
    ClassifyThreshold,
    KeyAlias,
    EvidenceFile,
)

"""The shapes of the JSON documents ringbreaker writes that are not rows of one table.

Why apart from model.py: a row type mirrors one table and is checked against it; a document is
assembled from several tables, so only its top level is typed here and the rest is its JSON Schema.
``ringbreaker.model`` re-exports these names, so ``from ringbreaker.model import Case`` keeps working.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

__all__ = ["CITED", "Case", "Citation"]


class Case(TypedDict):
    """One crew's case file (``case.json``; schema ``ringbreaker/case/case.schema.json``, which
    ``tests/test_contract.py`` ties these keys to): what the HTML page and the STIX bundle render.

    Not a row: the case is assembled from several tables, so it is the JSON document's shape. Only
    the top level is typed; the nested objects are documented by the schema and docs/case.md.
    ``members`` maps each ``Role`` to its members; keys appear only as previews and fingerprints.
    """

    schema: str  # "ringbreaker.case/1"
    generated_at: str  # ISO 8601 UTC, seconds
    generator: str  # "ringbreaker <version>"
    workspace: str
    crew: dict[str, Any]
    summary: dict[str, Any]
    members: dict[str, list[dict[str, Any]]]
    keys: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    infrastructure: dict[str, Any]
    evidence: dict[str, Any]
    cost: dict[str, Any]
    actions: dict[str, Any]
    gaps: list[str]


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an evidence event's record is (chain of custody): the SHA-256 of the source file it
    was read from (NULL for events stored before evidence was kept), the file as ingest named it,
    and the record's position in it (``events.source_offset``). ``ringbreaker show EVENT_ID`` reads
    the record back from the evidence store and checks the hash."""

    event_id: str
    source_file: str
    source_offset: int | None
    source_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        """``evidence_refs[]`` of detect's JSON: the fields, in order."""
        return asdict(self)


CITED = 100  # evidence events an alert cites by file hash + position (the first of ``evidence``)

"""The attribute stage's row types (tables ``crews``, ``crew_members``, ``crew_edges``, ``crew_keys``,
``timeline``), re-exported by ``ringbreaker.model``; see its docstring for what the declarations mean."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from ringbreaker.model import Role, Row

__all__ = ["Crew", "CrewEdge", "CrewKey", "CrewMember", "TimelineEntry"]


@dataclass(frozen=True, slots=True)
class Crew(Row):
    """A crew found by attribution (table ``crews``). ``attribute --format json`` nests its
    members, keys and timeline under it, with the times as ISO text."""

    TABLE: ClassVar[str] = "crews"

    id: str
    name: str
    first_time: datetime | None
    last_time: datetime | None
    summary: str
    confidence: float | None = None  # 0..1: how strong the ties that make it one crew are
    ties: str | None = None  # what ties it: pooled keys, a published tool, one operator's own infrastructure


@dataclass(frozen=True, slots=True)
class CrewMember(Row):
    """One entity of a crew with its role and the evidence for it (table ``crew_members``)."""

    TABLE: ClassVar[str] = "crew_members"

    crew_id: str
    kind: str  # person | tool | user_agent | ip | proxy_host | account | end_user
    entity: str
    role: Role
    confidence: float  # 0..1 (a score, not a Confidence)
    evidence: str
    evidence_ids: tuple[str, ...]
    first_seen: datetime | None = None  # the member's first and last event in the crew's abuse
    last_seen: datetime | None = None
    infra_role: str | None = None  # addresses: checker | control-plane | egress | proxy-pool | shared


@dataclass(frozen=True, slots=True)
class CrewEdge(Row):
    """One edge of a crew's graph (table ``crew_edges``). Ends are ``kind:value`` (``ip:...``,
    ``key:<fingerprint>``, ``tool:<user agent>``, ``crew:<id>``...): one table for every kind of tie."""

    TABLE: ClassVar[str] = "crew_edges"

    crew_id: str
    source: str
    target: str
    kind: str  # used-key | signed-in | sent-client | pool-address | shared-with
    weight: float  # events along the edge
    first_time: datetime | None
    last_time: datetime | None
    evidence: str
    evidence_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CrewKey(Row):
    """A stolen key a crew used (table ``crew_keys``); its owner is a victim, never a member."""

    TABLE: ClassVar[str] = "crew_keys"

    crew_id: str
    key_fingerprint: str
    victim: str | None
    provider: str | None
    preview: str | None
    leak_time: datetime | None
    leak_location: str | None
    first_abuse: datetime | None
    minutes_to_abuse: float | None
    events: int
    tokens_in: int | None
    tokens_out: int | None


@dataclass(frozen=True, slots=True)
class TimelineEntry(Row):
    """One step of a crew's leak-to-abuse timeline (table ``timeline``)."""

    TABLE: ClassVar[str] = "timeline"

    crew_id: str
    time: datetime
    stage: str  # leak | key-check | model-enablement | abuse | guardrail-tampering | prohibited-content
    key_fingerprint: str | None
    description: str
    evidence_ids: tuple[str, ...]

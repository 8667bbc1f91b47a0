"""Compositions of stages: the whole chain on a simulated world (``demo``) and the secret-rule
example checks (``rules check``).

Stages do not import one another's internals, and ``rules`` imports no stage; what needs several
of them is composed here, from each stage's public API only, so ``demo``, ``watch`` and ``serve``
are loops over the same library calls rather than second pipelines. The CLI prints what these
return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringbreaker.model import Role
from ringbreaker.rules import SecretRule, load_detection_rules, load_secret_rules
from ringbreaker.rules.check import ExampleResult, Finder
from ringbreaker.rules.check import check_secret_rules as _check_examples

if TYPE_CHECKING:  # the stages load on use, so `rules check` never imports duckdb or pyarrow
    from ringbreaker.attribute import CrewResult
    from ringbreaker.attribute import Result as Attribution
    from ringbreaker.case import Written
    from ringbreaker.classify import WorkspaceReport
    from ringbreaker.detect import Result as Detection
    from ringbreaker.ingest import Report
    from ringbreaker.scan import ScanResult
    from ringbreaker.simulate import Summary

__all__ = [
    "Attributed",
    "Cased",
    "Classified",
    "Detected",
    "Ingested",
    "Scanned",
    "Simulated",
    "Step",
    "check_secret_rules",
    "demo",
    "owner_inventory",
]


def check_secret_rules(
    rules: Sequence[SecretRule], engines: Sequence[str] = ("hyperscan", "re"), salt: int = 0
) -> list[ExampleResult]:
    """Run every example of every secret rule through each named matching engine (Hyperscan is
    skipped when its wheel is not installed) over the full rule set."""
    from ringbreaker.scan import HAVE_HYPERSCAN, explain, find, make_engine

    finders: dict[str, Finder] = {}
    for name in engines:
        if name == "hyperscan" and not HAVE_HYPERSCAN:
            continue
        engine = make_engine(rules, name)
        finders[engine.name] = partial(find, rules, engine)
    why = partial(explain, rules, make_engine(rules, "re"))
    return _check_examples(rules, finders, salt, explain=why)


# --------------------------------------------------------------------------- demo: the whole chain


@dataclass(frozen=True)
class Simulated:
    """1: the world was written under ``world``."""

    summary: Summary
    world: Path


@dataclass(frozen=True)
class Scanned:
    """2: the world's public code, scanned with history into the workspace."""

    result: ScanResult
    leaked: frozenset[str]  # fingerprints of the leaked keys


@dataclass(frozen=True)
class Ingested:
    """3: the world's telemetry in ``events``."""

    report: Report


@dataclass(frozen=True)
class Classified:
    """4: the prompts scored into ``verdicts``."""

    report: WorkspaceReport


@dataclass(frozen=True)
class Detected:
    """5: the built-in detection rules run into ``alerts``."""

    result: Detection


@dataclass(frozen=True)
class Attributed:
    """6: crews with members, and how many entities hold each role (end users, which SQL writes,
    counted from each crew's ``user_count``)."""

    result: Attribution
    crews: list[CrewResult]  # the crews with members
    roles: Counter[Role] = field(default_factory=Counter)


@dataclass(frozen=True)
class Cased:
    """7: a case file per crew under ``cases``, and each stolen key's leak and first abuse
    (crew, provider, key, victim, leaked, first abuse, minutes, events), by leak time."""

    written: list[Written]
    cases: Path
    keys: list[tuple[Any, ...]]


Step = Simulated | Scanned | Ingested | Classified | Detected | Attributed | Cased

_STOLEN_KEYS = (
    "SELECT c.name, k.provider, coalesce(k.preview, left(k.key_fingerprint, 12) || '…'), k.victim, "
    "strftime(k.leak_time, '%Y-%m-%d %H:%M'), strftime(k.first_abuse, '%Y-%m-%d %H:%M'), "
    "round(k.minutes_to_abuse, 1), k.events FROM crew_keys k JOIN crews c ON c.id = k.crew_id "
    "ORDER BY k.leak_time NULLS LAST, k.first_abuse"
)


def owner_inventory(world: Path, path: Path) -> Path:
    """Write the inventory the simulated OpenAI organisation's owner would hand over: each of its
    keys as its fingerprint and the key id the Admin API lists (never a secret), from the world's
    truth.json. Its audit log names a stolen admin key only by that id, so without this the admin
    key's abuse cannot join its leak."""
    import json

    keys = json.loads((world / "truth.json").read_text(encoding="utf-8"))["keys"]
    lines = [f"{k['fingerprint']} openai-key-id={k['key_id']}" for k in keys if k["provider"] == "openai"]
    path.write_text(
        "# the OpenAI organisation's keys (demo)\n" + "".join(f"{x}\n" for x in lines), encoding="utf-8"
    )
    return path


def demo(out: Path, seed: int = 1, scale: float = 1.0) -> Iterator[Step]:
    """Simulate a world under ``out/world`` and run every stage on it into ``out/ringbreaker.duckdb``
    and ``out/cases``, yielding each stage's result as it finishes (``out`` must not exist yet). The
    scan reads the OpenAI organisation's key inventory (``owner_inventory``, ``out/openai-keys.txt``)."""
    from ringbreaker.attribute import AttributeConfig, attribute
    from ringbreaker.case import write_cases
    from ringbreaker.classify import default_model, score_workspace
    from ringbreaker.detect import detect
    from ringbreaker.ingest import IngestConfig, ingest
    from ringbreaker.scan import ScanConfig, load_inventory, scan
    from ringbreaker.simulate import SimConfig, simulate
    from ringbreaker.workspace import open_workspace

    world, ws, cases = out / "world", out / "ringbreaker.duckdb", out / "cases"
    yield Simulated(simulate(SimConfig(out=world, seed=seed, scale=scale)), world)

    inventory = load_inventory(owner_inventory(world, out / "openai-keys.txt"))
    scanned = scan(
        [world / "public-code"],
        ScanConfig(),
        load_secret_rules(),
        mode="history",
        inventory=inventory,
        workspace=ws,
    )
    yield Scanned(scanned, frozenset(f.fingerprint for f in scanned.findings))

    con = open_workspace(ws)
    try:
        yield Ingested(ingest(con, [world], IngestConfig()))
        yield Classified(score_workspace(con, default_model()))
        yield Detected(detect(con, load_detection_rules()))
        attribution = attribute(con, AttributeConfig(code=(world / "public-code",)))
        crews = [c for c in attribution.crews if c.members]
        roles = Counter(m.role for c in crews for m in c.members)
        roles[Role.USER] += sum(c.user_count for c in crews)
        yield Attributed(attribution, crews, roles)
        written = write_cases(con, cases, workspace=str(ws))
        yield Cased(written, cases, con.execute(_STOLEN_KEYS).fetchall())
    finally:
        con.close()

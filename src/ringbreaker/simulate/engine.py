"""Runs a simulation: world, leaks, ring plan, then hour-by-hour streaming of every log, then truth.

Why hour by hour: every output layout closes within an hour, so writing each hour as it is drawn
keeps memory bounded by one hour of events whatever the scale, and the output is deterministic
because one seeded generator is consumed in a fixed order.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ringbreaker.errors import UsageError
from ringbreaker.simulate import azure_activity, leaks, legit, openai_audit
from ringbreaker.simulate.prompts import Corpus, builtin
from ringbreaker.simulate.ring import Ring
from ringbreaker.simulate.sink import Sink
from ringbreaker.simulate.timefmt import iso, parse
from ringbreaker.simulate.world import ADMIN_UA, Key, Org, build_world, legit_entities, org_summary

DEFAULT_START = "2025-03-03T00:00:00Z"


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; the same config and seed always give the same bytes."""

    out: Path
    seed: int = 1
    scale: float = 1.0
    start: str = DEFAULT_START
    days: int = 7
    corpus: Corpus = field(default_factory=builtin)


@dataclass
class Summary:
    """What was written, for the CLI's stderr summary and for callers."""

    counts: dict[str, int]
    keys: int
    leaks: int
    compromised: int
    crews: int
    files: int
    seconds: float

    @property
    def events(self) -> int:
        return sum(self.counts.values())


def _leak_time(rng: random.Random, org: Org, start: int, span: int) -> int:
    """A weekday working-hours moment in the first half of the window (a developer pushing code)."""
    for _ in range(100):
        t = start + int(span * rng.uniform(0.1, 0.5))
        t -= t % 60
        if legit.activity(org, t) == 1.0:
            return t
    return t


def _plan_leaks(orgs: list[Org], rng: random.Random, start: int, span: int) -> list[tuple[Key, Org, bool]]:
    """Choose leaked keys: (key, org, compromised). Keys of every kind; some leak and go unused."""
    chosen: list[tuple[Key, Org, bool]] = []
    for kind in ("aws", "azure", "openai"):
        group = [o for o in orgs if o.kind == kind]
        for i, o in enumerate(group):
            if kind == "aws":
                chosen.append((o.keys[0], o, True))
            elif kind == "azure":
                chosen.append((o.keys[0], o, i < 2))
            else:
                chosen.append((o.keys[2], o, True))  # admin key, abused
                chosen.append((o.keys[1], o, False))  # notebook key: leaked, removed, never used
    for key, org, _ in chosen:
        key.leaked = True
        key.leak_time = _leak_time(rng, org, start, span)
    return chosen


def simulate(cfg: SimConfig, progress: Callable[[int, int], None] | None = None) -> Summary:
    """Write the whole world under ``cfg.out``; ``progress(done_hours, hours)`` is called each hour."""
    began = time.perf_counter()
    out = cfg.out
    if cfg.scale <= 0 or cfg.days < 1:
        raise UsageError("--scale must be > 0 and --days >= 1")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    start = parse(cfg.start)
    start -= start % 3600
    span = cfg.days * 86_400
    end = start + span
    rng = random.Random(f"ringbreaker-simulate:{cfg.seed}")
    nrng = np.random.Generator(np.random.PCG64(cfg.seed))
    orgs, pool = build_world(rng, cfg.scale, start)
    sink = Sink(out, cfg.seed)
    ring = Ring(orgs, pool, rng, cfg.scale, start, end)

    # Leaks and decoys in public code.
    code = out / "public-code"
    code.mkdir()
    decoys: list[leaks.Decoy] = []
    chosen = _plan_leaks(orgs, rng, start, span)
    for i, (key, org, abused) in enumerate(chosen):
        assert key.leak_time is not None
        name = f"{org.name.lower()}-{key.provider}-{['demo', 'bot', 'poc', 'tools'][i % 4]}-{i}"
        remove = key.leak_time + 3 * 3600 if key.provider == "openai" and not abused else None
        decoys += leaks.leak_repo(code, name, key, org, key.leak_time, remove_after=remove)
        key.leak_repo = f"public-code/{name}"
        if key.provider == "azure" and not abused:  # the owner noticed and rotated the key
            ring.at(key.leak_time + 86_400, partial(_rotate, sink, rng, org, key))
    for crew in ring.crews:
        leaks.tooling_repo(
            code,
            crew.tool,
            crew.creators[0],
            crew.providers[0],
            crew.tool_ua,
            crew.proxy_ua,
            crew.hosts[0],
            start - 20 * 86_400,
        )

    # Who abuses what, and when the first checker call lands.
    victims = sorted((k for k, _, c in chosen if c), key=lambda k: (k.leak_time or 0, k.fingerprint))
    stolen = [o.keys[0] for o in orgs if o.kind == "litellm"][:2]
    for i, key in enumerate(victims):
        delay = int(min(45, max(9, rng.lognormvariate(2.7, 0.35))) * 60) + rng.randrange(60)
        ring.compromise(key, ring.crews[i % len(ring.crews)], (key.leak_time or start) + delay, sink)
    for i, key in enumerate(stolen):
        t = start + int(span * rng.uniform(0.15, 0.45))
        ring.compromise(key, ring.crews[(i + 1) % len(ring.crews)], t, sink)

    _openai_setup(orgs, rng, sink, start, ring)
    hours = span // 3600
    for h in range(hours):
        t0 = start + h * 3600
        legit.emit_hour(orgs, t0, cfg.scale, rng, nrng, sink, cfg.corpus)
        ring.emit_hour(t0, nrng, sink, cfg.corpus)
        sink.flush()
        if progress:
            progress(h + 1, hours)
    sink.close()

    keys = [k for o in orgs for k in o.keys]
    truth: dict[str, Any] = {
        "seed": cfg.seed,
        "scale": cfg.scale,
        "start": iso(start),
        "end": iso(end),
        "keys": [_key_truth(k) for k in keys],
        "orgs": [org_summary(o) for o in orgs],
        "crews": [
            {
                "id": c.id,
                "members": c.members(),
                "keys": [k.fingerprint for k in c.keys],
                "ips": [{"ip": i.ip, "asn": i.asn, "as_org": i.as_org} for i in c.ips],
            }
            for c in ring.crews
        ],
        "legit": legit_entities(orgs),
        "decoys": [{"repo": f"public-code/{d.repo}", "path": d.path, "kind": d.kind} for d in decoys],
        "counts": dict(sorted(sink.counts.items())),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    return Summary(
        counts=dict(sorted(sink.counts.items())),
        keys=len(keys),
        leaks=sum(k.leaked for k in keys),
        compromised=sum(k.compromised for k in keys),
        crews=len(ring.crews),
        files=sink.files,
        seconds=time.perf_counter() - began,
    )


def _key_truth(k: Key) -> dict[str, Any]:
    return {
        "fingerprint": k.fingerprint,
        "provider": k.provider,
        "key_id": k.key_id,
        "owner": k.owner,
        "label": k.label,
        "leaked": k.leaked,
        "leak_time": iso(k.leak_time) if k.leak_time is not None else None,
        "leak_repo": k.leak_repo,
        "compromised": k.compromised,
        "first_abuse_time": iso(k.first_abuse_time) if k.first_abuse_time is not None else None,
        "crew": k.crew,
    }


def _rotate(sink: Sink, rng: random.Random, org: Org, key: Key, t: int) -> None:
    key.revoked_time = t
    azure_activity.emit(
        sink,
        rng,
        t,
        org,
        "regeneratekey",
        org.admins[0],
        org.net[0].ip,
        azure_activity.PORTAL_APPID,
        body={"keyName": "Key1"},
    )


def _openai_setup(orgs: list[Org], rng: random.Random, sink: Sink, start: int, ring: Ring) -> None:
    """The OpenAI organisation's own history: a project and its keys, created by its admins."""
    for o in orgs:
        if o.kind != "openai":
            continue
        actor = openai_audit.session_actor(o.users[0], o.net[0].ip, ADMIN_UA)
        t = start + 9 * 3600
        proj = ("proj_" + f"{rng.getrandbits(96):024x}", "production")
        ring.at(t, partial(_audit, sink, rng, "login.succeeded", actor, {}, None))
        ring.at(
            t + 60,
            partial(
                _audit,
                sink,
                rng,
                "project.created",
                actor,
                {"id": proj[0], "data": {"name": proj[1], "title": proj[1]}},
                None,
            ),
        )
        for i, k in enumerate(o.keys):
            scopes = ["api.management.read", "api.management.write"] if "admin" in k.label else ["/v1/*"]
            ring.at(
                t + 120 + 30 * i,
                partial(
                    _audit,
                    sink,
                    rng,
                    "api_key.created",
                    actor,
                    {"id": k.key_id, "data": {"scopes": scopes}},
                    proj,
                ),
            )


def _audit(
    sink: Sink,
    rng: random.Random,
    kind: str,
    actor: dict[str, Any],
    payload: dict[str, Any],
    proj: tuple[str, str] | None,
    t: int,
) -> None:
    openai_audit.emit(sink, rng, t, kind, actor, payload, project=proj)

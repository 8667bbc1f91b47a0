"""Runs a simulation: world, leaks, ring plan, then hour-by-hour streaming of every log, then truth.

Why hour by hour: every output layout closes within an hour, so writing each hour (each
organisation's hour, in fact) as it is drawn keeps memory bounded by one hour of events whatever
the scale. Why it is deterministic: the world and the ring's plan come from one seeded generator
consumed in a fixed order, and everything drawn while the hours run comes from streams seeded
per organisation (and per abused key), consumed in time order by whichever process owns that
organisation. So the same seed gives the same bytes, with one worker process or several: big
runs spread the organisations over the machine's cores (``SimConfig.workers``), each process
writing its own files, and only the counts are merged.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import pickle
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

from ringbreaker.errors import ResourceError, RingbreakerError, UsageError
from ringbreaker.simulate import azure_activity, leaks, legit, openai_audit
from ringbreaker.simulate.legit import Streams
from ringbreaker.simulate.prompts import Corpus, builtin
from ringbreaker.simulate.ring import Ring
from ringbreaker.simulate.sink import Sink
from ringbreaker.simulate.template import Clock, Rand
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
    workers: int | None = None  # processes; None: one per core for big runs (output is the same)


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
    """Write the whole world under ``cfg.out``; ``progress(done_hours, hours)`` is called each hour.

    A file that cannot be written (a full disk, no permission) is a ResourceError naming it, raised
    from the worker that hit it as well as from this process.
    """
    try:
        return _simulate(cfg, progress)
    except OSError as e:
        where = e.filename if e.filename is not None else cfg.out
        raise ResourceError(f"cannot write the world: {e.strerror or e}", source=str(where)) from e


def _simulate(cfg: SimConfig, progress: Callable[[int, int], None] | None) -> Summary:
    began = time.perf_counter()
    out = cfg.out
    if cfg.scale <= 0 or cfg.days < 1:
        raise UsageError("--scale must be > 0 and --days >= 1")
    if cfg.workers is not None and cfg.workers < 1:
        raise UsageError("workers must be >= 1")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    start = parse(cfg.start)
    start -= start % 3600
    span = cfg.days * 86_400
    end = start + span
    rng = random.Random(f"ringbreaker-simulate:{cfg.seed}")
    orgs, pool = build_world(rng, cfg.scale, start)
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
            t = key.leak_time + 86_400
            if t < end:
                key.revoked_time = t
            ring.at(t, org.id, partial(_rotate, org))
    for crew in ring.crews:
        leaks.tooling_repo(
            code,
            crew.tool,
            crew.creators,
            list(zip(crew.providers, crew.hosts, strict=True)),
            crew.tool_ua,
            crew.proxy_ua,
            start - 20 * 86_400,
        )

    # Who abuses what, and when the first checker call lands.
    victims = sorted((k for k, _, c in chosen if c), key=lambda k: (k.leak_time or 0, k.fingerprint))
    stolen = [o.keys[0] for o in orgs if o.kind == "litellm"][:2]
    for i, key in enumerate(victims):
        delay = int(min(45, max(9, rng.lognormvariate(2.7, 0.35))) * 60) + rng.randrange(60)
        ring.compromise(key, ring.crews[i % len(ring.crews)], (key.leak_time or start) + delay)
    for i, key in enumerate(stolen):
        t = start + int(span * rng.uniform(0.15, 0.45))
        ring.compromise(key, ring.crews[(i + 1) % len(ring.crews)], t)
    _openai_setup(orgs, rng, start, ring)

    plan = _Plan(cfg, orgs, ring, start, span // 3600)
    groups = _assign(orgs, ring, _workers(cfg, len(orgs)))
    counts, files = _run(plan, groups, progress)

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
        "counts": dict(sorted(counts.items())),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    return Summary(
        counts=dict(sorted(counts.items())),
        keys=len(keys),
        leaks=sum(k.leaked for k in keys),
        compromised=sum(k.compromised for k in keys),
        crews=len(ring.crews),
        files=files,
        seconds=time.perf_counter() - began,
    )


# -- running the hours, in one or several processes -------------------------------------------


@dataclass
class _Plan:
    """Everything the hours need, fixed before any process starts."""

    cfg: SimConfig
    orgs: list[Org]
    ring: Ring
    start: int
    hours: int

    def streams(self) -> tuple[Streams, dict[str, Rand]]:
        """Per-organisation (actions, traffic) generators and per-abused-key traffic generators.

        Keyed by the organisation's place in the world and the key's fingerprint, never by the
        process that uses them: the same seed gives the same bytes with any number of workers.
        """
        seed = self.cfg.seed % 2**64
        streams: Streams = {
            o.id: (
                random.Random(f"ringbreaker-simulate:{self.cfg.seed}:{o.id}"),
                Rand(np.random.Generator(np.random.PCG64([seed, 1, i]))),
            )
            for i, o in enumerate(self.orgs)
        }
        keys = {
            k.fingerprint: Rand(np.random.Generator(np.random.PCG64([seed, 2, int(k.fingerprint[:15], 16)])))
            for c in self.ring.crews
            for k in c.keys
        }
        return streams, keys


def _work(plan: _Plan, owners: list[str], report: Callable[[int], None]) -> tuple[Counter[str], int]:
    """Write every hour of the organisations in ``owners``; returns (counts by format, files).

    Hour by hour, organisation by organisation: its one-off actions, its background, the ring's
    traffic on its keys, then its files for the hour are complete and written.
    """
    cfg = plan.cfg
    sink = Sink(cfg.out, cfg.seed)
    tabs = legit.Tables(cfg.corpus)
    streams, key_streams = plan.streams()
    own = set(owners)
    mine = [o for o in plan.orgs if o.id in own]
    for h in range(plan.hours):
        t0 = plan.start + h * 3600
        t1 = t0 + 3600
        clock = Clock(t0)
        due = plan.ring.due(t1, own)
        for org in mine:
            rng = streams[org.id][0]
            for t, fn in due.get(org.id, ()):
                fn(sink, rng, t)
            legit.emit_hour([org], t0, cfg.scale, streams, sink, tabs, clock)
            plan.ring.emit_hour(t0, h, sink, key_streams, tabs, clock, (org.id,))
            sink.flush(t1, touched=True)
        sink.flush(t1)
        _trim()
        report(h + 1)
    sink.close()
    return sink.counts, sink.files


def _trim() -> None:
    """Hand the hour's freed buffers back to the OS (glibc keeps them otherwise): peak RSS stays
    one hour's working set instead of creeping up with fragmentation."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def _workers(cfg: SimConfig, norgs: int) -> int:
    """How many processes: as asked, else one per available core (at most 4) for big runs."""
    if "fork" not in mp.get_all_start_methods():  # the plan is handed over by fork (not Windows)
        return 1
    if cfg.workers is not None:
        return min(cfg.workers, norgs)
    if cfg.scale < 2:  # a few seconds of work: a fork would not pay
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, norgs))


def _assign(orgs: list[Org], ring: Ring, n: int) -> list[list[str]]:
    """Spread organisations over ``n`` processes by expected cost, largest first.

    The LiteLLM gateway log is one file for all teams, so its organisations stay together. The
    choice only balances load: each organisation's output is the same wherever it runs.
    """
    cost: dict[str, float] = {}
    for o in orgs:
        per_call = {"aws": 1.3 * (2.0 if o.logging else 1.0), "azure": 1.0, "litellm": 1.0}.get(o.kind, 0.0)
        cost[o.id] = per_call * sum(a.rate for a in o.apps) + 0.1
    for crew in ring.crews:
        for k in crew.keys:
            cost[k.owner] += 1.3 * crew.rate / len(crew.keys)
    units: list[list[str]] = [[o.id for o in orgs if o.kind == "litellm"]]
    units += [[o.id] for o in orgs if o.kind != "litellm"]
    units = [u for u in units if u]
    units.sort(key=lambda u: -sum(cost[x] for x in u))
    groups: list[list[str]] = [[] for _ in range(n)]
    load = [0.0] * n
    for u in units:
        w = load.index(min(load))
        groups[w] += u
        load[w] += sum(cost[x] for x in u)
    return [g for g in groups if g]


def _run(
    plan: _Plan, groups: list[list[str]], progress: Callable[[int, int], None] | None
) -> tuple[Counter[str], int]:
    """Run ``_work`` for each group: the first in this process, each other in a forked child.

    Children write disjoint files (the groups share no output file), so nothing is merged but
    the counts. fork hands them the plan (world, ring heap) without pickling it; this process
    works too rather than wait, which saves a core's worth of idle interpreter memory.
    """
    hours = plan.hours
    ctx = mp.get_context("fork")
    procs: list[tuple[BaseProcess, Connection]] = []
    done = [0] * len(groups)
    counts: Counter[str] = Counter()
    files = 0
    live: set[int] = set()

    def drain(block: bool) -> None:
        nonlocal files
        if block:
            wait([procs[i - 1][1] for i in live] + [procs[i - 1][0].sentinel for i in live])
        for i in sorted(live):
            proc, conn = procs[i - 1]
            while i in live and conn.poll():
                try:
                    kind, value = conn.recv()
                except EOFError:
                    break
                if kind == "hour":
                    done[i] = value
                elif kind == "done":
                    counts.update(value[0])
                    files += value[1]
                    done[i] = hours
                    live.discard(i)
                else:
                    raise value
            if i in live and not proc.is_alive() and not conn.poll():
                raise ResourceError(f"simulate worker {i} died (exit code {proc.exitcode}); out of memory?")
        if progress:
            progress(min(done), hours)

    def mine(h: int) -> None:
        done[0] = h
        drain(block=False)

    try:
        for i, group in enumerate(groups[1:], 1):
            recv, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_child, args=(plan, group, send), daemon=True)
            child.start()
            send.close()
            procs.append((child, recv))
            live.add(i)
        c, f = _work(plan, groups[0], mine)
        counts.update(c)
        files += f
        while live:
            drain(block=True)
    finally:
        for proc, conn in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
            conn.close()
    return counts, files


def _child(plan: _Plan, group: list[str], conn: Connection) -> None:
    """A worker process: run its organisations, report each hour, then the result or the error.

    It leaves with ``os._exit``: nothing inherited from the parent (a progress bar's thread and
    its locks, atexit handlers, buffered stdout) runs or flushes twice.
    """
    code = 0
    try:
        result = _work(plan, group, lambda h: conn.send(("hour", h)))
        conn.send(("done", result))
    except BaseException as e:  # reported to the parent, which raises it
        code = 1
        try:
            conn.send(("error", e))
        except (pickle.PicklingError, TypeError, AttributeError):  # an exception that does not pickle
            conn.send(("error", RingbreakerError(f"simulate worker failed: {type(e).__name__}: {e}")))
    finally:
        conn.close()
        os._exit(code)


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


def _rotate(org: Org, sink: Sink, rng: random.Random, t: int) -> None:
    """The owner regenerates the leaked key from the portal."""
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


def _openai_setup(orgs: list[Org], rng: random.Random, start: int, ring: Ring) -> None:
    """The OpenAI organisation's own history: a project and its keys, created by its admins."""
    for o in orgs:
        if o.kind != "openai":
            continue
        actor = openai_audit.session_actor(o.users[0], o.net[0].ip, ADMIN_UA)
        t = start + 9 * 3600
        proj = ("proj_" + f"{rng.getrandbits(96):024x}", "production")
        ring.at(t, o.id, partial(_audit, "login.succeeded", actor, {}, None))
        ring.at(
            t + 60,
            o.id,
            partial(
                _audit,
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
                o.id,
                partial(_audit, "api_key.created", actor, {"id": k.key_id, "data": {"scopes": scopes}}, proj),
            )


def _audit(
    kind: str,
    actor: dict[str, Any],
    payload: dict[str, Any],
    proj: tuple[str, str] | None,
    sink: Sink,
    rng: random.Random,
    t: int,
) -> None:
    openai_audit.emit(sink, rng, t, kind, actor, payload, project=proj)

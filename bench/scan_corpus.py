"""The scan bench's corpus: real code (the stdlib, pinned PyPI and npm sources) and its planted twin.

Why apart from bench/scan.py: building the trees (downloads, caps for --quick, planting generated
fake keys at known lines) is independent of how the scanners are run and scored; the trees are
built once under ``.cache/bench/`` and reused by every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sysconfig
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import CACHE, MB, VENV_BIN, log

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
        return f"{self.name.replace('/', '+')}-{self.version}"  # scoped npm names: @scope+name


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
# The noise corpus (bench/scan_noise.py) adds these to SOURCES: the AI SDKs whose code names the
# providers next to long identifiers (what a context-gated rule must not take for a key), and large
# C/C++-heavy sdists (grpcio; numpy, scipy, pandas and opencv-python are left out: `pip download`
# builds their extensions to read the metadata of an sdist). Not part of `bench/scan.py`'s corpus,
# which the slow tools scan too.
NOISE_SOURCES: tuple[Source, ...] = (
    Source("mistralai", "pypi", "1.2.3"),
    Source("anthropic", "pypi", "0.40.0"),
    Source("google-genai", "pypi", "0.3.0"),
    Source("langchain-core", "pypi", "0.3.21"),
    Source("langchain", "pypi", "0.3.9"),
    Source("langchain-openai", "pypi", "0.2.10"),
    Source("langchain-mistralai", "pypi", "0.2.2"),
    Source("llama-index-core", "pypi", "0.12.2"),
    Source("semantic-kernel", "pypi", "1.16.0"),
    Source("azure-ai-inference", "pypi", "1.0.0b6"),
    Source("transformers", "pypi", "4.46.3"),
    Source("grpcio", "pypi", "1.68.0"),
    Source("@anthropic-ai/sdk", "npm", "0.32.1"),
    Source("@mistralai/mistralai", "npm", "1.3.4"),
    Source("cohere-ai", "npm", "7.14.0"),
    Source("@google/generative-ai", "npm", "0.21.0"),
    Source("@azure/openai", "npm", "2.0.0"),
    Source("langchain", "npm", "0.3.6"),
    Source("@langchain/community", "npm", "0.3.16"),
    Source("llamaindex", "npm", "0.8.26"),
)
# Parts of the stdlib directory that are not the standard library's source: other installed
# packages, compiled extension modules and the static libpython used to build extensions.
STDLIB_SKIP_DIRS = {"__pycache__", "site-packages", "lib-dynload"}
STDLIB_SKIP_PREFIXES = ("config-",)


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

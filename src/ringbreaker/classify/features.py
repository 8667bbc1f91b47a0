"""Hashed character and word n-gram features, computed for a whole batch at once in numpy.

Why hashing: no vocabulary to ship or look up, and every string maps to a feature, including
misspellings and obfuscations that a vocabulary would drop. Why numpy over the batch: the texts are
joined into one array of code points and every n-gram hash is a handful of vectorised operations,
so the per-prompt cost is a few microseconds instead of a Python loop over n-grams.

Features of one text (lower-cased, normalised, padded with a space on each side):
- character 3-, 4- and 5-grams (spaces included, so word starts and ends are marked);
- word unigrams and bigrams (a word: a run of letters, digits or non-ASCII characters).
Each feature hashes into one of 2**BITS buckets; every occurrence counts 1/sqrt(n), n being the
number of features of the text, so the vector has unit L2 norm before collisions and repeats. The
same function builds the training matrix and scores at run time: they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BITS = 20
CHAR_NS = (3, 4, 5)
SEP = "\x01"
_MASK = np.uint32((1 << BITS) - 1)
_FNV = np.uint32(0x01000193)
_GOLD = np.uint32(0x9E3779B1)
_MIX2 = np.uint32(0x85EBCA6B)
_SALT_WORD = np.uint32(0x1B873593)
_SALT_BIGRAM = np.uint32(0xCC9E2D51)
_POW = np.array([pow(31, k, 1 << 32) for k in range(64)], dtype=np.uint32)

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Hashed:
    """Sparse features of a batch: bucket `index` with `value` belongs to row `row`."""

    index: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]
    value: npt.NDArray[np.float32]
    n_rows: int


def _bucket(h: U32) -> I64:
    """Bucket of each hash as int64: a murmur3-style finaliser (so nearby hashes spread over the
    buckets), masked to BITS, computed in place in `h` (a fresh array the caller gives up)."""
    for shift, mul in ((16, _MIX2), (13, _GOLD)):
        np.bitwise_xor(h, h >> np.uint32(shift), out=h)
        np.multiply(h, mul, out=h)
    np.bitwise_xor(h, h >> np.uint32(16), out=h)
    np.bitwise_and(h, _MASK, out=h)
    return h.astype(np.int64)


def _codepoints(texts: list[str]) -> tuple[U32, I64]:
    """One array of code points for the batch (texts padded with spaces, joined by SEP) and the
    start offset of each text in it."""
    padded = [" " + t.replace(SEP, " ") + " " for t in texts]
    joined = SEP.join(padded)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(p) + 1 for p in padded), dtype=np.int64, count=len(padded))
    starts = np.zeros(len(padded), dtype=np.int64)
    if len(padded) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return cps, starts


def hash_batch(texts: list[str]) -> Hashed:
    """Features of every text in the batch (see the module docstring)."""
    n_rows = len(texts)
    if n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Hashed(empty, empty, np.zeros(0, dtype=np.float32), 0)
    cps, starts = _codepoints(texts)
    total = len(cps)
    is_sep = cps == np.uint32(1)
    # Row of every position (separators belong to the text before them; never used as features).
    row_of = np.zeros(total, dtype=np.int64)
    row_of[starts[1:]] = 1
    row_of = np.cumsum(row_of)

    indices: list[npt.NDArray[np.int64]] = []
    rows: list[npt.NDArray[np.int64]] = []
    sep_cum = np.concatenate(([0], np.cumsum(is_sep, dtype=np.int64)))
    for n in CHAR_NS:
        if total < n:
            continue
        m = total - n + 1
        h = np.full(m, np.uint32(0x811C9DC5) ^ np.uint32(n), dtype=np.uint32)
        for k in range(n):  # in place: no temporaries of the batch's length per step
            np.bitwise_xor(h, cps[k : k + m], out=h)
            np.multiply(h, _FNV, out=h)
        ok = (sep_cum[n : n + m] - sep_cum[:m]) == 0  # the n-gram lies inside one text
        idx = np.nonzero(ok)[0]
        indices.append(_bucket(h[idx]))
        rows.append(row_of[idx])

    # Words: runs of [a-z0-9] or any code point above 127.
    c = cps
    is_word = ((c >= 97) & (c <= 122)) | ((c >= 48) & (c <= 57)) | (c > 127)
    if is_word.any():
        w = is_word.astype(np.int8)
        edges = np.diff(np.concatenate(([0], w, [0])))
        wstart = np.nonzero(edges == 1)[0]
        wend = np.nonzero(edges == -1)[0]
        lens = wend - wstart
        # Position of each word character inside its word, for a polynomial hash summed per word.
        word_chars = np.nonzero(is_word)[0]
        pos = word_chars - np.repeat(wstart, lens)
        contrib = cps[word_chars] * _POW[np.minimum(pos, 63)]
        offsets = np.concatenate(([0], np.cumsum(lens)[:-1]))
        wh = np.add.reduceat(contrib, offsets, dtype=np.uint32)
        wrow = row_of[wstart]
        indices.append(_bucket(wh ^ _SALT_WORD))
        rows.append(wrow)
        if len(wh) > 1:
            same = wrow[1:] == wrow[:-1]
            bi = wh[:-1] * _FNV ^ wh[1:]
            indices.append(_bucket(bi[same] ^ _SALT_BIGRAM))
            rows.append(wrow[1:][same])

    index = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    counts = np.bincount(row, minlength=n_rows)
    scale = (1.0 / np.sqrt(np.maximum(counts, 1))).astype(np.float32)
    return Hashed(index, row, scale[row], n_rows)


def score_linear(
    h: Hashed, weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Raw linear scores (logits), shape (rows, heads): sum of weight rows times feature values.
    `weights` is (buckets, heads), or (heads, buckets) C-contiguous (``Model.columns``): gathering
    from one contiguous column at a time is several times faster than gathering whole rows of a
    (2**BITS, 3) table and then copying each strided column out for its sum."""
    n_heads = len(bias)
    out = np.zeros((h.n_rows, n_heads), dtype=np.float32)
    if len(h.index):
        cols = weights if weights.shape[0] == n_heads and weights.flags.c_contiguous else weights.T
        for j in range(n_heads):
            contrib = cols[j][h.index] * h.value
            # values added in input order in float64 per row; the float32 products are those of
            # the (rows, heads) gather, so the scores are bit-identical to it
            out[:, j] += np.bincount(h.row, weights=contrib, minlength=h.n_rows).astype(np.float32)
    return out + bias

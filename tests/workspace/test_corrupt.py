"""A damaged workspace gives every verb a clear error naming the file, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringbreaker.workspace import open_workspace
from tests.conftest import rb


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated workspace with 300k events, then 8 KiB of every 128 KiB of its middle overwritten
    (the file still opens: the damage shows when a query reads those blocks)."""
    path = tmp_path_factory.mktemp("corrupt") / "ws.duckdb"
    con = open_workspace(path)
    con.execute(
        """INSERT INTO events (id, time, provider, operation, status, source_format, source_file, prompt,
                               src_ip, key_fingerprint)
           SELECT 'e' || i, TIMESTAMPTZ '2025-03-03 00:00:00+00' + INTERVAL (i) SECOND, 'aws', 'InvokeModel',
                  'success', 'cloudtrail', 'f.json', 'prompt ' || i,
                  '10.0.' || (i % 250) || '.1', md5(i::VARCHAR)
           FROM range(300000) t(i)"""
    )
    con.execute("CHECKPOINT")
    con.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        for offset in range(size // 8, size * 3 // 4, 131072):
            f.seek(offset)
            f.write(b"\xa5" * 8192)
    return path


@pytest.mark.parametrize(
    ("args", "reads_events"),
    [(["detect"], True), (["classify"], True), (["attribute"], False), (["case", "--out", "{tmp}/c"], False)],
    ids=["detect", "classify", "attribute", "case"],
)
def test_verbs_report_a_corrupt_workspace(
    corrupt: Path, tmp_path: Path, args: list[str], reads_events: bool
) -> None:
    """detect and classify read the damaged events; attribute and case find no alerts or crews to
    read and may finish cleanly, but whatever fails says so without a traceback."""
    cmd = [a.replace("{tmp}", str(tmp_path)) for a in args]
    p = rb(*cmd, "--workspace", str(corrupt))
    assert "Traceback" not in p.stderr, p.stderr
    if not reads_events and p.returncode == 0:
        return
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "rules/builtin" not in p.stderr, "a damaged workspace is not a rule's fault"
    assert str(corrupt) in p.stderr or corrupt.name in p.stderr, p.stderr
    assert "workspace" in p.stderr.lower(), p.stderr


def test_truncated_workspace(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    open_workspace(path).close()
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 3)
    p = rb("detect", "--workspace", str(path))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "ws.duckdb" in p.stderr

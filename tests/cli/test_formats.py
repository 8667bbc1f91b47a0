"""`--format` names are the same across verbs; ingest's old `text` still works and means `table`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import rb

DATA = Path(__file__).resolve().parents[1] / "ingest" / "data" / "cloudtrail.ndjson"
VERBS = ("scan", "ingest", "classify", "detect", "attribute", "case")


@pytest.mark.parametrize("fmt", ["table", "text"])
def test_ingest_table_and_its_old_name_text_print_the_same(tmp_path: Path, fmt: str) -> None:
    proc = rb("ingest", str(DATA), "--workspace", str(tmp_path / "w.duckdb"), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the per-file lines and the summary go to stderr
    assert re.search(r"ingest: 1 file\(s\), [\d,]+ read, [\d,]+ stored", proc.stderr)


def test_ingest_json_is_still_a_document(tmp_path: Path) -> None:
    proc = rb("ingest", str(DATA), "--workspace", str(tmp_path / "w.duckdb"), "--format", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["stored"] > 0


def test_every_verb_offers_table_and_json_and_only_documented_names() -> None:
    for verb in VERBS:
        help_text = " ".join(rb(verb, "--help", check=True).stdout.split())
        m = re.search(r"--format \[([a-z|]+)\]", help_text)
        assert m, verb
        names = m.group(1).split("|")
        assert names[:2] == ["table", "json"], (verb, names)
        assert "text" not in names, verb

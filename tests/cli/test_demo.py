"""`ringbreaker demo` runs the whole chain and ends with a case file that shows the planted ring."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tests.conftest import rb


def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = rb("demo", "--out", str(out), "--seed", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in ("simulate", "scan", "ingest", "classify", "detect", "attribute", "case"):
        assert step in proc.stdout
    truth = json.loads((out / "world" / "truth.json").read_text())
    con = duckdb.connect(str(out / "ringbreaker.duckdb"), read_only=True)
    try:
        crews = [c for (c,) in con.execute("SELECT id FROM crews WHERE id <> 'unattributed'").fetchall()]
        stolen = {k for (k,) in con.execute("SELECT key_fingerprint FROM crew_keys").fetchall()}
        leaked = {f for (f,) in con.execute("SELECT fingerprint FROM findings").fetchall()}
        admin_alerts = (
            "SELECT key_fingerprints FROM alerts WHERE rule = 'det.openai.admin-key-creates-credentials'"
        )
        named = {f for (fps,) in con.execute(admin_alerts).fetchall() for f in fps}
    finally:
        con.close()
    assert len(crews) == len(truth["crews"])
    abused = {k["fingerprint"] for k in truth["keys"] if k["compromised"]}
    assert stolen <= abused, "no key outside the planted ring is called stolen"
    # The OpenAI audit log names the stolen admin key only by its id: the demo's owner inventory
    # (out/openai-keys.txt) joins it to its leak's fingerprint, and the admin-key alert names it.
    admin = {k["fingerprint"] for k in truth["keys"] if k["provider"] == "openai" and k["compromised"]}
    assert admin, "the world plants a stolen OpenAI admin key"
    assert admin <= named & leaked
    html = (out / "cases" / crews[0] / "case.html").read_text()
    assert "<script src=" not in html  # self-contained
    assert "Case file:" in proc.stdout
    assert "Summary" in proc.stdout

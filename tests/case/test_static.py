"""The page's CSS and JS come from the package's static files, inlined, and the CSP allows exactly them."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from pathlib import Path

from ringbreaker.case import write_cases
from ringbreaker.workspace import open_workspace
from tests.case.hostile import nearly_empty_workspace


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_static_files_are_inlined_and_allowed_by_their_hash(tmp_path: Path) -> None:
    con = open_workspace(nearly_empty_workspace(tmp_path), read_only=True)
    try:
        [written] = write_cases(con, tmp_path / "out")
    finally:
        con.close()
    page = (written.dir / "case.html").read_text(encoding="utf-8")
    static = resources.files("ringbreaker.case") / "static"
    css = (static / "case.css").read_text(encoding="utf-8")
    js = (static / "case.js").read_text(encoding="utf-8")
    assert re.findall(r"<style>(.*?)</style>", page, re.S) == [css]
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [js]
    [csp] = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert f"style-src {_sha256(css)};" in csp
    assert f"script-src {_sha256(js)};" in csp
    assert "default-src 'none'" in csp
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)  # nothing loads from anywhere

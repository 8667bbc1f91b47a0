"""simulate's failures are errors of the tree, never tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringbreaker.errors import ResourceError
from ringbreaker.simulate import SimConfig, simulate
from tests.conftest import rb


def test_unwritable_output_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    with pytest.raises(ResourceError, match="a-file"):
        simulate(SimConfig(out=blocker / "world", scale=0.05))
    p = rb("simulate", str(blocker / "world"), "--scale", "0.05", "-q")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "a-file" in p.stderr

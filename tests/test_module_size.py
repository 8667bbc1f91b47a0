"""No module of the package or of the benchmarks grows past a size one can read in a sitting.

Why a test: DESIGN.md's "things to avoid" names modules of thousands of lines; a module that
outgrows the limit is split along its seams (as attribute/ and bench/ were), not waived here.
"""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 600
ROOT = Path(__file__).resolve().parent.parent


def test_no_module_over_the_limit() -> None:
    modules = sorted([*(ROOT / "src" / "ringbreaker").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
    assert len(modules) > 50  # the globs found the code
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in modules}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines (split them): {over}"

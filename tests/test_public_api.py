"""Each package's ``__all__`` is exactly its public names (as httpx tests its own).

A public name is one the package's ``__init__`` (or a core module) binds itself: a def, a class, an
assignment, or a re-export from inside ringbreaker. Names it imports from outside (``os``, ``Path``,
``TYPE_CHECKING``) are not part of its API. The CLI reaches stages only through these names, and a
test in test_layers.py keeps stages to each other's ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import ringbreaker

SRC = Path(ringbreaker.__file__).resolve().parent
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py") if p.parent.name != "cli")
CORE_MODULES = ["model", "errors"]


def _reexports(path: Path, package: str) -> set[str]:
    """Names imported from elsewhere in ringbreaker (a core type a stage hands out, e.g. detect's
    Alert from model): these may be exported, but need not be."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            mod = node.module or ""
            if mod.startswith("ringbreaker") and not mod.startswith(f"{package}."):
                names.update(a.asname or a.name for a in node.names)
    return names


def _public_bindings(path: Path, package: str) -> set[str]:
    """Names a module's top level binds, except private names and imports from outside ``package``
    (what it takes from elsewhere, core types included, it uses; what it takes from its own
    submodules, it re-exports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            targets = [node.name]
        elif isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith(f"{package}.")
        ):
            targets = [a.asname or a.name for a in node.names]
        names.update(t for t in targets if not t.startswith("_"))
    return names


@pytest.mark.parametrize(
    "name", [f"ringbreaker.{p}" for p in PACKAGES] + [f"ringbreaker.{m}" for m in CORE_MODULES]
)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    path = Path(module.__file__ or "")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert sorted(set(exported)) == sorted(exported), f"{name}.__all__ has duplicates"
    own = _public_bindings(path, name)
    assert own <= set(exported), f"{name}.__all__ lacks names it binds: {sorted(own - set(exported))}"
    extra = set(exported) - own - _reexports(path, name)
    assert not extra, f"{name}.__all__ names what it neither binds nor imports: {sorted(extra)}"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which it does not define"


def test_the_check_sees_a_missing_export(tmp_path: Path) -> None:
    """A def that __all__ forgets is a public binding the comparison reports."""
    mod = tmp_path / "m.py"
    mod.write_text(
        "import os\nfrom ringbreaker.errors import InputError\nfrom ringbreaker.scan.report import render\n"
        "__all__ = ['render']\ndef helper(): ...\n"
    )
    assert _public_bindings(mod, "ringbreaker.scan") == {"render", "helper"}

"""The import layers of src/ringbreaker, read from the source with ``ast`` (nothing is imported).

- core (model, documents, errors, rules, workspace, _git, the top-level package) imports no stage, no
  ``pipeline`` and no ``cli``; anyone may import core;
- a stage (scan, ingest, classify, detect, attribute, case, simulate, serve) reaches another stage only
  through its public API: ``from ringbreaker.Y import <a name in Y.__all__>``, never an internal
  module or a private name, and never ``pipeline`` or ``cli``;
- ``pipeline``, ``watch`` and ``cli`` are the composers: they may use every stage, through the same
  public APIs; only ``cli`` (and ``python -m ringbreaker``, the program) imports ``cli``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ringbreaker"
STAGES = frozenset({"scan", "ingest", "classify", "detect", "attribute", "case", "simulate", "serve"})
CORE = frozenset({"model", "documents", "errors", "rules", "workspace", "_git", "__init__"})
COMPOSERS = frozenset(
    {"cli", "pipeline", "watch", "__main__"}
)  # __main__: `python -m ringbreaker`, the program

# Temporary exceptions, each in a file another engineer is changing in the same issue; remove the
# entry when that change lands (an entry that no longer matches fails the test, so none outlives it).
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. ringbreaker.scan.git
    target: str  # the module imported from, e.g. ringbreaker.ingest
    names: tuple[str, ...]  # the names taken (empty for `import x.y`)
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """The first segment under ringbreaker (``__init__`` for the top-level package itself)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(module, a.name, (), node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:  # relative: resolve against the importing package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                names = tuple(a.name for a in node.names)
                if target == "ringbreaker":  # `from ringbreaker import scan` takes a whole package
                    found += [Import(module, f"ringbreaker.{n}", (), node.lineno) for n in names if n != "*"]
                else:
                    found.append(Import(module, target, names, node.lineno))
    return [i for i in found if i.target == "ringbreaker" or i.target.startswith("ringbreaker.")]


def _public(stage: str) -> frozenset[str]:
    """The literal ``__all__`` of a stage package's ``__init__``."""
    tree = ast.parse((SRC / stage / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def _problem(imp: Import, public: dict[str, frozenset[str]]) -> str | None:
    """Why this import breaks a layer rule, or None."""
    src = "__main__" if imp.module == "ringbreaker.__main__" else _layer(imp.module)
    dst = _layer(imp.target)
    if dst == "cli" and src not in ("cli", "__main__"):
        return "imports the CLI"
    if src in CORE and (dst in STAGES or dst in COMPOSERS):
        return f"core module imports {dst}"
    if src in STAGES and dst in ("pipeline", "__main__"):
        return f"stage imports the composer {dst}"
    if dst in STAGES and dst != src:
        if imp.target != f"ringbreaker.{dst}" or not imp.names:
            return f"reaches into {imp.target} (use ringbreaker.{dst}'s public API)"
        hidden = [n for n in imp.names if n not in public[dst]]
        if hidden:
            return f"takes {', '.join(hidden)}, not in ringbreaker.{dst}.__all__"
    return None


def _violations() -> dict[tuple[str, str], str]:
    public = {s: _public(s) for s in STAGES}
    out: dict[tuple[str, str], str] = {}
    for imp in _imports():
        why = _problem(imp, public)
        if why:
            out[(imp.module, imp.target)] = f"{imp.module}:{imp.line}: {why}"
    return out


def test_the_import_rules_hold() -> None:
    bad = {k: v for k, v in _violations().items() if k not in ALLOWED}
    assert not bad, "\n".join(sorted(bad.values()))


def test_every_allowed_exception_is_still_needed() -> None:
    stale = set(ALLOWED) - set(_violations())
    assert not stale, f"remove from ALLOWED, the import is gone: {sorted(stale)}"


def test_every_stage_declares_its_public_api() -> None:
    for stage in sorted(STAGES):
        assert _public(stage), f"ringbreaker.{stage}/__init__.py has no literal __all__"


@pytest.mark.parametrize(
    ("module", "target", "names", "why"),
    [
        ("ringbreaker.rules.check", "ringbreaker.scan.matcher", ("find",), "core module imports scan"),
        ("ringbreaker.rules.check", "ringbreaker.scan", ("find",), "core module imports scan"),
        ("ringbreaker.ingest.runner", "ringbreaker.cli.ingest", ("main",), "imports the CLI"),
        ("ringbreaker.simulate.leaks", "ringbreaker.scan.sample", ("_git",), "reaches into"),
        ("ringbreaker.simulate.leaks", "ringbreaker.scan", ("_git",), "not in ringbreaker.scan.__all__"),
        ("ringbreaker.cli.demo", "ringbreaker.scan.scanner", ("run_units",), "reaches into"),
        ("ringbreaker.detect.testing", "ringbreaker.ingest", (), "reaches into"),
        ("ringbreaker.workspace", "ringbreaker.pipeline", ("demo",), "core module imports pipeline"),
        ("ringbreaker.case.build", "ringbreaker.pipeline", ("demo",), "stage imports the composer"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, target: str, names: tuple[str, ...], why: str) -> None:
    problem = _problem(Import(module, target, names, 1), {s: _public(s) for s in STAGES})
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    ("module", "target", "names"),
    [
        ("ringbreaker.detect.testing", "ringbreaker.ingest", ("IngestConfig", "ingest")),
        ("ringbreaker.cli.scan", "ringbreaker.scan", ("scan", "ScanConfig")),
        ("ringbreaker.pipeline", "ringbreaker.classify", ("score_workspace",)),
        ("ringbreaker.scan.scanner", "ringbreaker.scan.matcher", ("find",)),
        ("ringbreaker.attribute.code", "ringbreaker._git", ("run",)),
        ("ringbreaker.cli.detect", "ringbreaker.rules.detections", ("SEVERITIES",)),
    ],
)
def test_a_right_way_import_passes(module: str, target: str, names: tuple[str, ...]) -> None:
    assert _problem(Import(module, target, names, 1), {s: _public(s) for s in STAGES}) is None

"""The package's layers, as ARCHITECTURE.md states them: a module imports only from its own subpackage, from
lower layers and from the native extension; every import counts (top level, deferred, under TYPE_CHECKING)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import a2a_fast

PACKAGE = Path(a2a_fast.__file__).resolve().parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("redaction",),
    ("errors",),
    ("codecs", "config", "observability"),
    ("protocol",),
    ("transport", "workflows"),
    ("mesh", "stack"),
    ("history",),
    ("agents", "console"),
    ("a2a", "control", "__init__"),
    ("cli",),
)
"""Bottom up. ``__init__`` is the package's root module (its names are imported lazily, on first use)."""

LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def unit_of(path: Path, package: Path = PACKAGE) -> str:
    """The subpackage (or top-level module) a file belongs to."""
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_units(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """``(unit, line)`` of each import of the package in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "a2a_fast":
                modules = [f"a2a_fast.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "a2a_fast":
                yield (parts[1] if len(parts) > 1 else "__init__"), node.lineno


def upward_imports(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        unit = unit_of(path, package)
        for imported, line in imported_units(ast.parse(path.read_text(), str(path))):
            if imported in (unit, "_native"):
                continue
            if imported not in LAYER or unit not in LAYER or LAYER[imported] >= LAYER[unit]:
                found.append(f"{path.relative_to(package)}:{line}: {unit} imports {imported}")
    return found


def test_every_subpackage_has_a_layer() -> None:
    units = {unit_of(path) for path in PACKAGE.rglob("*.py")}
    assert units == set(LAYER), f"without a layer: {sorted(units - set(LAYER))}; gone: {sorted(set(LAYER) - units)}"


def test_no_module_imports_its_own_layer_or_a_higher_one() -> None:
    assert upward_imports() == []


def test_an_upward_import_is_caught_even_when_deferred(tmp_path: Path) -> None:
    (tmp_path / "protocol").mkdir()
    (tmp_path / "protocol" / "kinds.py").write_text("def f():\n    from a2a_fast.agents.base import Agent\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "base.py").write_text("import a2a_fast.protocol.kinds\nfrom a2a_fast import cli\n")
    assert upward_imports(tmp_path) == [
        "agents/base.py:2: agents imports cli",
        "protocol/kinds.py:2: protocol imports agents",
    ]

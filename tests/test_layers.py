"""The package's layers: every import points down the table of docs/architecture.md.

Each module's imports of ``prune4rel`` (lazy ones inside functions included) are read from
its source with :mod:`ast`, mapped to the importing and the imported unit (a subpackage such
as ``selection`` or a top-level module such as ``signals``), and checked against the units
each may use. A second test looks for import cycles between units.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "prune4rel"

_BASE = {"validation", "registry", "devices", "_io", "_lock", "metrics"}
_LOW = _BASE | {"signals", "neighbors", "selection", "data", "models", "learners"}
#: unit -> the other units it may import
ALLOWED: dict[str, set[str]] = {
    "validation": set(),
    "registry": {"validation"},
    "devices": {"validation"},
    "metrics": set(),
    "_io": set(),
    "arrayfiles": set(),
    "_lock": set(),
    "signals": {"validation", "metrics", "_io", "arrayfiles"},
    "neighbors": {"validation", "devices", "metrics"},
    "selection": {"signals", "neighbors", "validation", "registry", "devices", "metrics", "_io", "_lock"},
    "data": {"validation", "registry", "devices", "metrics", "_io"},
    "models": {"validation", "devices"},
    "learners": {"data", "models", "validation", "registry", "devices", "metrics", "_io"},
    "warmup": {"learners", "data", "models", "signals", "validation", "devices", "metrics", "_io"},
    "distributed": _LOW | {"warmup"},
    "config": _LOW,
    "pipeline": _LOW | {"warmup", "distributed", "config"},
    "report": _BASE,
}
#: units at the top, which may import anything below them
TOP = {"__init__", "__main__", "api", "cli", "demo", "inspect"}


def _unit(module: str) -> str:
    """``prune4rel.selection.base`` -> ``selection``; ``prune4rel.signals`` -> ``signals``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1] if len(parts) > 2 else [*parts[:-1], "__init__"]
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("prune4rel")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if module.startswith("prune4rel"):
                found.append(module)
    return found


def _edges() -> list[tuple[str, str, str]]:
    """(importing file, importing unit, imported unit) for every cross-unit import."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        unit = _unit(_module_name(path))
        for target in _imports(path):
            other = _unit(target)
            if other != unit:
                out.append((str(path.relative_to(SRC)), unit, other))
    return out


def test_every_unit_is_placed():
    units = {_unit(_module_name(p)) for p in SRC.rglob("*.py")}
    unplaced = sorted(units - set(ALLOWED) - TOP)
    assert not unplaced, f"add {unplaced} to the layer table (docs/architecture.md and ALLOWED)"


def test_imports_point_down():
    bad = [
        f"{path}: {unit} imports {other}"
        for path, unit, other in _edges()
        if unit not in TOP and other not in ALLOWED.get(unit, set())
    ]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_cycles_between_units():
    graph: dict[str, set[str]] = {}
    for _, unit, other in _edges():
        graph.setdefault(unit, set()).add(other)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_checker_sees_lazy_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from prune4rel.pipeline import run_experiment\n")
    assert _imports(src) == ["prune4rel.pipeline"]

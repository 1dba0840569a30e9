"""The package's shape (DESIGN "Layout"): no import cycles, rich/typer only in the CLI, the library
never reaching into the CLI or the lab, and modules small enough to read.

Imports are read with ast from the source, every import statement wherever it stands (module
level, inside functions, under TYPE_CHECKING): a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "portfleet"
UI_LIBRARIES = ("typer", "rich", "click")
CLI_LIMIT, MODULE_LIMIT = 300, 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ours that `path` imports (a `from pkg import mod` names the submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def all_imports() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(path, name, known) for name, path in mods.items()}


def test_no_import_cycles() -> None:
    graph = all_imports()
    # A package's __init__ re-exporting its submodules is not a cycle of logic: a submodule that
    # imports a sibling through the package (from portfleet.inventory import X) is, so package
    # edges stay in, except a package's edge down to its own submodules.
    edges = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_ui_libraries_only_in_the_cli() -> None:
    offenders = []
    for name, path in modules().items():
        if name.startswith("portfleet.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] in UI_LIBRARIES]
    assert not offenders, "typer/rich/click outside src/portfleet/cli/: " + ", ".join(offenders)


def test_library_never_imports_the_cli() -> None:
    graph = all_imports()
    entry_points = ("portfleet.cli", "portfleet.__main__")  # `python -m portfleet` runs the CLI
    bad = [f"{m} -> {t}" for m, targets in graph.items() if not m.startswith(entry_points)
           for t in targets if t.startswith("portfleet.cli")]
    assert not bad, "the library reaches into the CLI: " + ", ".join(bad)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name: str) -> None:
    path = modules()[name]
    lines = path.read_text(encoding="utf-8").count("\n")
    limit = CLI_LIMIT if name.startswith("portfleet.cli.") else MODULE_LIMIT
    assert lines <= limit, f"{path.relative_to(SRC)} has {lines} lines (DESIGN: at most {limit})"

"""The lab and the tool stay apart, and the lab has no import cycle (DESIGN "Layout", "Dependencies").

- portfleet_lab imports nothing of portfleet: the lab must print what Windows prints, not what the
  tool's parsers expect, and it ships as a simulator anyone can point any client at.
- portfleet imports portfleet_lab only in `portfleet lab ...` (cli/lab.py); the demo starts the lab as a
  subprocess, the way a user would.
- No import cycle among portfleet_lab modules, counting every import: module level, inside functions and
  under TYPE_CHECKING alike (a cycle hidden in a function is still a cycle).

The import graph is read from the source with ast, so nothing here depends on what happens to be imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 600


@dataclass(frozen=True)
class ImportSite:
    module: str  # the importing module, dotted
    target: str  # the imported module (or the module a name is imported from), dotted
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package at `root` (its __init__ named as the package)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_sites(name: str, path: Path, known: set[str]) -> list[ImportSite]:
    """Every import in one module, wherever it sits. `from X import Y` names X.Y when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    sites: list[ImportSite] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            sites.extend(ImportSite(name, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known]
            if len(submodules) < len(node.names):
                sites.append(ImportSite(name, source, node.lineno))  # names defined in `source` itself
            sites.extend(ImportSite(name, sub, node.lineno) for sub in submodules)
    return sites


def all_sites(root: Path) -> list[ImportSite]:
    mods = modules(root)
    return [site for name, path in mods.items() for site in import_sites(name, path, set(mods))]


def top_level(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a] starting at its least name, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                first = loop.index(min(loop))  # the same cycle reads the same wherever the search entered it
                loop = loop[first:] + loop[:first]
                return loop + [loop[0]]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def lab_graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for site in all_sites(root):
        if site.target in mods and site.target != site.module:
            graph[site.module].add(site.target)
    return graph


def describe(sites: list[ImportSite], root: Path) -> str:
    mods = modules(root)
    return "\n".join(f"{mods[s.module].relative_to(SRC)}:{s.line}: imports {s.target}" for s in sites)


# ---------------------------------------------------------------- the rules, on the real tree


def test_the_lab_imports_nothing_of_the_tool():
    root = SRC / "portfleet_lab"
    sites = all_sites(root)
    assert len(modules(root)) > 30 and len(sites) > 100  # the walk saw the whole lab
    offending = [s for s in sites if top_level(s.target) == "portfleet"]
    assert not offending, "portfleet_lab must not import portfleet:\n" + describe(offending, root)


def test_the_tool_imports_the_lab_only_in_its_lab_command():
    root = SRC / "portfleet"
    importers = {s.module for s in all_sites(root) if top_level(s.target) == "portfleet_lab"}
    # `portfleet lab serve|fault|show` calls into the lab; nothing else does (the demo runs it as a process)
    assert importers == {"portfleet.cli.commands.lab"}


def test_no_import_cycle_among_lab_modules():
    graph = lab_graph(SRC / "portfleet_lab")
    assert "portfleet_lab.cmd.powershell" in graph["portfleet_lab.cmd.tools"]  # the graph holds real edges
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_lab_module_over_600_lines():
    long = {name: n for name, path in modules(SRC / "portfleet_lab").items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# ---------------------------------------------------------------- the checks themselves catch what they must


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_cycle_hidden_in_a_function_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/shell.py": "from . import tools\n",
        "sub/tools.py": "def lookup():\n    from .shell import Shell\n",
        "other.py": "from .sub import tools\n",
    })
    assert find_cycle(lab_graph(root)) == ["pkg.sub.shell", "pkg.sub.tools", "pkg.sub.shell"]


def test_a_type_only_cycle_is_found_and_a_dag_is_not(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "import pkg.c\n",
        "c.py": "from .a import thing\n",
    })
    assert find_cycle(lab_graph(root)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    (root / "c.py").write_text("import os\n", encoding="utf-8")
    assert find_cycle(lab_graph(root)) is None


def test_an_import_of_the_tool_is_seen_wherever_it_sits(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "x.py": "def f():\n    from portfleet.parse import reg\n",
        "y.py": "import portfleet\nimport portfleet_lab.model\n",
    })
    offending = sorted((s.module, s.target) for s in all_sites(root) if top_level(s.target) == "portfleet")
    assert offending == [("pkg.x", "portfleet.parse"), ("pkg.y", "portfleet")]

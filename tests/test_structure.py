"""The package's shape: no module of ``toymae`` imports, even inside a function, one that imports it back.

A cycle hidden in a function-local import still couples the two modules: neither can be read, moved
or tested alone. The graph is read from the source (``ast``), so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toymae"


def _targets(node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The ``toymae`` modules that one import statement reads (``__init__`` for the package itself)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level == 1 or node.module == "toymae" or (node.module or "").startswith("toymae."):
        base = (node.module or "").removeprefix("toymae").lstrip(".") if node.level == 0 else node.module
        if base:
            names = [f"toymae.{base}"]
        else:  # ``from . import x``: x is a module or a name in __init__
            names = [f"toymae.{a.name}" if a.name in modules else "toymae" for a in node.names]
    else:
        return set()
    out = set()
    for name in names:
        if name == "toymae":
            out.add("__init__")
        elif name.startswith("toymae."):
            out.add(name.split(".")[1])
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports anywhere in its source."""
    modules = {p.stem for p in package.glob("*.py")}
    graph = {}
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, modules)
        graph[path.stem] = (edges & modules) - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_sees_cycles_through_function_local_imports(tmp_path):
    (tmp_path / "a.py").write_text("from .b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from toymae import a\n")
    (tmp_path / "c.py").write_text("from . import a\n")
    graph = import_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "a"]


def test_toymae_has_no_import_cycle():
    graph = import_graph()
    assert {"model", "checkpoint", "train", "reproduce"} <= set(graph)  # the parser found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_every_relative_link_in_the_docs_points_at_a_file():
    """README.md and docs/*.md link to files that exist (anchors and web links are not checked)."""
    import re

    root = Path(__file__).resolve().parent.parent
    broken = []
    for md in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text()):
            if "://" not in target and not (md.parent / target).exists():
                broken.append(f"{md.relative_to(root)} -> {target}")
    assert not broken, broken

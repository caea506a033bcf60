"""The package's shape: layers whose imports only point down, and no import cycle.

``toymae`` is four layers and an entry point, each a folder a reader sees (``LAYERS``): the core
modules at the package root, ``eval/`` (measurements of a model), ``reproduce/`` (the blog's sweeps),
``app/`` (the dashboard's library side), and ``cli``. A module may import its own layer and the ones
below. A cycle hidden in a function-local import still couples two modules, so function-local imports
count. The graph is read from the source (``ast``), so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toymae"
LAYERS = ["core", "eval", "reproduce", "app", "entry"]  # bottom to top
ENTRY = {"cli", "__main__"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``toymae/eval/study.py`` -> ``eval.study``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    head = module.split(".")[0]
    if head in ENTRY:
        return "entry"
    return head if head in LAYERS else "core"


def _targets(node: ast.Import | ast.ImportFrom, here: str, modules: set[str]) -> set[str]:
    """The package's modules that one import statement reads."""
    if isinstance(node, ast.Import):
        names = [
            a.name.removeprefix("toymae").lstrip(".") for a in node.names if a.name.split(".")[0] == "toymae"
        ]
    else:
        if node.level:
            base = here.split(".")[: -node.level] if "." in here else []
            base = ".".join([*base, node.module] if node.module else base)
        elif node.module == "toymae" or (node.module or "").startswith("toymae."):
            base = (node.module or "").removeprefix("toymae").lstrip(".")
        else:
            return set()
        names = [f"{base}.{a.name}".lstrip(".") for a in node.names]
        names = [n if n in modules else base for n in names]
    return {n or "__init__" for n in names}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports anywhere in its source."""
    paths = {module_name(p, package): p for p in package.rglob("*.py")}
    modules = set(paths) | {"__init__"}
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, name, modules)
        graph[name] = (edges & modules) - {name}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every edge that points from a lower layer to a higher one (``__init__`` is the version only)."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted(
        f"{a} ({layer(a)}) -> {b} ({layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if b != "__init__" and rank[layer(b)] > rank[layer(a)]
    )


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


def test_the_checker_sees_cycles_and_upward_imports(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "a.py").write_text("from .b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from toymae import a\n")
    (tmp_path / "c.py").write_text("from toymae.eval import study\n")
    (tmp_path / "eval" / "__init__.py").write_text("")
    (tmp_path / "eval" / "study.py").write_text("from toymae.a import f\nfrom . import other\n")
    (tmp_path / "eval" / "other.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["a"] == {"b"} and graph["b"] == {"a"}
    assert graph["eval.study"] == {"a", "eval.other"}
    assert find_cycle(graph) == ["a", "b", "a"]
    assert upward_imports(graph) == ["c (core) -> eval.study (eval)"]


def test_toymae_has_no_import_cycle_and_imports_only_point_down():
    graph = import_graph()
    assert {"model", "checkpoint", "train", "eval.study", "reproduce.sweep", "app.catalog", "cli"} <= set(
        graph
    )
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    assert upward_imports(graph) == []


def test_tests_mirror_the_layers():
    """Tests of a layer's modules live in that layer's test folder (``tests/eval/`` ...)."""
    tests = Path(__file__).resolve().parent
    for name in ("eval", "reproduce", "app"):
        assert (tests / name).is_dir(), name
    assert not [
        p.name
        for p in tests.glob("test_*.py")
        if p.stem.removeprefix("test_")
        in {
            "study",
            "hallucination",
            "reproduce",
            "hypotheses",
            "search",
            "reconstruct_view",
            "training_server",
            "dashboard_logic",
        }
    ]


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

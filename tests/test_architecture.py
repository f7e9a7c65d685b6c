"""The import graph of ``pipelines/`` points one way: wiring → stages → base.

Built from the source with ``ast`` (imports inside functions count too), so a cycle hidden behind a
deferred import fails here, not in a reader's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipelines"
WIRING = {"pipelines.definitions", "pipelines.run", "pipelines.cli"}
LONG_MODULE_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Every ``pipelines`` module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


class Graph:
    """Modules and their import edges."""

    def __init__(self, edges: dict[str, set[str]]):
        self.imports = edges

    @property
    def edges(self):
        return [(source, target) for source, targets in self.imports.items() for target in targets]

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of more than one module (Tarjan), each sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        groups: list[list[str]] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            for target in self.imports.get(node, ()):
                if target not in index:
                    visit(target)
                    low[node] = min(low[node], low[target])
                elif target in stack:
                    low[node] = min(low[node], index[target])
            if low[node] == index[node]:
                group = []
                while (member := stack.pop()) != node:
                    group.append(member)
                group.append(node)
                if len(group) > 1:
                    groups.append(sorted(group))

        for node in sorted(self.imports):
            if node not in index:
                visit(node)
        return groups


@pytest.fixture(scope="module")
def graph() -> Graph:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    edges: dict[str, set[str]] = {}
    for path in paths:
        name = module_name(path)
        # a package's __init__ importing its own modules is how packages re-export
        edges[name] = {
            target
            for target in imported_modules(path, modules)
            if path.name != "__init__.py" or not target.startswith(name + ".")
        }
    return Graph(edges)


def test_no_import_cycles(graph):
    cycles = [", ".join(group) for group in graph.cycles()]
    assert not cycles, "modules importing each other in a cycle:\n" + "\n".join(cycles)


def test_stages_never_import_the_wiring(graph):
    wrong = sorted(
        f"{source} imports {target}"
        for source, target in graph.edges
        if target in WIRING and source not in WIRING
    )
    assert not wrong, "\n".join(wrong)


def test_the_demo_does_not_use_the_sla_code_it_checks(graph):
    wrong = sorted(
        f"{source} imports {target}"
        for source, target in graph.edges
        if source.startswith("pipelines.demo") and target.startswith("pipelines.sla")
    )
    assert not wrong, "\n".join(wrong)


def test_notifications_need_no_rendering_code(graph):
    wrong = sorted(
        f"{source} imports {target}"
        for source, target in graph.edges
        if source.startswith("pipelines.notify")
        and target.startswith("pipelines.report")
        and target != "pipelines.report.paths"
    )
    assert not wrong, "\n".join(wrong)


def test_long_modules_say_why():
    long = sorted(
        f"{path.relative_to(PACKAGE.parent)}: {lines} lines"
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONG_MODULE_LINES
        and "Longer than"
        not in (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "")
    )
    assert not long, "modules over 600 lines whose docstring does not say why:\n" + "\n".join(long)

"""No import cycle among the modules of swap/, campaign/ and workers/ (issue 11).

Import-linter's contracts keep the layers apart (workers > campaign > swap); this checks the modules
inside them. Module-level imports count; imports inside a function (the engine's lazy imports of
heavy dependencies) and under `if TYPE_CHECKING:` do not, because they cannot make a module's import
fail half-way.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("swap", "campaign", "workers")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.stmt, module: str, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            return {node.module or ""}
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        return {".".join([*base, *([node.module] if node.module else [])])}
    return set()


def module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at module level."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = _module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            targets: set[str] = set()
            for node in tree.body:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                    continue
                targets |= _imported(node, name, path.name == "__init__.py")
            graph[name] = targets
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_the_three_packages_imports_itself_round_a_cycle() -> None:
    graph = module_graph()
    assert len(graph) > 50  # the walk saw the packages
    assert cycles(graph) == []

"""The project's import graph, read from the source with `ast` (nothing is imported).

Every `import` and `from ... import` counts, at module level or inside a function, except under
`if TYPE_CHECKING:` (never executed). Two views:

- `edges`: module -> the project modules it names. Import cycles are looked for here.
- `closure(roots)`: every project file that runs when `roots` are imported and their functions
  called: the named modules, transitively, plus the `__init__.py` of each package on the way
  (importing `a.b.c` executes `a/__init__.py` and `a/b/__init__.py` first).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Top-level folders installed under the `spladeforge` package (pyproject's package-dir).
ROOTS = {"spladeforge": REPO / "src" / "spladeforge", "spladeforge.components": REPO / "components",
         "spladeforge.pipelines": REPO / "pipelines"}


def _module_files(roots: dict[str, Path]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@dataclass
class ImportGraph:
    modules: dict[str, Path]

    @classmethod
    def of_project(cls, roots: dict[str, Path] | None = None) -> ImportGraph:
        return cls(_module_files(roots or ROOTS))

    def _resolve(self, module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            return {self._longest_module(name) for name in names} - {None}
        base = node.module or ""
        if node.level:
            package = module if self.modules[module].name == "__init__.py" else module.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                package = package.rsplit(".", 1)[0]
            base = f"{package}.{base}" if base else package
        found = set()
        for alias in node.names:
            if f"{base}.{alias.name}" in self.modules:
                found.add(f"{base}.{alias.name}")  # `from package import module`
            elif (target := self._longest_module(base)) is not None:
                found.add(target)
        return found

    def _longest_module(self, name: str) -> str | None:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.modules:
                return candidate
        return None

    @cached_property
    def edges(self) -> dict[str, set[str]]:
        graph = {}
        for module, path in self.modules.items():
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            targets: set[str] = set()
            for node in _import_nodes(tree):
                targets |= self._resolve(module, node)
            graph[module] = targets - {module}
        return graph

    def _packages_of(self, module: str) -> list[str]:
        parts = module.split(".")
        return [p for p in (".".join(parts[:end]) for end in range(1, len(parts))) if p in self.modules]

    def closure(self, roots: Iterable[str]) -> set[str]:
        """Every project module executed by importing `roots` and running their code."""
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            module = stack.pop()
            if module in seen:
                continue
            seen.add(module)
            stack.extend(self.edges[module])
            stack.extend(self._packages_of(module))
        return seen

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan), each sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        found: list[list[str]] = []
        counter = 0

        def visit(start: str) -> None:  # iterative: the graph may be deeper than the recursion limit
            nonlocal counter
            work = [(start, iter(sorted(self.edges[start])))]
            index[start] = low[start] = counter
            counter += 1
            stack.append(start)
            on_stack.add(start)
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
                            member = stack.pop()
                            on_stack.discard(member)
                            component.append(member)
                            if member == node:
                                break
                        if len(component) > 1:
                            found.append(sorted(component))
                elif child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(self.edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])

        for module in sorted(self.modules):
            if module not in index:
                visit(module)
        return sorted(found)

    def path_of(self, module: str) -> Path:
        return self.modules[module]

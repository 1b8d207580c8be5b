"""The embedded default corpus: docstrings of the installed Python standard library.

Read with `ast` from the source files, never by importing the modules (some stdlib modules
open windows, print, or start threads on import). One document per module: its own
docstring, then a section per public class and function that has a docstring.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

# Test suites, GUI demos and the bundled installers are not documentation.
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__",
              "idlelib", "turtledemo", "ensurepip", "lib2to3", "venv", "pydoc_data"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _module_name(root: Path, file: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sections(tree: ast.Module) -> Iterator[tuple[str, str]]:
    """Yield (qualified name, docstring) for public classes, methods and functions."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if doc:
                yield node.name, doc
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if doc:
                yield node.name, doc
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    doc = ast.get_docstring(item)
                    if doc:
                        yield f"{node.name}.{item.name}", doc


def iter_stdlib_documents(root: Path | None = None) -> Iterator[dict[str, str]]:
    """Yield {id, title, text, source} per stdlib module, in a stable (sorted) order."""
    root = root or stdlib_root()
    files = sorted(
        p for p in root.rglob("*.py")
        if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])
    )
    for file in files:
        name = _module_name(root, file)
        if not name or any(part.startswith("_") for part in name.split(".")):
            continue
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few stdlib files are templates or in other encodings: not documentation
        parts = []
        module_doc = ast.get_docstring(tree)
        if module_doc:
            parts.append(module_doc)
        for qualname, doc in _sections(tree):
            parts.append(f"## {name}.{qualname}\n\n{doc}")
        if parts:
            yield {"id": f"stdlib:{name}", "title": name, "text": "\n\n".join(parts),
                   "source": f"python-stdlib-docs:{file.relative_to(root)}"}

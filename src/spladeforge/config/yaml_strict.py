"""A YAML SafeLoader for params files and `--set` values that refuses what would silently mislead.

PyYAML's SafeLoader keeps the last of two equal keys (a second `data:` section drops the first
one without a word, while DVC refuses the same file), expands aliases without limit (a few lines
of nested aliases - a "billion laughs" - become billions of values, and anything that walks
them hangs) and composes nested collections recursively (a thousand `[` end in RecursionError).
`StrictLoader` refuses duplicate keys at any depth, nesting deeper than MAX_DEPTH, more than
MAX_ALIASES aliases and documents whose aliases expand to more than MAX_VALUES values, each as a
`yaml.YAMLError` with the line, so callers report them as they report a syntax error.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

# A params file is at most a handful of levels deep (generate_queries.openai.prompts.question is 4).
MAX_DEPTH = 32
MAX_ALIASES = 200
MAX_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without duplicate keys, deep nesting or alias bombs."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:
            _check_expansion(node)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # `<<: *defaults` then overriding a merged key is what merge keys are for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line)
                except TypeError:
                    continue  # an unhashable key: SafeConstructor reports it
                if first != key_node.start_mark.line:
                    raise ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"duplicate key {key!r} (first at line {first + 1}); a second one would silently "
                        "replace the first", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases expand beyond MAX_VALUES values or MAX_DEPTH levels, or loop."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height) once expanded
    active: set[int] = set()

    def visit(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in active:
            raise ComposerError(None, None, "an alias refers to the collection it is in", node.start_mark)
        if key not in sizes:
            if depth > MAX_DEPTH:
                raise ComposerError(None, None, f"aliases nest deeper than {MAX_DEPTH} levels", node.start_mark)
            values, height = 1, 1
            if isinstance(node, SequenceNode | MappingNode):
                active.add(key)
                children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
                for child in children:
                    child_values, child_height = visit(child, depth + 1)
                    values += child_values
                    height = max(height, child_height + 1)
                    if values > MAX_VALUES:
                        raise ComposerError(None, None, f"aliases expand to more than {MAX_VALUES:,} values",
                                            node.start_mark)
                active.discard(key)
            sizes[key] = (values, height)
        values, height = sizes[key]
        if depth + height - 1 > MAX_DEPTH:
            raise ComposerError(None, None, f"aliases nest deeper than {MAX_DEPTH} levels", node.start_mark)
        return values, height

    visit(root, 1)


def load(text: str) -> Any:
    """Parse one YAML document with `StrictLoader`; raises yaml.YAMLError with a mark."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader


def describe(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """(1-based line or None, a one-line description) of a YAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context and "duplicate key" not in problem else problem
    return (mark.line + 1 if mark is not None else None), text

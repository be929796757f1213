"""Finds the smallest part of a JSON schema that a compiler refuses, as a dotted path.

Descends into each sub-schema the compiler refuses on its own (with the root's definitions
beside it, so references still resolve), to the deepest one: that part is what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# Keywords whose value is one schema, a list of schemas, or a name -> schema map.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("$defs", "definitions", "properties", "patternProperties")  # definitions first: a
# refused definition is the part to fix, not each reference to it
MAX_DEPTH = 32

Refusal = Callable[[object], str | None]


def find_offending_part(schema: dict[str, Any], refuses: Refusal) -> tuple[str, str | None]:
    """(path like "properties.age", the compiler's reason) of the deepest refused part;
    ("", None) if no single part is refused on its own."""
    definitions = {key: schema[key] for key in ("$defs", "definitions") if key in schema}
    path: list[str] = []
    reason: str | None = None
    node: Any = schema
    for _ in range(MAX_DEPTH):
        for step, child in _children(node):
            probe = {**definitions, **child} if isinstance(child, dict) else child
            child_reason = refuses(probe)
            if child_reason is not None:
                path += step
                reason, node = child_reason, child
                break
        else:
            break
    return ".".join(path), reason


def _children(node: Any) -> Iterator[tuple[list[str], Any]]:
    if not isinstance(node, dict):
        return
    for key in _ONE:
        if isinstance(node.get(key), dict):
            yield [key], node[key]
    for key in _LIST:
        if isinstance(node.get(key), list):
            for index, child in enumerate(node[key]):
                yield [key, str(index)], child
    for key in _MAP:
        if isinstance(node.get(key), dict):
            for name, child in node[key].items():
                yield [key, str(name)], child

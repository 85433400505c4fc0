"""The one YAML reader for every user-supplied text: instance.yaml, the workbook's ``instance``
sheet, ``--set`` values and study files.

PyYAML's ``safe_load`` only refuses arbitrary objects; it still expands aliases of aliases
("billion laughs") into structures that hang whatever touches them next, builds
self-referential lists (``x: &r [*r]``) that crash later code with RecursionError, and recurses
once per level of nesting.  Here a document is composed first (aliases stay shared nodes, so that
is linear in the text), measured, and only constructed when it is within the limits, so every
caller refuses the same inputs with the same exit-2 message naming its source.
"""

from __future__ import annotations

from typing import Any

import yaml

from planner.errors import InstanceError, Problem

MAX_VALUES = 100_000
"""Most values a document may hold once its aliases are expanded."""
MAX_DEPTH = 40
"""Deepest nesting of mappings and lists allowed (real inputs use fewer than 6 levels)."""


def load(text: str, file: str, row: int | None = None, column: str | None = None,
         expected: str = "valid YAML") -> tuple[Any, yaml.Node | None]:
    """``(data, node)`` of one YAML document, or :class:`InstanceError` naming ``file`` (and the
    ``row``/``column`` the text came from, or the line inside the file when it is a whole file).

    ``node`` is the composed document (None for an empty one), for key lines and repeat checks."""
    whole_file = row is None and column is None

    def refuse(why: str, line: int | None = None, value: str | None = None) -> InstanceError:
        at = (line if whole_file else row)
        shown = value if value is not None else (None if whole_file else text[:120])
        return InstanceError([Problem(file, at, column, shown, why)])

    try:
        loader = yaml.SafeLoader(text)  # reads the whole text: refuses unprintable characters here
    except yaml.YAMLError as e:
        raise refuse(f"invalid YAML ({e}); expected {expected}") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            why = str(getattr(e, "problem", None) or e)
            raise refuse(f"invalid YAML ({why}); expected {expected}", mark.line + 1 if mark else None) from None
        except RecursionError:  # PyYAML's composer recurses once per level
            raise refuse(f"nested too deeply; expected at most {MAX_DEPTH} levels of mappings and lists") from None
        if node is None:
            return None, None
        size, depth = _measure(node)
        if size == float("inf"):
            raise refuse("an alias (*name) inside its own anchor (&name); expected a value that does not contain "
                         "itself")
        if size > MAX_VALUES:
            raise refuse(f"too large once its aliases (*name) are expanded ({size:.3g} values); expected at most "
                         f"{MAX_VALUES} values (write them out, or use fewer aliases)")
        if depth > MAX_DEPTH:
            raise refuse(f"nested {depth} levels deep; expected at most {MAX_DEPTH} levels of mappings and lists")
        try:
            return loader.construct_document(node), node
        except yaml.YAMLError as e:  # e.g. a mapping key that is itself a mapping
            mark = getattr(e, "problem_mark", None)
            why = str(getattr(e, "problem", None) or e)
            raise refuse(f"invalid YAML ({why}); expected {expected}", mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()


def _measure(root: yaml.Node) -> tuple[float, int]:
    """(values once aliases are expanded, nesting depth); size is inf when a node contains itself.

    Iterative (post-order over the node graph), so a deep document cannot exhaust the stack here."""
    size: dict[int, float] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            is_container = isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
            depth[key] = is_container + max((depth[id(k)] for k in kids), default=0)
            continue
        if key in size:
            continue
        on_path.add(key)
        if any(id(k) in on_path for k in kids):  # a node below itself: a self-referential alias
            return float("inf"), 0
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
        if len(size) > 4 * MAX_VALUES:  # distinct nodes alone exceed the limit
            return float(len(size)), 0
    return size[id(root)], depth[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []

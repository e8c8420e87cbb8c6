"""Typed partial decoding for payload maps: decode only what the JMESPath expressions read.

Parsing a whole JSON document into dicts costs about as much as decoding a v1 heartbeat
end to end, yet a map reads a handful of fields of it (CSI-JSON: names and units of
``head.fields``, the newest record of ``data``, the OS version). ``typed_reader`` derives
from the expressions, once when the map is compiled, a tree of msgspec Structs holding just
the keys the expressions step through, and accessors that walk those Structs as the
expressions walk dicts. msgspec then skips everything else in C, without building it.

The shape of each node comes from how the expressions use it: a field step makes it an
object (a Struct, or null), an index, a projection or a flatten makes it a list (of its
item's shape, or null); whatever an expression returns whole is decoded as it comes
(``Any``, exactly as the generic parser would). Expressions of other kinds (functions,
filters, slices, pipes, multiselects...) or a node used both as an object and as a list
give no typed reader: the map keeps the generic path. Per-item expressions of the list
shape whose items are left untouched by the typed tree keep their generic evaluators, so a
map like ``sensors: channels, value: to_number(v)`` still decodes ``channels`` alone.

When a payload does not fit the Structs (a field of another type, a number out of the float
range that only the generic parser's ``float_hook`` keeps, bytes that are not JSON or not
UTF-8), ``TypedReader.decode`` returns None and the caller takes the generic path, which
gives the answer or the rejection. Wherever the typed path answers, it answers what the
generic path would: the accessors follow ``jmespath_fast`` step for step (a field of null is
null, an index out of range is null, a projection drops nulls), a value returned whole that
is a Struct where the generic path has a dict is, for every reader of it, equally "not a
string, not a number, not a list"; and ``tests/test_mapped_typed.py`` holds the two paths to
the same readings with hypothesis.

Pure functions and immutable values, safe from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
from jmespath.parser import ParsedResult

from sitelink.payloads.jmespath_fast import Evaluate, chain, flatten, projection

_MAX_NODES = 128  # a map is a few short paths; past this the generic path is as good


class _Unsupported(Exception):
    """An expression or a combination the typed tree cannot hold."""


class _Node:
    """One place in the document: unknown (decoded whole), an object or a list."""

    __slots__ = ("attrs", "fields", "item", "kind", "not_list", "tree")

    def __init__(self, tree: bool = True) -> None:
        self.kind: str | None = None
        self.fields: dict[str, _Node] = {}
        self.attrs: dict[str, str] = {}  # JSON key -> attribute of this node's Struct
        self.item: _Node | None = None
        self.not_list = False  # a flatten passed its items through as they were
        self.tree = tree  # False for the list a projection builds (not in the document)

    def as_object(self) -> _Node:
        if self.kind is None and self.tree:
            self.kind = "object"
        if self.kind != "object":
            raise _Unsupported
        return self

    def as_list(self) -> _Node:
        if self.kind is None and self.tree and not self.not_list:
            self.kind = "list"
            self.item = _Node()
        if self.kind != "list" or self.item is None:
            raise _Unsupported
        return self.item

    def child(self, key: str) -> _Node:
        """The node of ``key`` in this object (made an object if it was unknown)."""
        self.as_object()
        if key not in self.fields:
            self.fields[key] = _Node()
            self.attrs[key] = f"f{len(self.attrs)}"
        return self.fields[key]


class TypedReader:
    """The Struct tree of one map and the accessors over it (``expressions``, by name)."""

    __slots__ = ("decoder", "expressions")

    def __init__(self, decoder: msgspec.json.Decoder[Any],
                 expressions: dict[str, Evaluate]) -> None:
        self.decoder = decoder
        self.expressions = expressions

    def decode(self, payload: bytes) -> Any | None:
        """The typed document, or None when ``payload`` does not fit it (take the generic
        path then). Never raises."""
        if not payload.isascii():
            try:  # msgspec skips what no Struct holds without reading its bytes as UTF-8
                payload.decode("utf-8")
            except UnicodeDecodeError:
                return None
        try:
            return self.decoder.decode(payload)
        except Exception:  # does not fit, not JSON, nested too deeply: the generic path says
            return None


def typed_reader(
    top: Mapping[str, ParsedResult],
    per_item: Mapping[str, ParsedResult],
    items_of: str | None,
    generic: Mapping[str, Evaluate],
) -> TypedReader | None:
    """A reader for ``top`` (expressions of the document) and ``per_item`` (expressions of
    each item of the list that ``top[items_of]`` returns), or None if the expressions are
    not all of the shapes this module handles. ``generic`` holds the generic evaluators,
    used for ``per_item`` when the items are decoded whole."""
    root = _Node()
    expressions: dict[str, Evaluate] = {}
    try:
        root.as_object()
        # Twice: the first pass gives every node its final shape, so that the accessors of
        # the second can rely on it (a flatten of items that are objects is no work at all).
        for _ in range(2):
            item: _Node | None = None
            for name, parsed in top.items():
                expressions[name], node = _compile(dict(parsed.parsed), root)
                if name == items_of:
                    item = node.as_list()
            if item is not None and per_item:
                _compile_per_item(item, per_item, generic, expressions)
    except _Unsupported:
        return None
    if _count(root) > _MAX_NODES:
        return None
    return TypedReader(msgspec.json.Decoder(_struct_of(root)), expressions)


def _compile_per_item(item: _Node, per_item: Mapping[str, ParsedResult],
                      generic: Mapping[str, Evaluate], expressions: dict[str, Evaluate]) -> None:
    """The per-item accessors; if one is not of a typed shape and nothing else gave the
    items a shape, the items are decoded whole and read by the generic evaluators."""
    untouched = item.kind is None
    try:
        for name, parsed in per_item.items():
            expressions[name] = _compile(dict(parsed.parsed), item)[0]
    except _Unsupported:
        if not untouched:
            raise
        item.kind, item.fields, item.attrs, item.item = None, {}, {}, None
        expressions.update({name: generic[name] for name in per_item})


def _count(node: _Node) -> int:
    below = sum(_count(child) for child in node.fields.values())
    return 1 + below + (_count(node.item) if node.item is not None else 0)


def _compile(ast: dict[str, Any], node: _Node) -> tuple[Evaluate, _Node]:
    """The accessor of ``ast`` applied at ``node``, and the node of what it returns."""
    kind = ast["type"]
    children = ast["children"]
    if kind in ("current", "identity"):
        return _identity, node
    walked = _walk(ast, node)
    if walked is not None:
        return _walker(walked[0]), walked[1]
    if kind in ("subexpression", "index_expression"):
        parts = []
        for child in children:
            part, node = _compile(child, node)
            parts.append(part)
        return chain(parts), node
    if kind == "flatten":
        inner, base = _compile(children[0], node)
        item = base.as_list()
        if item.kind == "list":
            merged = _Node(tree=False)
            merged.kind, merged.item = "list", item.as_list()
            return flatten(inner), merged
        item.not_list = True
        # Items that are objects are never lists: the flatten gives the list as it is.
        return (inner if item.kind == "object" else flatten(inner)), base
    if kind == "projection":
        left, base = _compile(children[0], node)
        item = base.as_list()
        collected = _Node(tree=False)
        collected.kind = "list"
        if children[1]["type"] == "field":
            key = children[1]["value"]
            collected.item = item.child(key)
            return _project_attr(_left_steps(children[0], node, item), left,
                                 item.attrs[key]), collected
        right, collected.item = _compile(children[1], item)
        return projection(left, right), collected
    raise _Unsupported


def _struct_of(node: _Node) -> type[msgspec.Struct]:
    """The Struct decoded at an object node: its keys the expressions step through."""
    fields = [(node.attrs[key], _type_of(child), None) for key, child in node.fields.items()]
    rename = {attr: key for key, attr in node.attrs.items()}
    # gc=False: a Struct decoded from JSON cannot be part of a reference cycle.
    return msgspec.defstruct("MapNode", fields, rename=rename, gc=False)


def _type_of(node: _Node) -> Any:
    """The msgspec type of what is decoded at ``node`` below the document: null allowed at
    every level, as the generic path reads a null wherever a value is."""
    if node.kind == "object":
        return _struct_of(node) | None
    if node.kind == "list" and node.item is not None:
        return list[_type_of(node.item)] | None  # type: ignore[misc]
    return Any


def _identity(value: Any) -> Any:
    return value


Step = Callable[[Any], Any]


def _walk(ast: dict[str, Any], node: _Node) -> tuple[list[Step], _Node] | None:
    """``a.b[0].c``, fields and indexes only: one C call per run of fields and per index
    (``attrgetter("f0.f1")``, ``itemgetter(0)``), and the node it ends on; None for any
    other kind of expression."""
    kind = ast["type"]
    if kind == "field":
        key = ast["value"]
        child = node.child(key)
        return [attrgetter(node.attrs[key])], child
    if kind == "index":
        return [itemgetter(ast["value"])], node.as_list()
    if kind not in ("subexpression", "index_expression"):
        return None
    steps: list[Step] = []
    names: list[str] = []  # the run of fields not yet made a step
    for child in ast["children"]:
        if child["type"] == "field":
            key = child["value"]
            below = node.child(key)
            names.append(node.attrs[key])
            node = below
            continue
        walked = _walk(child, node)
        if walked is None:
            return None
        if names:
            steps.append(attrgetter(".".join(names)))
            names = []
        steps.extend(walked[0])
        node = walked[1]
    if names:
        steps.append(attrgetter(".".join(names)))
    return steps, node


def _walker(steps: list[Step]) -> Evaluate:
    """The steps of ``_walk`` in turn. Where the path meets a null the step raises —
    AttributeError for a field of None (only None lacks a node's attributes), TypeError
    for an index of None — and an index past the end raises IndexError: each is a null."""
    if len(steps) == 1:
        (step,) = steps

        def walk_one(value: Any) -> Any:
            try:
                return step(value)
            except (AttributeError, IndexError, TypeError):
                return None

        return walk_one

    def walk(value: Any) -> Any:
        try:
            for step in steps:
                value = step(value)
        except (AttributeError, IndexError, TypeError):
            return None
        return value

    return walk


def _left_steps(ast: dict[str, Any], node: _Node, item: _Node) -> list[Step] | None:
    """The steps to the list a projection runs over, when they are a walk (or a flatten of
    one over objects, which gives the list as it is); else None."""
    if ast["type"] == "flatten" and item.kind == "object":
        ast = ast["children"][0]
    walked = _walk(ast, node)
    return None if walked is None else walked[0]


def _project_attr(steps: list[Step] | None, left: Evaluate, name: str) -> Evaluate:
    """``a[].name``: the projection of one field, mapped in C over the elements. The list is
    found by the one step of ``steps`` here when there is just one (a call less), else by
    ``left``. A null element raises AttributeError in the map: then one by one."""
    get = attrgetter(name)
    to_list = steps[0] if steps is not None and len(steps) == 1 else left

    def projected(value: Any) -> Any:
        try:
            found = [*map(get, to_list(value))]
        except (AttributeError, IndexError, TypeError):  # a null on the way, or an element
            base = left(value)
            if type(base) is not list:
                return None
            found = [getattr(element, name, None) for element in base]
        return [item for item in found if item is not None] if None in found else found

    return projected

"""Plain Python closures for the simple JMESPath expressions most payload maps are made of.

``jmespath``'s interpreter walks the parsed tree with a visitor for every node of every
search, which made a CSI-JSON map ten times slower than decoding v1. The expressions of real
maps are paths — ``head.environment.os_version``, ``data[-1].vals``, ``head.fields[].name`` —
so ``evaluator(parsed)`` turns such a tree into nested closures once, when the map is
compiled, and keeps ``parsed.search`` for everything else (filters, slices, multiselects,
functions but ``keys()`` and ``values()``, ...). The closures follow the reference
interpreter node for node (a field of a non-object is null, an index out of range is null,
a projection drops nulls, a flatten merges one level; ``keys()`` of anything but an object
is left to jmespath, error and all), and a hypothesis test holds them to its answers.

``index``, ``chain``, ``flatten`` and ``projection`` are shared with ``jmespath_typed``,
whose accessors walk Structs where these walk dicts. Pure functions, safe from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jmespath.parser import ParsedResult

Evaluate = Callable[[Any], Any]


class _Unfit(Exception):
    """A function met an argument it does not take: jmespath itself says what happens."""


def evaluator(parsed: ParsedResult) -> Evaluate:
    """A function of the document giving what ``parsed.search(document)`` gives."""
    tree = dict(parsed.parsed)
    fast = _compile(tree)
    if fast is None:
        return parsed.search
    if not _calls(tree):
        return fast
    search = parsed.search
    closures = fast

    def guarded(value: Any) -> Any:
        try:
            return closures(value)
        except _Unfit:  # e.g. keys() of a list: jmespath's own error, in its words
            return search(value)

    return guarded


def _compile(node: dict[str, Any]) -> Evaluate | None:
    kind = node["type"]
    children = node["children"]
    if kind == "field":
        return _field(node["value"])
    if kind in ("current", "identity"):
        return _identity
    if kind == "subexpression" and all(child["type"] == "field" for child in children):
        return _path(tuple(child["value"] for child in children))
    if kind == "subexpression" or kind == "index_expression":
        parts = [_compile(child) for child in children]
        if any(part is None for part in parts):
            return None
        return chain(parts)  # type: ignore[arg-type]
    if kind == "index":
        return index(node["value"])
    if kind == "flatten":
        inner = _compile(children[0])
        return None if inner is None else flatten(inner)
    if kind == "projection" and children[1]["type"] == "field":
        base = _compile(children[0])
        return None if base is None else _project_field(base, children[1]["value"])
    if kind == "projection":
        left, right = _compile(children[0]), _compile(children[1])
        return None if left is None or right is None else projection(left, right)
    if kind == "function_expression" and node["value"] in ("keys", "values") \
            and len(children) == 1:
        argument = _compile(children[0])
        return None if argument is None else _members(argument, node["value"] == "keys")
    return None


def _identity(value: Any) -> Any:
    return value


def _field(key: str) -> Evaluate:
    def field(value: Any) -> Any:
        return value.get(key) if isinstance(value, dict) else None

    return field


def _path(keys: tuple[str, ...]) -> Evaluate:
    """``a.b.c``: one function for the whole path, not one call per level."""

    def path(value: Any) -> Any:
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return path


def index(position: int) -> Evaluate:
    """``[n]``: the element at ``position`` of a list (negative from the end), else null."""

    def indexed(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[position]
        except IndexError:
            return None

    return indexed


def chain(parts: list[Evaluate]) -> Evaluate:
    """``a.b[0]``: each part applied to what the one before gave."""

    if len(parts) == 2:
        first, second = parts

        def pair(value: Any) -> Any:
            return second(first(value))

        return pair

    def chained(value: Any) -> Any:
        for part in parts:
            value = part(value)
        return value

    return chained


def flatten(inner: Evaluate) -> Evaluate:
    """``a[]``: the list ``inner`` gives with the lists among its elements merged in."""

    def flattened(value: Any) -> Any:
        base = inner(value)
        if not isinstance(base, list):
            return None
        merged: list[Any] = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged

    return flattened


def _project_field(left: Evaluate, key: str) -> Evaluate:
    """``a[].name``: the projection of one field, without a call per element."""

    def projected(value: Any) -> Any:
        base = left(value)
        if not isinstance(base, list):
            return None
        found = [element.get(key) if isinstance(element, dict) else None for element in base]
        return [item for item in found if item is not None]

    return projected


def projection(left: Evaluate, right: Evaluate) -> Evaluate:
    """``a[*].b``: ``right`` of each element of the list ``left`` gives, nulls dropped."""

    def projected(value: Any) -> Any:
        base = left(value)
        if not isinstance(base, list):
            return None
        return [found for found in map(right, base) if found is not None]

    return projected


def _calls(node: dict[str, Any]) -> bool:
    """True if the tree calls a function (whose closure may hand the search to jmespath)."""
    return node["type"] == "function_expression" or any(map(_calls, node["children"]))


def _members(argument: Evaluate, keys: bool) -> Evaluate:
    """``keys(a)``, ``values(a)`` (how ThingsBoard's telemetry object is read): the keys or
    values of an object; anything else is jmespath's to refuse (``_Unfit``)."""

    def members(value: Any) -> Any:
        found = argument(value)
        if type(found) is not dict:
            raise _Unfit
        return list(found.keys() if keys else found.values())

    return members

"""Every 2xx JSON answer of ``/schema/openapi.json`` has a typed schema (issue 18, point 2).

A route that answers ``dict[str, Any]`` is published as a bare ``object`` that says nothing
about its fields: neither schemathesis (test_schema.py) nor the dashboard's generated types
(``web/src/api/schema.d.ts``) can check it. This walks each success answer, follows every
``$ref``, and fails naming the route and the place in the schema that is untyped.
"""

from __future__ import annotations

from typing import Any

from fake_clock import FakeClock
from sitelink.api.app import create_app
from sitelink.settings import Settings

# (component, field) whose value is free-form JSON on purpose, with the reason.
FREE_FORM = {
    ("AuditEntry", "detail"),  # what changed, its keys depend on the action (API.md: audit)
}

_METHODS = ("get", "put", "post", "delete", "patch")


def _document() -> dict[str, Any]:
    """The document the app serves, from an app that is never started (as in test_schema)."""
    app = create_app(Settings(database_url="sqlite:///unused.db"), clock=FakeClock())
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


def untyped_places(schema: dict[str, Any], components: dict[str, Any], where: str,
                   component: str = "", seen: frozenset[str] = frozenset()) -> list[str]:
    """The places under ``schema`` that do not say what they hold: an empty schema, an
    ``object`` with neither properties nor typed additional properties, an array without
    typed items. ``$ref`` is followed (once per component on a path: recursion is fine)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return untyped_places(components[name], components, f"{where} → {name}", name,
                              seen | {name})
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            return [p for i, sub in enumerate(schema[key])
                    for p in untyped_places(sub, components, f"{where}[{key} {i}]", component,
                                            seen)]
    kind = schema.get("type")
    if kind is None and "enum" not in schema and "const" not in schema:
        return [f"{where}: empty schema (any JSON)"]
    if kind == "array":
        items = schema.get("items")
        if not items:
            return [f"{where}: array of anything"]
        return untyped_places(items, components, f"{where}[]", component, seen)
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if not properties and not extra:
            return [f"{where}: object without fields"]
        found = [p for name, sub in properties.items() if (component, name) not in FREE_FORM
                 for p in untyped_places(sub, components, f"{where}.{name}", component, seen)]
        if isinstance(extra, dict) and extra:
            found += untyped_places(extra, components, f"{where}.*", component, seen)
        return found
    return []


def test_every_success_answer_in_json_is_typed() -> None:
    document = _document()
    components = document.get("components", {}).get("schemas", {})
    problems: list[str] = []
    checked = 0
    for path, item in document["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for status, response in operation.get("responses", {}).items():
                media = (response.get("content") or {}).get("application/json")
                if not status.startswith("2") or media is None:
                    continue
                checked += 1
                route = f"{method.upper()} {path} → {status}"
                problems += untyped_places(media.get("schema") or {}, components, route)
    assert checked >= 40, f"only {checked} JSON answers found: is the document complete?"
    assert not problems, "untyped JSON answers:\n" + "\n".join(problems)


def test_the_check_finds_an_untyped_answer() -> None:
    """The checker itself: a bare object, an empty schema and an array of anything fail;
    a struct with typed fields, a nullable reference and a recursive one pass."""
    components = {
        "Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
        "Loose": {"type": "object", "properties": {"detail": {}}},
    }
    assert untyped_places({"type": "object", "additionalProperties": {}}, components, "r") == [
        "r: object without fields"]
    assert untyped_places({}, components, "r") == ["r: empty schema (any JSON)"]
    assert untyped_places({"type": "array"}, components, "r") == ["r: array of anything"]
    assert untyped_places({"$ref": "#/components/schemas/Loose"}, components, "r") == [
        "r → Loose.detail: empty schema (any JSON)"]
    assert untyped_places({"oneOf": [{"$ref": "#/components/schemas/Node"}, {"type": "null"}]},
                          components, "r") == []
    assert untyped_places({"type": "object", "additionalProperties": {"type": "string"}},
                          components, "r") == []

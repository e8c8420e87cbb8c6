"""The published error schema made to match what is sent.

Litestar documents its error answers as ``{"status_code", "detail", "extra"}`` with
``status_code`` required; ``api/errors.py`` answers ``{"detail": "..."}`` only. After the
document is built, every error answer of every operation is pointed at one ``Error`` schema,
and each operation gets a ``default`` answer of that schema: any status that a route may
answer without listing it (401, 403, 413, 415, 429, 503) is still described, and its body
matches. Routes that answer CSV on request (``?format=csv``) say so beside their JSON.
Runs once, when the app is created.
"""

from __future__ import annotations

from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["detail"],
    properties={"detail": Schema(type=OpenAPIType.STRING,
                                 description="what went wrong; for a 400, the field first")},
    description="Every error answer: JSON with a detail string.",
)

_TEXT = Schema(type=OpenAPIType.STRING)
_SITES_DOCUMENT = Schema(
    type=OpenAPIType.OBJECT, required=["sites"],
    properties={"sites": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT))},
    description="every site with its topics, no secrets",
)

# (path, method) -> media types (and their schemas) the success answer may also have, chosen
# by a parameter; they are added beside (or replace) what the route itself declares
ALTERNATE_SUCCESS_CONTENT: dict[tuple[str, str], dict[str, Schema]] = {
    ("/api/v1/audit", "get"): {"text/csv": _TEXT},
    ("/api/v1/mqtt/sites/export", "get"): {"application/yaml": _SITES_DOCUMENT,
                                            "text/csv": _TEXT},
}

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _error(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(description=description, content={
        "application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Error"))})


def document_errors(openapi: OpenAPI) -> None:
    """Rewrite ``openapi`` in place: errors are ``Error``; every operation has a default."""
    openapi.components.schemas = {**(openapi.components.schemas or {}), "Error": ERROR_SCHEMA}
    for path, path_item in (openapi.paths or {}).items():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            responses = dict(operation.responses or {})
            alternate = ALTERNATE_SUCCESS_CONTENT.get((path, method))
            success = responses.get("200")
            if alternate and isinstance(success, OpenAPIResponse):
                success.content = {**(success.content or {}), **{
                    media: OpenAPIMediaType(schema=schema) for media, schema in alternate.items()}}
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    description = getattr(response, "description", "") or "error"
                    responses[status] = _error(description)
            responses.setdefault("default", _error("any other error"))
            operation.responses = responses

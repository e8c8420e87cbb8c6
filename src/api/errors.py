"""Error answers: JSON with a ``detail`` string; the HTTP status is chosen only here.

Validation errors are 400 and name the field: ``"broker_port: Expected `int` <= 65535"``.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from sitelink.errors import (
    Conflict,
    LifecycleError,
    NotConnected,
    NotFound,
    SitelinkError,
    ValidationError,
)
from sitelink.fanout import TooManyClients
from sitelink.site_rules import field_text

log = structlog.get_logger(__name__)

def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for item in extra:
        if isinstance(item, dict):
            message, key = str(item.get("message", "")), item.get("key")
            if key == "data" and message == "'data'":  # Litestar's KeyError: no body at all
                message = "a JSON body is required"
            parts.append(field_text(message, key))
    detail = "; ".join(p for p in parts if p) or field_text(str(exc.detail), None)
    return Response({"detail": detail}, status_code=400)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


_STATUS: list[tuple[type[SitelinkError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (ValidationError, 400),
    (NotConnected, 409),
    (LifecycleError, 409),
    (TooManyClients, 503),
]


def sitelink_error(request: Request[Any, Any, Any], exc: SitelinkError) -> Response[Any]:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return Response({"detail": str(exc)}, status_code=status)
    return internal_error(request, exc)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path)
    return Response({"detail": "internal error"}, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


HANDLERS: dict[Any, Any] = {
    ValidationException: validation_error,
    HTTPException: http_error,
    SitelinkError: sitelink_error,
    Exception: internal_error,
}

"""Error answers: JSON with a ``detail`` string; the HTTP status is chosen only here.

Validation errors are 400 and name the field: ``"broker_port: Expected `int` <= 65535"``.

Memory: Litestar's validation path leaves the exceptions it raises in reference cycles with
the frames that raised them (``raise ... from e`` inside ``except``; a list of caught
exceptions kept in the frame that caught them), and those frames hold the request — its
raw body and the decoded JSON. Such cycles are freed only by the cyclic garbage collector,
which counts objects, not bytes: a 9 MB body counts as one. ``release_frames`` clears those
frames once the answer is built, so a refused body is freed at once by reference counting.
"""

from __future__ import annotations

import contextlib
import gc
import types
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
    StorageError,
    ValidationError,
)
from sitelink.fanout import TooManyClients
from sitelink.site_rules import field_text
from sitelink.storage.database import is_unreachable

log = structlog.get_logger(__name__)

def release_frames(exc: BaseException) -> None:
    """Clear the local variables of the finished frames that ``exc`` (and every exception
    it leads to: causes, contexts, exceptions held in those frames' variables) was raised
    through, breaking the cycles that would keep the request alive. Frames still running
    (the caller's own) are left alone. Only for exceptions answered without a traceback."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            pending.extend(_exceptions_in(frame))
            with contextlib.suppress(RuntimeError):  # still executing: one of our callers
                frame.clear()
            tb = tb.tb_next


def _exceptions_in(frame: types.FrameType) -> list[BaseException]:
    # gc.get_referents, not frame.f_locals: f_locals makes a snapshot dict that the frame
    # keeps, and that frame.clear() does not empty (Python 3.11).
    found: list[BaseException] = []
    for value in gc.get_referents(frame):
        if isinstance(value, BaseException):
            found.append(value)
        elif isinstance(value, list):  # e.g. [(field, exception), ...]
            for item in value[:100]:
                parts = item if isinstance(item, tuple) else (item,)
                found.extend(p for p in parts if isinstance(p, BaseException))
    return found


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    try:
        return _validation_answer(exc)
    finally:
        release_frames(exc)


def _validation_answer(exc: ValidationException) -> Response[Any]:
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
    try:
        return Response({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    finally:
        if exc.status_code < 500:
            release_frames(exc)


_STATUS: list[tuple[type[SitelinkError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (ValidationError, 400),
    (NotConnected, 409),
    (LifecycleError, 409),
    (TooManyClients, 503),
    (StorageError, 503),
]


# How long a client refused for lack of capacity should wait before trying again.
RETRY_AFTER_S: dict[type[SitelinkError], int] = {TooManyClients: 10}


def sitelink_error(request: Request[Any, Any, Any], exc: SitelinkError) -> Response[Any]:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            retry_after = RETRY_AFTER_S.get(kind)
            headers = {"Retry-After": str(retry_after)} if retry_after else None
            return Response({"detail": str(exc)}, status_code=status, headers=headers)
    return internal_error(request, exc)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_unreachable(exc):
        # The database is down or does not answer (within SITELINK_DB_TIMEOUT_S): that is
        # an outage of storage, said in one line, not a crash with a traceback.
        log.warning("storage unavailable", path=request.url.path,
                    error=f"{type(exc).__name__}: {exc}"[:300])
        return Response({"detail": "storage unavailable: the database does not answer"},
                        status_code=503)
    log.exception("unhandled error", path=request.url.path)
    return Response({"detail": "internal error"}, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


HANDLERS: dict[Any, Any] = {
    ValidationException: validation_error,
    HTTPException: http_error,
    SitelinkError: sitelink_error,
    Exception: internal_error,
}

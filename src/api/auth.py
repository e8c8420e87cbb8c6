"""Who is calling: bearer tokens and the dashboard's session cookie; roles as guards.

Credentials come in an ``Authorization: Bearer`` header, or as the session cookie that
``POST /api/v1/auth/session`` sets — which holds a server-side session id
(``storage/sessions.py``), never a token. Never from a URL (a token in a query string is
ignored, so the request is anonymous and gets 401). Verified bearer tokens are cached for a
few seconds by token hash, so a burst of requests costs one database lookup; sessions are
looked up every time, so logging out or revoking the token ends them at once. While the
database does not answer, a token or session this process verified before keeps the identity
it had (a database outage must not lock operators out of the live status); one never seen
gets the storage error (503).

A request authenticated by the cookie is one a browser may have been tricked into sending,
so an unsafe one (POST, PATCH, PUT, DELETE) must come from the server's own origin
(``Origin``, else ``Referer``: 403 otherwise) and carry JSON if it carries anything (415
otherwise: a form or ``text/plain`` post needs no CORS preflight). Bearer requests cannot be
forged by a page and are not checked.

Failed logins and bearer tokens that are not valid count against the client's address
(``api/ratelimit.py``); past the limit every attempt from it gets 429 with ``Retry-After``.

All of it runs on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from sitelink.api.clients import ClientView, origin_of
from sitelink.api.ratelimit import FailureLimiter
from sitelink.storage.database import is_unreachable
from sitelink.storage.sessions import session_identity
from sitelink.storage.tokens import Identity, hash_token, verify_token

COOKIE = "sitelink_session"
CACHE_S = 5.0
KNOWN_RECHECK_S = 1.0  # how long a token verified before waits for the database

# Routes anyone may call (health, metrics, login/logout, the dashboard, the API schema)
# say so with this opt; everything else needs a token.
PUBLIC_OPT = "public"
PUBLIC = {PUBLIC_OPT: True}
# Routes that change things, or show what only an admin may see, need an admin's token.
ADMIN = {"role": "admin"}
SCHEMA_PATHS = [r"^/schema"]

_cache: dict[str, tuple[Identity, float]] = {}
_known: dict[str, Identity] = {}  # every identity verified by this process, for outages

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Credential = tuple[Literal["bearer", "session"], str]


def forget_cached_identities() -> None:
    """After a token is revoked in this process, stop trusting cached lookups at once."""
    _cache.clear()
    _known.clear()


def presented_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> Credential | None:
    """The bearer token, else the session id of the cookie, else None."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return ("bearer", value.strip())
    session_id = connection.cookies.get(COOKIE)
    return ("session", session_id) if session_id else None


async def identify(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Identity | None:
    key = hash_token(token)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    runtime = connection.app.state.runtime
    known = _known.get(key)
    if known is not None:
        writer = runtime.writer
        if writer is not None and not writer.storage_ok:
            return known  # storage is down: the identity verified before stands meanwhile
    try:
        if known is None:
            identity = await verify_token(runtime.db, token)
        else:
            async with asyncio.timeout(KNOWN_RECHECK_S):
                identity = await verify_token(runtime.db, token)
    except Exception as exc:
        if known is not None and is_unreachable(exc):
            return known
        raise
    if identity is not None:
        if len(_cache) > 10_000:
            _cache.clear()
            _known.clear()
        _cache[key] = (identity, now + CACHE_S)
        _known[key] = identity
    else:
        _known.pop(key, None)
    return identity


async def still_works(connection: ASGIConnection[Any, Any, Any, Any],
                      credential: Credential) -> bool:
    """Whether a credential accepted before is still accepted (an open event stream asks);
    a session is not touched by the question."""
    kind, secret = credential
    if kind == "bearer":
        return await identify(connection, secret) is not None
    return await _session(connection, secret, touch=False) is not None


async def _session(connection: ASGIConnection[Any, Any, Any, Any],
                   session_id: str, *, touch: bool = True) -> Identity | None:
    """The identity of a session, looked up every time; while the database is unreachable,
    the identity this process last saw for it. ``touch``: the use moves its idle deadline."""
    runtime = connection.app.state.runtime
    key = "session:" + hash_token(session_id)
    try:
        identity = await session_identity(runtime.db, session_id, now=datetime.now(UTC),
                                          idle_s=runtime.settings.session_idle_s, touch=touch)
    except Exception as exc:
        known = _known.get(key)
        if known is not None and is_unreachable(exc):
            return known
        raise
    if identity is None:
        _known.pop(key, None)
    else:
        if len(_known) > 10_000:
            _known.clear()
        _known[key] = identity
    return identity


def check_not_limited(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """429 when the caller's address has failed too often lately; else its address."""
    clients: ClientView = connection.app.state.clients
    limiter: FailureLimiter = connection.app.state.auth_failures
    address = clients.address(connection.scope)
    retry_after = limiter.retry_after_s(address)
    if retry_after is not None:
        raise TooManyRequestsException("too many failed authentication attempts; try later",
                                       headers={"Retry-After": str(retry_after)})
    return address


def check_same_origin(connection: ASGIConnection[Any, Any, Any, Any], *, required: bool) -> None:
    """403 unless ``Origin`` (else ``Referer``) names one of the server's own origins.
    With neither header: 403 when ``required``, else allowed (a script, not a browser)."""
    claimed = connection.headers.get("origin") or connection.headers.get("referer")
    if claimed is None:
        if required:
            raise PermissionDeniedException("cross-site request refused: no Origin header")
        return
    clients: ClientView = connection.app.state.clients
    if origin_of(claimed) not in set(clients.server_origins(connection.scope)):
        raise PermissionDeniedException("cross-site request refused: Origin does not match")


def check_json_body(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """415 unless the request carries no body or a JSON one."""
    content_type = connection.headers.get("content-type")
    length = connection.headers.get("content-length")
    has_body = content_type is not None or (length not in (None, "0")) or (
        "transfer-encoding" in connection.headers)
    if not has_body:
        return
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ClientException("the body must be application/json", status_code=415)


class TokenAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        credential = presented_credential(connection)
        if credential is None:
            raise NotAuthorizedException("authentication required: send a bearer token")
        address = check_not_limited(connection)
        kind, secret = credential
        if kind == "bearer":
            identity = await identify(connection, secret)
            if identity is None:
                connection.app.state.auth_failures.failed(address)
                raise NotAuthorizedException("invalid or revoked token")
            return AuthenticationResult(user=identity, auth=kind)
        identity = await _session(connection, secret)
        if identity is None:
            raise NotAuthorizedException("session ended or unknown: log in again")
        if connection.scope.get("method", "GET") not in SAFE_METHODS:
            check_same_origin(connection, required=True)
            check_json_body(connection)
        return AuthenticationResult(user=identity, auth=kind)


def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: the route's ``opt["role"]`` (default viewer) against the caller's role."""
    identity: Identity | None = connection.scope.get("user")
    if identity is None:
        return  # a public path: the middleware let it through without a token
    needed = handler.opt.get("role", "viewer")
    if needed == "admin" and identity.role != "admin":
        raise PermissionDeniedException("this action needs the admin role")

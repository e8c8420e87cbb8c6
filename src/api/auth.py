"""Who is calling: bearer tokens and the dashboard's session cookie; roles as guards.

Tokens come in an ``Authorization: Bearer`` header or in the HttpOnly session cookie that
``POST /api/v1/auth/session`` sets; never from a URL (a token in a query string is
ignored, so the request is anonymous and gets 401). Verified identities are cached for a
few seconds by token hash, so a burst of requests costs one database lookup.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from sitelink.storage.tokens import Identity, hash_token, verify_token

COOKIE = "sitelink_session"
CACHE_S = 5.0

# Routes anyone may call (health, metrics, login/logout, the dashboard, the API schema)
# say so with this opt; everything else needs a token.
PUBLIC_OPT = "public"
PUBLIC = {PUBLIC_OPT: True}
SCHEMA_PATHS = [r"^/schema"]

_cache: dict[str, tuple[Identity, float]] = {}


def forget_cached_identities() -> None:
    """After a token is revoked in this process, stop trusting cached lookups at once."""
    _cache.clear()


def presented_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(COOKIE) or None


async def identify(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Identity | None:
    key = hash_token(token)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    runtime = connection.app.state.runtime
    identity = await verify_token(runtime.db, token)
    if identity is not None:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (identity, now + CACHE_S)
    return identity


class TokenAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = presented_token(connection)
        if token is None:
            raise NotAuthorizedException("authentication required: send a bearer token")
        identity = await identify(connection, token)
        if identity is None:
            raise NotAuthorizedException("invalid or revoked token")
        return AuthenticationResult(user=identity, auth=None)


def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: the route's ``opt["role"]`` (default viewer) against the caller's role."""
    identity: Identity | None = connection.scope.get("user")
    if identity is None:
        return  # a public path: the middleware let it through without a token
    needed = handler.opt.get("role", "viewer")
    if needed == "admin" and identity.role != "admin":
        raise PermissionDeniedException("this action needs the admin role")

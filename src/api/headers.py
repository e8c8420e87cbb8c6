"""Security headers on every answer, added where the answer starts (a ``before_send`` hook
of the app, so 404s and errors raised before any route get them too).

Every answer: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and a strict Content-Security-Policy: the dashboard loads only its
own scripts, styles and connections (no inline script: Vite's build has none), images also
from ``data:`` (the favicon). The API's answers (``/api/``) also get ``Cache-Control:
no-store``: they carry live state and, for some, secrets shown once.

The interactive API pages under ``/schema`` (Swagger and friends) load their scripts from a
CDN with an inline bootstrap script; they get no Content-Security-Policy but everything else
(``/schema/openapi.json`` is plain JSON and gets the strict one).

Runs on the event loop, once per answer; the header block is built once.
"""

from __future__ import annotations

from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_COMMON: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_CSP = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]
_NO_STORE = [(b"cache-control", b"no-store")]


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The headers added to the answer for ``path``."""
    headers = list(_COMMON)
    if not path.startswith("/schema") or path.endswith(".json"):
        headers += _CSP
    if path.startswith("/api/"):
        headers += _NO_STORE
    return headers


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: the start of every HTTP answer gets ``headers_for`` its path
    (replacing any value the route set for the same names)."""
    if message["type"] != "http.response.start":
        return
    extra = headers_for(scope["path"])
    names = {name for name, _ in extra}
    kept = [(k, v) for k, v in message.get("headers", ()) if bytes(k).lower() not in names]
    message["headers"] = [*kept, *extra]

"""Who is on the other end of a request: address, scheme and the server's own origin.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``) are
believed only when the direct peer is one of ``SITELINK_TRUSTED_PROXIES``; from anyone else
they are ignored, so a client cannot pick its own address (to dodge the login rate limit)
or claim TLS (to move the session cookie's ``Secure`` flag). uvicorn's own proxy-header
handling is turned off (``api/server.py``): this module is the one place that reads them.

Pure functions of the ASGI scope and the settings; safe on any thread.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from litestar.types import Scope

from sitelink.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ClientView:
    """What ``settings`` let us believe about requests: built once per app."""

    def __init__(self, settings: Settings) -> None:
        self._proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies)
        self._public_origin = origin_of(settings.public_url) if settings.public_url else None

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    def via_trusted_proxy(self, scope: Scope) -> bool:
        return self._trusted(_peer(scope))

    def address(self, scope: Scope) -> str:
        """The client's address: the peer, or behind trusted proxies the right-most
        ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries to its left
        were written by the client and prove nothing)."""
        peer = _peer(scope)
        if not self._trusted(peer):
            return peer
        hops = [hop.strip() for hop in _header(scope, b"x-forwarded-for").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self._trusted(hop):
                return hop
        return peer

    def scheme(self, scope: Scope) -> str:
        """``https`` when served over TLS, or when a trusted proxy says the client used it."""
        scheme = str(scope.get("scheme", "http"))
        if self.via_trusted_proxy(scope):
            forwarded = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
            if forwarded in _DEFAULT_PORTS:
                scheme = forwarded
        return "https" if scheme in ("https", "wss") else "http"

    def is_secure(self, scope: Scope) -> bool:
        """Whether cookies set on this request get ``Secure``."""
        if self._public_origin is not None and self._public_origin.startswith("https://"):
            return True
        return self.scheme(scope) == "https"

    def server_origins(self, scope: Scope) -> Iterable[str]:
        """The origins that count as this server: ``SITELINK_PUBLIC_URL`` when set, else the
        scheme and host the request was addressed to."""
        if self._public_origin is not None:
            return (self._public_origin,)
        host = _header(scope, b"host")
        if self.via_trusted_proxy(scope):
            host = _header(scope, b"x-forwarded-host").split(",")[0].strip() or host
        if not host:
            return ()
        origin = origin_of(f"{self.scheme(scope)}://{host}")
        return (origin,) if origin else ()


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the default port left out; None for
    anything that is not an absolute http(s) URL (``null``, a path, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""

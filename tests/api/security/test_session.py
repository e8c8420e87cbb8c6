"""Session management: the cookie carries a server-side session id, never the token; logout
and revocation end it at once; expiry and idle timeout hold; ``Secure`` is decided by us."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.security.conftest import browser
from integration.live import ADMIN_TOKEN, EventStream, LiveServer, running_server
from sitelink.storage import sessions as session_store
from sitelink.storage import tokens as token_store
from sitelink.storage.tables import WebSession


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # A proxy that is not the test client: forwarded headers from 127.0.0.1 are not believed.
    with running_server("sqlite", tmp_path_factory.mktemp("session"),
                        trusted_proxies=("10.9.9.9",)) as live:
        yield live


def _cookie(client_cookies: object) -> str:
    value = dict(client_cookies)["sitelink_session"]  # type: ignore[call-overload]
    assert isinstance(value, str)
    return value


def test_session_cookie_holds_a_random_id_never_the_token(server: LiveServer) -> None:
    """The cookie is not the token; only the SHA-256 of the cookie is stored, with the hash of
    the token it came from."""
    token = server.token("session-viewer")
    client = browser(server, token)
    cookie = _cookie(client.cookies)
    assert token not in cookie and cookie != token
    assert len(cookie) >= 40
    rows = server.call(WebSession.select().where(
        WebSession.session_hash == hashlib.sha256(cookie.encode()).hexdigest()).run())
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert client.get("/api/v1/auth/me").json() == {"name": "session-viewer", "role": "viewer"}


def test_session_after_logout_the_old_cookie_is_refused(server: LiveServer) -> None:
    """Logout ends the session on the server: a copy of the cookie kept by an attacker (or the
    browser) gets 401 afterwards."""
    client = browser(server, ADMIN_TOKEN)
    cookie = _cookie(client.cookies)
    assert client.delete("/api/v1/auth/session").status_code == 200
    replay = server.client(cookies={"sitelink_session": cookie})
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_session_ends_when_its_token_is_revoked(server: LiveServer) -> None:
    """Revoking the token (as ``sitelink token revoke`` does) ends its sessions at once."""
    token = server.token("session-revoked", "admin")
    client = browser(server, token)
    assert client.get("/api/v1/auth/me").status_code == 200
    server.call(token_store.revoke_token(server.runtime.db, "session-revoked"))
    assert client.get("/api/v1/auth/me").status_code == 401


def test_session_expires_and_times_out_when_idle(server: LiveServer) -> None:
    """A session is refused past its absolute expiry, and past the idle timeout since it was
    last used; using it moves the idle deadline."""
    db = server.runtime.db
    token = server.token("session-clock")
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    sid = server.call(session_store.create_session(db, token, now=t0, max_age_s=3600))

    def who(at: datetime, idle_s: int = 600) -> object:
        return server.call(session_store.session_identity(db, sid, now=at, idle_s=idle_s))

    assert who(t0 + timedelta(seconds=500)) is not None  # used: the idle deadline moves
    assert who(t0 + timedelta(seconds=1000)) is not None  # 500 s after that use
    assert who(t0 + timedelta(seconds=1700)) is None  # idle for 700 s > 600 s
    assert who(t0 + timedelta(seconds=3600), idle_s=100_000) is None  # expired
    assert server.call(session_store.sweep_sessions(
        db, now=t0 + timedelta(seconds=3600), idle_s=600)) >= 1


def test_a_streams_recheck_does_not_count_as_using_the_session(server: LiveServer) -> None:
    """The check an open event stream makes (``touch=False``) leaves the idle deadline where
    the last real use put it: an open dashboard alone does not keep a session alive."""
    db = server.runtime.db
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    sid = server.call(session_store.create_session(db, server.token("session-stream-check"),
                                                   now=t0, max_age_s=3600))

    def who(at: datetime, *, touch: bool) -> object:
        return server.call(session_store.session_identity(
            db, sid, now=at, idle_s=600, touch=touch))

    assert who(t0 + timedelta(seconds=500), touch=False) is not None
    assert who(t0 + timedelta(seconds=700), touch=False) is None  # idle since t0


def _session_stream(server: LiveServer, client: httpx.Client) -> EventStream:
    """An event stream opened with the browser's session cookie only (no bearer token)."""
    stream = EventStream(server.base_url, token=None,
                         headers={"Cookie": f"sitelink_session={_cookie(client.cookies)}"})
    stream.open()
    assert stream.status_code == 200, stream.body
    return stream


def _ends(act: Callable[[], None], ending: list[EventStream], going_on: list[EventStream],
          timeout_s: float = 5.0) -> None:
    """After ``act``, every stream of ``ending`` ends within ``timeout_s`` and none of
    ``going_on`` has; all are closed afterwards."""
    try:
        act()
        for stream in ending:
            assert stream.wait(lambda s=stream: s.ended, timeout_s), "a stream goes on"
        assert not any(stream.ended for stream in going_on)
    finally:
        for stream in [*ending, *going_on]:
            stream.close()


def test_logout_ends_the_sessions_open_event_streams_at_once(server: LiveServer) -> None:
    """Logging out ends the streams that session opened, now (not at the next recheck, 30 s
    away here); another session's stream goes on."""
    leaving, staying = browser(server, ADMIN_TOKEN), browser(server, ADMIN_TOKEN)

    def log_out() -> None:
        assert leaving.delete("/api/v1/auth/session").status_code == 200

    _ends(log_out, [_session_stream(server, leaving)], [_session_stream(server, staying)])


def test_revoking_a_token_ends_its_event_streams_and_its_sessions_streams(
        server: LiveServer) -> None:
    """``DELETE /api/v1/tokens/{name}`` ends, now, the streams opened with that token and
    with sessions logged in with it; a stream of another token goes on."""
    token = server.token("stream-revoked", "viewer")

    def revoke() -> None:
        assert server.admin().delete("/api/v1/tokens/stream-revoked").status_code == 204

    _ends(revoke, [server.events(token=token), _session_stream(server, browser(server, token))],
          [server.events()])


def test_a_stream_ends_within_the_recheck_when_its_token_is_revoked_elsewhere(
        tmp_path: Path) -> None:
    """A token revoked by another process (``sitelink token revoke``, another instance) is
    found at the stream's next recheck (after this process's identity cache, ``CACHE_S``,
    lapses)."""
    with running_server("sqlite", tmp_path, app_options={"sse_recheck_s": 0.2}) as live:
        token = live.token("revoked-elsewhere", "viewer")
        _ends(lambda: live.call(token_store.revoke_token(live.runtime.db, "revoked-elsewhere")),
              [live.events(token=token)], [live.events()], timeout_s=10.0)


def test_session_cookie_is_not_secure_when_an_untrusted_client_claims_https(
        server: LiveServer) -> None:
    """``X-Forwarded-Proto: https`` from a client that is not a trusted proxy is ignored."""
    response = server.client().post("/api/v1/auth/session", json={"token": ADMIN_TOKEN},
                                     headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    attributes = [a.strip().lower() for a in response.headers["set-cookie"].split(";")]
    assert "secure" not in attributes
    assert "httponly" in attributes and "samesite=strict" in attributes


def test_session_cookie_is_secure_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """Through a proxy listed in ``SITELINK_TRUSTED_PROXIES`` that says https, the cookie is
    ``Secure``; so it is whenever ``SITELINK_PUBLIC_URL`` is https."""
    from sitelink.api.clients import ClientView
    from sitelink.settings import Settings

    def scope(peer: str, proto: str | None) -> dict[str, object]:
        headers = [(b"host", b"sitelink.example")]
        if proto:
            headers.append((b"x-forwarded-proto", proto.encode()))
        return {"type": "http", "scheme": "http", "client": (peer, 5000), "headers": headers}

    view = ClientView(Settings(trusted_proxies=("10.0.0.0/8",)))
    assert view.is_secure(scope("10.1.2.3", "https"))  # type: ignore[arg-type]
    assert not view.is_secure(scope("192.0.2.7", "https"))  # type: ignore[arg-type]
    assert not view.is_secure(scope("10.1.2.3", None))  # type: ignore[arg-type]
    public = ClientView(Settings(public_url="https://sitelink.example"))
    assert public.is_secure(scope("192.0.2.7", None))  # type: ignore[arg-type]

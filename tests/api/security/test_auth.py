"""Broken authentication: failed logins and failed bearer tokens are limited per client
address (429 with Retry-After), in bounded memory, by the forwarded address only behind a
trusted proxy. Time is a fake clock moved by the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration.live import ADMIN_TOKEN, LiveServer, running_server
from sitelink.api.ratelimit import FailureLimiter

LIMIT = 10
WINDOW_S = 60.0


class FakeTime:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: FakeTime) -> Iterator[LiveServer]:
    # 127.0.0.1 (the tests) is a trusted proxy here, so X-Forwarded-For names the client.
    with running_server("sqlite", tmp_path_factory.mktemp("auth"),
                        app_options={"auth_clock": clock}, auth_failures_max=LIMIT,
                        auth_failures_window_s=WINDOW_S,
                        trusted_proxies=("127.0.0.1",)) as live:
        yield live


def _as(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_auth_failed_bearer_tokens_are_limited_per_address(server: LiveServer,
                                                           clock: FakeTime) -> None:
    """Ten wrong tokens, then 429 with Retry-After — for the right token too, until the
    window has passed; another address is not affected."""
    client = server.client()
    for _ in range(LIMIT):
        wrong = client.get("/api/v1/mqtt/sites/", headers={
            "Authorization": "Bearer wrong", **_as("198.51.100.1")})
        assert wrong.status_code == 401
    limited = client.get("/api/v1/mqtt/sites/", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", **_as("198.51.100.1")})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= WINDOW_S
    assert limited.json()["detail"]
    other = client.get("/api/v1/mqtt/sites/", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", **_as("198.51.100.2")})
    assert other.status_code == 200
    clock.now += WINDOW_S
    again = client.get("/api/v1/mqtt/sites/", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", **_as("198.51.100.1")})
    assert again.status_code == 200


def test_auth_failed_logins_are_limited(server: LiveServer, clock: FakeTime) -> None:
    """Wrong tokens at ``POST /api/v1/auth/session`` count the same way: the 11th try is 429
    and sets no cookie."""
    client = server.client()
    for _ in range(LIMIT):
        response = client.post("/api/v1/auth/session", json={"token": "guess"},
                               headers=_as("198.51.100.3"))
        assert response.status_code == 401
    limited = client.post("/api/v1/auth/session", json={"token": ADMIN_TOKEN},
                          headers=_as("198.51.100.3"))
    assert limited.status_code == 429
    assert "retry-after" in limited.headers and "set-cookie" not in limited.headers
    clock.now += WINDOW_S


def test_auth_requests_without_credentials_are_not_counted(server: LiveServer) -> None:
    """A dashboard not logged in yet asks ``/auth/me`` and gets 401: that is no guess."""
    client = server.client()
    for _ in range(LIMIT * 2):
        assert client.get("/api/v1/auth/me", headers=_as("198.51.100.4")).status_code == 401
    assert client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", **_as("198.51.100.4")}).status_code == 200


def test_auth_limiter_forgets_old_failures_and_stays_bounded() -> None:
    """Failures older than the window no longer count; past ``max_addresses`` the address
    that failed longest ago is forgotten, so memory is bounded whatever the addresses."""
    now = FakeTime()
    limiter = FailureLimiter(limit=3, window_s=60, now=now, max_addresses=100)
    for _ in range(3):
        limiter.failed("a")
    assert limiter.retry_after_s("a") == 60
    now.now += 59.5
    assert limiter.retry_after_s("a") == 1
    now.now += 0.5
    assert limiter.retry_after_s("a") is None
    for i in range(1000):
        limiter.failed(f"spray-{i}")
    assert len(limiter) == 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 100)), max_size=60))
def test_auth_limiter_refuses_exactly_when_limit_failures_are_in_the_window(
        steps: list[tuple[str, float]]) -> None:
    """After any sequence of failures and waits, an address is refused iff it has at least
    ``limit`` failures less than ``window_s`` old (checked against a plain list)."""
    now = FakeTime()
    limiter = FailureLimiter(limit=3, window_s=30, now=now)
    history: dict[str, list[float]] = {}
    for address, wait_s in steps:
        now.now += wait_s
        limiter.failed(address)
        history.setdefault(address, []).append(now.now)
        for name, times in history.items():
            recent = [t for t in times if t > now.now - 30]
            assert (limiter.retry_after_s(name) is not None) == (len(recent) >= 3)


def test_auth_forwarded_addresses_are_believed_only_from_trusted_proxies() -> None:
    """A client cannot pick its own address with X-Forwarded-For: only a trusted proxy's
    header counts, and in it the right-most hop that is not itself a trusted proxy."""
    from sitelink.api.clients import ClientView
    from sitelink.settings import Settings

    def scope(peer: str, forwarded: str) -> object:
        return {"type": "http", "client": (peer, 1),
                "headers": [(b"x-forwarded-for", forwarded.encode())]}

    view = ClientView(Settings(trusted_proxies=("10.0.0.0/8", "2001:db8::1")))
    assert view.address(scope("192.0.2.9", "203.0.113.1")) == "192.0.2.9"  # type: ignore[arg-type]
    assert view.address(scope("10.0.0.2", "1.1.1.1, 203.0.113.1, 10.0.0.3")  # type: ignore[arg-type]
                        ) == "203.0.113.1"
    assert view.address(scope("2001:db8::1", "203.0.113.5")) == "203.0.113.5"  # type: ignore[arg-type]
    assert view.address(scope("10.0.0.2", "")) == "10.0.0.2"  # type: ignore[arg-type]

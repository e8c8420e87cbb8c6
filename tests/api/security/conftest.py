"""Fixtures of the security tests: a live server per module, and a logged-in browser.

The test modules are named after the OWASP risk they probe: ``test_auth`` (broken
authentication: rate limits), ``test_session`` (session management), ``test_csrf``,
``test_injection`` (topics and payloads), ``test_exhaustion`` (resource consumption),
``test_headers`` (security misconfiguration), ``test_data_exposure`` (files and schema).
"""

from __future__ import annotations

import httpx

from integration.live import LiveServer


def browser(server: LiveServer, token: str, *, origin: bool = True) -> httpx.Client:
    """An httpx client that logged in through ``POST /api/v1/auth/session`` and from then on
    carries only the session cookie — and, like a browser on the dashboard, the server's own
    ``Origin`` on unsafe requests (``origin=False`` leaves it out)."""
    headers = {"Origin": server.base_url} if origin else {}
    client = server.client()
    client.headers.update(headers)
    login = client.post("/api/v1/auth/session", json={"token": token})
    assert login.status_code == 200, login.text
    return client

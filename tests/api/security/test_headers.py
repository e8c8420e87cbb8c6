"""Security misconfiguration: every answer carries the security headers, API answers are not
stored, and the dashboard passes its strict Content-Security-Policy (no inline script)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from integration.live import LiveServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("headers")) as live:
        yield live


def test_headers_on_every_answer(server: LiveServer) -> None:
    """The dashboard, API answers of every kind (200, 401, 404, 400), metrics, the schema:
    nosniff, no-referrer, DENY; a CSP without 'unsafe-inline' on all but the schema UI."""
    anonymous, admin = server.client(), server.admin()
    answers = [anonymous.get("/"), anonymous.get("/sites/3"), anonymous.get("/api/v1/mqtt/health/"),
               anonymous.get("/api/v1/mqtt/sites/"), admin.get("/api/v1/nothing-here"),
               admin.post("/api/v1/mqtt/sites/", json={}), anonymous.get("/metrics"),
               anonymous.get("/schema/openapi.json")]
    for response in answers:
        where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        assert response.headers["x-content-type-options"] == "nosniff", where
        assert response.headers["referrer-policy"] == "no-referrer", where
        assert response.headers["x-frame-options"] == "DENY", where
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, where
        assert "frame-ancestors 'none'" in csp, where


def test_headers_api_answers_are_not_stored(server: LiveServer) -> None:
    """``Cache-Control: no-store`` on API answers, errors included (tokens, live state)."""
    for response in (server.admin().get("/api/v1/mqtt/sites/"),
                     server.client().get("/api/v1/auth/me"),
                     server.client().get("/api/v1/mqtt/health/")):
        assert response.headers["cache-control"] == "no-store"


def test_headers_the_dashboard_has_no_inline_script(server: LiveServer) -> None:
    """Every ``<script>`` of the page at ``/`` loads a file of our own origin, and no element
    carries an inline event handler or style, so the strict CSP lets it run."""
    page = server.client().get("/").text
    for attributes, content in re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S | re.I):
        assert re.search(r'\bsrc="/', attributes), f"inline or foreign script: {attributes}"
        assert not content.strip()
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page, re.I)
    assert not re.search(r"<[^>]+\sstyle\s*=", page, re.I)
    assert "<style" not in page.lower()

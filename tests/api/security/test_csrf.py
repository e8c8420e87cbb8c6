"""Cross-site request forgery: a cookie-authenticated unsafe request must come from the
server's own origin and carry JSON; bearer requests are not affected."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from api.security.conftest import browser
from integration.live import ADMIN_TOKEN, LiveServer, running_server
from sitelink.api.clients import ClientView, origin_of
from sitelink.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("csrf")) as live:
        yield live


def _site() -> dict[str, object]:
    return {"name": "csrf", "code": "csrf_" + uuid.uuid4().hex[:8], "broker_host": "127.0.0.1"}


def test_csrf_a_foreign_origin_is_refused(server: LiveServer) -> None:
    """With the admin's cookie, a request from ``https://evil.example`` (or another port of
    the same host) creates nothing and stops nothing: 403."""
    admin = browser(server, ADMIN_TOKEN, origin=False)
    site_id = server.admin().post("/api/v1/mqtt/sites/", json=_site()).json()["site_id"]
    for origin in ("https://evil.example", server.base_url.rsplit(":", 1)[0] + ":1"):
        evil = {"Origin": origin}
        created = admin.post("/api/v1/mqtt/sites/", json=_site(), headers=evil)
        assert created.status_code == 403, created.text
        stopped = admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/", headers=evil)
        assert stopped.status_code == 403
    assert admin.post("/api/v1/mqtt/sites/", json=_site(),
                      headers={"Referer": "https://evil.example/page"}).status_code == 403


def test_csrf_without_origin_or_referer_is_refused(server: LiveServer) -> None:
    """A cookie-authenticated unsafe request that names no origin at all is refused."""
    admin = browser(server, ADMIN_TOKEN, origin=False)
    assert admin.post("/api/v1/mqtt/sites/", json=_site()).status_code == 403


def test_csrf_a_body_that_is_not_json_is_415(server: LiveServer) -> None:
    """``text/plain`` and form posts need no CORS preflight: with the cookie they get 415,
    even from the right origin."""
    admin = browser(server, ADMIN_TOKEN)
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x"):
        response = admin.post("/api/v1/mqtt/sites/", content=json.dumps(_site()),
                              headers={"Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.text)


def test_csrf_the_dashboard_same_origin_json_works(server: LiveServer) -> None:
    """What the dashboard sends — JSON, its own Origin (or only a same-origin Referer), the
    cookie — works; so do bodiless control actions and safe methods without Origin."""
    admin = browser(server, ADMIN_TOKEN)
    created = admin.post("/api/v1/mqtt/sites/", json=_site())
    assert created.status_code == 201, created.text
    site_id = created.json()["site_id"]
    assert admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/").status_code == 200
    assert admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"name": "renamed"},
                       headers={"Content-Type": "application/json; charset=utf-8"}
                       ).status_code == 200
    referer_only = browser(server, ADMIN_TOKEN, origin=False)
    assert referer_only.post(f"/api/v1/mqtt/sites/{site_id}/start/",
                             headers={"Referer": server.base_url + "/sites/1"}).status_code == 200
    assert referer_only.get("/api/v1/mqtt/sites/").status_code == 200


def test_csrf_bearer_requests_are_not_affected(server: LiveServer) -> None:
    """A script with a bearer token sends what it likes from where it likes."""
    response = server.admin().post("/api/v1/mqtt/sites/", content=json.dumps(_site()),
                                   headers={"Origin": "https://evil.example",
                                            "Content-Type": "text/plain"})
    assert response.status_code == 201, response.text


def test_csrf_the_server_origin_is_the_public_url_when_set() -> None:
    """With ``SITELINK_PUBLIC_URL`` only that origin counts, whatever Host says; without it,
    the request's host; behind a trusted proxy, its forwarded host and scheme."""
    def scope(host_header: str, peer: str = "192.0.2.1", **forwarded: str) -> object:
        headers = [(b"host", host_header.encode())]
        headers += [(f"x-forwarded-{k}".encode(), v.encode()) for k, v in forwarded.items()]
        return {"type": "http", "scheme": "http", "client": (peer, 1), "headers": headers}

    public = ClientView(Settings(public_url="https://Sitelink.example:443/"))
    assert list(public.server_origins(scope("evil.example"))) == ["https://sitelink.example"]
    plain = ClientView(Settings())
    assert list(plain.server_origins(scope("host:8000"))) == ["http://host:8000"]
    assert list(plain.server_origins(scope("host:8000", proto="https"))) == ["http://host:8000"]
    proxied = ClientView(Settings(trusted_proxies=("192.0.2.1",)))
    assert list(proxied.server_origins(scope("backend:8000", proto="https", host="site.example"))
                ) == ["https://site.example"]
    assert origin_of("null") is None and origin_of("http://a:80/x") == "http://a"

"""Every route of API.md's endpoint table, called as anonymous, viewer and admin.

The table below is API.md's, row by row: anonymous gets 401 on everything that is not
public, a viewer gets 403 on admin routes, and an admin gets the documented success code
(201 for a create, 204 for a delete, 202 for a discovery window). Destructive calls get a
resource of their own, so the rows are independent. Also: tokens in URLs are ignored, bad
and revoked tokens are refused, and the dashboard's cookie session works and is locked down.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from integration.live import (
    ADMIN_TOKEN,
    LiveServer,
    Publisher,
    create_site,
    unique_code,
    v1_heartbeat,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto
from sitelink.storage import tokens as token_store


class World:
    """A connected site with a topic, a datalogger and a sensor, plus factories of fresh ones."""

    def __init__(self, server: LiveServer, broker: Mosquitto) -> None:
        self.server = server
        self.broker = broker
        self.admin = server.admin()
        self.publisher = Publisher(broker.host, broker.port)
        site = create_site(self.admin, broker.host, broker.port, is_enabled=True)
        self.site_id: int = site["site_id"]
        self.code: str = site["code"]
        status = f"/api/v1/mqtt/sites/{self.site_id}/status/"
        wait_until(lambda: self.admin.get(status).json()["status"] == "connected",
                   message=lambda: f"world site connected: {self.admin.get(status).json()}")
        self.topic_id = self.new_topic()
        self.datalogger_id = self.new_datalogger()
        sensors = self.admin.get("/api/v1/mqtt/sensors/by_datalogger",
                                 params={"datalogger_id": self.datalogger_id}).json()["sensors"]
        self.sensor_id: int = sensors[0]["id"]

    def new_site(self, **fields: Any) -> int:
        site_id: int = create_site(self.admin, self.broker.host, self.broker.port,
                                   **fields)["site_id"]
        return site_id

    def new_token_name(self) -> str:
        name = f"revoke-{uuid.uuid4().hex[:8]}"
        self.server.token(name)
        return name

    def new_topic(self) -> int:
        pattern = f"roles/{uuid.uuid4().hex[:6]}/{{serial}}/heartbeat"
        response = self.admin.post(f"/api/v1/mqtt/sites/{self.site_id}/topics/",
                                   json={"pattern": pattern})
        assert response.status_code == 201, response.text
        topic_id: int = response.json()["id"]
        return topic_id

    def new_datalogger(self) -> int:
        serial = "SN" + uuid.uuid4().hex[:6]
        self.publisher.publish(f"{self.code}/datalogger/monstro/{serial}/heartbeat",
                               v1_heartbeat(("t_ext", 21.5)))

        def found() -> int | None:
            rows = self.admin.get("/api/v1/mqtt/dataloggers/",
                                  params={"site_id": self.site_id}).json()["dataloggers"]
            ids = [d["id"] for d in rows if d["serial_number"] == serial and d["sensors_count"]]
            return ids[0] if ids else None

        return wait_until(found, message=f"datalogger {serial} stored")


@pytest.fixture(scope="module")
def world(server: LiveServer, mosquitto_session: Mosquitto) -> Iterator[World]:
    w = World(server, mosquitto_session)
    yield w
    w.publisher.close()


Path = Callable[[World], str]
Body = Callable[[World], Any] | None


class Route(msgspec.Struct, frozen=True):
    method: str
    path: Path
    role: str  # "none", "viewer" or "admin"
    ok: int  # the success code an allowed caller gets
    body: Body = None
    params: dict[str, Any] | None = None


def fixed(path: str) -> Path:
    return lambda w: path


def site(suffix: str, fresh: Callable[[World], int] | None = None) -> Path:
    return lambda w: f"/api/v1/mqtt/sites/{fresh(w) if fresh else w.site_id}/{suffix}"


def new_site_body(w: World) -> dict[str, Any]:
    return {"name": "Roles", "code": unique_code("roles"), "broker_host": w.broker.host,
            "broker_port": w.broker.port}


ROUTES: dict[str, Route] = {
    "health": Route("GET", fixed("/api/v1/mqtt/health/"), "none", 200),
    "metrics": Route("GET", fixed("/metrics"), "none", 200),
    "dashboard": Route("GET", fixed("/"), "none", 200),
    "openapi": Route("GET", fixed("/schema/openapi.json"), "none", 200),
    "sites.list": Route("GET", fixed("/api/v1/mqtt/sites/"), "viewer", 200),
    "sites.create": Route("POST", fixed("/api/v1/mqtt/sites/"), "admin", 201, new_site_body),
    "site.get": Route("GET", site(""), "viewer", 200),
    "site.patch": Route("PATCH", site("", lambda w: w.new_site()), "admin", 200,
                        lambda w: {"name": "renamed"}),
    "site.delete": Route("DELETE", site("", lambda w: w.new_site()), "admin", 204),
    "site.start": Route("POST", site("start/", lambda w: w.new_site()), "admin", 200),
    "site.stop": Route("POST", site("stop/", lambda w: w.new_site(is_enabled=True)), "admin",
                       200),
    "site.reconnect": Route("POST", site("reconnect/", lambda w: w.new_site(is_enabled=True)),
                            "admin", 200),
    "site.history": Route("GET", site("history/"), "viewer", 200),
    "site.commands": Route("GET", site("commands/"), "viewer", 200),
    "site.status": Route("GET", site("status/"), "viewer", 200),
    "topics.list": Route("GET", site("topics/"), "viewer", 200),
    "topics.create": Route("POST", site("topics/"), "admin", 201,
                           lambda w: {"pattern": f"r/{uuid.uuid4().hex[:6]}/{{serial}}/status",
                                      "message_kind": "status"}),
    "topic.patch": Route("PATCH", lambda w: f"/api/v1/mqtt/sites/{w.site_id}/topics/"
                         f"{w.new_topic()}/", "admin", 200, lambda w: {"qos": 0}),
    "topic.delete": Route("DELETE", lambda w: f"/api/v1/mqtt/sites/{w.site_id}/topics/"
                          f"{w.new_topic()}/", "admin", 204),
    "discovery.start": Route("POST", site("discovery/"), "admin", 202,
                             lambda w: {"seconds": 0.2}),
    "discovery.get": Route("GET", site("discovery/"), "viewer", 200),
    "publish": Route("POST", site("publish/"), "admin", 200,
                     lambda w: {"topic": f"{w.code}/gateway/1/datalogger/m/1/input",
                                "message": "start", "qos": 0}),
    "dataloggers.list": Route("GET", fixed("/api/v1/mqtt/dataloggers/"), "viewer", 200,
                              params={"online_only": "true"}),
    "datalogger.get": Route("GET", lambda w: f"/api/v1/mqtt/dataloggers/{w.datalogger_id}/",
                            "viewer", 200),
    "datalogger.patch": Route("PATCH", lambda w: f"/api/v1/mqtt/dataloggers/{w.datalogger_id}/",
                              "admin", 200, lambda w: {"label": "roof"}),
    "datalogger.delete": Route("DELETE",
                               lambda w: f"/api/v1/mqtt/dataloggers/{w.new_datalogger()}/",
                               "admin", 204),
    "gateways.list": Route("GET", fixed("/api/v1/mqtt/gateways/"), "viewer", 200),
    "sensors.by_datalogger": Route("GET", fixed("/api/v1/mqtt/sensors/by_datalogger"), "viewer",
                                   200),
    "sensor.readings": Route("GET", lambda w: f"/api/v1/mqtt/sensors/{w.sensor_id}/readings",
                             "viewer", 200),
    "events": Route("GET", fixed("/api/v1/events"), "viewer", 200),
    "actors": Route("GET", fixed("/api/v1/actors"), "admin", 200),
    "cluster": Route("GET", fixed("/api/v1/cluster"), "viewer", 200),
    "audit": Route("GET", fixed("/api/v1/audit"), "admin", 200),
    "audit.csv": Route("GET", fixed("/api/v1/audit"), "admin", 200, params={"format": "csv"}),
    "sensor.readings.csv": Route("GET",
                                 lambda w: f"/api/v1/mqtt/sensors/{w.sensor_id}/readings.csv",
                                 "viewer", 200),
    "tokens.list": Route("GET", fixed("/api/v1/tokens"), "admin", 200),
    "tokens.create": Route("POST", fixed("/api/v1/tokens"), "admin", 201,
                           lambda w: {"name": f"roles-{uuid.uuid4().hex[:8]}"}),
    "tokens.revoke": Route("DELETE", lambda w: f"/api/v1/tokens/{w.new_token_name()}", "admin",
                           204),
    "auth.me": Route("GET", fixed("/api/v1/auth/me"), "viewer", 200),
    "auth.login": Route("POST", fixed("/api/v1/auth/session"), "none", 200,
                        lambda w: {"token": ADMIN_TOKEN}),
    "auth.logout": Route("DELETE", fixed("/api/v1/auth/session"), "none", 200),
}

EXPECTED = {
    # caller -> route role -> allowed?
    "anonymous": {"none": True, "viewer": False, "admin": False},
    "viewer": {"none": True, "viewer": True, "admin": False},
    "admin": {"none": True, "viewer": True, "admin": True},
}
REFUSAL = {"anonymous": 401, "viewer": 403}


def call(client: httpx.Client, route: Route, w: World) -> httpx.Response:
    path = route.path(w)
    params = dict(route.params or {})
    if path.endswith("/by_datalogger"):
        params["datalogger_id"] = w.datalogger_id
    body = route.body(w) if route.body else None
    if path == "/api/v1/events":
        # An event stream never ends: the status line and headers are the answer.
        with client.stream(route.method, path) as response:
            if response.status_code != 200:
                response.read()
            return response
    return client.request(route.method, path, json=body, params=params)


@pytest.mark.parametrize("caller", ["anonymous", "viewer", "admin"])
@pytest.mark.parametrize("name", list(ROUTES))
def test_every_route_answers_each_role_as_api_md_says(
    name: str, caller: str, server: LiveServer, world: World
) -> None:
    """A route is allowed exactly for the roles of its row; others get 401 (no token) or 403."""
    route = ROUTES[name]
    client = {"anonymous": server.client(), "viewer": server.viewer(),
              "admin": world.admin}[caller]
    response = call(client, route, world)
    if EXPECTED[caller][route.role]:
        assert response.status_code == route.ok, f"{route.method} {name}: {response.text}"
    else:
        assert response.status_code == REFUSAL[caller], f"{route.method} {name}: {response.text}"
        assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("query", ["token", "access_token", "auth", "bearer", "api_key"])
def test_a_token_in_the_query_string_is_ignored(query: str, server: LiveServer) -> None:
    """Tokens never travel in a URL: one there leaves the request anonymous (401)."""
    anonymous = server.client()
    response = anonymous.get("/api/v1/mqtt/sites/", params={query: ADMIN_TOKEN})
    assert response.status_code == 401
    with anonymous.stream("GET", "/api/v1/events", params={query: ADMIN_TOKEN}) as stream:
        assert stream.status_code == 401


# The ids name each shape: the token itself is random per process (pytest-xdist's workers
# must collect the same ids) and a secret has no place in a test id.
@pytest.mark.parametrize("authorization", [
    "Bearer not-a-token", "Bearer", "Basic " + ADMIN_TOKEN, ADMIN_TOKEN, "Bearer" + ADMIN_TOKEN,
    "Token " + ADMIN_TOKEN,
], ids=["unknown", "empty-bearer", "basic", "bare", "no-space", "token-scheme"])
def test_bad_credentials_are_401(authorization: str, server: LiveServer) -> None:
    """Unknown tokens and other schemes than Bearer are refused with 401 and a detail."""
    response = server.client().get("/api/v1/mqtt/sites/",
                                   headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["detail"]


def test_the_bearer_scheme_is_case_insensitive(server: LiveServer) -> None:
    """RFC 7235: the scheme name is case-insensitive."""
    response = server.client().get("/api/v1/auth/me",
                                   headers={"Authorization": "bearer " + ADMIN_TOKEN})
    assert response.status_code == 200
    assert response.json() == {"name": token_store.BOOTSTRAP_NAME, "role": "admin"}


def test_a_revoked_token_is_401(server: LiveServer) -> None:
    """A token revoked through storage (as ``sitelink token revoke`` does) no longer works."""
    token = server.token("to-revoke", "admin")
    server.call(token_store.revoke_token(server.runtime.db, "to-revoke"))
    assert server.client(token).get("/api/v1/mqtt/sites/").status_code == 401


def test_viewer_and_admin_tokens_say_who_they_are(server: LiveServer) -> None:
    """``GET /api/v1/auth/me`` → the token's name and role."""
    assert server.viewer().get("/api/v1/auth/me").json() == {"name": "viewer", "role": "viewer"}
    assert server.admin().get("/api/v1/auth/me").json() == {
        "name": token_store.BOOTSTRAP_NAME, "role": "admin"}


def _set_cookie(response: httpx.Response) -> str:
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    return headers[0]


def test_cookie_session_login_me_and_logout(server: LiveServer) -> None:
    """POST session sets an HttpOnly, SameSite=Strict cookie every endpoint accepts; DELETE
    clears it; the token itself never appears in a URL."""
    browser = server.client()
    login = browser.post("/api/v1/auth/session", json={"token": server.token("viewer")})
    assert login.status_code == 200
    assert login.json() == {"name": "viewer", "role": "viewer"}
    cookie = _set_cookie(login)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes

    assert browser.get("/api/v1/auth/me").json() == {"name": "viewer", "role": "viewer"}
    assert browser.get("/api/v1/mqtt/sites/").status_code == 200
    assert browser.get("/api/v1/actors").status_code == 403  # the cookie keeps the role
    with browser.stream("GET", "/api/v1/events") as stream:  # EventSource sends cookies only
        assert stream.status_code == 200

    logout = browser.delete("/api/v1/auth/session")
    assert logout.status_code == 200
    cleared = _set_cookie(logout).lower()
    assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_login_with_a_bad_token_is_401_and_sets_no_cookie(server: LiveServer) -> None:
    """A token that is not valid gets no session."""
    response = server.client().post("/api/v1/auth/session", json={"token": "nope"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_a_forged_cookie_is_401(server: LiveServer) -> None:
    """The cookie holds a server-side session id; one the server never issued is 401."""
    browser = server.client(cookies={"sitelink_session": "forged"})
    assert browser.get("/api/v1/auth/me").status_code == 401

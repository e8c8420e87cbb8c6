"""Bad input is answered with 4xx and a ``detail`` that names the field — never with a 500.

Hypothesis throws malformed bodies at site create/patch, topic create/patch and publish on
a live server; a table of representative cases pins the 400s of API.md field by field;
unknown ids are 404, a taken site code is 409, and a broker password is never shown by
the API nor written to a log.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.live import LiveServer, create_site, unique_code, wait_until
from sitelink.api.schemas import SiteCreate, SiteUpdate
from sitelink.embedded_broker import Mosquitto

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)


class Target(msgspec.Struct):
    site_id: int
    code: str
    topic_id: int


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> httpx.Client:
    return server.admin()


@pytest.fixture(scope="module")
def target(admin: httpx.Client) -> Target:
    """A disabled site (nothing connects, so a valid publish is 409, never sent) and a topic."""
    site = create_site(admin, "127.0.0.1", 1883, code=unique_code("val"))
    topics = admin.get(f"/api/v1/mqtt/sites/{site['site_id']}/topics/").json()["topics"]
    return Target(site["site_id"], site["code"], topics[0]["id"])


def assert_client_error(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail


def send(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    return client.request(method, path, content=json.dumps(body),
                          headers={"Content-Type": "application/json"})


# --- bodies -----------------------------------------------------------------------------------

def valid_site() -> dict[str, Any]:
    return {"name": "Fuzz", "code": unique_code("fz"), "broker_host": "127.0.0.1",
            "broker_port": 1883, "is_enabled": False}


# Litestar decodes bodies leniently (msgspec ``strict=False``): "1883" is a port and 0 is
# false. What is bad here is bad under that rule too.
words = st.text(alphabet="abcxyz ", min_size=1, max_size=8)
fractions = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
not_bool = words | st.integers(min_value=2) | fractions | st.lists(st.booleans(), min_size=1)

BAD_SITE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.just("") | st.text(min_size=201, max_size=250) | st.integers() | st.none(),
    "code": st.text(min_size=1, max_size=70).filter(
        lambda s: not (s.isascii() and all(c.isalnum() or c in "_-" for c in s) and len(s) <= 64))
        | st.just("") | st.lists(st.integers(), min_size=1),
    "broker_host": st.just("") | st.just("has space") | st.just("a/b") | st.booleans(),
    "broker_port": st.integers(max_value=0) | st.integers(min_value=65536) | words | fractions
        | st.none(),
    "protocol": st.text().filter(lambda s: s not in ("3.1.1", "5")) | st.lists(st.none()),
    "keepalive_s": st.integers(max_value=4) | st.integers(min_value=65536) | words,
    "tls": not_bool | st.none(),
    "offline_after_s": st.integers(max_value=4) | st.integers(min_value=30 * 86_400 + 1)
        | words,
    "is_enabled": not_bool | st.none(),
    "password": st.text(min_size=1025, max_size=1030) | st.lists(st.text(), min_size=1),
    "username": st.text(min_size=256, max_size=260) | st.lists(st.text(), min_size=1),
    "client_id_prefix": st.sampled_from(["has space", "a/b", "x" * 65, "é"]),
}


@st.composite
def bad_site_field(draw: st.DrawFn) -> tuple[str, Any]:
    field = draw(st.sampled_from(sorted(BAD_SITE_VALUES)))
    return field, draw(BAD_SITE_VALUES[field])


def unknown_field_name() -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=12).filter(lambda s: s not in SiteCreate.__struct_fields__)


# --- hypothesis: never a 500 ------------------------------------------------------------------

@FUZZ
@given(body=json_values)
def test_site_create_with_any_json_is_never_a_500(server: LiveServer, admin: httpx.Client,
                                                   body: Any) -> None:
    """Any JSON at all as a new site: a 4xx with a detail (or, by luck, a valid site)."""
    response = send(admin, "POST", "/api/v1/mqtt/sites/", body)
    assert_client_error(response)
    if response.status_code == 201:
        admin.delete(f"/api/v1/mqtt/sites/{response.json()['site_id']}/")


@FUZZ
@given(bad=bad_site_field())
def test_site_create_with_one_bad_field_is_400_naming_it(admin: httpx.Client,
                                                          bad: tuple[str, Any]) -> None:
    """A valid site with one field out of its domain → 400 whose detail names that field."""
    field, value = bad
    response = send(admin, "POST", "/api/v1/mqtt/sites/", {**valid_site(), field: value})
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


@FUZZ
@given(name=unknown_field_name(), value=json_values)
def test_site_create_with_an_unknown_field_is_400_naming_it(admin: httpx.Client, name: str,
                                                             value: Any) -> None:
    """A typo such as ``passwrod`` is refused, not silently ignored."""
    response = send(admin, "POST", "/api/v1/mqtt/sites/", {**valid_site(), name: value})
    assert response.status_code == 400, response.text
    assert name in response.json()["detail"]


@FUZZ
@given(bad=bad_site_field())
def test_site_patch_with_one_bad_field_is_400_naming_it(admin: httpx.Client, target: Target,
                                                         bad: tuple[str, Any]) -> None:
    """PATCH with one field out of its domain → 400 whose detail names it."""
    field, value = bad
    if field == "password" and value is None:
        return
    response = send(admin, "PATCH", f"/api/v1/mqtt/sites/{target.site_id}/", {field: value})
    assert response.status_code == 400, f"{field}={value!r}: {response.text}"
    assert field in response.json()["detail"]


@FUZZ
@given(body=json_values)
def test_site_patch_with_any_json_is_never_a_500(admin: httpx.Client, body: Any) -> None:
    """Patched on a throwaway site: a lucky valid body may change it, nothing may break."""
    site_id = create_site(admin, "127.0.0.1", 1883)["site_id"]
    try:
        assert_client_error(send(admin, "PATCH", f"/api/v1/mqtt/sites/{site_id}/", body))
    finally:
        admin.delete(f"/api/v1/mqtt/sites/{site_id}/")


topic_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"pattern": st.text(max_size=40)}),
    st.fixed_dictionaries({"pattern": st.sampled_from(["x/{serial}/hb", "a/#", "+/{serial}",
                                                      "{serial}/{serial}", "", "/{serial}"]),
                           "device_kind": json_values, "message_kind": json_values,
                           "payload_version": json_values, "qos": json_values,
                           "is_active": json_values}),
)


@FUZZ
@given(body=topic_bodies)
def test_topic_create_and_patch_with_bad_bodies_are_never_a_500(
    admin: httpx.Client, target: Target, body: Any
) -> None:
    """Any body for a subscription, created or patched: a 4xx with a detail, never a 500."""
    topics = f"/api/v1/mqtt/sites/{target.site_id}/topics/"
    created = send(admin, "POST", topics, body)
    assert_client_error(created)
    if created.status_code == 201:
        admin.delete(f"{topics}{created.json()['id']}/")
    assert_client_error(send(admin, "PATCH", f"{topics}{target.topic_id}/", body))


@st.composite
def publish_bodies(draw: st.DrawFn, code: str) -> Any:
    topic = draw(st.one_of(
        st.text(max_size=30),
        st.text(max_size=20).map(lambda s: f"{code}/{s}"),
        st.sampled_from(["+", "#", "\x00"]).map(lambda c: f"{code}/a{c}b"),
        st.integers(min_value=1025, max_value=1100).map(lambda n: f"{code}/" + "t" * n),
        json_values,
    ))
    body = {"topic": topic, "message": draw(st.text(max_size=20) | json_values),
            "qos": draw(st.integers(-2, 4) | json_values), "retain": draw(json_values)}
    keys = draw(st.sets(st.sampled_from(sorted(body)), max_size=4))
    return draw(st.just({k: v for k, v in body.items() if k in keys}) | json_values)


@FUZZ
@given(data=st.data())
def test_publish_with_bad_bodies_is_never_a_500(admin: httpx.Client, target: Target,
                                                 data: st.DataObject) -> None:
    """Malformed publish bodies are 400 (or 409 when valid but the site is down), never 500."""
    body = data.draw(publish_bodies(target.code))
    response = send(admin, "POST", f"/api/v1/mqtt/sites/{target.site_id}/publish/", body)
    assert_client_error(response)
    assert response.status_code in (400, 409), response.text


# --- representative cases of API.md ------------------------------------------------------------

SITE = {"name": "S", "code": "rep_site", "broker_host": "127.0.0.1"}
SITE_CASES = [
    ({**SITE, "broker_port": 0}, "broker_port"),
    ({**SITE, "broker_port": 70000}, "broker_port"),
    ({**SITE, "broker_port": "x"}, "broker_port"),
    ({**SITE, "code": "has spaces"}, "code"),
    ({**SITE, "code": "x" * 65}, "code"),
    ({**SITE, "protocol": "4"}, "protocol"),
    ({**SITE, "passwrod": "secret"}, "passwrod"),
    ({"name": "S", "broker_host": "h"}, "code"),
]


@pytest.mark.parametrize(("body", "field"), SITE_CASES)
def test_site_create_cases_of_api_md(admin: httpx.Client, body: dict[str, Any],
                                     field: str) -> None:
    """API.md's site field rules, one bad field at a time."""
    response = admin.post("/api/v1/mqtt/sites/", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"broker_port": 0}, "broker_port"), ({"code": "a b"}, "code"),
    ({"protocol": "4"}, "protocol"), ({"nope": 1}, "nope"), ({"keepalive_s": 1}, "keepalive_s"),
])
def test_site_patch_cases_of_api_md(admin: httpx.Client, target: Target, body: dict[str, Any],
                                    field: str) -> None:
    """The same rules hold for PATCH, which also refuses unknown fields."""
    response = admin.patch(f"/api/v1/mqtt/sites/{target.site_id}/", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"pattern": "a/#"}, "pattern"), ({"pattern": "a/+/{serial}"}, "pattern"),
    ({"pattern": "a/{model}/heartbeat"}, "pattern"),
    ({"pattern": "a/{serial}/x", "payload_version": "v9"}, "payload_version"),
    ({"pattern": "a/{serial}/x", "qos": 3}, "qos"),
    ({"pattern": "a/{serial}/x", "device_kind": "cow"}, "device_kind"),
    ({"pattern": "a/{serial}/x", "message_kind": "cow"}, "message_kind"),
    ({"qos": 1}, "pattern"),
    ({"pattern": "a/{serial}/x", "payload_version": "mapped"}, "payload_map"),
    ({"pattern": "a/{serial}/x", "payload_map": {"keys": "a", "values": "b"}}, "payload_map"),
    ({"pattern": "a/{serial}/x", "payload_version": "mapped",
      "payload_map": {"keys": "head.fields[].name", "values": "data[-1"}}, "payload_map.values"),
    ({"pattern": "a/{serial}/x", "payload_version": "mapped",
      "payload_map": {"keys": "a", "value": "b"}}, "payload_map"),
    ({"pattern": "spBv1.0/{group}/+/{gateway}/#"}, "pattern"),
    ({"pattern": "a/{serial}/x", "payload_version": "sparkplug_b"}, "pattern"),
])
def test_topic_cases(admin: httpx.Client, target: Target, body: dict[str, Any],
                     field: str) -> None:
    """Patterns must be MQTT-safe templates with {serial} (absolute spBv1.0/... only for
    sparkplug_b); enums and qos are checked; a payload_map only with mapped, and it must
    compile (the 400 names the expression)."""
    response = admin.post(f"/api/v1/mqtt/sites/{target.site_id}/topics/", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def _publish_cases(code: str) -> list[tuple[dict[str, Any], str]]:
    ok = f"{code}/gateway/1/datalogger/monstro/15/input"
    return [
        ({"topic": "other_site/gateway/1/input", "message": "m"}, "topic"),
        ({"topic": code, "message": "m"}, "topic"),
        ({"topic": f"{code}/", "message": "m"}, "topic"),
        ({"topic": f"{code}x/input", "message": "m"}, "topic"),
        ({"topic": f"{code}/a/+/input", "message": "m"}, "topic"),
        ({"topic": f"{code}/a/#", "message": "m"}, "topic"),
        ({"topic": f"{code}/a\x00b", "message": "m"}, "topic"),
        ({"topic": f"{code}/" + "t" * 1025, "message": "m"}, "topic"),
        ({"topic": f"{code}/" + "é" * 510, "message": "m"}, "topic"),  # 1020 chars, 1020+ bytes
        ({"topic": ok, "message": "m" * (256 * 1024 + 1)}, "message"),
        ({"topic": ok, "message": "é" * (128 * 1024 + 1)}, "message"),  # chars ok, bytes not
        ({"topic": ok, "message": "m", "qos": 3}, "qos"),
        ({"topic": ok, "message": "m", "qos": -1}, "qos"),
        ({"topic": ok, "message": "m", "retain": "yes"}, "retain"),
        ({"topic": ok}, "message"),
    ]


@pytest.mark.parametrize("case", range(len(_publish_cases("x"))))
def test_publish_cases_of_api_md(admin: httpx.Client, target: Target, case: int) -> None:
    """Publish validation comes first: these are 400 even though the site is not connected."""
    body, field = _publish_cases(target.code)[case]
    response = admin.post(f"/api/v1/mqtt/sites/{target.site_id}/publish/", json=body)
    assert response.status_code == 400, response.text[:300]
    assert field in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v1/mqtt/sites/"), ("PATCH", "/api/v1/mqtt/sites/{id}/"),
    ("POST", "/api/v1/mqtt/sites/{id}/topics/"), ("POST", "/api/v1/mqtt/sites/{id}/publish/"),
])
def test_a_missing_body_is_400_saying_so(admin: httpx.Client, target: Target, method: str,
                                         path: str) -> None:
    """No body where one is required: 400 that says so."""
    response = admin.request(method, path.format(id=target.site_id))
    assert response.status_code == 400
    assert "body is required" in response.json()["detail"]


def test_a_valid_publish_to_a_site_that_is_not_connected_is_409(admin: httpx.Client,
                                                                target: Target) -> None:
    """A valid command to a site without a live connection is 409."""
    response = admin.post(f"/api/v1/mqtt/sites/{target.site_id}/publish/",
                          json={"topic": f"{target.code}/gateway/1/input", "message": "start"})
    assert response.status_code == 409
    assert "not connected" in response.json()["detail"]


def test_a_lone_surrogate_in_a_message_is_400(admin: httpx.Client, target: Target) -> None:
    """JSON can escape text that is not UTF-8; that must not reach ``str.encode``."""
    body = '{"topic": "' + target.code + '/a/input", "message": "\\ud800"}'
    response = admin.post(f"/api/v1/mqtt/sites/{target.site_id}/publish/", content=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/mqtt/sensors/1/readings", {"since": "yesterday"}, "since"),
    ("/api/v1/mqtt/sensors/1/readings", {"until": "2025-13-45"}, "until"),
    ("/api/v1/mqtt/sensors/1/readings", {"limit": "0"}, "limit"),
    ("/api/v1/mqtt/sensors/by_datalogger", {}, "datalogger_id"),
    ("/api/v1/mqtt/sensors/by_datalogger", {"datalogger_id": "x"}, "datalogger_id"),
    ("/api/v1/mqtt/dataloggers/", {"site_id": "x"}, "site_id"),
    ("/api/v1/audit", {"limit": "100000"}, "limit"),
    ("/api/v1/audit", {"offset": str(2**63)}, "offset"),
    ("/api/v1/audit", {"offset": "-1"}, "offset"),
    ("/api/v1/actors", {"kind": "cow"}, "kind"),
    ("/api/v1/events", {"types": "site.status,bogus"}, "types"),
    ("/api/v1/events", {"site_id": "x"}, "site_id"),
])
def test_bad_query_parameters_are_400_naming_them(admin: httpx.Client, path: str,
                                                  params: dict[str, str], field: str) -> None:
    """Query parameters are validated like bodies: 400 naming the parameter."""
    response = admin.get(path, params=params)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def test_a_bad_last_event_id_is_400(admin: httpx.Client) -> None:
    """A Last-Event-ID that is not a number is refused, naming the header."""
    response = admin.get("/api/v1/events", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert "Last-Event-ID" in response.json()["detail"]


def test_datalogger_patch_validation(admin: httpx.Client) -> None:
    """Validation of the body comes before the lookup: a bad body is 400 for any id."""
    response = admin.patch("/api/v1/mqtt/dataloggers/1/", json={"offline_after_s": 1})
    assert response.status_code == 400
    assert "offline_after_s" in response.json()["detail"]
    response = admin.patch("/api/v1/mqtt/dataloggers/1/", json={"serial_number": "x"})
    assert response.status_code == 400
    assert "serial_number" in response.json()["detail"]


# --- unknown ids and conflicts ----------------------------------------------------------------

UNKNOWN = 987_654


def _unknown_id_calls(t: Target) -> list[tuple[str, str, Any]]:
    s = f"/api/v1/mqtt/sites/{UNKNOWN}"
    known = f"/api/v1/mqtt/sites/{t.site_id}"
    return [
        ("GET", f"{s}/", None), ("PATCH", f"{s}/", {"name": "x"}), ("DELETE", f"{s}/", None),
        ("POST", f"{s}/start/", None), ("POST", f"{s}/stop/", None),
        ("POST", f"{s}/reconnect/", None), ("GET", f"{s}/history/", None),
        ("GET", f"{s}/commands/", None), ("GET", f"{s}/status/", None),
        ("GET", f"{s}/topics/", None),
        ("POST", f"{s}/topics/", {"pattern": "a/{serial}/heartbeat"}),
        ("PATCH", f"{s}/topics/1/", {"qos": 0}), ("DELETE", f"{s}/topics/1/", None),
        ("PATCH", f"{known}/topics/{UNKNOWN}/", {"qos": 0}),
        ("DELETE", f"{known}/topics/{UNKNOWN}/", None),
        ("POST", f"{s}/discovery/", {"seconds": 1}), ("GET", f"{s}/discovery/", None),
        ("POST", f"{s}/publish/", {"topic": "x/y", "message": "m"}),
        ("GET", f"/api/v1/mqtt/dataloggers/{UNKNOWN}/", None),
        ("PATCH", f"/api/v1/mqtt/dataloggers/{UNKNOWN}/", {"label": "x"}),
        ("DELETE", f"/api/v1/mqtt/dataloggers/{UNKNOWN}/", None),
        ("GET", f"/api/v1/mqtt/sensors/by_datalogger?datalogger_id={UNKNOWN}", None),
        ("GET", f"/api/v1/mqtt/sensors/{UNKNOWN}/readings", None),
    ]


@pytest.mark.parametrize("call", range(len(_unknown_id_calls(Target(1, "x", 1)))))
def test_unknown_ids_are_404(admin: httpx.Client, target: Target, call: int) -> None:
    """Every route with an id answers 404 for an id that names no row."""
    method, path, body = _unknown_id_calls(target)[call]
    response = admin.request(method, path, json=body)
    assert response.status_code == 404, f"{method} {path}: {response.text}"
    assert response.json()["detail"]


@pytest.mark.parametrize("number", [0, -1, 2**31, 2**63, 10**30])
@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/mqtt/sites/{n}/", "site_id"), ("/api/v1/mqtt/sites/{n}/status/", "site_id"),
    ("/api/v1/mqtt/sites/1/topics/{n}/", "topic_id"),
    ("/api/v1/mqtt/dataloggers/{n}/", "device_id"),
    ("/api/v1/mqtt/sensors/{n}/readings", "sensor_id"),
    ("/api/v1/mqtt/sensors/by_datalogger?datalogger_id={n}", "datalogger_id"),
    ("/api/v1/mqtt/dataloggers/?site_id={n}", "site_id"),
    ("/api/v1/mqtt/gateways/?site_id={n}", "site_id"),
])
def test_ids_that_cannot_name_a_row_are_400(admin: httpx.Client, path: str, field: str,
                                            number: int) -> None:
    """Ids are positive 32-bit integers; a bigger one must not reach the database driver
    (which raised OverflowError on SQLite: a 500)."""
    method = "DELETE" if path.endswith("topics/{n}/") else "GET"
    response = admin.request(method, path.format(n=number))
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


def test_a_taken_site_code_is_409_on_create_and_on_patch(admin: httpx.Client) -> None:
    """Site codes are unique: taking one on create or patch is 409 and changes nothing."""
    first = create_site(admin, "127.0.0.1", 1883)
    again = admin.post("/api/v1/mqtt/sites/",
                       json={"name": "dup", "code": first["code"], "broker_host": "h"})
    assert again.status_code == 409
    assert first["code"] in again.json()["detail"]
    second = create_site(admin, "127.0.0.1", 1883)
    renamed = admin.patch(f"/api/v1/mqtt/sites/{second['site_id']}/",
                          json={"code": first["code"]})
    assert renamed.status_code == 409
    assert admin.get(f"/api/v1/mqtt/sites/{second['site_id']}/").json()["code"] == \
        second["code"]


def test_a_duplicate_topic_pattern_is_not_a_500(admin: httpx.Client, target: Target) -> None:
    """Adding the same subscription twice is answered, not crashed on."""
    topics = f"/api/v1/mqtt/sites/{target.site_id}/topics/"
    body = {"pattern": f"dup/{uuid.uuid4().hex[:6]}/{{serial}}/heartbeat"}
    assert admin.post(topics, json=body).status_code == 201
    assert_client_error(admin.post(topics, json=body))


# --- secrets ------------------------------------------------------------------------------------

def test_request_bodies_never_show_the_password_in_their_repr() -> None:
    """A traceback that prints locals must not print a broker password."""
    create = SiteCreate(name="n", code="c", broker_host="h", password="pw-in-repr")
    update = SiteUpdate(password="pw-in-repr")
    pretty = pytest.importorskip("rich.pretty")
    for body in (create, update):
        assert "pw-in-repr" not in repr(body)
        assert "pw-in-repr" not in pretty.pretty_repr(body)  # rich tracebacks show locals so
    assert "code='c'" in repr(create)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.__dict__))


@pytest.fixture
def password_broker() -> Iterator[Mosquitto]:
    with Mosquitto(users={"device": "right-password-7c1"}) as broker:
        yield broker


def test_the_password_is_never_returned_nor_logged(
    server: LiveServer, admin: httpx.Client, password_broker: Mosquitto,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Create, read, list, patch and a failed then successful connect with a password:
    no answer carries it (``has_password`` instead), no log line or audit row holds it."""
    wrong, right = "wrong-password-9f3", "right-password-7c1"
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    answers: list[str] = []
    try:
        with structlog.testing.capture_logs() as captured:
            structlog.get_logger("test").info("capture works")
            site = create_site(admin, password_broker.host, password_broker.port,
                               username="device", password=wrong, is_enabled=True)
            answers.append(json.dumps(site))
            site_id = site["site_id"]
            status = f"/api/v1/mqtt/sites/{site_id}/status/"
            failed = wait_until(lambda: (s := admin.get(status).json())["status"] == "error"
                                and s, message="bad credentials → error")
            assert "authori" in failed["error_message"].lower(), failed
            patched = admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"password": right})
            assert patched.status_code == 200
            answers.append(patched.text)
            assert patched.json()["has_password"] is True
            assert "password" not in patched.json()
            wait_until(lambda: admin.get(status).json()["status"] == "connected",
                       message="right password → connected")
            config = admin.get(f"/api/v1/mqtt/sites/{site_id}/")
            assert config.json()["has_password"] is True
            assert "password" not in config.json()
            for path in (f"/api/v1/mqtt/sites/{site_id}/", "/api/v1/mqtt/sites/", status,
                         f"/api/v1/mqtt/sites/{site_id}/history/", "/api/v1/audit",
                         "/metrics", "/api/v1/actors"):
                answers.append(admin.get(path).text)
            cleared = admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"password": None})
            assert cleared.json()["has_password"] is False
            admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
    finally:
        root.removeHandler(records)
        root.setLevel(previous_level)
    assert any(e.get("event") == "capture works" for e in captured)
    out, err = capfd.readouterr()
    for secret in (wrong, right):
        for answer in answers:
            assert secret not in answer
        assert not [e for e in captured if secret in repr(e)]
        assert not [line for line in records.lines if secret in line]
        assert secret not in out and secret not in err
    audit = admin.get("/api/v1/audit").json()["entries"]
    updates = [e for e in audit if e["action"] == "site.update" and e["target"] == site["code"]]
    assert updates and all(e["detail"]["fields"] == ["password"] for e in updates)


def test_a_mapped_topic_round_trips_and_a_patch_is_checked_with_the_stored_fields(
    admin: httpx.Client, target: Target
) -> None:
    """POST a mapped topic: its payload_map comes back; PATCH to v1 without dropping the
    map is refused (payload_map is only for mapped); PATCH a bad expression names it."""
    topics = f"/api/v1/mqtt/sites/{target.site_id}/topics/"
    csi = {"keys": "head.fields[].name", "values": "data[-1].vals",
           "units": "head.fields[].units", "firmware": "head.environment.os_version"}
    created = admin.post(topics, json={"pattern": "csi/{serial}/heartbeat",
                                       "payload_version": "mapped", "payload_map": csi})
    assert created.status_code == 201, created.text
    topic = created.json()
    assert topic["payload_map"] == csi
    assert admin.get(topics).json()["topics"][-1]["payload_map"] == csi
    refused = admin.patch(f"{topics}{topic['id']}/", json={"payload_version": "v1"})
    assert refused.status_code == 400 and "payload_map" in refused.json()["detail"]
    bad = admin.patch(f"{topics}{topic['id']}/", json={"payload_map": {**csi, "at": "data[-1."}})
    assert bad.status_code == 400 and "payload_map.at" in bad.json()["detail"]
    changed = admin.patch(f"{topics}{topic['id']}/",
                          json={"payload_version": "v1", "payload_map": None})
    assert changed.status_code == 200 and changed.json()["payload_map"] is None
    admin.delete(f"{topics}{topic['id']}/")


def test_client_certificates_are_checked_when_saved_and_the_key_is_never_shown(
    admin: httpx.Client, server: LiveServer
) -> None:
    """A PEM that does not parse, a key of another certificate, a certificate without its
    key: 400 naming the field. A good pair is saved: the answer shows the certificate and
    has_client_key, never the key; the key is stored encrypted; a patch changes both."""
    from tls_support import Authority

    ca = Authority()
    good, other = ca.issue("client"), ca.issue("other")
    base = {"name": "tls", "broker_host": "127.0.0.1", "tls": True, "tls_ca_pem": ca.pem}
    cases = [
        ({"tls_client_cert_pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----",
          "tls_client_key_pem": good.key_pem}, "tls_client_cert_pem"),
        ({"tls_client_cert_pem": good.cert_pem, "tls_client_key_pem": "not a key"},
         "tls_client_key_pem"),
        ({"tls_client_cert_pem": good.cert_pem, "tls_client_key_pem": other.key_pem},
         "tls_client_key_pem"),
        ({"tls_client_cert_pem": good.cert_pem}, "tls_client_key_pem"),
        ({"tls_ca_pem": "garbage"}, "tls_ca_pem"),
        ({"transport": "udp"}, "transport"),
        ({"ws_path": "no-slash"}, "ws_path"),
        ({"labels": {"bad key!": "x"}}, "labels"),
    ]
    for fields, field in cases:
        response = admin.post("/api/v1/mqtt/sites/",
                              json={**base, "code": unique_code("tls"), **fields})
        assert response.status_code == 400, (fields, response.text)
        assert field in response.json()["detail"], (field, response.text)

    created = admin.post("/api/v1/mqtt/sites/", json={
        **base, "code": unique_code("tls"), "tls_client_cert_pem": good.cert_pem,
        "tls_client_key_pem": good.key_pem, "tls_verify_hostname": False,
        "transport": "websockets", "ws_path": "/ws", "labels": {"region": "puglia"}})
    assert created.status_code == 201, created.text
    site_id = created.json()["site_id"]
    config = admin.get(f"/api/v1/mqtt/sites/{site_id}/").json()
    assert config["has_client_key"] is True and "tls_client_key_pem" not in config
    assert config["tls_client_cert_pem"] == good.cert_pem
    assert (config["tls_verify_hostname"], config["transport"], config["ws_path"],
            config["labels"]) == (False, "websockets", "/ws", {"region": "puglia"})
    assert good.key_pem.splitlines()[1] not in json.dumps(config)

    from sitelink.storage.tables import Site
    async def stored() -> Any:
        return await Site.select(Site.tls_client_key_encrypted).where(Site.id == site_id)

    rows = server.call(stored())
    assert rows[0]["tls_client_key_encrypted"] and "PRIVATE KEY" not in \
        rows[0]["tls_client_key_encrypted"]

    alone = admin.patch(f"/api/v1/mqtt/sites/{site_id}/",
                        json={"tls_client_key_pem": other.key_pem})
    assert alone.status_code == 400 and "together" in alone.json()["detail"]
    swapped = admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={
        "tls_client_cert_pem": other.cert_pem, "tls_client_key_pem": other.key_pem})
    assert swapped.status_code == 200 and swapped.json()["tls_client_cert_pem"] == other.cert_pem
    cleared = admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={
        "tls_client_cert_pem": None, "tls_client_key_pem": None})
    assert cleared.status_code == 200 and cleared.json()["has_client_key"] is False
    admin.delete(f"/api/v1/mqtt/sites/{site_id}/")

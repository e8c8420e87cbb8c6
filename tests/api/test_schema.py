"""Schemathesis against the app's own OpenAPI schema: no input it can derive makes a 5xx, and
every answer conforms to the schema (status documented, content type, body, headers).

Every operation of ``/schema/openapi.json`` is called with generated parameters and bodies
(admin token) on a live server. ``GET /api/v1/events`` is left out: it never ends. Few
examples per operation keep the run short; the point is breadth, the hypothesis tests of
test_validation.py go deep on the bodies.
"""

from __future__ import annotations

from typing import Any

import msgspec
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fake_clock import FakeClock
from integration.live import ADMIN_TOKEN, LiveServer
from sitelink.api.app import create_app
from sitelink.settings import Settings


def _openapi_document() -> dict[str, Any]:
    """The document the app serves at /schema/openapi.json, built from an app that is never
    started (a fake clock, so not even the timer thread runs). Loaded at import because
    schemathesis generates one test per operation at collection time."""
    app = create_app(Settings(database_url="sqlite:///unused.db"), clock=FakeClock())
    # As JSON, like the server sends it (a default of ``()`` is a tuple in the object).
    document: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(
        app.openapi_schema.to_schema()))
    return document


DOCUMENT = _openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/v1/events")


def test_the_live_server_serves_that_schema(server: LiveServer) -> None:
    """The document tested below is the one the running server serves."""
    assert server.client().get("/schema/openapi.json").json() == DOCUMENT


def test_the_schema_describes_every_route(server: LiveServer) -> None:
    """The OpenAPI document lists each path of API.md's endpoint table."""
    paths = set(server.client().get("/schema/openapi.json").json()["paths"])
    for path in [
        "/api/v1/mqtt/health", "/metrics", "/api/v1/mqtt/sites", "/api/v1/mqtt/sites/{site_id}",
        "/api/v1/mqtt/sites/{site_id}/start", "/api/v1/mqtt/sites/{site_id}/stop",
        "/api/v1/mqtt/sites/{site_id}/reconnect", "/api/v1/mqtt/sites/{site_id}/history",
        "/api/v1/mqtt/sites/{site_id}/commands", "/api/v1/mqtt/sites/{site_id}/status",
        "/api/v1/mqtt/sites/{site_id}/topics", "/api/v1/mqtt/sites/{site_id}/topics/{topic_id}",
        "/api/v1/mqtt/sites/{site_id}/discovery", "/api/v1/mqtt/sites/{site_id}/publish",
        "/api/v1/mqtt/dataloggers", "/api/v1/mqtt/dataloggers/{device_id}",
        "/api/v1/mqtt/gateways", "/api/v1/mqtt/sensors/by_datalogger",
        "/api/v1/mqtt/sensors/{sensor_id}/readings", "/api/v1/events", "/api/v1/actors",
        "/api/v1/audit", "/api/v1/auth/session", "/api/v1/auth/me",
    ]:
        assert path in paths or path + "/" in paths, path


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_a_server_error(case: Any, server: LiveServer) -> None:
    """Any request schemathesis derives from the schema is answered below 500, with a status
    the schema lists and a body and headers that match what it says about that status."""
    response = case.call(base_url=server.base_url,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    case.validate_response(response, checks=[
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_schema_conformance, response_headers_conformance])


def test_error_answers_are_published_as_they_are_sent() -> None:
    """The published 400 (and every other error) is ``{"detail": string}`` — not Litestar's
    default with a required ``status_code`` that the answers do not carry."""
    operation = DOCUMENT["paths"]["/api/v1/mqtt/sites"]["post"]
    for status in ("400", "default"):
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    error = DOCUMENT["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"] and set(error["properties"]) == {"detail"}

"""Tokens from the dashboard (GET/POST /api/v1/tokens, DELETE /api/v1/tokens/{name}), readings
in buckets, and the CSV exports of readings and of the audit log, on a live server."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator

import httpx
import pytest

from integration.live import LiveServer, wait_until
from sitelink.api.csv_export import csv_row
from sitelink.embedded_broker import Mosquitto

from .test_roles import World


@pytest.fixture(scope="module")
def world(server: LiveServer, mosquitto_session: Mosquitto) -> Iterator[World]:
    w = World(server, mosquitto_session)
    yield w
    w.publisher.close()


def test_a_token_made_in_the_page_works_once_shown_and_is_revoked_for_good(
    server: LiveServer,
) -> None:
    admin = server.admin()
    name = f"ops-{uuid.uuid4().hex[:6]}"
    created = admin.post("/api/v1/tokens", json={"name": name, "role": "viewer"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"name", "role", "created_at", "last_used_at", "token"}
    assert body["name"] == name and body["role"] == "viewer" and body["last_used_at"] is None
    secret = body["token"]

    me = server.client(secret).get("/api/v1/auth/me")
    assert me.json() == {"name": name, "role": "viewer"}
    listed = {t["name"]: t for t in admin.get("/api/v1/tokens").json()["tokens"]}
    assert set(listed[name]) == {"name", "role", "created_at", "last_used_at"}
    assert listed[name]["last_used_at"] is not None
    assert secret not in admin.get("/api/v1/tokens").text

    again = admin.post("/api/v1/tokens", json={"name": name})
    assert again.status_code == 409

    assert admin.delete(f"/api/v1/tokens/{name}").status_code == 204
    assert server.client(secret).get("/api/v1/auth/me").status_code == 401
    assert name not in {t["name"] for t in admin.get("/api/v1/tokens").json()["tokens"]}
    assert admin.delete("/api/v1/tokens/nobody-has-this").status_code == 404

    audit = admin.get("/api/v1/audit").json()["entries"]
    actions = [(e["action"], e["target"]) for e in audit if e["target"] == name]
    assert ("token.create", name) in actions and ("token.revoke", name) in actions
    assert secret not in admin.get("/api/v1/audit").text


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "has space"}, "name"), ({"name": ""}, "name"),
     ({"name": "ok", "role": "root"}, "role")],
)
def test_a_bad_token_request_is_400_naming_the_field(
    server: LiveServer, body: dict[str, str], field: str
) -> None:
    response = server.admin().post("/api/v1/tokens", json=body)
    assert response.status_code == 400
    assert field in response.text


def test_readings_in_buckets_and_as_csv(server: LiveServer, world: World) -> None:
    admin = server.admin()
    path = f"/api/v1/mqtt/sensors/{world.sensor_id}/readings"
    raw = admin.get(path).json()["readings"]
    assert raw and set(raw[0]) == {"at", "value"}

    buckets = admin.get(path, params={"bucket_s": 3600}).json()["readings"]
    assert [set(b) for b in buckets] == [{"at", "min", "avg", "max", "count"}] * len(buckets)
    assert sum(b["count"] for b in buckets) == len(raw)
    assert min(b["min"] for b in buckets) == min(r["value"] for r in raw)

    bad = admin.get(path, params={"bucket_s": 0})
    assert bad.status_code == 400 and "bucket_s" in bad.text

    export = admin.get(f"{path}.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["at", "value"]
    assert [float(v) for _, v in rows[1:]] == [r["value"] for r in raw]
    assert admin.get("/api/v1/mqtt/sensors/999999/readings.csv").status_code == 404


def test_the_audit_log_as_csv(server: LiveServer, world: World) -> None:
    admin = server.admin()
    site_id = world.new_site()
    admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"name": "renamed for the export"})

    def exported() -> httpx.Response | None:
        response = admin.get("/api/v1/audit", params={"format": "csv"})
        return response if "site.update" in response.text else None

    response = wait_until(exported, message="the edit in the audit CSV")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "at", "actor", "action", "target", "result", "detail"]
    entries = admin.get("/api/v1/audit", params={"limit": 1000}).json()["entries"]
    assert [int(row[0]) for row in rows[1:]] == [e["id"] for e in entries]


def test_csv_cells_a_spreadsheet_would_run_are_defused() -> None:
    assert csv_row(["=HYPERLINK(1)", "+SUM(1)", "@x", "-2.5", "plain", None]) == (
        "'=HYPERLINK(1),'+SUM(1),'@x,-2.5,plain,\r\n"
    )
    assert csv_row(['say "hi", twice']) == '"say ""hi"", twice"\r\n'

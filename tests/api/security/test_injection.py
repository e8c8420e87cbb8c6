"""Injection via topics and payloads: what devices publish is data, stored and shown as
such; a command can only go below its own site's prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.live import (
    LiveServer,
    Publisher,
    create_site,
    running_server,
    v1_heartbeat,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto

SQLISH = "x' OR '1'='1"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("injection")) as live:
        yield live


def test_injection_device_topics_and_payloads_are_data(server: LiveServer,
                                                       mosquitto_session: Mosquitto) -> None:
    """A serial number that looks like SQL and a sensor label that is a script come back
    exactly as published, as JSON that browsers must not sniff, and touch nothing else."""
    admin = server.admin()
    site = create_site(admin, mosquitto_session.host, mosquitto_session.port, is_enabled=True)
    status = f"/api/v1/mqtt/sites/{site['site_id']}/status/"
    wait_until(lambda: admin.get(status).json()["status"] == "connected",
               message="site connected")
    before = admin.get("/api/v1/mqtt/dataloggers/").json()["dataloggers"]
    payload = v1_heartbeat(("t_ext", 21.5))
    payload["sensors"][0]["label"] = SCRIPT
    Publisher(mosquitto_session.host, mosquitto_session.port).publish(
        f"{site['code']}/datalogger/{SCRIPT.replace('/', '_')}/{SQLISH}/heartbeat", payload)

    def found() -> list[dict[str, object]]:
        rows = admin.get("/api/v1/mqtt/dataloggers/",
                         params={"site_id": site["site_id"]}).json()["dataloggers"]
        return [d for d in rows if d["serial_number"] == SQLISH]

    rows = wait_until(found, message="the device with the odd serial is stored")
    assert rows[0]["model"] == SCRIPT.replace("/", "_")
    sensors = wait_until(lambda: admin.get("/api/v1/mqtt/sensors/by_datalogger", params={
        "datalogger_id": rows[0]["id"]}).json()["sensors"], message="its sensor is stored")
    assert sensors[0]["label"] == SCRIPT
    response = admin.get("/api/v1/mqtt/dataloggers/")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.json()["dataloggers"]) == len(before) + 1


def test_injection_commands_stay_below_their_own_site(server: LiveServer) -> None:
    """A publish topic outside the site's ``code/``, with wildcards, or with NUL is a 400
    that names the topic — however the path is spelled."""
    admin = server.admin()
    site = create_site(admin, "127.0.0.1", 1, is_enabled=False)
    other = create_site(admin, "127.0.0.1", 1, is_enabled=False)
    path = f"/api/v1/mqtt/sites/{site['site_id']}/publish/"
    for topic in (f"{other['code']}/gateway/1/input", f"{site['code']}/+/input",
                  f"{site['code']}/#", f"{site['code']}/a\u0000b", f"{site['code']}/../x/#",
                  f"/{site['code']}/x"):
        response = admin.post(path, json={"topic": topic, "message": "start"})
        assert response.status_code == 400, (topic, response.text)
        assert response.json()["detail"].startswith("topic"), response.text

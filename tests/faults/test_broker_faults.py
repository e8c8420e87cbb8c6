"""Broker faults (issue 11): what a site shows, and what is kept, when its broker dies, goes
silent, never answers CONNECT, hangs up after CONNACK, is slow to SUBACK, or floods it with
retained messages. The other sites and the server never notice.

One live server (SQLite) per module, real Mosquitto brokers, the fault proxy and the fake
brokers of this directory. Every wait polls a condition against a generous deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from integration.live import (
    LiveServer,
    Publisher,
    create_site,
    running_server,
    site_status,
    v1_heartbeat,
    wait_status,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto

from .fake_broker import Behaviour, FakeBroker
from .proxy import FaultProxy


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("faults")) as server:
        yield server


@pytest.fixture(scope="module")
def bystander(live: LiveServer, broker: Mosquitto) -> int:
    """A healthy site on another broker: it must stay connected through every fault."""
    site_id: int = create_site(live.admin(), broker.host, broker.port, is_enabled=True)["site_id"]
    wait_status(live.admin(), site_id, "connected", 20)
    return site_id


def assert_bystander_fine(live: LiveServer, site_id: int) -> None:
    status = site_status(live.admin(), site_id)
    assert status["status"] == "connected" and status["connection_errors"] == 0, status
    assert live.admin().get("/api/v1/mqtt/health/").status_code == 200


def heartbeat(publisher: Publisher, code: str, serial: str, value: float) -> None:
    publisher.publish(f"{code}/datalogger/m1/{serial}/heartbeat", v1_heartbeat(("t", value)))


def dataloggers(admin: httpx.Client, site_id: int) -> list[dict[str, Any]]:
    answer = admin.get("/api/v1/mqtt/dataloggers/", params={"site_id": site_id}, timeout=30)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["dataloggers"]
    return found


def test_broker_killed_and_restarted(live: LiveServer, bystander: int,
                                     mosquitto: Mosquitto) -> None:
    """error while the broker is gone (devices kept), connected again after it returns,
    with its subscriptions back (a heartbeat after the restart is received)."""
    admin = live.admin()
    site = create_site(admin, mosquitto.host, mosquitto.port, is_enabled=True)
    site_id, code = site["site_id"], site["code"]
    wait_status(admin, site_id, "connected", 20)
    publisher = Publisher(mosquitto.host, mosquitto.port)
    heartbeat(publisher, code, "k1", 1.0)
    wait_until(lambda: len(dataloggers(admin, site_id)) == 1, 20, message="device k1")
    publisher.close()

    mosquitto.kill()
    down = wait_status(admin, site_id, "error", 30)
    assert down["error_message"], down
    assert live.admin().get("/api/v1/mqtt/health/").json()["status"] == "degraded"
    assert [d["serial_number"] for d in dataloggers(admin, site_id)] == ["k1"]

    mosquitto.start()
    wait_status(admin, site_id, "connected", 30)
    received = site_status(admin, site_id)["messages_received"]
    publisher = Publisher(mosquitto.host, mosquitto.port)
    try:
        heartbeat(publisher, code, "k2", 2.0)
        wait_until(lambda: site_status(admin, site_id)["messages_received"] > received, 20,
                   message="a heartbeat after the restart")
    finally:
        publisher.close()
    assert_bystander_fine(live, bystander)


def test_a_half_open_link_is_noticed_and_healed(live: LiveServer, bystander: int,
                                                broker: Mosquitto) -> None:
    """The link goes silent (packets swallowed, no FIN, no RST): the keep-alive notices
    within a few intervals; when packets flow again the site reconnects by itself."""
    admin = live.admin()
    with FaultProxy(broker.host, broker.port) as proxy:
        site = create_site(admin, proxy.host, proxy.port, is_enabled=True, keepalive_s=5)
        site_id = site["site_id"]
        wait_status(admin, site_id, "connected", 20)
        proxy.swallow()
        began = time.monotonic()
        lost = wait_status(admin, site_id, "error", 60)
        noticed_s = time.monotonic() - began
        assert lost["error_message"], lost
        print(f"\nhalf-open link noticed after {noticed_s:.1f} s (keep-alive 5 s)")
        assert noticed_s < 30, f"noticed after {noticed_s:.1f} s with a 5 s keep-alive"
        proxy.passing()
        wait_status(admin, site_id, "connected", 60)
    admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
    assert_bystander_fine(live, bystander)


def test_a_broker_that_never_sends_connack(live: LiveServer, bystander: int) -> None:
    """Each attempt times out (SITELINK_CONNECT_TIMEOUT_S) and is retried with backoff; the
    site says error with the reason."""
    admin = live.admin()
    with FakeBroker(Behaviour.NO_CONNACK) as fake:
        site_id = create_site(admin, fake.host, fake.port, is_enabled=True)["site_id"]
        assert fake.wait("connections", 3, 60), f"{fake.connections} attempts"
        status = wait_status(admin, site_id, "error", 30)
        assert "Timed out" in status["error_message"] or "timed out" in status["error_message"]
        assert status["retry_count"] >= 1
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        wait_status(admin, site_id, "disconnected", 20)
    assert_bystander_fine(live, bystander)


def test_a_broker_that_closes_right_after_connack(live: LiveServer, bystander: int) -> None:
    """CONNACK and then the end of the link, again and again: the site never counts as
    connected (it is not subscribed), each attempt is a failure in its history ('Connection
    lost'), and backoff keeps the attempts few (no tight loop)."""
    admin = live.admin()
    with FakeBroker(Behaviour.CLOSE_AFTER_CONNACK) as fake:
        site_id = create_site(admin, fake.host, fake.port, is_enabled=True)["site_id"]
        assert fake.wait("connections", 3, 60)
        began, first = time.monotonic(), fake.connections
        wait_until(lambda: time.monotonic() - began > 5, 10)  # a window to count attempts in
        attempts_per_s = (fake.connections - first) / (time.monotonic() - began)
        assert attempts_per_s < 5, f"{attempts_per_s:.1f} connections per second"
        status = site_status(admin, site_id)
        assert status["status"] in ("error", "connecting"), status
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        wait_status(admin, site_id, "disconnected", 20)
    history = admin.get(f"/api/v1/mqtt/sites/{site_id}/history/").json()
    failures = [e for e in history["events"] if e["kind"] == "failed"]
    assert len(failures) >= 2 and history["last_24h"]["connects"] == 0, history
    # the link may end before or after our SUBSCRIBE went out; either way it is said
    assert "Connection lost" in {e["reason"] for e in failures}, history
    assert all(e["reason"] for e in failures), history
    assert_bystander_fine(live, bystander)


def test_a_slow_suback_keeps_the_connection(live: LiveServer, bystander: int) -> None:
    """SUBACKs 1 s late (within SITELINK_CONNECT_TIMEOUT_S, 2 s here): the site connects
    once, never reconnects, and lists its three topics once they are granted."""
    admin = live.admin()
    assert live.settings.connect_timeout_s == 2.0
    with FakeBroker(Behaviour.SLOW_SUBACK, suback_delay_s=1.0) as fake:
        site_id = create_site(admin, fake.host, fake.port, is_enabled=True)["site_id"]
        status = wait_status(admin, site_id, "connected", 30)
        assert len(status["topics_list"]) == 3 and status["connection_errors"] == 0, status
        assert fake.connections == 1 and fake.subacks >= 1
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        wait_status(admin, site_id, "disconnected", 20)
    assert_bystander_fine(live, bystander)


def test_a_suback_slower_than_the_connect_timeout_is_retried(live: LiveServer,
                                                              bystander: int) -> None:
    """SUBACKs 4 s late, past the 2 s connect timeout: the attempt fails 'Timed out waiting
    for SUBACK' and is retried with backoff, the site showing why."""
    admin = live.admin()
    with FakeBroker(Behaviour.SLOW_SUBACK, suback_delay_s=4.0) as fake:
        site_id = create_site(admin, fake.host, fake.port, is_enabled=True)["site_id"]
        status = wait_until(lambda: (s := site_status(admin, site_id))["status"] == "error"
                            and "SUBACK" in s["error_message"] and s, 30,
                            message=lambda: str(site_status(admin, site_id)))
        assert status["error_message"] == "Timed out waiting for SUBACK", status
        assert fake.wait("connections", 2, 30)
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        wait_status(admin, site_id, "disconnected", 20)
    assert_bystander_fine(live, bystander)


FLOOD = 10_000


def test_a_retained_flood_at_subscribe_time(live: LiveServer, bystander: int,
                                            mosquitto: Mosquitto, tmp_path: Path) -> None:
    """10,000 retained heartbeats (one per device) arrive as the site subscribes: every
    device is discovered and kept, the site stays connected and the API keeps answering."""
    admin = live.admin()
    code = f"flood_{tmp_path.name[-6:]}".replace("-", "_")
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        body = b'{"firmware": "V.1", "sensors": [{"id": "t", "value": 1.5}]}'
        for n in range(FLOOD):
            client.publish(f"{code}/datalogger/m1/s{n:05d}/heartbeat", body, qos=0, retain=True)
        marker = client.publish(f"{code}/marker", b"end", qos=1)  # after every one of them
        marker.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()

    site_id = create_site(admin, mosquitto.host, mosquitto.port, code=code,
                          is_enabled=True)["site_id"]
    slowest = 0.0

    def all_found() -> bool:
        nonlocal slowest
        began = time.monotonic()
        assert admin.get("/api/v1/mqtt/health/").status_code == 200
        slowest = max(slowest, time.monotonic() - began)
        return len(dataloggers(admin, site_id)) == FLOOD

    wait_until(all_found, 180, interval_s=1.0, message="every flooded device stored")
    status = site_status(admin, site_id)
    assert status["status"] == "connected" and status["connection_errors"] == 0
    assert slowest < 10, f"health took {slowest:.1f} s during the flood"
    admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
    assert_bystander_fine(live, bystander)

"""Any instance answers everything (issue 14): two real ``sitelink serve`` processes on one
PostgreSQL database and one Mosquitto.

Instance A owns every site; instance B owns none (``SITELINK_TEST_OWN_NO_SITES``, the seam
that stands in for leases until they land). Through the cluster's event log B must show A's
sites and devices as A does, stream A's events under the same ids (``Last-Event-ID`` from A
resumes on B), and hand every command it is asked to A, which carries it out. A LISTEN
connection that is cut is made again and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from faults.conftest import SITELINK
from integration.live import (
    ADMIN_TOKEN,
    EventStream,
    Publisher,
    create_site,
    metric,
    pg_database,
    require_postgres,
    v1_heartbeat,
    wait_status,
    wait_until,
)
from ops.support import Running, clean_env, http_status
from sitelink.embedded_broker import Mosquitto, free_port

pytestmark = pytest.mark.postgres


class Instance:
    def __init__(self, name: str, process: Running, port: int) -> None:
        self.name = name
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.admin = httpx.Client(base_url=self.base, timeout=10,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def stream(self, **kwargs: Any) -> EventStream:
        return EventStream(self.base, **kwargs).open()


class Cluster:
    def __init__(self, a: Instance, b: Instance, broker: Mosquitto, dsn: str) -> None:
        self.a, self.b, self.broker, self.dsn = a, b, broker, dsn


def cluster_env(dsn: str) -> dict[str, str]:
    """The environment every instance of the test cluster shares."""
    return clean_env(DATABASE_URL=dsn, SITELINK_ADMIN_TOKEN=ADMIN_TOKEN,
                     SITELINK_SECRET_KEY="cluster-" + "k" * 32, MQTT_INSTANCE_ID="cluster",
                     SITELINK_RETRY_BASE_S="0.2", SITELINK_RETRY_MAX_S="1",
                     SITELINK_RECONCILE_S="3600", SITELINK_LOG_FORMAT="json")


def start_instance(name: str, folder: Path, env: dict[str, str], *,
                   owns_nothing: bool = False) -> Instance:
    """A ``sitelink serve`` of the cluster in ``folder`` (which it makes), once it answers;
    ``owns_nothing``: it runs no site (``SITELINK_TEST_OWN_NO_SITES``). The caller closes
    ``instance.process``."""
    port = free_port()
    folder.mkdir()
    extra = {"SITELINK_TEST_OWN_NO_SITES": "1"} if owns_nothing else {}
    process = Running([SITELINK, "serve", "--port", str(port)], cwd=folder,
                      env={**env, **extra}, log_dir=folder)
    url = f"http://127.0.0.1:{port}/api/v1/mqtt/health/"
    try:
        process.poll_until(lambda: http_status(url) is not None, 60, f"instance {name} answers")
    except BaseException:
        process.close()
        raise
    return Instance(name, process, port)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_postgres()
    tmp = tmp_path_factory.mktemp("cluster")
    instances: list[Instance] = []
    with pg_database() as dsn, Mosquitto() as broker:
        env = cluster_env(dsn)
        try:
            instances.append(start_instance("a", tmp / "a", env))
            instances.append(start_instance("b", tmp / "b", env, owns_nothing=True))
            yield Cluster(instances[0], instances[1], broker, dsn)
        finally:
            for instance in instances:
                instance.admin.close()
                instance.process.close()


@pytest.fixture(scope="module")
def site(cluster: Cluster) -> dict[str, Any]:
    """A site created through B, connected by A."""
    created = create_site(cluster.b.admin, cluster.broker.host, cluster.broker.port,
                          is_enabled=True)
    # A learns of the new site from the log within milliseconds: poll until it shows it
    wait_until(lambda: cluster.a.admin.get(
        f"/api/v1/mqtt/sites/{created['site_id']}/status/").json().get("status") == "connected",
        10, message="A connects the site created on B")
    return created


def status_pair(cluster: Cluster, site_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return tuple(c.admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()  # type: ignore[return-value]
                 for c in (cluster.a, cluster.b))


def test_a_site_connected_on_a_shows_connected_with_the_same_fields_on_b(
        cluster: Cluster, site: dict[str, Any]) -> None:
    def same() -> bool:
        on_a, on_b = status_pair(cluster, site["site_id"])
        return on_a["status"] == "connected" and on_a == on_b

    wait_until(same, 10, message=lambda: f"A and B: {status_pair(cluster, site['site_id'])}")
    assert cluster.b.admin.get("/api/v1/mqtt/sites/").json()["sites"] == \
        cluster.a.admin.get("/api/v1/mqtt/sites/").json()["sites"]
    # owner.worker, the same on both, is the worker under which A's actor tree runs the site
    on_a, _ = status_pair(cluster, site["site_id"])
    [root] = cluster.a.admin.get("/api/v1/actors").json()["actors"]
    running = [int(w["name"].removeprefix("worker-")) for w in root["children"]
               if any(s["name"] == site["code"] for s in w["children"])]
    a_id = cluster.a.admin.get("/api/v1/cluster").json()["instance_id"]
    assert len(running) == 1, root
    assert on_a["owner"] == {"instance_id": a_id, "worker": running[0]}


def test_a_device_discovered_on_a_appears_on_b_with_its_availability(
        cluster: Cluster, site: dict[str, Any]) -> None:
    on_b = cluster.b.stream(params={"site_id": site["site_id"]})
    publisher = Publisher(cluster.broker.host, cluster.broker.port)
    try:
        publisher.publish(f"{site['code']}/datalogger/monstro/CLU-1/heartbeat",
                          v1_heartbeat(("t", 21.5)))
        online = on_b.wait_for("device.online", 10, serial_number="CLU-1")
    finally:
        publisher.close()
        on_b.close()

    def listed(instance: Instance) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = instance.admin.get(
            "/api/v1/mqtt/dataloggers/", params={"site_id": site["site_id"]}).json()["dataloggers"]
        return rows

    # availability is stored by A's writer within its flush; B reads the same rows
    rows = wait_until(lambda: [r for r in listed(cluster.b) if r["availability"] == "online"],
                      10, message="the datalogger listed online on B")
    assert [r["serial_number"] for r in rows] == ["CLU-1"]
    assert rows[0]["id"] == online.json["datalogger_id"]
    assert [(r["id"], r["availability"]) for r in listed(cluster.a)] == \
        [(r["id"], r["availability"]) for r in rows]


def test_a_live_chart_on_b_gets_the_readings_of_a_s_site(
        cluster: Cluster, site: dict[str, Any]) -> None:
    on_b = cluster.b.stream(params={"site_id": site["site_id"], "readings": 1})
    publisher = Publisher(cluster.broker.host, cluster.broker.port)
    try:
        def sent_and_seen() -> bool:
            publisher.publish(f"{site['code']}/datalogger/monstro/CLU-2/heartbeat",
                              v1_heartbeat(("rh", 55.5)))
            return bool(on_b.of("sensor.reading", serial_number="CLU-2", key="rh", value=55.5))

        # the first poll on B only notes where the table ends: heartbeats until one is seen
        wait_until(sent_and_seen, 15, interval_s=0.3, message="a reading of A's site on B")
    finally:
        publisher.close()
        on_b.close()


def test_b_streams_a_s_events_under_the_same_ids_and_resumes_a_s_last_event_id(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id = site["site_id"]
    on_a = cluster.a.stream(params={"site_id": site_id})
    on_b = cluster.b.stream(params={"site_id": site_id})
    try:
        assert cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/").status_code == 200
        on_a.wait_for("site.status", 10, status="disconnected")
        assert cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/start/").status_code == 200
        for stream in (on_a, on_b):
            stream.wait_for("site.status", 10, status="connected")
        wait_until(lambda: len(on_b.events) >= len(on_a.events), 5)
        seen_a = [(e.id, e.event, e.data) for e in on_a.events]
        seen_b = [(e.id, e.event, e.data) for e in on_b.events]
        assert seen_a == seen_b
        first_id = int(seen_a[0][0])  # one more each time (every public event is this site's)
        assert [int(e[0]) for e in seen_a] == list(range(first_id, first_id + len(seen_a)))
    finally:
        on_a.close()
        on_b.close()
    # a client of A that lost its connection after the first event resumes on B
    first = seen_a[0][0]
    resumed = cluster.b.stream(params={"site_id": site_id}, last_event_id=first)
    try:
        wait_until(lambda: len(resumed.events) >= len(seen_a) - 1, 5)
        assert [(e.id, e.event, e.data) for e in resumed.events] == seen_a[1:]
    finally:
        resumed.close()


def test_start_stop_and_reconnect_sent_to_b_are_carried_out_by_a(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id = site["site_id"]
    on_a = cluster.a.stream(params={"site_id": site_id})
    try:
        assert cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/").status_code == 200
        on_a.wait_for("site.status", 10, status="disconnected")
        wait_status(cluster.b.admin, site_id, "disconnected")
        mark = on_a.mark()
        assert cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/start/").status_code == 200
        on_a.wait_for("site.status", 10, after=mark, status="connected")
        mark = on_a.mark()
        answer = cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/reconnect/")
        assert answer.status_code == 200, answer.text
        on_a.wait_for("site.status", 10, after=mark, status="connecting")
        on_a.wait_for("site.status", 10, after=mark, status="connected")
        wait_status(cluster.b.admin, site_id, "connected")
    finally:
        on_a.close()


def test_a_publish_sent_to_b_waits_for_a_s_acknowledgement(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id, code = site["site_id"], site["code"]
    wait_status(cluster.b.admin, site_id, "connected")
    received: list[bytes] = []
    got = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_message = lambda _c, _u, m: (received.append(m.payload), got.set())
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_a: subscribed.set()
    listener.connect(cluster.broker.host, cluster.broker.port)
    listener.loop_start()
    try:
        listener.subscribe(f"{code}/gateway/1/input", qos=1)
        assert subscribed.wait(5)
        answer = cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/publish/", json={
            "topic": f"{code}/gateway/1/input", "message": "start", "qos": 1})
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "acked"
        assert got.wait(5) and received == [b"start"]
        command_id = answer.json()["command_id"]
        commands = wait_until(lambda: [c for c in cluster.b.admin.get(
            f"/api/v1/mqtt/sites/{site_id}/commands/").json()["commands"]
            if c["command_id"] == command_id and c["outcome"] == "acked"], 10)
        assert commands[0]["topic"] == f"{code}/gateway/1/input"
    finally:
        listener.loop_stop()
        listener.disconnect()


def test_discovery_sent_to_b_runs_on_a_and_its_result_shows_on_b(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id, code = site["site_id"], site["code"]
    answer = cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/discovery/",
                                  json={"seconds": 1})
    assert answer.status_code == 202, answer.text
    publisher = Publisher(cluster.broker.host, cluster.broker.port)
    try:
        def heard() -> dict[str, Any] | None:
            publisher.publish(f"{code}/odd/thing", b"{}")
            found: dict[str, Any] = cluster.b.admin.get(
                f"/api/v1/mqtt/sites/{site_id}/discovery/").json()
            topics = [t["topic"] for t in found.get("topics", [])]
            return found if f"{code}/odd/thing" in topics else None

        found = wait_until(heard, 10, interval_s=0.2, message="the discovery's topics on B")
        assert found["state"] == "finished"
    finally:
        publisher.close()


def test_a_topic_added_and_a_site_deleted_through_b_reach_a_at_once(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id, code = site["site_id"], site["code"]
    added = cluster.b.admin.post(f"/api/v1/mqtt/sites/{site_id}/topics/", json={
        "pattern": "v2/datalogger/{model}/{serial}/heartbeat", "payload_version": "v2"})
    assert added.status_code == 201, added.text
    wanted = f"{code}/v2/datalogger/+/+/heartbeat"
    # the periodic reconcile is an hour away: only the log's row can have told A
    wait_until(lambda: wanted in cluster.a.admin.get(
        f"/api/v1/mqtt/sites/{site_id}/status/").json()["topics_list"], 10,
        message="A subscribes the topic added on B")

    doomed = create_site(cluster.b.admin, cluster.broker.host, cluster.broker.port,
                         is_enabled=True)
    wait_until(lambda: cluster.a.admin.get(
        f"/api/v1/mqtt/sites/{doomed['site_id']}/status/").json().get("status") == "connected",
        10, message="A connects the second site")
    def site_actors() -> list[str]:
        return [a["name"] for a in cluster.a.admin.get(
            "/api/v1/actors", params={"kind": "site"}).json()["actors"]]

    assert doomed["code"] in site_actors()
    on_a = cluster.a.stream(params={"site_id": doomed["site_id"]})
    try:
        assert cluster.b.admin.delete(
            f"/api/v1/mqtt/sites/{doomed['site_id']}/").status_code == 204
        on_a.wait_for("site.changed", 10, change="deleted")
        wait_until(lambda: cluster.a.admin.get(
            f"/api/v1/mqtt/sites/{doomed['site_id']}/status/").status_code == 404, 10)
        wait_until(lambda: doomed["code"] not in site_actors(), 10,
                   message="A's actor of the deleted site stopped")
    finally:
        on_a.close()


def test_a_dropped_listen_connection_is_made_again_and_nothing_is_lost(
        cluster: Cluster, site: dict[str, Any]) -> None:
    site_id = site["site_id"]
    listens_before = metric(cluster.b.admin, "sitelink_event_log_listens_total")
    on_a = cluster.a.stream(params={"site_id": site_id})
    on_b = cluster.b.stream(params={"site_id": site_id})
    try:
        terminated = asyncio.run(_terminate_listeners(cluster.dsn))
        assert terminated >= 2  # A's and B's
        assert cluster.a.admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/").status_code == 200
        assert cluster.a.admin.post(f"/api/v1/mqtt/sites/{site_id}/start/").status_code == 200
        on_a.wait_for("site.status", 10, status="connected")
        wait_until(lambda: metric(cluster.b.admin, "sitelink_event_log_listens_total")
                   > listens_before, 10, message="B listens again")
        wait_until(lambda: len(on_b.events) >= len(on_a.events), 10)
        assert [(e.id, e.data) for e in on_b.events] == [(e.id, e.data) for e in on_a.events]
    finally:
        on_a.close()
        on_b.close()


async def _terminate_listeners(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'sitelink-listen-%' AND datname = current_database()")
        return len(rows)
    finally:
        await connection.close()


def test_neither_instance_logged_an_error(cluster: Cluster) -> None:
    """Nothing above made either instance log an error (a row it could not apply, a command
    it failed to carry out)."""
    for instance in (cluster.a, cluster.b):
        errors = []
        for line in instance.process.stderr_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                    errors.append(entry)
        assert errors == [], (instance.name, errors[:3])

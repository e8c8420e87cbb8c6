"""Issue 4's "done when", on SQLite and on PostgreSQL, against a real Mosquitto.

Published commands reach a real subscriber and are kept with their outcome; a discovery
window reports the topics that really went by; topic changes reach the live connection
without a reconnect; the audit log, the metrics and the actor tree say what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from integration.live import (
    LiveServer,
    Publisher,
    create_site,
    metric,
    site_status,
    v1_heartbeat,
    wait_status,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto
from sitelink.storage.tokens import BOOTSTRAP_NAME


class Site:
    def __init__(self, live: LiveServer, broker: Mosquitto) -> None:
        self.live = live
        self.admin = live.admin()
        site = create_site(self.admin, broker.host, broker.port, is_enabled=True)
        self.id: int = site["site_id"]
        self.code: str = site["code"]
        wait_status(self.admin, self.id, "connected")
        self.publisher = Publisher(broker.host, broker.port)

    def url(self, suffix: str) -> str:
        return f"/api/v1/mqtt/sites/{self.id}/{suffix}"


@pytest.fixture(scope="module")
def site(engine_server: LiveServer, broker: Mosquitto) -> Iterator[Site]:
    s = Site(engine_server, broker)
    yield s
    s.publisher.close()


def test_a_qos1_command_reaches_a_real_subscriber_and_is_kept_as_acked(
    site: Site, broker: Mosquitto, subscriber: Callable[..., Any],
) -> None:
    """POST publish/ (qos 1): the device's subscriber gets it, the answer carries a
    command_id, the stream says command.published and commands/ lists it as acked."""
    topic = f"{site.code}/gateway/1/datalogger/monstro/15/input"
    device = subscriber(broker, topic)
    stream = site.live.events(params={"types": "command.published", "site_id": site.id})
    answer = site.admin.post(site.url("publish/"),
                             json={"topic": topic, "message": "start", "qos": 1,
                                   "retain": False})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["message"] == "Message published successfully"
    command_id = body["command_id"]
    assert device.wait_for(lambda: device.count() == 1, 5)
    message = device.messages[0]
    assert (message.topic, message.payload, message.qos, message.retain) == (
        topic, b"start", 1, False)
    event = stream.wait_for("command.published", command_id=command_id)
    assert event.json["outcome"] == "acked" and event.json["site_id"] == site.id

    def listed() -> dict[str, Any] | None:
        rows = site.admin.get(site.url("commands/")).json()["commands"]
        row = next((c for c in rows if c["command_id"] == command_id), None)
        return row if row and row["outcome"] == "acked" else None

    row = wait_until(listed, message="the command is listed as acked")
    assert row["topic"] == topic and row["qos"] == 1 and row["retain"] is False
    assert row["payload_size"] == 5 and row["sender"] == BOOTSTRAP_NAME
    assert row["completed_at"] is not None and row["error"] == ""
    stream.close()


@pytest.mark.parametrize(("qos", "outcome"), [(0, "sent"), (2, "acked")])
def test_qos0_is_sent_and_qos2_is_acked(site: Site, broker: Mosquitto,
                                        subscriber: Callable[..., Any], qos: int,
                                        outcome: str) -> None:
    """qos 0 completes as sent (no acknowledgement exists), qos 2 as acked."""
    topic = f"{site.code}/gateway/1/datalogger/monstro/{qos}/input"
    device = subscriber(broker, topic)
    answer = site.admin.post(site.url("publish/"),
                             json={"topic": topic, "message": f"qos{qos}", "qos": qos})
    assert answer.status_code == 200 and answer.json()["outcome"] == outcome
    assert device.wait_for(lambda: device.count() == 1, 5)
    command_id = answer.json()["command_id"]
    wait_until(lambda: any(c["command_id"] == command_id and c["outcome"] == outcome
                           for c in site.admin.get(site.url("commands/")).json()["commands"]),
               message=f"qos {qos} listed as {outcome}")


def test_commands_are_listed_newest_first_and_a_retained_one_stays(
    site: Site, broker: Mosquitto, subscriber: Callable[..., Any],
) -> None:
    """commands/ is newest first; retain=true leaves the message retained on the broker."""
    ids = []
    for n in range(3):
        answer = site.admin.post(site.url("publish/"), json={
            "topic": f"{site.code}/gateway/9/input", "message": f"m{n}", "qos": 1,
            "retain": n == 2})
        ids.append(answer.json()["command_id"])
    late = subscriber(broker, f"{site.code}/gateway/9/input")
    assert late.wait_for(lambda: late.count() == 1, 5)
    assert late.messages[0].payload == b"m2" and late.messages[0].retain
    listed = [c["command_id"] for c in site.admin.get(site.url("commands/")).json()["commands"]]
    assert [i for i in listed if i in ids] == ids[::-1]


def test_publishing_to_a_site_that_is_not_connected_is_409(site: Site) -> None:
    """No live connection: 409, and the refusal is in the audit log."""
    idle = create_site(site.admin, "127.0.0.1", 1)
    answer = site.admin.post(f"/api/v1/mqtt/sites/{idle['site_id']}/publish/",
                             json={"topic": f"{idle['code']}/gateway/1/input", "message": "x"})
    assert answer.status_code == 409
    entries = site.admin.get("/api/v1/audit").json()["entries"]
    refused = [e for e in entries if e["action"] == "publish" and e["target"] == idle["code"]]
    assert refused and "not connected" in refused[0]["result"]


def test_a_discovery_window_reports_the_topics_that_went_by(site: Site) -> None:
    """POST discovery/ (1 s) → 202; traffic in the window is counted per topic with the size
    of its last payload; afterwards ``{code}/#`` is unsubscribed again."""
    received = metric(site.admin, "sitelink_messages_received_total", site=site.code)
    started = site.admin.post(site.url("discovery/"), json={"seconds": 2})
    assert started.status_code == 202
    assert started.json()["state"] == "running"
    assert site.admin.get(site.url("discovery/")).json()["state"] == "running"

    def listening() -> bool:
        # Nothing else subscribes to the probe's topic: once one arrives, {code}/# is live.
        site.publisher.publish(f"{site.code}/probe", "?", qos=0)
        return metric(site.admin, "sitelink_messages_received_total",
                      site=site.code) > received

    wait_until(listening, 2, interval_s=0.05, message="listening on {code}/#")
    odd = f"{site.code}/weather/station/7/report"
    for size in (10, 20, 30):
        site.publisher.publish(odd, "x" * size)
    site.publisher.publish(f"{site.code}/datalogger/monstro/DISC-1/heartbeat",
                           v1_heartbeat(("t", 1.0)))

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = site.admin.get(site.url("discovery/")).json()
        return body if body["state"] == "finished" else None

    window = wait_until(finished, 5, message="the window ends by itself")
    seen = {t["topic"]: t for t in window["topics"]}
    assert seen[odd]["count"] == 3 and seen[odd]["last_payload_size"] == 30
    heartbeat = seen[f"{site.code}/datalogger/monstro/DISC-1/heartbeat"]
    assert heartbeat["count"] == 1 and heartbeat["guessed_kind"]
    assert heartbeat["guessed_payload_version"] == "v1"
    assert f"{site.code}/#" not in site_status(site.admin, site.id)["topics_list"]


def test_topic_changes_reach_the_live_connection_without_a_reconnect(site: Site) -> None:
    """Add, deactivate and delete a subscription: the connection subscribes and
    unsubscribes in place — no new connect, and messages follow the change at once."""
    stream = site.live.events(params={"site_id": site.id,
                                      "types": "site.status,device.discovered"})
    connected_at = site_status(site.admin, site.id)["last_connected_at"]
    added = site.admin.post(site.url("topics/"),
                            json={"pattern": "extra/{serial}/heartbeat", "qos": 0})
    assert added.status_code == 201
    topic = added.json()
    assert topic["mqtt_filter"] == f"{site.code}/extra/+/heartbeat"
    assert (topic["device_kind"], topic["message_kind"], topic["payload_version"],
            topic["is_active"]) == ("datalogger", "heartbeat", "v1", True)
    wait_until(lambda: topic["mqtt_filter"] in site_status(site.admin, site.id)["topics_list"],
               message="subscribed live")
    site.publisher.publish(f"{site.code}/extra/NEW-1/heartbeat", v1_heartbeat(("t", 1.0)))
    stream.wait_for("device.discovered", serial_number="NEW-1")

    patched = site.admin.patch(site.url(f"topics/{topic['id']}/"), json={"is_active": False})
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    wait_until(lambda: topic["mqtt_filter"] not in
               site_status(site.admin, site.id)["topics_list"], message="unsubscribed live")
    site.publisher.publish(f"{site.code}/extra/NEW-2/heartbeat", v1_heartbeat(("t", 1.0)))
    site.publisher.publish(f"{site.code}/datalogger/m/SENTINEL/heartbeat",
                           v1_heartbeat(("t", 1.0)))
    stream.wait_for("device.discovered", serial_number="SENTINEL")
    assert not stream.of("device.discovered", serial_number="NEW-2")

    assert site.admin.delete(site.url(f"topics/{topic['id']}/")).status_code == 204
    listed = site.admin.get(site.url("topics/")).json()["topics"]
    assert topic["id"] not in [t["id"] for t in listed] and len(listed) >= 3
    assert not [e for e in stream.of("site.status") if e.json["status"] != "connected"], \
        "no reconnect"
    assert site_status(site.admin, site.id)["last_connected_at"] == connected_at
    stream.close()


def test_the_audit_log_says_who_did_what_without_secrets(site: Site) -> None:
    """Start, stop, publish, topic and config changes, each with the token's name; payloads
    and passwords never appear."""
    ops = site.live.client(site.live.token("ops-team", "admin"))
    other = create_site(ops, "127.0.0.1", 1, password="audit-secret-pw")
    other_id = other["site_id"]
    ops.post(f"/api/v1/mqtt/sites/{other_id}/start/")
    ops.post(f"/api/v1/mqtt/sites/{other_id}/stop/")
    ops.patch(f"/api/v1/mqtt/sites/{other_id}/", json={"password": "another-secret-pw"})
    added = ops.post(f"/api/v1/mqtt/sites/{other_id}/topics/",
                     json={"pattern": "audit/{serial}/status", "message_kind": "status"}).json()
    ops.patch(f"/api/v1/mqtt/sites/{other_id}/topics/{added['id']}/", json={"qos": 0})
    ops.delete(f"/api/v1/mqtt/sites/{other_id}/topics/{added['id']}/")
    ops.post(site.url("publish/"), json={"topic": f"{site.code}/gateway/5/input",
                                          "message": "payload-never-logged", "qos": 1})

    response = site.admin.get("/api/v1/audit", params={"limit": 1000})
    assert response.status_code == 200
    entries = [e for e in response.json()["entries"] if e["actor"] == "ops-team"]
    actions = [e["action"] for e in entries]
    assert actions == ["publish", "topic.delete", "topic.update", "topic.create",
                       "site.update", "site.stop", "site.start", "site.create"], actions
    assert all(set(e) >= {"id", "at", "actor", "action", "target", "detail", "result"}
               for e in entries)
    publish = entries[0]
    assert publish["target"] == site.code and publish["result"] == "acked"
    assert publish["detail"]["payload_size"] == len("payload-never-logged")
    assert entries[4]["detail"]["fields"] == ["password"]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    text = response.text
    for secret in ("audit-secret-pw", "another-secret-pw", "payload-never-logged"):
        assert secret not in text


def test_metrics_reflect_what_happened(site: Site, broker: Mosquitto) -> None:
    """The Prometheus families exist and move with the traffic, connections and devices."""
    admin = site.admin
    text = admin.get("/metrics").text
    for family in ("sitelink_connections", "sitelink_connect_attempts",
                   "sitelink_connect_failures", "sitelink_messages_received",
                   "sitelink_messages_rejected", "sitelink_devices", "sitelink_actors",
                   "sitelink_actor_mailbox_max", "sitelink_sse_clients",
                   "sitelink_sse_dropped_clients", "sitelink_storage_flush_seconds"):
        # counters are exposed as <family>_total in Prometheus' text format
        assert f"# TYPE {family} gauge" in text or f"# TYPE {family}_total counter" in text, \
            family

    received = metric(admin, "sitelink_messages_received_total", site=site.code)
    rejected = metric(admin, "sitelink_messages_rejected_total", site=site.code)
    for n in range(5):
        site.publisher.publish(f"{site.code}/datalogger/m/MET-{n}/heartbeat",
                               v1_heartbeat(("t", float(n))))
    site.publisher.publish(f"{site.code}/datalogger/m/MET-0/heartbeat", b"\xff not json")
    wait_until(lambda: metric(admin, "sitelink_messages_received_total", site=site.code)
               >= received + 6, message="six more messages received")
    assert metric(admin, "sitelink_messages_rejected_total", site=site.code) == rejected + 1
    assert metric(admin, "sitelink_devices", availability="online") >= 5
    assert metric(admin, "sitelink_connect_attempts_total", site=site.code) >= 1

    connected = metric(admin, "sitelink_connections", status="connected")
    extra = create_site(admin, broker.host, broker.port, is_enabled=True)
    wait_until(lambda: metric(admin, "sitelink_connections", status="connected")
               == connected + 1, message="one more connected")
    admin.post(f"/api/v1/mqtt/sites/{extra['site_id']}/stop/")
    wait_until(lambda: metric(admin, "sitelink_connections", status="connected") == connected,
               message="back to as many")
    stream = site.live.events()
    assert metric(admin, "sitelink_sse_clients") >= 1
    stream.close()


def _site_nodes(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The site nodes of the tree: under the workers, or under the root (in-process)."""
    return [s for n in root["children"]
            for s in (n["children"] if n["kind"] == "worker" else [n])]


def test_the_actor_tree_and_its_flat_views(site: Site) -> None:
    """supervisor → (workers →) sites → devices with state, mailbox and processed; ?kind=
    flattens."""
    site.publisher.publish(f"{site.code}/datalogger/monstro/TREE-1/heartbeat",
                           v1_heartbeat(("t", 1.0)))

    def tree() -> dict[str, Any] | None:
        body: dict[str, Any] = site.admin.get("/api/v1/actors").json()
        mine = next((s for s in _site_nodes(body["actors"][0]) if s["name"] == site.code), None)
        found = mine and any(d["name"] == "monstro/TREE-1" and d["state"] == "online"
                             for d in mine["children"])
        return body if found else None

    body = wait_until(tree, message="TREE-1 online in the tree")
    assert body["instance_id"] == site.live.settings.instance_id
    [root] = body["actors"]
    assert (root["kind"], root["name"], root["state"]) == ("root", "supervisor", "running")
    workers = site.live.settings.workers
    assert [n["kind"] for n in root["children"]] == ["worker"] * workers or workers == 0
    assert [n["name"] for n in root["children"]] == [f"worker-{i}" for i in range(workers)] \
        or workers == 0
    for node in (root, *root["children"], *_site_nodes(root)):
        assert set(node) >= {"urn", "kind", "name", "state", "mailbox", "processed",
                             "restarts", "started_at", "children"}
        assert isinstance(node["mailbox"], int) and node["processed"] >= 0
    mine = next(s for s in _site_nodes(root) if s["name"] == site.code)
    assert mine["kind"] == "site" and mine["state"] == "connected" and mine["processed"] > 0
    device = next(d for d in mine["children"] if d["name"] == "monstro/TREE-1")
    assert device["kind"] == "device" and device["processed"] >= 1

    flat = site.admin.get("/api/v1/actors", params={"kind": "site"}).json()["actors"]
    assert flat and all(n["kind"] == "site" and "children" not in n for n in flat)
    assert site.code in [n["name"] for n in flat]
    devices = site.admin.get("/api/v1/actors", params={"kind": "device"}).json()["actors"]
    assert "monstro/TREE-1" in [n["name"] for n in devices]
    began = time.monotonic()
    site.admin.get("/api/v1/actors")
    assert time.monotonic() - began < 2.0


@pytest.fixture(scope="module")
def viewer(engine_server: LiveServer) -> httpx.Client:
    return engine_server.viewer()


def test_a_viewer_can_read_commands_but_not_publish(site: Site, viewer: httpx.Client) -> None:
    """Viewers read the command list; publishing needs the admin role."""
    assert viewer.get(site.url("commands/")).status_code == 200
    assert viewer.post(site.url("publish/"), json={
        "topic": f"{site.code}/gateway/1/input", "message": "x"}).status_code == 403

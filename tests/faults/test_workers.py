"""Site workers (issue 15): a worker killed with ``kill -9`` is started again and its sites
reconnect, while the other worker's sites never notice; the actor tree and the host show
the workers.

A live server with two workers, two sites (ids 1 and 2: one on each worker), a real
Mosquitto. "Never notice" is seen four ways for the other worker's site: no status other
than ``connected`` and no new row in its connection history after the kill, the same
``last_connected_at``, and nothing on its availability topic (a dropped connection would
make the broker publish its will, a new one "online").
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from integration.live import (
    LiveServer,
    create_site,
    running_server,
    site_status,
    wait_status,
    wait_until,
)
from ops.support import process_alive
from sitelink.embedded_broker import Mosquitto


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("workers"), workers=2) as live:
        yield live


class Watcher:
    """Every message on one topic, from the moment it subscribed."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[bytes] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.messages.append(m.payload)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert self.subscribed.wait(5), "not subscribed"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_killed_worker_comes_back_and_the_other_never_notices(
        server: LiveServer, broker: Mosquitto) -> None:
    admin = server.admin()
    first = create_site(admin, broker.host, broker.port, is_enabled=True)
    second = create_site(admin, broker.host, broker.port, is_enabled=True)
    host = server.runtime.sites
    assert host is not None
    victim_worker = host.worker_of(first["site_id"])
    other_worker = host.worker_of(second["site_id"])
    assert {victim_worker, other_worker} == {0, 1}, "the two sites share a worker"
    wait_status(admin, first["site_id"], "connected")
    other = wait_status(admin, second["site_id"], "connected")
    before = {w.worker: w for w in host.workers()}
    assert [before[i].sites for i in (0, 1)] == [1, 1]
    assert all(w.state == "running" and w.restarts == 0 for w in before.values())

    instance = server.settings.instance_id
    watcher = Watcher(broker, f"{second['code']}/manager/{instance}/status")
    wait_until(lambda: watcher.messages == [b"online"], message="the retained 'online'")
    history_path = f"/api/v1/mqtt/sites/{second['site_id']}/history/"
    history = wait_until(lambda: admin.get(history_path).json()["events"],
                         message="the other site's connect is stored")
    stream = server.events(params={"types": "site.status"})
    victim_pid = before[victim_worker].pid
    assert victim_pid is not None
    os.kill(victim_pid, signal.SIGKILL)

    stream.wait_for("site.status", 20, site_id=first["site_id"], status="connected")
    wait_status(admin, first["site_id"], "connected")
    after = {w.worker: w for w in host.workers()}
    assert after[victim_worker].restarts == 1 and after[victim_worker].pid != victim_pid
    assert after[other_worker] == before[other_worker]
    assert not process_alive(victim_pid)
    wait_until(lambda: admin.get("/api/v1/mqtt/health/").json()["service"]["running"],
               message="health: running again")

    assert admin.get(history_path).json()["events"] == history
    # (a "connected" status may come: the retry count resets after SITELINK_RETRY_RESET_S)
    assert [e.json["status"] for e in stream.of("site.status", site_id=second["site_id"])
            if e.json["status"] != "connected"] == []
    assert site_status(admin, second["site_id"])["last_connected_at"] == \
        other["last_connected_at"]
    assert watcher.messages == [b"online"], "the other worker's site reconnected"
    watcher.close()
    stream.close()


def test_the_actor_tree_puts_workers_between_root_and_sites(server: LiveServer,
                                                            broker: Mosquitto) -> None:
    admin = server.admin()
    site = create_site(admin, broker.host, broker.port, is_enabled=True)
    wait_status(admin, site["site_id"], "connected")
    [root] = admin.get("/api/v1/actors").json()["actors"]
    assert root["kind"] == "root"
    workers = root["children"]
    assert [(w["kind"], w["name"], w["state"]) for w in workers] == [
        ("worker", "worker-0", "running"), ("worker", "worker-1", "running")]
    assert all(process_alive(w["pid"]) and w["pid"] != os.getpid() for w in workers)
    hosting = workers[server.runtime.sites.worker_of(site["site_id"])]  # type: ignore[union-attr]
    assert site["code"] in [s["name"] for s in hosting["children"]]
    assert all(s["kind"] == "site" for w in workers for s in w["children"])
    flat = admin.get("/api/v1/actors", params={"kind": "worker"}).json()["actors"]
    assert [w["name"] for w in flat] == ["worker-0", "worker-1"]
    assert all("children" not in w for w in flat)


def test_stopping_ends_every_worker(tmp_path: Path, broker: Mosquitto) -> None:
    """Shutdown: the sites say goodbye (their "offline"), then no worker process is left."""
    with running_server("sqlite", tmp_path, workers=2) as live:
        admin = live.admin()
        site = create_site(admin, broker.host, broker.port, is_enabled=True)
        wait_status(admin, site["site_id"], "connected")
        host = live.runtime.sites
        assert host is not None
        pids = [w.pid for w in host.workers()]
        watcher = Watcher(broker, f"{site['code']}/manager/{live.settings.instance_id}/status")
        wait_until(lambda: watcher.messages == [b"online"], message="the retained 'online'")
        live.stop()
        assert [w.state for w in host.workers()] == ["stopped", "stopped"]
    assert not any(process_alive(pid) for pid in pids if pid is not None)
    wait_until(lambda: watcher.messages == [b"online", b"offline"], message="the goodbye")
    watcher.close()

"""Issue 2's "done when", through HTTP and a real SSE client against a real Mosquitto.

A site is created, started, its broker killed and brought back, stopped; bad credentials
fail with a reason and a PATCHed password fixes them; ``reconnect/`` skips the backoff. The
event stream resumes with ``Last-Event-ID``, says ``reset`` for an id it no longer holds,
filters by site and type, sends keep-alive comments, caps the number of streams, and drops
a client that does not read without slowing the others. SIGTERM ends ``sitelink serve``
within MQTT_SHUTDOWN_TIMEOUT + 2 s even with streams open.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.live import (
    ADMIN_TOKEN,
    EventStream,
    LiveServer,
    Publisher,
    create_site,
    metric,
    running_server,
    site_status,
    v1_heartbeat,
    wait_status,
    wait_until,
)
from sitelink.api.events import KEEPALIVE_S
from sitelink.embedded_broker import Mosquitto, free_port
from sitelink.storage import sites as site_store


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Retries from 0.2 s up to 5 s (so a backoff wait is long enough to be seen skipped)."""
    with running_server("sqlite", tmp_path_factory.mktemp("flow"), retry_max_s=5.0,
                        send_buffer=16_384) as server:
        yield server


@pytest.fixture(scope="module")
def admin(live: LiveServer) -> httpx.Client:
    return live.admin()


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def statuses(stream: EventStream, site_id: int, after: int = 0) -> list[str]:
    return [e.json["status"] for e in stream.events[after:]
            if e.event == "site.status" and e.json["site_id"] == site_id]


def test_start_kill_restart_stop(live: LiveServer, admin: httpx.Client,
                                 mosquitto: Mosquitto) -> None:
    """Create → start: connected at once; broker killed: error with a reason and a retry
    time; broker back: connected; stop: disabled, then disconnected."""
    stream = live.events(params={"types": "site.status,site.changed"})
    site = create_site(admin, mosquitto.host, mosquitto.port)
    site_id = site["site_id"]
    assert site["status"] == "disconnected" and site["is_enabled"] is False
    stream.wait_for("site.changed", site_id=site_id, change="created")

    mark = stream.mark()
    began = time.monotonic()
    answer = admin.post(f"/api/v1/mqtt/sites/{site_id}/start/")
    assert answer.status_code == 200
    assert answer.json()["success"] is True
    assert answer.json()["message"].startswith(f"Site {site_id} enabled.")
    connected = stream.wait_for("site.status", site_id=site_id, status="connected", after=mark)
    assert connected.at - began < 2.0, "connected must follow start at once (no polling cycle)"
    seen = statuses(stream, site_id, mark)
    assert seen.index("connecting") < seen.index("connected")
    assert connected.json["is_enabled"] is True and connected.json["next_retry_at"] is None

    status = site_status(admin, site_id)
    assert status["status"] == "connected" and status["handler_connected"] is True
    assert status["client_id"] == f"{live.settings.instance_id}-{site['code']}"
    assert status["last_connected_at"] is not None
    assert sorted(status["topics_list"]) == sorted([
        f"{site['code']}/gateway/+/heartbeat", f"{site['code']}/datalogger/+/+/heartbeat",
        f"{site['code']}/datalogger/+/+/status"])
    assert status["subscribed_topics"] == 3
    assert admin.get("/api/v1/mqtt/health/").json()["status"] == "healthy"

    mark = stream.mark()
    mosquitto.kill()
    error = stream.wait_for("site.status", site_id=site_id, status="error", after=mark)
    assert error.json["error_message"], "an error says why"
    assert error.json["next_retry_at"] is not None
    assert at(error.json["next_retry_at"]) > at(error.json["at"])
    health = admin.get("/api/v1/mqtt/health/")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["connections"]["unhealthy"] >= 1

    mark = stream.mark()
    mosquitto.restart()
    stream.wait_for("site.status", site_id=site_id, status="connected", after=mark,
                    timeout_s=10)
    def stored() -> dict[str, Any] | None:  # the writer stores connection events in batches
        body: dict[str, Any] = admin.get(f"/api/v1/mqtt/sites/{site_id}/history/").json()
        kinds = [e["kind"] for e in body["events"]]
        return body if kinds.count("connected") >= 2 and "lost" in kinds else None

    history = wait_until(stored, message="connected, lost, connected in the history")
    assert history["events"][0]["kind"] == "connected", "newest first"
    lost = next(e for e in history["events"] if e["kind"] == "lost")
    assert lost["reason"] and lost["at"].endswith("Z")
    assert history["last_24h"]["connects"] >= 2 and history["last_24h"]["drops"] >= 1
    assert 0 < history["last_24h"]["uptime_percentage"] <= 100

    mark = stream.mark()
    answer = admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
    assert answer.json()["message"].startswith(f"Site {site_id} disabled.")
    stream.wait_for("site.status", site_id=site_id, status="disconnected", after=mark)
    assert statuses(stream, site_id, mark) == ["disabled", "disconnected"]
    status = site_status(admin, site_id)
    assert status["status"] == "disconnected" and status["is_enabled"] is False
    assert status["handler_connected"] is False
    stream.close()


def test_bad_credentials_then_the_right_password(live: LiveServer, admin: httpx.Client) -> None:
    """A refused CONNECT is an error naming authorisation, retried with backoff (not paho's
    own loop); PATCHing the right password reconnects."""
    with Mosquitto(users={"device": "good-pass"}) as broker:
        stream = live.events(params={"types": "site.status"})
        site_id = create_site(admin, broker.host, broker.port, username="device",
                              password="bad-pass", is_enabled=True)["site_id"]
        first = stream.wait_for("site.status", site_id=site_id, status="error")
        assert "authori" in first.json["error_message"].lower(), first.json
        assert first.json["next_retry_at"] is not None
        again = stream.wait_for("site.status", site_id=site_id, status="error",
                                where=lambda d: d["retry_count"] > first.json["retry_count"])
        assert at(again.json["next_retry_at"]) - at(again.json["at"]) >= 0.2 * 0.9

        mark = stream.mark()
        patched = admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"password": "good-pass"})
        assert patched.status_code == 200
        stream.wait_for("site.status", site_id=site_id, status="connected", after=mark)
        assert site_status(admin, site_id)["error_message"] == ""
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        stream.close()


def test_reconnect_now_skips_the_backoff_wait(live: LiveServer, admin: httpx.Client,
                                              mosquitto: Mosquitto) -> None:
    """``reconnect/`` drops a live link and connects again; while backing off it connects
    at once instead of at ``next_retry_at``; on a disabled site it is 409."""
    stream = live.events(params={"types": "site.status"})
    site_id = create_site(admin, mosquitto.host, mosquitto.port, is_enabled=True)["site_id"]
    first = wait_status(admin, site_id, "connected")

    mark = stream.mark()
    answer = admin.post(f"/api/v1/mqtt/sites/{site_id}/reconnect/")
    assert answer.status_code == 200 and answer.json()["success"] is True
    stream.wait_for("site.status", site_id=site_id, status="connected", after=mark)
    assert "connecting" in statuses(stream, site_id, mark)
    assert site_status(admin, site_id)["last_connected_at"] > first["last_connected_at"]

    mark = stream.mark()
    mosquitto.kill()
    backing_off = stream.wait_for("site.status", site_id=site_id, status="error", after=mark,
                                  where=lambda d: d["retry_count"] >= 3)
    due = at(backing_off.json["next_retry_at"])
    mosquitto.restart()
    mark = stream.mark()
    admin.post(f"/api/v1/mqtt/sites/{site_id}/reconnect/")
    connected = stream.wait_for("site.status", site_id=site_id, status="connected", after=mark)
    assert at(connected.json["at"]) < due, "reconnect/ must not wait for the next retry"

    admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
    wait_status(admin, site_id, "disconnected")
    refused = admin.post(f"/api/v1/mqtt/sites/{site_id}/reconnect/")
    assert refused.status_code == 409 and "not enabled" in refused.json()["detail"]
    stream.close()


def test_last_event_id_resumes_with_the_buffered_events(live: LiveServer,
                                                        admin: httpx.Client) -> None:
    """A client that reconnects with Last-Event-ID gets every event after it, in order;
    ids increase by one per event."""
    site_id = create_site(admin, "127.0.0.1", 1)["site_id"]
    first = live.events(params={"site_id": site_id})
    for n in range(3):
        admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"name": f"name {n}"})
    wait_until(lambda: len(first.of("site.changed")) == 3, message="three changes")
    resume_from = first.of("site.changed")[0].id
    first.close()
    for n in range(3, 6):
        admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"name": f"name {n}"})

    resumed = live.events(params={"site_id": site_id}, last_event_id=resume_from)
    wait_until(lambda: len(resumed.of("site.changed")) >= 5, message="five changes replayed")
    replayed = resumed.of("site.changed")
    assert [e.json["name"] for e in replayed] == [f"name {n}" for n in range(1, 6)]
    ids = [int(e.id) for e in replayed]
    assert ids == sorted(ids) and ids[0] > int(resume_from)
    assert not resumed.of("reset")
    resumed.close()

    unfiltered = live.events(last_event_id=str(ids[0]))
    unfiltered.wait(lambda: bool(unfiltered.events), 5)
    assert int(unfiltered.events[0].id) == ids[0] + 1, "ids increase by one per event"
    unfiltered.close()


def test_an_unknown_event_id_gets_one_reset(live: LiveServer) -> None:
    """An id the server never gave out cannot be resumed from: one ``reset``, then live."""
    stream = live.events(last_event_id=str(10**9))
    reset = stream.wait_for("reset")
    assert reset.json["reason"]
    stream.wait(lambda: False, 0.3)
    assert len(stream.of("reset")) == 1
    stream.close()


def test_site_and_type_filters(live: LiveServer, admin: httpx.Client) -> None:
    """``?site_id=`` (repeatable) and ``?types=`` select what a stream carries."""
    a = create_site(admin, "127.0.0.1", 1)["site_id"]
    b = create_site(admin, "127.0.0.1", 1)["site_id"]
    only_a = live.events(params={"site_id": a})
    only_changes = live.events(params={"types": "site.changed", "site_id": [a, b]})
    only_status = live.events(params=[("site_id", a), ("site_id", b), ("types", "site.status")])
    everything = live.events()

    admin.patch(f"/api/v1/mqtt/sites/{a}/", json={"name": "A"})
    admin.patch(f"/api/v1/mqtt/sites/{b}/", json={"name": "B"})
    for site_id in (a, b):  # port 1 refuses: connecting, then error
        admin.post(f"/api/v1/mqtt/sites/{site_id}/start/")
    for site_id in (a, b):
        everything.wait_for("site.status", site_id=site_id, status="error")
        admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")
        everything.wait_for("site.status", site_id=site_id, status="disconnected")
    only_status.wait_for("site.status", site_id=b, status="disconnected")
    only_a.wait_for("site.status", site_id=a, status="disconnected")
    only_changes.wait_for("site.changed", site_id=b, where=lambda d: True)

    assert {e.json["site_id"] for e in only_a.events} == {a}
    assert {e.event for e in only_a.events} == {"site.changed", "site.status"}
    assert {e.event for e in only_changes.events} == {"site.changed"}
    assert {e.json["site_id"] for e in only_changes.events} == {a, b}
    assert {e.event for e in only_status.events} == {"site.status"}
    assert {e.json["site_id"] for e in only_status.events} == {a, b}
    for stream in (only_a, only_changes, only_status, everything):
        stream.close()


def test_an_idle_stream_gets_keepalive_comments(live: LiveServer) -> None:
    """A comment line at least every keep-alive interval (15 s in production; here 0.5 s)."""
    assert KEEPALIVE_S <= 15
    stream = live.events(params={"types": "command.published", "site_id": 2**30})
    assert stream.wait(lambda: len(stream.comments) >= 4, 5), stream.comments
    assert stream.comments[0][0] == "connected"
    times = [t for text, t in stream.comments if text == "keep-alive"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and max(gaps) < live.sse_keepalive_s * 2
    assert not stream.events
    stream.close()


def test_stopping_the_server_ends_open_streams_at_once(live: LiveServer) -> None:
    """A programmatic stop (``should_exit``) with streams open does not wait for them: the
    streams end and the server is down well within its graceful timeout."""
    streams = [live.events(), live.events(params={"readings": 1})]
    assert all(s.status_code == 200 for s in streams)
    elapsed = live.stop()
    assert elapsed < 1.5, f"stop took {elapsed:.2f} s"
    assert all(s.wait(lambda s=s: s.ended, 2) for s in streams)
    live.start()
    assert live.admin().get("/api/v1/mqtt/health/").status_code == 200


# --- a client that does not read ---------------------------------------------------------------


def _stalled_client(live: LiveServer, path: str) -> socket.socket:
    """A client that asks for an event stream and then never reads (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n"
                 f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode())
    return sock


def _read_to_end(sock: socket.socket, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    chunks = []
    with contextlib.suppress(TimeoutError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n0\r\n\r\n" in chunks[-1][-16:]:  # the chunked body's last chunk
                break
    return b"".join(chunks)


def test_a_client_that_does_not_read_is_dropped_without_slowing_another(
    live: LiveServer, admin: httpx.Client, broker: Mosquitto,
) -> None:
    """13,000 events in a burst: the reading client gets every one, in order; the stalled
    one is dropped (its stream ends once it reads again); a client resuming from an id that
    fell out of the 10,000-event buffer gets exactly one ``reset``, and one resuming from
    a recent id gets exactly what followed it."""
    site = create_site(admin, broker.host, broker.port, is_enabled=True)
    site_id, code = site["site_id"], site["code"]
    wait_status(admin, site_id, "connected")
    path = f"/api/v1/events?readings=1&types=sensor.reading&site_id={site_id}"
    clients_before = metric(admin, "sitelink_sse_clients")
    dropped_before = metric(admin, "sitelink_sse_dropped_clients_total")
    stalled = _stalled_client(live, path)
    try:
        _burst(live, admin, broker, site_id, code, stalled, clients_before, dropped_before)
    finally:
        stalled.close()
    admin.post(f"/api/v1/mqtt/sites/{site_id}/stop/")


def _burst(live: LiveServer, admin: httpx.Client, broker: Mosquitto, site_id: int, code: str,
           stalled: socket.socket, clients_before: float, dropped_before: float) -> None:
    reader = live.events(params={"readings": 1, "types": "sensor.reading", "site_id": site_id})
    wait_until(lambda: metric(admin, "sitelink_sse_clients") == clients_before + 2,
               message="both streams subscribed")

    publisher = Publisher(broker.host, broker.port)
    heartbeats, sensors = 130, 100
    began = time.monotonic()
    for n in range(heartbeats):
        publisher.publish(f"{code}/datalogger/burst/B{n:03d}/heartbeat",
                          v1_heartbeat(*[(f"s{k:03d}", float(n * 1000 + k))
                                         for k in range(sensors)]))
    total = heartbeats * sensors
    assert reader.wait(lambda: len(reader.events) >= total, 30), len(reader.events)
    elapsed = time.monotonic() - began
    per_device: dict[str, list[float]] = {}
    for event in reader.events:  # devices are actors of their own: order holds per device
        per_device.setdefault(event.json["serial_number"], []).append(event.json["value"])
    assert per_device == {f"B{n:03d}": [float(n * 1000 + k) for k in range(sensors)]
                          for n in range(heartbeats)}
    ids = [int(e.id) for e in reader.events]
    assert ids == sorted(ids) and len(set(ids)) == total
    assert elapsed < 20
    # Stuck (it took nothing for stall_s) with events waiting: dropped by the hub's sweep,
    # even though no further event comes.
    wait_until(lambda: metric(admin, "sitelink_sse_dropped_clients_total") == dropped_before + 1,
               message="the stalled client dropped")

    body = _read_to_end(stalled, 10.0).decode(errors="replace")
    assert body.startswith("HTTP/1.1 200")
    stalled_ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    # A prefix: all of it when the stream had taken the whole burst before the client
    # stopped reading (then it is dropped for what it took and never sent).
    assert stalled_ids and stalled_ids == ids[: len(stalled_ids)], "a consistent prefix"
    assert body.endswith("0\r\n\r\n"), "its stream ended, so a browser would reconnect"

    resumed = live.events(params={"readings": 1, "site_id": site_id},
                          last_event_id=str(ids[0]))  # 12,999 events ago
    resumed.wait_for("reset")
    resumed.wait(lambda: False, 0.3)
    assert [e.event for e in resumed.events] == ["reset"], "too old: one reset, no replay"
    resumed.close()

    recent = live.events(params={"readings": 1, "types": "sensor.reading", "site_id": site_id},
                         last_event_id=str(ids[-101]))
    assert recent.wait(lambda: len(recent.events) >= 100, 5)
    assert [int(e.id) for e in recent.events] == ids[-100:]
    recent.close()
    reader.close()
    publisher.close()


# --- sitelink serve as a process -----------------------------------------------------------------


@contextlib.contextmanager
def serve_process(tmp: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    environment = {
        **os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'serve.db'}",
        "SITELINK_ADMIN_TOKEN": ADMIN_TOKEN, "SITELINK_SECRET_KEY": "serve-test-secret",
        "SITELINK_LOG_FORMAT": "json", "MQTT_INSTANCE_ID": f"serve-{port}",
        "SITELINK_RETRY_BASE_S": "0.2", "SITELINK_CONNECT_TIMEOUT_S": "2", **env,
    }
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sitelink.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port)], env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError((tmp / "serve.log").read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{base}/api/v1/mqtt/health/", timeout=1).status_code == 200
            return False

        wait_until(up, 30, interval_s=0.05, message="sitelink serve answers")
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_sigterm_with_open_streams_exits_within_the_shutdown_timeout(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Callable[..., Any],
) -> None:
    """``sitelink serve`` with a connected site and open event streams (at the
    SITELINK_SSE_MAX_CLIENTS cap, so one more gets 503) stops on SIGTERM within
    MQTT_SHUTDOWN_TIMEOUT + 2 s, saying goodbye to the broker."""
    shutdown_timeout_s = 2.0
    with serve_process(tmp_path, SITELINK_SSE_MAX_CLIENTS="2",
                       MQTT_SHUTDOWN_TIMEOUT=str(shutdown_timeout_s)) as (process, base):
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        code = "sigterm_site"
        manager = subscriber(mosquitto, f"{code}/manager/+/status")
        site_id = create_site(admin, mosquitto.host, mosquitto.port, code=code,
                              is_enabled=True)["site_id"]
        wait_status(admin, site_id, "connected")
        assert manager.wait_for(lambda: manager.count(lambda m: m.payload == b"online") > 0, 5)

        streams = [EventStream(base).open(), EventStream(base).open()]
        assert [s.status_code for s in streams] == [200, 200]
        refused = EventStream(base).open()
        assert refused.status_code == 503
        assert "event streams" in refused.body
        streams[1].close()
        wait_until(lambda: metric(admin, "sitelink_sse_clients") == 1,
                   message="a closed stream frees its place")
        streams[1] = EventStream(base).open()
        assert streams[1].status_code == 200

        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=shutdown_timeout_s + 5)
        elapsed = time.monotonic() - began
        assert elapsed <= shutdown_timeout_s + 2, f"took {elapsed:.1f} s"
        # uvicorn re-raises the signal it handled once it has shut down cleanly.
        assert process.returncode in (0, -signal.SIGTERM)
        assert all(s.wait(lambda s=s: s.ended, 2) for s in streams)
        assert manager.wait_for(lambda: manager.count(lambda m: m.payload == b"offline") > 0, 2)
        admin.close()
    log = (tmp_path / "serve.log").read_text()
    assert "sitelink stopped" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_a_site_changed_in_storage_elsewhere_is_announced_once_at_reconcile(
        live: LiveServer, admin: httpx.Client) -> None:
    """The command line (``sitelink sites enable``) writes the site row itself: the next
    reconcile announces the change as ``updated``, with what the row says now, and the one
    after announces nothing (an API change after it is the next event)."""
    site_id = create_site(admin, "127.0.0.1", 1)["site_id"]
    stream = live.events(params={"site_id": site_id, "types": "site.changed"})
    try:
        live.call(site_store.update_site(live.runtime.db, site_id,
                                         site_store.SitePatch(name="renamed")))
        live.call(live.runtime.reconcile())
        assert stream.wait_for("site.changed", change="updated").json["name"] == "renamed"
        mark = stream.mark()
        live.call(live.runtime.reconcile())
        assert admin.patch(f"/api/v1/mqtt/sites/{site_id}/", json={"name": "again"}).is_success
        stream.wait_for("site.changed", after=mark, name="again")
        assert [e.json["name"] for e in stream.events[mark:]] == ["again"]
    finally:
        stream.close()

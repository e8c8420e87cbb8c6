"""Issue 3's "done when", on SQLite and on PostgreSQL, with a real Mosquitto and paho devices.

Heartbeats (v1 on the default subscriptions, v2 on one added through the topics API) from
many devices make dataloggers, gateways and sensors appear on the stream and the API within
a second, with readings stored; a silent device goes offline at last_seen +
offline_after_s and not before; a broker that dies makes devices unreachable, never
offline, and gives them a full offline_after_s after it returns; a restart of the server
on the same database loses nothing and reconnects enabled sites by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from integration.live import (
    LiveServer,
    Publisher,
    create_site,
    metric,
    v1_heartbeat,
    v2_heartbeat,
    wait_status,
    wait_until,
)
from sitelink.embedded_broker import Mosquitto

SHORT_OFFLINE_S = 5  # the smallest offline_after_s the API accepts


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Fleet:
    """One connected site on the module's broker, with a v2 subscription added."""

    def __init__(self, live: LiveServer, broker: Mosquitto) -> None:
        self.live = live
        self.broker = broker
        self.admin = live.admin()
        site = create_site(self.admin, broker.host, broker.port, is_enabled=True)
        self.site_id: int = site["site_id"]
        self.code: str = site["code"]
        added = self.admin.post(f"/api/v1/mqtt/sites/{self.site_id}/topics/", json={
            "pattern": "v2/datalogger/{model}/{serial}/heartbeat", "payload_version": "v2"})
        assert added.status_code == 201, added.text
        assert added.json()["mqtt_filter"] == f"{self.code}/v2/datalogger/+/+/heartbeat"
        wait_until(lambda: len(wait_status(self.admin, self.site_id, "connected")
                               ["topics_list"]) == 4, message="four subscriptions live")
        self.publisher = Publisher(broker.host, broker.port)

    def v1(self, serial: str, *sensors: tuple[str, float], model: str = "monstro") -> None:
        self.publisher.publish(f"{self.code}/datalogger/{model}/{serial}/heartbeat",
                               v1_heartbeat(*sensors))

    def v2(self, serial: str, *sensors: tuple[str, float], model: str = "compact") -> None:
        self.publisher.publish(f"{self.code}/v2/datalogger/{model}/{serial}/heartbeat",
                               v2_heartbeat(*sensors))


@pytest.fixture(scope="module")
def fleet(engine_server: LiveServer, broker: Mosquitto) -> Iterator[Fleet]:
    f = Fleet(engine_server, broker)
    yield f
    f.publisher.close()


def test_heartbeats_make_devices_and_sensors_appear_within_a_second(fleet: Fleet) -> None:
    """30 dataloggers (20 v1, 10 v2) and 3 gateways: discovered and online on the stream,
    listed with their sensors on the API, within a second of their first heartbeat."""
    admin, site_id = fleet.admin, fleet.site_id
    stream = fleet.live.events(params={"site_id": site_id, "readings": 1})
    began = time.monotonic()
    for n in range(20):
        fleet.v1(f"V1-{n:02d}", ("t_ext", 20.0 + n), ("rh", 50.0))
    for n in range(10):
        fleet.v2(f"V2-{n:02d}", ("t_ext", 30.0 + n))
    for n in range(3):
        fleet.publisher.publish(f"{fleet.code}/gateway/GW{n}/heartbeat",
                                {"firmware": "GW.1.0", "uptime_s": 5})
    published = time.monotonic()

    assert stream.wait(lambda: len(stream.of("device.online")) >= 33, 1.0), \
        f"{len(stream.of('device.online'))} online after 1 s"
    assert len(stream.of("device.discovered")) == 33
    assert {e.json["serial_number"] for e in stream.of("device.discovered")} == \
        {f"V1-{n:02d}" for n in range(20)} | {f"V2-{n:02d}" for n in range(10)} | \
        {f"GW{n}" for n in range(3)}
    online = stream.of("device.online")[0].json
    assert set(online) >= {"site_id", "serial_number", "availability", "reason", "at"}
    assert online["availability"] == "online"
    assert (online.get("datalogger_id") or online.get("gateway_id")) is not None
    assert stream.wait(lambda: len(stream.of("sensor.reading")) >= 50, 1.0)

    def listed() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = admin.get("/api/v1/mqtt/dataloggers/",
                                               params={"site_id": site_id}).json()["dataloggers"]
        # (sensor counts are read apart from the rows: wait for both, not one as a proxy)
        ready = len(rows) == 30 and all(r["sensors_count"] and r["firmware_version"]
                                        for r in rows)
        return rows if ready else None

    rows = wait_until(listed, 1.0, message="30 dataloggers with sensors on the API")
    assert time.monotonic() - published < 1.5
    assert time.monotonic() - began < 5
    v1 = next(r for r in rows if r["serial_number"] == "V1-03")
    assert set(v1) >= {"id", "site_id", "serial_number", "model", "label", "gateway",
                       "availability", "is_online", "firmware_version", "sensors_count",
                       "uptime_percentage", "offline_after_s", "last_seen_at", "discovered_at"}
    assert v1["model"] == "monstro" and v1["firmware_version"] == "V.5.53.0"
    assert v1["availability"] == "online" and v1["is_online"] is True
    assert v1["sensors_count"] == 2 and v1["offline_after_s"] == 180
    v2 = next(r for r in rows if r["serial_number"] == "V2-04")
    assert v2["model"] == "compact" and v2["firmware_version"] == "V.6.0.1"

    gateways = admin.get("/api/v1/mqtt/gateways/", params={"site_id": site_id}).json()
    assert sorted(g["serial_number"] for g in gateways["gateways"]) == ["GW0", "GW1", "GW2"]

    sensors = admin.get("/api/v1/mqtt/sensors/by_datalogger",
                        params={"datalogger_id": v1["id"]}).json()["sensors"]
    t_ext = next(s for s in sensors if s["key"] == "t_ext")
    assert set(t_ext) >= {"id", "datalogger_id", "key", "label", "sensor_type", "is_online",
                          "current_value", "unit_of_measure", "updated_at"}
    assert t_ext["current_value"] == 23.0 and t_ext["unit_of_measure"] == "°C"
    assert t_ext["sensor_type"] == "temperature" and t_ext["is_online"] is True
    compact = admin.get("/api/v1/mqtt/sensors/by_datalogger",
                        params={"datalogger_id": v2["id"]}).json()["sensors"]
    assert [(s["key"], s["current_value"], s["unit_of_measure"], s["sensor_type"])
            for s in compact] == [("t_ext", 34.0, "%", "humidity")]

    status = admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()
    assert status["messages_received"] >= 33 and status["last_heartbeat_at"] is not None
    stream.close()


def test_readings_are_stored_and_read_back_oldest_first(fleet: Fleet) -> None:
    """Every heartbeat's values are readings of the sensor; since/until/limit select them."""
    admin = fleet.admin
    stream = fleet.live.events(params={"site_id": fleet.site_id, "readings": 1,
                                       "types": "sensor.reading"})
    for value in (1.0, 2.0, 3.0, 4.0):  # one at a time, so that their times differ
        fleet.v1("READ-1", ("t_ext", value))
        stream.wait_for("sensor.reading", serial_number="READ-1", value=value)
    stream.close()
    datalogger = wait_until(lambda: (d := _datalogger(admin, "READ-1")) and d["sensors_count"]
                            and d, message="READ-1 stored")
    sensor = admin.get("/api/v1/mqtt/sensors/by_datalogger",
                       params={"datalogger_id": datalogger["id"]}).json()["sensors"][0]
    path = f"/api/v1/mqtt/sensors/{sensor['id']}/readings"
    readings = wait_until(lambda: (r := admin.get(path).json()["readings"]) and len(r) == 4
                          and r, message="four readings stored")
    assert [r["value"] for r in readings] == [1.0, 2.0, 3.0, 4.0]
    times = [at(r["at"]) for r in readings]
    assert times == sorted(times)
    # limit alone: the latest readings; with since: the first of [since, until).
    assert [r["value"] for r in admin.get(path, params={"limit": 2}).json()["readings"]] == \
        [3.0, 4.0]
    # Times are shown to the millisecond, and the filters agree with what is shown:
    # since is inclusive, until exclusive.
    since, until = readings[1]["at"], readings[3]["at"]
    expected = [r["value"] for r in readings if at(since) <= at(r["at"]) < at(until)]
    window = admin.get(path, params={"since": since, "until": until}).json()["readings"]
    assert [r["value"] for r in window] == expected
    first = admin.get(path, params={"since": since, "limit": 1}).json()["readings"]
    assert [r["value"] for r in first] == [r["value"] for r in readings
                                           if at(r["at"]) >= at(since)][:1]
    assert wait_until(lambda: (s := admin.get("/api/v1/mqtt/sensors/by_datalogger", params={
        "datalogger_id": datalogger["id"]}).json()["sensors"][0])["current_value"] == 4.0 and s)


def test_a_deleted_datalogger_is_rediscovered_when_it_speaks_again(fleet: Fleet) -> None:
    """DELETE forgets a device with its sensors; its next heartbeat discovers it anew."""
    admin = fleet.admin
    stream = fleet.live.events(params={"site_id": fleet.site_id, "types": "device.discovered"})
    fleet.v1("GONE", ("t_ext", 1.0))
    first = wait_until(lambda: (d := _datalogger(admin, "GONE")) and d["sensors_count"] and d,
                       message="GONE stored")
    assert admin.delete(f"/api/v1/mqtt/dataloggers/{first['id']}/").status_code == 204
    assert _datalogger(admin, "GONE") == {}
    assert admin.get(f"/api/v1/mqtt/dataloggers/{first['id']}/").status_code == 404
    mark = stream.mark()
    fleet.v1("GONE", ("t_ext", 2.0))
    again = stream.wait_for("device.discovered", serial_number="GONE", after=mark)
    second = wait_until(lambda: (d := _datalogger(admin, "GONE")) and d["sensors_count"] and d,
                        message="GONE stored again")
    assert again.json["datalogger_id"] == second["id"]
    assert _current(admin, second["id"]) == 2.0
    stream.close()


def test_offline_after_the_timeout_and_unreachable_while_the_broker_is_down(
    fleet: Fleet, engine_server: LiveServer,
) -> None:
    """A device silent for offline_after_s goes offline then, not before; a device of a site
    whose broker died is unreachable (no offline alarm), and after the link returns it gets
    a full offline_after_s before it can be declared offline. The status topic's
    ``offline`` is believed at once."""
    live, admin = engine_server, fleet.admin
    with Mosquitto() as second_broker:
        down = create_site(admin, second_broker.host, second_broker.port, is_enabled=True)
        wait_status(admin, down["site_id"], "connected")
        stream = live.events(params=[("site_id", fleet.site_id), ("site_id", down["site_id"]),
                                     ("types", "device.online,device.offline")])
        device_publisher = Publisher(second_broker.host, second_broker.port)

        fleet.v1("QUIET", ("t_ext", 1.0))
        device_publisher.publish(f"{down['code']}/datalogger/m/CUT/heartbeat",
                                 v1_heartbeat(("t_ext", 1.0)))
        stream.wait_for("device.online", serial_number="QUIET")
        stream.wait_for("device.online", serial_number="CUT")
        for serial in ("QUIET", "CUT"):
            device = wait_until(lambda s=serial: _datalogger(admin, s), message=serial)
            patched = admin.patch(f"/api/v1/mqtt/dataloggers/{device['id']}/",
                                  json={"offline_after_s": SHORT_OFFLINE_S})
            assert patched.status_code == 200 and patched.json()["offline_after_s"] == 5
        fleet.v1("QUIET", ("t_ext", 2.0))  # heard again: the timeout counts from here
        device_publisher.publish(f"{down['code']}/datalogger/m/CUT/heartbeat",
                                 v1_heartbeat(("t_ext", 2.0)))
        quiet_seen = wait_until(lambda: (d := _datalogger(admin, "QUIET")) and
                                d["last_seen_at"] and d["sensors_count"] and
                                _current(admin, d["id"]) == 2.0 and d,
                                message="second heartbeat stored")
        device_publisher.close()
        second_broker.kill()
        wait_status(admin, down["site_id"], "error")
        wait_until(lambda: _datalogger(admin, "CUT")["availability"] == "unreachable",
                   message="CUT unreachable")
        assert metric(admin, "sitelink_devices", availability="unreachable") >= 1

        offline = stream.wait_for("device.offline", serial_number="QUIET",
                                  timeout_s=SHORT_OFFLINE_S + 3)
        due = at(quiet_seen["last_seen_at"]) + SHORT_OFFLINE_S
        assert due - 0.05 <= at(offline.json["at"]) < due + 1.5, (offline.json, due)
        assert offline.json["availability"] == "offline" and offline.json["reason"]
        assert _datalogger(admin, "CUT")["availability"] == "unreachable"
        assert not stream.of("device.offline", serial_number="CUT"), "no alarm while down"

        mark = stream.mark()
        second_broker.restart()
        back = stream.wait_for("device.online", serial_number="CUT", after=mark, timeout_s=10)
        late = stream.wait_for("device.offline", serial_number="CUT", after=mark,
                               timeout_s=SHORT_OFFLINE_S + 3)
        grace = at(late.json["at"]) - at(back.json["at"])
        assert SHORT_OFFLINE_S - 0.05 <= grace < SHORT_OFFLINE_S + 1.5, grace

        mark = stream.mark()
        fleet.v1("QUIET", ("t_ext", 3.0))
        assert stream.wait_for("device.online", serial_number="QUIET", after=mark)
        fleet.publisher.publish(f"{fleet.code}/datalogger/monstro/QUIET/status", "offline")
        said = stream.wait_for("device.offline", serial_number="QUIET", after=mark)
        assert "status" in said.json["reason"]
        admin.delete(f"/api/v1/mqtt/sites/{down['site_id']}/")
        stream.close()


def test_a_restart_loses_nothing_and_sites_reconnect_by_themselves(
    fleet: Fleet, engine_server: LiveServer,
) -> None:
    """Stop the server, start a new one on the same database: devices, sensors, last values
    and availability intervals are all there, and the enabled site connects unasked."""
    live, admin = engine_server, fleet.admin
    fleet.v1("KEEP", ("t_ext", 42.5), ("rh", 61.0))
    keep = wait_until(lambda: (d := _datalogger(admin, "KEEP")) and d["sensors_count"] == 2
                      and _current(admin, d["id"]) == 42.5 and d, message="KEEP stored")

    def snapshot() -> dict[str, Any]:
        rows = admin.get("/api/v1/mqtt/dataloggers/",
                         params={"site_id": fleet.site_id}).json()["dataloggers"]
        detail = {r["serial_number"]: admin.get(f"/api/v1/mqtt/dataloggers/{r['id']}/").json()
                  for r in rows}
        return {
            "dataloggers": {s: (d["id"], d["model"], d["firmware_version"], d["sensors_count"],
                                d["offline_after_s"], d["discovered_at"], d["last_seen_at"])
                            for s, d in detail.items()},
            "sensors": {s: [(x["id"], x["key"], x["current_value"], x["unit_of_measure"])
                            for x in d["sensors"]] for s, d in detail.items()},
            "intervals": {s: [(i["availability"], i["started_at"])
                              for i in d["availability_history"]] for s, d in detail.items()},
            "gateways": sorted(g["serial_number"] for g in admin.get(
                "/api/v1/mqtt/gateways/", params={"site_id": fleet.site_id}).json()["gateways"]),
        }

    before = snapshot()
    sensor_id = before["sensors"]["KEEP"][0][0]
    readings_before = admin.get(f"/api/v1/mqtt/sensors/{sensor_id}/readings").json()["readings"]
    old_stream = live.events(params={"site_id": fleet.site_id})
    old_stream.wait(lambda: bool(old_stream.comments), 2)
    last_id = str(live.runtime.hub.last_id)
    old_stream.close()

    live.restart()
    admin = live.admin()
    fleet.admin = admin
    wait_status(admin, fleet.site_id, "connected")
    after = snapshot()
    assert after["dataloggers"] == before["dataloggers"]
    assert after["sensors"] == before["sensors"]
    assert after["gateways"] == before["gateways"]
    for serial, intervals in before["intervals"].items():  # kept; a new one may follow
        assert after["intervals"][serial][-len(intervals):] == intervals, serial
    assert admin.get(f"/api/v1/mqtt/sensors/{sensor_id}/readings").json()["readings"] == \
        readings_before
    assert admin.get(f"/api/v1/mqtt/dataloggers/{keep['id']}/").json()["availability"] in (
        "unknown", "online")

    if live.runtime.db.engine_name == "postgres":
        # the cluster's event log outlives a process: the old stream resumes where it was,
        # with the goodbye of the old process and the hello of the new one
        resumed = live.events(last_event_id=last_id)
        resumed.wait_for("site.status", status="connected")
        assert [e.event for e in resumed.events if e.event == "reset"] == []
        assert [int(e.id) for e in resumed.events] == sorted(int(e.id) for e in resumed.events)
        assert all(int(e.id) > int(last_id) for e in resumed.events)
        resumed.close()
    else:
        stale = live.events(last_event_id=last_id if int(last_id) > 5 else "999999")
        assert stale.wait_for("reset"), "ids of the old process cannot be resumed"
        stale.close()
    fresh = live.events(params={"site_id": fleet.site_id})
    fleet.v1("KEEP", ("t_ext", 43.0))
    fresh.wait_for("device.online", serial_number="KEEP")
    fresh.close()


def _datalogger(admin: httpx.Client, serial: str) -> dict[str, Any]:
    rows = admin.get("/api/v1/mqtt/dataloggers/").json()["dataloggers"]
    found = [d for d in rows if d["serial_number"] == serial]
    result: dict[str, Any] = found[0] if found else {}
    return result


def _current(admin: httpx.Client, datalogger_id: int) -> float | None:
    sensors = admin.get("/api/v1/mqtt/sensors/by_datalogger",
                        params={"datalogger_id": datalogger_id}).json()["sensors"]
    t_ext = [s for s in sensors if s["key"] == "t_ext"]
    return t_ext[0]["current_value"] if t_ext else None

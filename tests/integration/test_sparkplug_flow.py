"""Sparkplug B end to end: a real Mosquitto, a live server, an edge node made of paho and our
own encoder. Data before any birth gets a rebirth request; births declare the gateway, the
datalogger and its sensors; data by alias only (no datatype) updates the sensors; DDEATH and
NDEATH make devices offline at once; the counters reach /metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from integration.live import LiveServer, create_site, metric, wait_status, wait_until
from sitelink.embedded_broker import Mosquitto
from sitelink.payloads.sparkplug import (
    BOOLEAN,
    DOUBLE,
    INT32,
    INT64,
    MetricOut,
    Payload,
    encode_payload,
    parse_payload,
)

GROUP, EDGE, DEVICE = "Plant1", "edge-7", "press-1"
BASE = f"spBv1.0/{GROUP}"


class EdgeNode:
    """A Sparkplug edge node: publishes what it is told, records the commands it gets."""

    def __init__(self, broker: Mosquitto, bd_seq: int) -> None:
        self.bd_seq = bd_seq
        self.seq = 0
        self.commands: list[Payload] = []
        self.got_command = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{EDGE}")
        self.client.will_set(f"{BASE}/NDEATH/{EDGE}", self._payload(None, [
            MetricOut(name="bdSeq", datatype=INT64, value=bd_seq)]))
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        subscribed = self.client.subscribe(f"{BASE}/NCMD/{EDGE}", qos=1)
        assert subscribed[0] == mqtt.MQTT_ERR_SUCCESS

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        parsed = parse_payload(message.payload)
        if isinstance(parsed, Payload):
            self.commands.append(parsed)
            self.got_command.set()

    def _payload(self, seq: int | None, metrics: list[MetricOut]) -> bytes:
        return encode_payload(timestamp_ms=1_700_000_000_000, seq=seq, metrics=metrics)

    def send(self, kind: str, metrics: list[MetricOut], device: str = "") -> None:
        suffix = f"/{device}" if device else ""
        seq = None if kind == "NDEATH" else self.seq
        if kind == "NBIRTH":
            seq = self.seq = 0
        info = self.client.publish(f"{BASE}/{kind}/{EDGE}{suffix}", self._payload(seq, metrics),
                                   qos=0)
        info.wait_for_publish(5)
        if seq is not None:
            self.seq = (self.seq + 1) % 256

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


DEVICE_BIRTH = [
    MetricOut(name="Inputs/Pressure", alias=10, datatype=DOUBLE, value=2.5, unit="bar"),
    MetricOut(name="Inputs/Count", alias=11, datatype=INT32, value=-4),
]


@pytest.fixture
def edge(broker: Mosquitto) -> Iterator[EdgeNode]:
    node = EdgeNode(broker, bd_seq=7)
    yield node
    node.close()


def _device(admin: Any, path: str, site_id: int, serial: str) -> dict[str, Any] | None:
    key = path.strip("/").split("/")[-1]
    rows = admin.get(f"/api/v1/mqtt/{path}", params={"site_id": site_id}).json()[key]
    return next((r for r in rows if r["serial_number"] == serial), None)


def test_an_edge_node_from_data_before_birth_to_death(
    sqlite_server: LiveServer, broker: Mosquitto, edge: EdgeNode
) -> None:
    """The whole story of one edge node and one device against a real broker."""
    admin = sqlite_server.admin()
    site = create_site(admin, broker.host, broker.port, is_enabled=True)
    site_id = site["site_id"]
    added = admin.post(f"/api/v1/mqtt/sites/{site_id}/topics/", json={
        "pattern": "spBv1.0/{group}/+/{gateway}/#", "payload_version": "sparkplug_b"})
    assert added.status_code == 201, added.text
    assert added.json()["mqtt_filter"] == "spBv1.0/+/+/+/#"
    wait_until(lambda: "spBv1.0/+/+/+/#" in wait_status(admin, site_id, "connected")
               ["topics_list"], message="the Sparkplug filter is live")

    # 1. Data from a node we never saw born: we ask it to be born again.
    edge.seq = 40
    edge.send("DDATA", [MetricOut(alias=10, datatype=DOUBLE, send_datatype=False, value=1.0)],
              DEVICE)
    assert edge.got_command.wait(5), "no rebirth request reached the edge node"
    assert [(m.name, m.boolean_value) for m in edge.commands[0].metrics] == \
        [("Node Control/Rebirth", True)]
    wait_until(lambda: metric(admin, "sitelink_sparkplug_events_total",
                              site=site["code"], event="before_birth") >= 1)
    assert metric(admin, "sitelink_sparkplug_events_total", site=site["code"],
                  event="rebirths") == 1

    # 2. The rebirth: gateway and datalogger with their sensors.
    edge.send("NBIRTH", [MetricOut(name="bdSeq", datatype=INT64, value=edge.bd_seq),
                         MetricOut(name="Node Control/Rebirth", datatype=BOOLEAN, value=False)])
    edge.send("DBIRTH", DEVICE_BIRTH, DEVICE)
    logger = wait_until(lambda: (d := _device(admin, "dataloggers/", site_id, DEVICE))
                        and d["availability"] == "online" and d["sensors_count"] == 2 and d,
                        message="the datalogger of the DBIRTH online with two sensors")
    assert logger["model"] == GROUP and logger["gateway"] == EDGE
    wait_until(lambda: (g := _device(admin, "gateways/", site_id, EDGE))
               and g["availability"] == "online", message="the edge node is an online gateway")

    # 3. Data by alias only, no datatype: resolved from the DBIRTH.
    edge.send("DDATA", [
        MetricOut(alias=10, datatype=DOUBLE, send_datatype=False, value=3.75),
        MetricOut(alias=11, datatype=INT32, send_datatype=False, value=-9)], DEVICE)

    def values() -> dict[str, Any] | None:
        rows = admin.get("/api/v1/mqtt/sensors/by_datalogger",
                         params={"datalogger_id": logger["id"]}).json()["sensors"]
        found = {s["key"]: (s["current_value"], s["unit_of_measure"]) for s in rows}
        return found if found.get("Inputs/Pressure", (0,))[0] == 3.75 else None

    assert wait_until(values, message="alias-only values stored") == {
        "Inputs/Pressure": (3.75, "bar"), "Inputs/Count": (-9.0, "")}

    # 4. DDEATH: that device offline at once (its offline_after_s is 180 s).
    edge.send("DDEATH", [], DEVICE)
    wait_until(lambda: _device(admin, "dataloggers/", site_id, DEVICE)["availability"]  # type: ignore[index]
               == "offline", message="DDEATH made the datalogger offline")

    # 5. NDEATH with the birth's bdSeq: the gateway offline at once.
    edge.send("NDEATH", [MetricOut(name="bdSeq", datatype=INT64, value=edge.bd_seq)])
    wait_until(lambda: _device(admin, "gateways/", site_id, EDGE)["availability"]  # type: ignore[index]
               == "offline", message="NDEATH made the gateway offline")
    assert metric(admin, "sitelink_sparkplug_events_total", site=site["code"],
                  event="seq_gaps") == 0

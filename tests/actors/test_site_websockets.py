"""MQTT over WebSockets, with and without TLS, against amqtt's ``ws`` listeners (this
machine's Mosquitto cannot open one): a SiteActor with ``transport="websockets"`` connects,
subscribes and hears a device."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pykka
import pytest
from actor_fakes import WaitingSink, make_spec
from paho.mqtt.enums import CallbackAPIVersion

from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import Clock
from sitelink.actors.site import SiteActor
from sitelink.actors.site_messages import SiteSpec
from sitelink.embedded_broker import EmbeddedBroker, free_port
from sitelink.events import DeviceHeartbeat
from tls_support import Authority, write_readable

POLICY = RetryPolicy(base_s=5.0, max_s=5.0, jitter=0.1, reset_s=30.0, connect_timeout_s=5.0)


class WsBroker(msgspec.Struct, frozen=True):
    broker: EmbeddedBroker
    ws_port: int
    wss_port: int
    ca_pem: str


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsBroker]:
    ca = Authority()
    server = ca.issue("127.0.0.1", server=True)
    folder: Path = tmp_path_factory.mktemp("wss")
    ws_port, wss_port = free_port(), free_port()
    broker = EmbeddedBroker(extra_listeners={
        "ws": {"type": "ws", "bind": f"127.0.0.1:{ws_port}"},
        "wss": {"type": "ws", "bind": f"127.0.0.1:{wss_port}", "ssl": True,
                "certfile": str(write_readable(folder, "server.pem", server.cert_pem)),
                "keyfile": str(write_readable(folder, "server.key", server.key_pem))},
    })
    assert broker.kind == "amqtt"
    with broker:
        yield WsBroker(broker, ws_port, wss_port, ca.pem)


@pytest.fixture
def clock() -> Iterator[Clock]:
    real = Clock()
    yield real
    real.stop()


@pytest.fixture(autouse=True)
def stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True)


def start(clock: Clock, port: int, **broker_fields: Any) -> tuple[SiteSpec, WaitingSink]:
    spec = make_spec(host="127.0.0.1", port=port, connect_timeout_s=POLICY.connect_timeout_s)
    spec = msgspec.structs.replace(spec, broker=msgspec.structs.replace(
        spec.broker, transport="websockets", ws_path="/mqtt", **broker_fields))
    sink = WaitingSink()
    SiteActor.start(spec, clock=clock, sink=sink, policy=POLICY, limiter=ConnectRateLimiter(50))
    return spec, sink


def publish_heartbeat(port: int) -> None:
    """A device on the plain TCP listener publishes one v1 heartbeat."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        body = {"firmware": "ws", "sensors": [{"id": "t", "value": 1.5}]}
        client.publish("site_001/datalogger/m/WS-1/heartbeat", json.dumps(body),
                       qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_websockets_connect_subscribe_and_hear_a_device(
    ws: WsBroker, clock: Clock, secure: bool
) -> None:
    """Over ws:// and over wss:// (our CA): connected, subscribed, and a heartbeat sent on
    the broker's TCP listener arrives decoded."""
    port = ws.wss_port if secure else ws.ws_port
    fields = {"tls": True, "tls_ca_pem": ws.ca_pem} if secure else {}
    spec, sink = start(clock, port, **fields)
    sink.wait_status(spec.site_id, "connected", timeout_s=10)
    publish_heartbeat(ws.broker.port)
    beat = sink.wait_for(lambda e: e.firmware == "ws", kind=DeviceHeartbeat, timeout_s=10)
    assert beat is not None and beat.sensors[0].value == 1.5

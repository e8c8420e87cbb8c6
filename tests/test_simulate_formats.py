"""The simulator's other formats against a real mosquitto: CSI-JSON read by the README's map,
and Sparkplug B edge nodes read by our edge-node state — births before data, data by alias,
and a rebirth when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from mqtt_support import Subscriber
from sitelink.actors.sparkplug_nodes import EdgeNodes
from sitelink.embedded_broker import Mosquitto
from sitelink.errors import ValidationError
from sitelink.payloads import Reading, configured_decoder
from sitelink.payloads.sparkplug import BOOLEAN, REBIRTH, MetricOut, encode_payload
from sitelink.simulate import SENSORS, SimulateOptions, Simulator
from sitelink.sparkplug_topics import parse_topic
from test_mapped import CSI_MAP

MakeSubscriber = Callable[..., Subscriber]


@pytest.fixture
def simulator(mosquitto: Mosquitto) -> Iterator[Callable[..., Simulator]]:
    running: list[Simulator] = []

    def start(**options: object) -> Simulator:
        sim = Simulator(SimulateOptions(host=mosquitto.host, port=mosquitto.port,
                                        progress=False, **options))  # type: ignore[arg-type]
        sim.start()
        running.append(sim)
        return sim

    yield start
    for sim in running:
        sim.stop()


def test_csi_dataloggers_are_read_by_the_readme_map(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulator: Callable[..., Simulator]
) -> None:
    """--payload csi: dataloggers publish CSI-JSON on their heartbeat topic; the README's
    CSI map reads every sensor with its unit; gateways stay v1."""
    sub = subscriber(mosquitto, "+/datalogger/+/+/heartbeat", "+/gateway/+/heartbeat")
    sim = simulator(dataloggers=3, gateways=1, interval_s=0.05, payload_version="csi", seed=3)
    assert {d.payload_version for d in sim.devices} == {"csi", "v1"}
    assert sub.wait_for(lambda: sub.count() >= 12, 10)
    decode = configured_decoder("mapped", CSI_MAP)
    for message in sub.messages:
        if "/datalogger/" not in message.topic:
            continue
        reading = decode(bytes(message.payload))
        assert isinstance(reading, Reading), reading
        assert [(s.key, s.unit) for s in reading.sensors] == \
            [(key, unit) for key, _l, _t, unit, *_ in SENSORS]
        assert reading.firmware and reading.at is not None


def test_sparkplug_edge_nodes_are_born_send_by_alias_and_are_born_again_when_asked(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulator: Callable[..., Simulator]
) -> None:
    """--payload sparkplug_b: each gateway is an edge node of group = site code; births come
    first, then DDATA by alias that our EdgeNodes resolve to every sensor; an NCMD
    Node Control/Rebirth makes the node publish a new NBIRTH and its DBIRTHs."""
    sub = subscriber(mosquitto, "spBv1.0/#")
    sim = simulator(dataloggers=2, gateways=1, interval_s=0.05, payload_version="sparkplug_b")
    assert {d.heartbeat_topic for d in sim.devices} >= {"spBv1.0/site_001/NDATA/1"}
    assert sub.wait_for(lambda: sum("/DDATA/" in m.topic for m in sub.messages) >= 6, 10)
    nodes, resolved = EdgeNodes(), 0
    for n, message in enumerate(list(sub.messages)):
        parsed = parse_topic(message.topic)
        assert parsed is not None and parsed.group == "site_001", message.topic
        out = nodes.receive(parsed, bytes(message.payload), float(n), False)
        assert not (out.before_birth or out.seq_gap or out.rejected), (message.topic, out)
        if parsed.message_type == "DDATA":
            assert {s.key for h in out.heard for s in h.heard.sensors} == \
                {key for key, *_ in SENSORS}
            resolved += 1
    assert resolved >= 6
    births = sum(m.topic == "spBv1.0/site_001/NBIRTH/1" for m in sub.messages)
    assert births == 1

    asker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    asker.connect(mosquitto.host, mosquitto.port)
    asker.loop_start()
    try:
        request = encode_payload(timestamp_ms=0, seq=None, metrics=[
            MetricOut(name=REBIRTH, datatype=BOOLEAN, value=True)])
        asker.publish("spBv1.0/site_001/NCMD/1", request, qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda: sum(m.topic == "spBv1.0/site_001/NBIRTH/1"
                                        for m in sub.messages) == 2, 10), "no rebirth"
        assert sub.wait_for(lambda: sum("/DBIRTH/1/" in m.topic for m in sub.messages) >= 4, 5)
    finally:
        asker.disconnect()
        asker.loop_stop()


def test_sparkplug_needs_a_gateway() -> None:
    """An edge node is a gateway: --payload sparkplug_b --gateways 0 is refused."""
    with pytest.raises(ValidationError, match="gateway"):
        SimulateOptions(payload_version="sparkplug_b", gateways=0)

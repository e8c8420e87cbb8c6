"""Sparkplug B: our protobuf, the per-edge-node state, the topic rules. Pure, no broker.

Messages are made by our own encoder as an edge node would send them: births with names,
aliases and datatypes; data by alias only, with no datatype (valid Sparkplug); deaths.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitelink.actors.sparkplug_nodes import EdgeNodes, NodeState, Outcome, node_transition
from sitelink.errors import ValidationError
from sitelink.events import SensorValue
from sitelink.payloads import Reading, Rejected, decode, guess_payload_version
from sitelink.payloads.sparkplug import (
    BOOLEAN,
    DOUBLE,
    FLOAT,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    UINT32,
    UINT64,
    MetricOut,
    Payload,
    encode_payload,
    metric_value,
    parse_payload,
)
from sitelink.sparkplug_topics import MessageType, SparkplugTopic, parse_topic, sparkplug_filter
from sitelink.topics import Subscription, TopicRouter

T0 = 1_700_000_000.0


def topic(kind: str, device: str = "", group: str = "Plant1", edge: str = "edge-7"
          ) -> SparkplugTopic:
    text = f"spBv1.0/{group}/{kind}/{edge}" + (f"/{device}" if device else "")
    parsed = parse_topic(text)
    assert parsed is not None, text
    return parsed


def nbirth(seq: int = 0, bd_seq: int = 3) -> bytes:
    return encode_payload(timestamp_ms=1, seq=seq, metrics=[
        MetricOut(name="bdSeq", datatype=INT64, value=bd_seq),
        MetricOut(name="Node Control/Rebirth", datatype=BOOLEAN, value=False),
        MetricOut(name="cpu_temp", alias=1, datatype=FLOAT, value=41.5, unit="°C"),
    ])


def dbirth(seq: int) -> bytes:
    return encode_payload(timestamp_ms=1, seq=seq, metrics=[
        MetricOut(name="Inputs/Pressure", alias=10, datatype=DOUBLE, value=2.5, unit="bar"),
        MetricOut(name="Inputs/Count", alias=11, datatype=INT32, value=-4),
        MetricOut(name="Inputs/Running", alias=12, datatype=BOOLEAN, value=True),
        MetricOut(name="Label", alias=13, datatype=STRING, value="line 3"),
    ])


def ddata_by_alias(seq: int, pressure: float, count: int) -> bytes:
    """DATA as pysparkplug sends it: alias only, no name, no datatype."""
    return encode_payload(timestamp_ms=2, seq=seq, metrics=[
        MetricOut(alias=10, datatype=DOUBLE, send_datatype=False, value=pressure),
        MetricOut(alias=11, datatype=INT32, send_datatype=False, value=count),
    ])


def ndeath(bd_seq: int) -> bytes:
    return encode_payload(timestamp_ms=3, seq=None,
                          metrics=[MetricOut(name="bdSeq", datatype=INT64, value=bd_seq)])


def sensors(out: Outcome, serial: str) -> dict[str, float | None]:
    return {s.key: s.value for h in out.heard if h.serial == serial for s in h.heard.sensors}


# --- metric values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "value"),
    [(INT8, -128), (INT8, 127), (INT16, -2), (INT32, -2_000_000_000), (INT64, -(2**63)),
     (UINT32, 4_000_000_000), (UINT64, 2**64 - 1), (DOUBLE, -1.25), (FLOAT, 0.5)],
)
def test_signed_and_unsigned_values_come_back_as_sent(datatype: int, value: float) -> None:
    """Signed integers travel as two's complement in unsigned fields; we read them signed."""
    payload = encode_payload(timestamp_ms=0, seq=0,
                             metrics=[MetricOut(name="m", datatype=datatype, value=value)])
    message = parse_payload(payload)
    assert isinstance(message, Payload)
    assert metric_value(message.metrics[0], datatype) == float(value)


def test_a_sign_extended_int8_reads_the_same() -> None:
    """Some encoders write Int8 -1 as 0xFFFFFFFF, others as 0xFF: both read -1."""
    metric = Payload.Metric(name="m", datatype=INT8, int_value=0xFFFFFFFF)
    assert metric_value(metric, INT8) == -1.0


def test_strings_nulls_and_unknown_datatypes() -> None:
    """A null is a sensor without value; a string or an unknown datatype is no sensor."""
    assert metric_value(Payload.Metric(is_null=True), DOUBLE) is None
    assert isinstance(metric_value(Payload.Metric(string_value="x"), STRING), Rejected)
    assert isinstance(metric_value(Payload.Metric(double_value=1.0), 0), Rejected)
    assert isinstance(metric_value(Payload.Metric(double_value=float("nan")), DOUBLE), Rejected)


def test_the_stateless_decoder_reads_named_metrics_and_is_never_guessed() -> None:
    """decode("sparkplug_b") reads a BIRTH alone (not bdSeq or controls); discovery never
    guesses Sparkplug for a payload (it is binary: any bytes might parse)."""
    reading = decode("sparkplug_b", dbirth(1), 10_000)
    assert isinstance(reading, Reading)
    assert [(s.key, s.value, s.unit) for s in reading.sensors] == [
        ("Inputs/Pressure", 2.5, "bar"), ("Inputs/Count", -4.0, ""), ("Inputs/Running", 1.0, "")]
    assert reading.skipped_sensors == 1  # the string
    node = decode("sparkplug_b", nbirth(), 10_000)
    assert isinstance(node, Reading) and [s.key for s in node.sensors] == ["cpu_temp"]
    assert guess_payload_version(dbirth(1)) is None


@given(payload=st.binary(max_size=512))
def test_decoding_never_raises_whatever_the_bytes(payload: bytes) -> None:
    """Any bytes give a Reading or a Rejected, never an exception."""
    assert isinstance(decode("sparkplug_b", payload, 10_000), Reading | Rejected)


@given(
    kind=st.sampled_from(list(MessageType)),
    device=st.sampled_from(["", "dev"]),
    payloads=st.lists(st.binary(max_size=200) | st.sampled_from(
        [nbirth(), dbirth(1), ddata_by_alias(2, 1.0, 1), ndeath(3)]), max_size=8),
)
def test_edge_nodes_never_raise_whatever_the_messages(
    kind: MessageType, device: str, payloads: list[bytes]
) -> None:
    """Any sequence of messages, valid or garbage, gives outcomes and no exception."""
    nodes = EdgeNodes()
    is_node = kind.value.startswith("N")
    parsed = SparkplugTopic("G", kind, "E", "" if is_node else (device or "d"))
    for n, payload in enumerate(payloads):
        assert isinstance(nodes.receive(parsed, payload, T0 + n, False), Outcome)


# --- the edge node's story --------------------------------------------------------------------


def test_births_declare_devices_and_alias_only_data_resolves_from_them() -> None:
    """NBIRTH makes the gateway, DBIRTH the datalogger (model = group, gateway = edge node);
    DDATA with aliases and no datatypes is read with the BIRTH's names, types and units."""
    nodes = EdgeNodes()
    born = nodes.receive(topic("NBIRTH"), nbirth(seq=0), T0, False)
    assert [(h.kind, h.serial) for h in born.heard] == [("gateway", "edge-7")]
    assert born.heard[0].heard.sensors == (SensorValue(key="cpu_temp", value=41.5, unit="°C"),)
    device = nodes.receive(topic("DBIRTH", "press-1"), dbirth(seq=1), T0, False)
    (heard,) = device.heard
    assert (heard.kind, heard.serial, heard.heard.model, heard.heard.gateway) == \
        ("datalogger", "press-1", "Plant1", "edge-7")
    data = nodes.receive(topic("DDATA", "press-1"), ddata_by_alias(2, 3.75, -9), T0 + 1, False)
    assert sensors(data, "press-1") == {"Inputs/Pressure": 3.75, "Inputs/Count": -9.0}
    assert data.heard[0].heard.sensors[0].unit == "bar"
    assert not (data.before_birth or data.seq_gap or data.rebirth)


def test_ddeath_makes_its_device_offline_at_once() -> None:
    """DDEATH: that datalogger offline now (status offline, reason names the death)."""
    nodes = EdgeNodes()
    nodes.receive(topic("NBIRTH"), nbirth(seq=0), T0, False)
    nodes.receive(topic("DBIRTH", "press-1"), dbirth(seq=1), T0, False)
    out = nodes.receive(topic("DDEATH", "press-1"),
                        encode_payload(timestamp_ms=4, seq=2), T0 + 2, False)
    assert [(h.serial, h.heard.status, h.heard.reason) for h in out.heard] == \
        [("press-1", "offline", "Sparkplug DDEATH")]


def test_ndeath_with_the_births_bdseq_takes_the_node_and_its_devices_offline() -> None:
    """NDEATH carrying the bdSeq of the current NBIRTH: the gateway and every device it
    declared go offline at once; an NDEATH with another bdSeq (a late will of an older
    session) changes nothing and is counted as stale."""
    nodes = EdgeNodes()
    nodes.receive(topic("NBIRTH"), nbirth(seq=0, bd_seq=5), T0, False)
    nodes.receive(topic("DBIRTH", "a"), dbirth(seq=1), T0, False)
    nodes.receive(topic("DBIRTH", "b"), dbirth(seq=2), T0, False)
    stale = nodes.receive(topic("NDEATH"), ndeath(4), T0 + 1, False)
    assert stale.stale_death and stale.heard == []
    assert nodes.nodes[("Plant1", "edge-7")].state is NodeState.ONLINE
    death = nodes.receive(topic("NDEATH"), ndeath(5), T0 + 2, False)
    assert sorted((h.kind, h.serial, h.heard.status) for h in death.heard) == [
        ("datalogger", "a", "offline"), ("datalogger", "b", "offline"),
        ("gateway", "edge-7", "offline")]
    assert nodes.nodes[("Plant1", "edge-7")].state is NodeState.OFFLINE


def test_data_before_birth_is_counted_and_answered_with_a_rate_limited_rebirth() -> None:
    """DDATA from a node we never saw born: counted, and an NCMD Node Control/Rebirth=true is
    asked for on spBv1.0/{group}/NCMD/{edge}; again within the interval: counted, not asked;
    after the interval: asked again; after the rebirth the aliases resolve."""
    nodes = EdgeNodes(rebirth_interval_s=30)
    first = nodes.receive(topic("DDATA", "press-1"), ddata_by_alias(9, 1.0, 1), T0, False)
    assert first.before_birth and first.rebirth is not None
    assert sensors(first, "press-1") == {}  # aliases we cannot name yet
    rebirth_topic, body = first.rebirth
    assert rebirth_topic == "spBv1.0/Plant1/NCMD/edge-7"
    request = parse_payload(body)
    assert isinstance(request, Payload)
    assert [(m.name, m.datatype, m.boolean_value) for m in request.metrics] == \
        [("Node Control/Rebirth", BOOLEAN, True)]
    soon = nodes.receive(topic("NDATA"), encode_payload(timestamp_ms=1, seq=10), T0 + 29, False)
    assert soon.before_birth and soon.rebirth is None
    later = nodes.receive(topic("NDATA"), encode_payload(timestamp_ms=1, seq=11), T0 + 30, False)
    assert later.rebirth is not None
    nodes.receive(topic("NBIRTH"), nbirth(seq=0), T0 + 31, False)
    nodes.receive(topic("DBIRTH", "press-1"), dbirth(seq=1), T0 + 31, False)
    after = nodes.receive(topic("DDATA", "press-1"), ddata_by_alias(2, 7.0, 3), T0 + 32, False)
    assert not after.before_birth
    assert sensors(after, "press-1") == {"Inputs/Pressure": 7.0, "Inputs/Count": 3.0}


def test_sequence_gaps_are_counted_across_the_wrap() -> None:
    """seq runs 0..255 over the node's messages: 255 -> 0 is no gap, 1 -> 3 is one."""
    nodes = EdgeNodes()
    nodes.receive(topic("NBIRTH"), nbirth(seq=254), T0, False)
    flags = [nodes.receive(topic("NDATA"), encode_payload(timestamp_ms=1, seq=seq), T0,
                           False).seq_gap for seq in (255, 0, 1, 3, 4)]
    assert flags == [False, False, False, True, False]


def test_commands_and_garbage() -> None:
    """NCMD (our own rebirth request echoed back) is nobody's sign of life; a payload that
    is not protobuf is rejected but still a sign of life of the device it names."""
    nodes = EdgeNodes()
    assert nodes.receive(topic("NCMD"), b"\x08\x01", T0, False) == Outcome()
    bad = nodes.receive(topic("DDATA", "x"), b"\xff\xff\xff", T0, False)
    assert bad.rejected is not None and [h.serial for h in bad.heard] == ["x"]


def test_the_node_lifecycle_is_moved_only_by_births_and_matching_deaths() -> None:
    """node_transition: NBIRTH -> ONLINE from anywhere; NDEATH -> OFFLINE unless the node is
    ONLINE and the bdSeq does not match; data never moves it."""
    for state in NodeState:
        assert node_transition(state, MessageType.NBIRTH, False) is NodeState.ONLINE
        assert node_transition(state, MessageType.NDATA, True) is state
        assert node_transition(state, MessageType.NDEATH, True) is NodeState.OFFLINE
    assert node_transition(NodeState.ONLINE, MessageType.NDEATH, False) is NodeState.ONLINE


# --- topics and patterns ----------------------------------------------------------------------


def test_topics_parse_into_group_type_edge_and_device() -> None:
    """Node messages have four levels, device messages five; STATE and others are None."""
    assert parse_topic("spBv1.0/G/DDATA/E/D") == SparkplugTopic("G", MessageType.DDATA, "E", "D")
    assert parse_topic("spBv1.0/G/NBIRTH/E") == SparkplugTopic("G", MessageType.NBIRTH, "E", "")
    for bad in ("spBv1.0/STATE/host", "spBv1.0/G/NDATA/E/D", "spBv1.0/G/DDATA/E",
                "spBv1.0//NDATA/E", "spBv1.0/G/XDATA/E", "spAv1.0/G/NDATA/E"):
        assert parse_topic(bad) is None, bad


def test_sparkplug_patterns_are_absolute() -> None:
    """A sparkplug_b subscription's filter has no site code in front; placeholders are +."""
    sub = Subscription(id=1, pattern="spBv1.0/{group}/+/{gateway}/#",
                       payload_version="sparkplug_b")
    assert sub.mqtt_filter("site_001") == "spBv1.0/+/+/+/#"
    assert sparkplug_filter("spBv1.0/Plant1/+/edge-7/#") == "spBv1.0/Plant1/+/edge-7/#"
    # The router of the site's own topics leaves it alone.
    assert TopicRouter("site_001", [sub]).subscriptions == ()


@pytest.mark.parametrize("pattern", [
    "datalogger/{model}/{serial}/heartbeat", "spBv1.0/#/NDATA", "spBv1.0/{gateway}/+/x",
    "spBv1.0/a/b/c/d/e", "spBv1.0/a+/#", "spAv1.0/+/+/+/#",
])
def test_bad_sparkplug_patterns_are_refused_naming_the_pattern(pattern: str) -> None:
    """A relative pattern, a '#' not last, a misplaced placeholder, six levels, a partial
    wildcard or another namespace: ValidationError("pattern")."""
    with pytest.raises(ValidationError) as caught:
        Subscription(id=1, pattern=pattern, payload_version="sparkplug_b")
    assert caught.value.field == "pattern"


def test_a_relative_version_still_refuses_absolute_patterns() -> None:
    """v1 keeps its rules: spBv1.0/# is not a v1 template."""
    with pytest.raises(ValidationError):
        Subscription(id=1, pattern="spBv1.0/{group}/+/{gateway}/#", payload_version="v1")

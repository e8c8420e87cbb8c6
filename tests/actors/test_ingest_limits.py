"""Ingest makes what a device sends storable, and counts every change by reason (issue 11)."""

from __future__ import annotations

import json

from sitelink.actors.ingest import Ingest
from sitelink.actors.mqtt_port import InboundMessage
from sitelink.events import DeviceKey
from sitelink.payloads.limits import MARKER, SENSOR_TYPE_MAX, UNIT_MAX
from sitelink.payloads.sparkplug import DOUBLE, INT64, MetricOut, encode_payload
from sitelink.storage.tables import Device, Sensor
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription


def ingest(max_sensors: int = 256) -> Ingest:
    return Ingest(1, "s1", DEFAULT_SUBSCRIPTIONS, 262_144, max_sensors)


def message(payload: object, serial: str = "SN1", model: str = "m") -> InboundMessage:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    topic = f"s1/datalogger/{model}/{serial}/heartbeat".encode()
    return InboundMessage(topic, body, False, 1.0)


def test_limits_match_the_columns() -> None:
    """The limits are the columns' lengths: a value that passes fits on PostgreSQL too."""
    from sitelink.payloads import limits

    assert Device.serial.length == limits.SERIAL_MAX
    assert Device.model.length == limits.MODEL_MAX
    assert Device.gateway.length == limits.GATEWAY_MAX
    assert Device.firmware.length == limits.FIRMWARE_MAX
    assert Sensor.key.length == limits.SENSOR_KEY_MAX
    assert Sensor.label.length == limits.LABEL_MAX
    assert Sensor.sensor_type.length == limits.SENSOR_TYPE_MAX
    assert Sensor.unit.length == limits.UNIT_MAX


def test_overlong_fields_are_cut_with_a_marker_and_counted() -> None:
    batch = ingest().process([message({
        "firmware": "f" * 300, "gateway": "g" * 300,
        "sensors": [{"id": "t", "value": 1.5, "unit": "u" * 40, "type": "y" * 70,
                     "label": "l\x00" * 200}],
    }, model="M" * 300)])
    [heard] = batch.per_device[DeviceKey(1, "datalogger", "SN1")]
    [sensor] = heard.sensors
    assert len(sensor.unit) == UNIT_MAX and sensor.unit.endswith(MARKER)
    assert len(sensor.sensor_type) == SENSOR_TYPE_MAX
    assert "\x00" not in sensor.label and len(sensor.label) == 255
    assert heard.firmware is not None and len(heard.firmware) == 255
    assert len(heard.gateway) == 255 and len(heard.model) == 255
    assert sensor.value == 1.5
    assert batch.rejected == 0
    assert batch.reasons == {"truncated_unit": 1, "truncated_sensor_type": 1,
                             "truncated_label": 1, "nul_character": 1, "truncated_firmware": 1,
                             "truncated_gateway": 1, "truncated_model": 1}


def test_a_serial_that_does_not_fit_rejects_the_message() -> None:
    """Cutting a serial could make two devices one: the message is rejected instead."""
    batch = ingest().process([message({"sensors": []}, serial="S" * 256), message({})])
    assert list(batch.per_device) == [DeviceKey(1, "datalogger", "SN1")]
    assert batch.rejected == 1 and batch.reasons == {"serial_too_long": 1}


def test_an_overlong_sensor_key_drops_that_sensor_only() -> None:
    batch = ingest().process([message({"sensors": [{"id": "k" * 256, "value": 1},
                                                   {"id": "ok", "value": 2}]})])
    [heard] = batch.per_device[DeviceKey(1, "datalogger", "SN1")]
    assert [s.key for s in heard.sensors] == ["ok"]
    assert batch.reasons == {"sensor_key_too_long": 1}


def test_non_finite_values_and_bad_sensors_are_counted() -> None:
    """1e400 used to vanish without a trace: now each is counted under its reason."""
    payload = (b'{"sensors": [{"id": "a", "value": 1e400}, {"id": "b", "value": -1e400},'
               b'{"id": "c", "value": "x"}, {"id": "d", "value": 4}]}')
    batch = ingest().process([message(payload)])
    [heard] = batch.per_device[DeviceKey(1, "datalogger", "SN1")]
    assert [s.key for s in heard.sensors] == ["d"]
    assert batch.reasons == {"non_finite_value": 2, "invalid_sensor": 1}


def test_more_sensors_than_the_cap_reject_the_message() -> None:
    """One message made 5,000 sensors; over the cap it is rejected (still a sign of life)."""
    many = {"sensors": [{"id": f"k{i}", "value": i} for i in range(11)]}
    batch = ingest(max_sensors=10).process([message(many)])
    [heard] = batch.per_device[DeviceKey(1, "datalogger", "SN1")]
    assert heard.sensors == ()
    assert batch.rejected == 1 and batch.reasons == {"too_many_sensors": 1}


# --- the connect branch's decoders: sparkplug_b and mapped are held to the same limits ----------

SPARKPLUG = Subscription(id=2, pattern="spBv1.0/{group}/+/{gateway}/#",
                         payload_version="sparkplug_b")


def sparkplug(kind: str, payload: bytes, device: str = "dev-1", at: float = 1.0,
              edge: str = "edge-7") -> InboundMessage:
    return InboundMessage(f"spBv1.0/Plant1/{kind}/{edge}/{device}".encode(), payload, False, at)


def test_sparkplug_metrics_are_cut_dropped_and_capped_like_decoded_ones() -> None:
    ingest = Ingest(1, "s1", (*DEFAULT_SUBSCRIPTIONS, SPARKPLUG), 262_144, max_sensors=2)
    birth = encode_payload(timestamp_ms=1, seq=0, metrics=[
        MetricOut(name="bdSeq", datatype=INT64, value=3)])
    dbirth = encode_payload(timestamp_ms=1, seq=1, metrics=[
        MetricOut(name="Inputs/Pressure", alias=10, datatype=DOUBLE, value=2.5, unit="u" * 40),
        MetricOut(name="k" * 256, alias=11, datatype=DOUBLE, value=1.0),
    ])
    three = encode_payload(timestamp_ms=2, seq=2, metrics=[
        MetricOut(name=f"m{i}", datatype=DOUBLE, value=float(i)) for i in range(3)])
    batch = ingest.process([
        InboundMessage(b"spBv1.0/Plant1/NBIRTH/edge-7", birth, False, 1.0),
        sparkplug("DBIRTH", dbirth),
        sparkplug("DDATA", three, at=2.0),
    ])
    birth_heard, capped = batch.per_device[DeviceKey(1, "datalogger", "dev-1")]
    [pressure] = birth_heard.sensors  # the over-long name dropped, the over-long unit cut
    assert pressure.key == "Inputs/Pressure" and len(pressure.unit) == UNIT_MAX
    assert pressure.unit.endswith(MARKER)
    assert capped.sensors == () and capped.at == 2.0  # over the cap: still a sign of life
    assert batch.reasons == {"truncated_unit": 1, "sensor_key_too_long": 1,
                             "too_many_sensors": 1}
    assert batch.rejected == 1


def test_a_sparkplug_device_id_that_does_not_fit_rejects_its_message() -> None:
    ingest = Ingest(1, "s1", (SPARKPLUG,), 262_144)
    ddeath = encode_payload(timestamp_ms=1, seq=0, metrics=[])
    batch = ingest.process([sparkplug("DDEATH", ddeath, device="d" * 256),
                            sparkplug("DDEATH", ddeath, device="ok", edge="e" * 300)])
    [key] = batch.per_device  # the long edge node id is cut, the long device id refused
    assert key == DeviceKey(1, "datalogger", "ok")
    [heard] = batch.per_device[key]
    assert len(heard.gateway) == 255 and heard.gateway.endswith(MARKER)
    assert batch.reasons == {"serial_too_long": 1, "truncated_gateway": 1}


def test_mapped_readings_are_cut_to_fit_and_keep_their_measured_at() -> None:
    mapped = Subscription(id=3, pattern="datalogger/{model}/{serial}/csi",
                          payload_version="mapped",
                          payload_map={"sensors": "channels", "key": "id", "value": "v",
                                       "unit": "u", "firmware": "fw", "at": "t"})
    ingest = Ingest(1, "s1", (mapped,), 262_144)
    body = json.dumps({"fw": "f" * 300, "t": 1_700_000_000,
                       "channels": [{"id": "t1", "v": 1.5, "u": "u" * 40},
                                    {"id": "k" * 256, "v": 2}]}).encode()
    batch = ingest.process([InboundMessage(b"s1/datalogger/m/SN1/csi", body, False, 5.0)])
    [heard] = batch.per_device[DeviceKey(1, "datalogger", "SN1")]
    assert [(s.key, len(s.unit)) for s in heard.sensors] == [("t1", UNIT_MAX)]
    assert heard.firmware is not None and len(heard.firmware) == 255
    assert heard.measured_at == 1_700_000_000
    assert batch.reasons == {"truncated_unit": 1, "sensor_key_too_long": 1,
                             "truncated_firmware": 1}

"""Ingest makes what a device sends storable, and counts every change by reason (issue 11)."""

from __future__ import annotations

import json

from sitelink.actors.ingest import Ingest
from sitelink.actors.mqtt_port import InboundMessage
from sitelink.events import DeviceKey
from sitelink.payloads.limits import MARKER, SENSOR_TYPE_MAX, UNIT_MAX
from sitelink.storage.tables import Device, Sensor
from sitelink.topics import DEFAULT_SUBSCRIPTIONS


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

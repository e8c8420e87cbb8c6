"""The ``mapped`` payload version: other loggers' JSON read through a payload_map of JMESPath.

The two example maps of the README are pinned here on payloads in their vendors' shapes:
Campbell Scientific CSI-JSON (parallel lists) and ThingsBoard telemetry (an object of values,
read with keys()/values()). Then the list-of-objects shape, the refusals at save time (each
naming its expression), tolerance, and hypothesis: whatever the bytes, nothing raises.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitelink.actors.ingest import Ingest
from sitelink.actors.mqtt_port import InboundMessage
from sitelink.errors import ValidationError
from sitelink.events import DeviceKey
from sitelink.payloads import Reading, Rejected, configured_decoder
from sitelink.payloads.mapped import compile_payload_map, decode_mapped
from sitelink.topics import Subscription

# The README's maps (keep them in step).
CSI_MAP = {"keys": "head.fields[].name", "values": "data[-1].vals",
           "units": "head.fields[].units", "firmware": "head.environment.os_version",
           "at": "data[-1].time"}
THINGSBOARD_MAP = {"keys": "keys(values)", "values": "values(values)", "at": "ts"}

CSI_PAYLOAD = {
    "head": {
        "transaction": 0, "signature": 38170,
        "environment": {"station_name": "Masseria", "table_name": "Hourly",
                        "model": "CR1000X", "serial_no": "4011", "os_version": "CR1000X.Std.06",
                        "prog_name": "CPU:meteo.CR1X"},
        "fields": [
            {"name": "BattV_Min", "type": "xsd:float", "units": "Volts", "process": "Min"},
            {"name": "AirTC_Avg", "type": "xsd:float", "units": "Deg C", "process": "Avg"},
            {"name": "RH", "type": "xsd:float", "units": "%", "process": "Smp"},
            {"name": "WS_ms_Avg", "type": "xsd:float", "units": "meters/second",
             "process": "Avg"},
        ],
    },
    "data": [
        {"time": "2026-12-05T22:00:00", "no": 1421, "vals": [12.61, 9.8, 81.2, 3.1]},
        {"time": "2026-12-05T23:00:00", "no": 1422, "vals": [12.58, 9.1, 84.0, "NAN"]},
    ],
}
THINGSBOARD_PAYLOAD = {"ts": 1_765_000_000_000, "values": {"temperature": 21.5, "humidity": 62}}


def decode(payload_map: dict[str, str], doc: Any) -> Reading | Rejected:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return configured_decoder("mapped", payload_map)(raw)


def test_the_csi_json_map_reads_the_last_record() -> None:
    """CSI-JSON: names and units from head.fields, values from the newest record, the
    datalogger's OS as firmware, the record's time (UTC) as when it was measured; "NAN"
    (how Campbell writes a missing value) skips that one sensor."""
    reading = decode(CSI_MAP, CSI_PAYLOAD)
    assert isinstance(reading, Reading)
    assert [(s.key, s.value, s.unit) for s in reading.sensors] == [
        ("BattV_Min", 12.58, "Volts"), ("AirTC_Avg", 9.1, "Deg C"), ("RH", 84.0, "%")]
    assert reading.skipped_sensors == 1
    assert reading.firmware == "CR1000X.Std.06"
    assert reading.at == 1_796_511_600.0  # 2026-12-05T23:00:00Z


def test_the_thingsboard_map_reads_an_object_of_values() -> None:
    """ThingsBoard telemetry {"ts": ms, "values": {...}}: one sensor per key, ts in ms."""
    reading = decode(THINGSBOARD_MAP, THINGSBOARD_PAYLOAD)
    assert isinstance(reading, Reading)
    assert [(s.key, s.value) for s in reading.sensors] == [("temperature", 21.5),
                                                           ("humidity", 62.0)]
    assert reading.at == 1_765_000_000.0


def test_the_list_of_objects_shape() -> None:
    """sensors/key/value/unit/label/type: one sensor per item; uptime_s from the map."""
    payload_map = {"sensors": "channels", "key": "id", "value": "reading.v", "unit": "reading.u",
                   "label": "name", "type": "kind", "uptime_s": "sys.up"}
    doc = {"sys": {"up": 3600}, "channels": [
        {"id": "t1", "name": "Air", "kind": "temperature", "reading": {"v": 20.5, "u": "°C"}},
        {"id": 7, "reading": {"v": 1}},
        {"reading": {"v": 2}},  # no key: skipped
        {"id": "t3", "reading": {"v": True}},  # a bool is no number: skipped
    ]}
    reading = decode(payload_map, doc)
    assert isinstance(reading, Reading)
    assert [(s.key, s.value, s.unit, s.label, s.sensor_type) for s in reading.sensors] == [
        ("t1", 20.5, "°C", "Air", "temperature"), ("7", 1.0, "", "", "")]
    assert reading.skipped_sensors == 2 and reading.uptime_s == 3600


@pytest.mark.parametrize(("payload_map", "field"), [
    ({"keys": "a[", "values": "b"}, "payload_map.keys"),
    ({"keys": "a", "values": "b", "firmware": "x.`"}, "payload_map.firmware"),
    ({"keys": "a"}, "payload_map.values"),
    ({"sensors": "s", "key": "k"}, "payload_map.value"),
    ({"sensors": "s", "key": "k", "value": "v", "keys": "a"}, "payload_map"),
    ({"keys": "a", "values": "b", "colour": "c"}, "payload_map.colour"),
    ({"keys": "a", "values": ""}, "payload_map.values"),
    ({}, "payload_map"),
])
def test_maps_that_do_not_compile_are_refused_naming_the_expression(
    payload_map: dict[str, str], field: str
) -> None:
    """A bad map is a ValidationError whose field names the expression (or the map)."""
    with pytest.raises(ValidationError) as caught:
        compile_payload_map(payload_map)
    assert caught.value.field == field


def test_a_subscription_takes_a_map_only_with_mapped() -> None:
    """mapped needs a payload_map; other versions refuse one."""
    with pytest.raises(ValidationError, match="payload_map"):
        Subscription(id=1, pattern="a/{serial}", payload_version="mapped")
    with pytest.raises(ValidationError, match="payload_map"):
        Subscription(id=1, pattern="a/{serial}", payload_map=CSI_MAP)
    Subscription(id=1, pattern="a/{serial}", payload_version="mapped", payload_map=CSI_MAP)


@pytest.mark.parametrize(("doc", "reason"), [
    (b"[1, 2]", "expected a JSON object"),
    (b"nope", "not JSON"),
    ({"head": {"environment": {"os_version": ["x"]}}}, "firmware: expected a string"),
    ({"data": [{"time": "yesterday"}]}, "at: expected epoch seconds or an ISO 8601 time"),
    ({"head": {"fields": {"name": "x"}}}, None),  # a projection of an object is null: no keys
])
def test_what_is_refused_and_what_is_tolerated(doc: Any, reason: str | None) -> None:
    """A wrong-typed firmware/at rejects the payload naming the field; missing parts are
    simply absent."""
    result = decode(CSI_MAP, doc)
    if reason is None:
        assert isinstance(result, Reading) and result.sensors == ()
    else:
        assert result == Rejected(reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=20,
)


@given(payload=st.binary(max_size=300))
def test_any_bytes_never_raise(payload: bytes) -> None:
    """Whatever the bytes: a Reading or a Rejected."""
    for payload_map in (CSI_MAP, THINGSBOARD_MAP):
        assert isinstance(decode_mapped(compile_payload_map(payload_map), payload),
                          Reading | Rejected)


@given(doc=st.dictionaries(st.sampled_from(["head", "data", "values", "ts", "x"]), json_values))
def test_any_json_object_never_raises(doc: dict[str, Any]) -> None:
    """Whatever the JSON object, even shaped almost like the logger's: no exception."""
    raw = json.dumps(doc).encode()
    for payload_map in (CSI_MAP, THINGSBOARD_MAP):
        assert isinstance(decode_mapped(compile_payload_map(payload_map), raw),
                          Reading | Rejected)


def test_ingest_decodes_a_mapped_subscription_and_keeps_the_measured_time() -> None:
    """Through Ingest: the subscription's own decoder is used, and the payload's time
    travels as measured_at while liveness keeps the time of arrival."""
    sub = Subscription(id=1, pattern="csi/{model}/{serial}", payload_version="mapped",
                       payload_map=CSI_MAP)
    ingest = Ingest(5, "site_001", [sub], max_payload=65_536)
    batch = ingest.process([InboundMessage(b"site_001/csi/CR1000X/4011",
                                           json.dumps(CSI_PAYLOAD).encode(), False, 1e9)])
    (heard,) = batch.per_device[DeviceKey(5, "datalogger", "4011")]
    assert heard.at == 1e9 and heard.measured_at == 1_796_511_600.0
    assert heard.model == "CR1000X" and len(heard.sensors) == 3


PATHS = ["head.fields[].name", "data[-1].vals", "head.environment.os_version", "data[-1].time",
         "a", "a.b", "a[0]", "a[-2].b", "a[*].b", "a[].b", "a.b[]", "a[].b[].c", "@", "a[*]",
         "keys(a)", "values(a)", "keys(a.b)[0]", "values(a[0])", "a[?b > `1`].c", "a[1:2]"]
path_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "b", "c", "head", "fields", "name", "data", "vals"]), inner,
        max_size=4),
    max_leaves=25,
)


@given(doc=path_docs, expression=st.sampled_from(PATHS))
def test_fast_paths_answer_what_jmespath_answers(doc: Any, expression: str) -> None:
    """jmespath_fast's closures give jmespath's own answer (or the same error) for any
    document; expressions it does not handle fall back to jmespath itself."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from sitelink.payloads.jmespath_fast import evaluator

    parsed = jmespath.compile(expression)
    try:
        expected: Any = parsed.search(doc)
    except JMESPathError as exc:
        with pytest.raises(type(exc)):
            evaluator(parsed)(doc)
        return
    assert evaluator(parsed)(doc) == expected

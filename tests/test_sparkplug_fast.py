"""The fast reads of Sparkplug B DATA give what reading every field the plain way gives.

``sensors_of`` skips ``WhichOneof`` for a Double metric whose ``double_value`` is not 0.0
(an unset double reads 0.0, so such a value is the one set), and ``EdgeNodes`` asks
``HasField("seq")`` only when ``seq`` reads 0. Hypothesis builds payloads field by field —
aliases set or not (0 among them), names, datatypes, any one value field or none, nulls,
doubles of every kind (0.0, -0.0, NaN, infinities) — and holds them to a reference that
reads each metric the plain way.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sitelink.actors.sparkplug_nodes import EdgeNodes
from sitelink.events import SensorValue
from sitelink.payloads import Rejected
from sitelink.payloads.sparkplug import (
    DOUBLE,
    FLOAT,
    INT32,
    STRING,
    MetricDef,
    MetricOut,
    Payload,
    encode_payload,
    is_measurement,
    metric_unit,
    metric_value,
    parse_payload,
    sensors_of,
)
from sitelink.sparkplug_topics import parse_topic

BIRTH = {0: MetricDef("zero", DOUBLE, "bar"), 1: MetricDef("one", DOUBLE),
         2: MetricDef("two", INT32), 3: MetricDef("bdSeq", DOUBLE, measurement=False),
         4: MetricDef("four", FLOAT, "°C")}
BY_NAME = {d.name: d for d in BIRTH.values()}

doubles = st.floats() | st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 2.5])
values = st.one_of(
    st.tuples(st.just("double_value"), doubles),
    st.tuples(st.just("float_value"), st.floats(width=32)),
    st.tuples(st.just("int_value"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("long_value"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("boolean_value"), st.booleans()),
    st.tuples(st.just("string_value"), st.text(max_size=3)),
    st.none(),
)
metrics = st.lists(st.fixed_dictionaries({}, optional={
    "alias": st.integers(0, 5), "name": st.sampled_from(["zero", "one", "other", "bdSeq"]),
    "datatype": st.sampled_from([0, DOUBLE, FLOAT, INT32, STRING, 99]), "is_null": st.booleans(),
    "value": values}), max_size=6)


def build(fields: list[dict[str, Any]]) -> bytes:
    message = Payload(timestamp=1, seq=0)
    for spec in fields:
        metric = message.metrics.add()
        for name in ("alias", "name", "datatype", "is_null"):
            if name in spec:
                setattr(metric, name, spec[name])
        if spec.get("value") is not None:
            setattr(metric, *spec["value"])
    return message.SerializeToString()


def reference(message: Payload) -> tuple[tuple[SensorValue, ...], int]:
    """Each metric read the plain way: resolved by alias if it has one, else by name; a
    Double by alias and set as a double is its double; else ``metric_value``."""
    sensors: dict[str, SensorValue] = {}
    skipped = 0
    for metric in message.metrics:
        definition = BIRTH.get(metric.alias) if metric.HasField("alias") else None
        if definition is not None:
            if not definition.measurement:
                continue
            field = metric.WhichOneof("value")
            if definition.datatype == DOUBLE and field == "double_value":
                number = metric.double_value
                value: float | Rejected | None = (
                    number if math.isfinite(number) else Rejected("not finite"))
            else:
                value = metric_value(metric, metric.datatype or definition.datatype)
            if isinstance(value, Rejected):
                skipped += 1
            else:
                sensors[definition.name] = SensorValue(key=definition.name, value=value,
                                                       unit=definition.unit)
            continue
        if not metric.HasField("alias"):
            definition = BY_NAME.get(metric.name)
        name = metric.name or (definition.name if definition is not None else "")
        datatype = metric.datatype or (definition.datatype if definition is not None else 0)
        if not name or not is_measurement(name):
            skipped += not name
            continue
        value = metric_value(metric, datatype)
        if isinstance(value, Rejected):
            skipped += 1
            continue
        unit = definition.unit if definition is not None else metric_unit(metric)
        sensors[name] = SensorValue(key=name, value=value, unit=unit)
    return tuple(sensors.values()), skipped


def same(a: tuple[tuple[SensorValue, ...], int], b: tuple[tuple[SensorValue, ...], int]) -> bool:
    """Equal, with NaN equal to NaN (a NaN never reaches a sensor, but say so if it did)."""
    def key(sensor: SensorValue) -> tuple[str, str, str]:
        return sensor.key, repr(sensor.value), sensor.unit

    return [key(s) for s in a[0]] == [key(s) for s in b[0]] and a[1] == b[1]


@given(fields=metrics)
def test_sensors_of_reads_what_the_plain_reads_give(fields: list[dict[str, Any]]) -> None:
    """Whatever the metrics carry: the same sensors, values, units and skipped count."""
    message = parse_payload(build(fields))
    assert not isinstance(message, Rejected)
    assert same(sensors_of(message.metrics, BIRTH, BY_NAME), reference(message))


@given(seqs=st.lists(st.none() | st.integers(0, 300), min_size=1, max_size=6))
def test_a_data_message_without_seq_neither_moves_nor_breaks_the_sequence(
    seqs: list[int | None],
) -> None:
    """seq read 0 is asked whether it was set: a DATA without one counts no gap and keeps
    the node's sequence where it was; with 0 set it is the wrap after 255."""
    nodes = EdgeNodes()
    nodes.receive(parse_topic("spBv1.0/G/NBIRTH/E"), encode_payload(timestamp_ms=1, seq=0),
                  1.0, False)
    data = parse_topic("spBv1.0/G/NDATA/E")
    assert data is not None
    expected = 0
    for seq in seqs:
        payload = encode_payload(timestamp_ms=1, seq=seq, metrics=[
            MetricOut(name="x", datatype=DOUBLE, value=1.0)])
        out = nodes.receive(data, payload, 2.0, False)
        if seq is None:
            assert not out.seq_gap
        else:
            assert out.seq_gap == (seq % 256 != (expected + 1) % 256)
            expected = seq % 256
        assert nodes.nodes[("G", "E")].seq == expected

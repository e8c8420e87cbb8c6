"""Sparkplug B 3.0 payloads: protobuf bytes in, metrics with their values out; and our encoder.

The wire schema is ``sparkplug_b.proto`` in this package, written from the specification;
``sparkplug_b_pb2`` is protoc's module for it, committed (``make proto`` rebuilds it) because
the protobuf runtime cannot read a ``.proto`` by itself and protoc is a build tool, not
something a server should need.

What is stateless lives here: parsing the bytes (``parse_payload``, never raises), the
value of one metric given its datatype (``metric_value``), the metric definitions a BIRTH
declares (``MetricDef``), the stateless ``"sparkplug_b"`` decoder registered for the
registry (it reads metrics that carry their name and datatype; alias-only metrics need the
per-edge-node state of ``sitelink.actors.sparkplug_nodes``), and ``encode_payload`` for the
simulator, the tests and our rebirth request. Pure functions, safe from any thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from google.protobuf.message import DecodeError

from sitelink.events import SensorValue
from sitelink.payloads.registry import Reading, Rejected, register
from sitelink.payloads.sparkplug_b_pb2 import Payload

__all__ = [
    "BOOLEAN",
    "DOUBLE",
    "FLOAT",
    "INT32",
    "INT64",
    "UINT32",
    "MetricDef",
    "Payload",
    "encode_payload",
    "metric_value",
    "parse_payload",
]

# Datatype numbers of the specification (6.4.16) that carry a number we keep as a sensor.
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING = 9, 10, 11, 12
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
_UNSIGNED = frozenset((UINT8, UINT16, UINT32, UINT64))
_NUMERIC = frozenset((*_SIGNED_BITS, *_UNSIGNED, FLOAT, DOUBLE, BOOLEAN))

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
# Metrics about the edge node's own control, not measurements.
_CONTROL_PREFIXES = ("Node Control/", "Device Control/")
ENG_UNIT = "engUnit"  # the property most edge nodes (Ignition, HiveMQ Edge) put a unit in


class MetricDef(msgspec.Struct, frozen=True, gc=False):
    """What a BIRTH says of a metric: the name DATA may leave out, the datatype, the unit;
    ``measurement`` is False for bdSeq and the control metrics (computed once, here)."""

    name: str
    datatype: int
    unit: str = ""
    measurement: bool = True


def parse_payload(payload: bytes) -> Payload | Rejected:
    """The protobuf message in ``payload``, or why it is not one. Never raises."""
    message = Payload()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RecursionError, ValueError):
        return Rejected("not a Sparkplug B payload (protobuf does not parse)")
    except Exception as exc:  # the runtime's other complaints about hostile bytes
        return Rejected(f"not a Sparkplug B payload ({type(exc).__name__})")
    return message


def metric_value(metric: Payload.Metric, datatype: int) -> float | Rejected | None:
    """The number ``metric`` carries as ``datatype``: None for a null, ``Rejected`` when it
    is not a finite number (a string, a dataset, a datatype we do not know, a NaN)."""
    if metric.is_null:
        return None
    if datatype not in _NUMERIC:
        return Rejected("not a numeric datatype")
    field = metric.WhichOneof("value")
    if field == "int_value" or field == "long_value":
        raw: int = metric.int_value if field == "int_value" else metric.long_value
        bits = _SIGNED_BITS.get(datatype)
        if bits is not None:
            # Signed values travel as their two's complement in an unsigned field; some
            # encoders sign-extend Int8/Int16 to 32 bits, which the mask also reads right.
            raw &= (1 << bits) - 1
            if raw >= 1 << (bits - 1):
                raw -= 1 << bits
        return float(raw)
    if field == "float_value" or field == "double_value":
        value = metric.float_value if field == "float_value" else metric.double_value
        return value if math.isfinite(value) else Rejected("not a finite number")
    if field == "boolean_value":
        return 1.0 if metric.boolean_value else 0.0
    return Rejected("no numeric value")


def is_measurement(name: str) -> bool:
    """False for ``bdSeq`` and the control metrics (``Node Control/Rebirth``, ...)."""
    return name != BD_SEQ and not name.startswith(_CONTROL_PREFIXES)


def metric_unit(metric: Payload.Metric) -> str:
    """The ``engUnit`` property of a metric, or ""."""
    if not metric.HasField("properties"):
        return ""
    props = metric.properties
    for key, value in zip(props.keys, props.values, strict=False):
        if key == ENG_UNIT and value.WhichOneof("value") == "string_value":
            return value.string_value
    return ""


def birth_defs(
    metrics: Iterable[Payload.Metric],
) -> tuple[dict[int, MetricDef], dict[str, MetricDef]]:
    """The definitions a BIRTH declares, by alias and by name."""
    by_alias: dict[int, MetricDef] = {}
    by_name: dict[str, MetricDef] = {}
    for metric in metrics:
        if not metric.name:
            continue  # a BIRTH must name every metric; one that does not defines nothing
        definition = MetricDef(metric.name, metric.datatype, metric_unit(metric),
                               is_measurement(metric.name))
        by_name[metric.name] = definition
        if metric.HasField("alias"):
            by_alias[metric.alias] = definition
    return by_alias, by_name


def sensors_of(
    metrics: Iterable[Payload.Metric],
    by_alias: Mapping[int, MetricDef],
    by_name: Mapping[str, MetricDef],
) -> tuple[tuple[SensorValue, ...], int]:
    """The sensors of a BIRTH or DATA message, resolved against the BIRTH's definitions, and
    the number of metrics skipped (an alias never declared, no datatype, not a number).

    Runs once per message on the site actor's thread; every attribute read of a protobuf
    message costs, so a metric known by its alias is read in as few of them as possible:
    a Double DATA metric in three (alias, double_value, and the wrapper upb makes for it)."""
    sensors: dict[str, SensorValue] = {}
    skipped = 0
    defined = by_alias.get
    for metric in metrics:
        definition: MetricDef | None
        alias = metric.alias
        if alias or metric.HasField("alias"):  # (alias 0 is valid: then ask)
            definition = defined(alias)
            if definition is not None:  # the common DATA metric: alias, maybe no name
                if not definition.measurement:
                    continue
                name = definition.name
                if definition.datatype == DOUBLE:
                    # An unset double reads 0.0, so a double that is not 0.0 is the one
                    # set, and needs no WhichOneof (the dearest read of the four).
                    number = metric.double_value
                    if number and number - number == 0:  # (x - x is NaN for inf and NaN)
                        sensors[name] = SensorValue(key=name, value=number, unit=definition.unit)
                        continue
                    if metric.WhichOneof("value") == "double_value":  # 0.0, inf or NaN
                        if number - number != 0:
                            skipped += 1
                            continue
                        sensors[name] = SensorValue(key=name, value=number, unit=definition.unit)
                        continue
                value = metric_value(metric, metric.datatype or definition.datatype)
                if isinstance(value, Rejected):
                    skipped += 1
                    continue
                sensors[name] = SensorValue(key=name, value=value, unit=definition.unit)
                continue
        else:
            definition = by_name.get(metric.name)
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


def metric_int(metrics: Iterable[Payload.Metric], name: str) -> int | None:
    """The integer value of the metric called ``name`` (``bdSeq``), or None."""
    for metric in metrics:
        if metric.name == name:
            field = metric.WhichOneof("value")
            if field == "long_value":
                return metric.long_value
            if field == "int_value":
                return metric.int_value
            return None
    return None


@register("sparkplug_b", guessable=False)
def decode_sparkplug_b(payload: bytes) -> Reading | Rejected:
    """One Sparkplug B payload alone: the metrics that carry their name and datatype (as in a
    BIRTH). Subscriptions use the stateful reader in ``sparkplug_nodes``, which also resolves
    aliases; this is its stateless core, for the registry and the benchmarks."""
    message = parse_payload(payload)
    if isinstance(message, Rejected):
        return message
    by_alias, by_name = birth_defs(message.metrics)
    sensors, skipped = sensors_of(message.metrics, by_alias, by_name)
    return Reading(sensors=sensors, skipped_sensors=skipped)


# --- encoding (simulator, tests, rebirth requests) ---------------------------------------


class MetricOut(msgspec.Struct, frozen=True, kw_only=True):
    """One metric to encode. ``name`` or ``alias`` (or both). ``datatype`` says how the value
    is written; ``send_datatype=False`` leaves it off the wire, as Sparkplug allows in DATA."""

    name: str = ""
    alias: int | None = None
    datatype: int = DOUBLE
    send_datatype: bool = True
    value: float | int | bool | str | None = None
    unit: str = ""


def encode_payload(
    *, timestamp_ms: int, seq: int | None, metrics: Iterable[MetricOut] = ()
) -> bytes:
    """A Sparkplug B payload (``seq`` None for NDEATH, which carries none)."""
    message = Payload(timestamp=timestamp_ms)
    if seq is not None:
        message.seq = seq
    for out in metrics:
        metric = message.metrics.add()
        if out.name:
            metric.name = out.name
        if out.alias is not None:
            metric.alias = out.alias
        if out.send_datatype:
            metric.datatype = out.datatype
        metric.timestamp = timestamp_ms
        if out.unit:
            metric.properties.keys.append(ENG_UNIT)
            metric.properties.values.add(type=STRING, string_value=out.unit)
        _set_value(metric, out)
    return message.SerializeToString()


def _set_value(metric: Payload.Metric, out: MetricOut) -> None:
    value: Any = out.value
    if value is None:
        metric.is_null = True
    elif isinstance(value, bool):
        metric.boolean_value = value
    elif isinstance(value, str):
        metric.string_value = value
    elif isinstance(value, int):
        if out.datatype in (INT64, UINT64):
            metric.long_value = value & ((1 << 64) - 1)
        else:
            metric.int_value = value & ((1 << _SIGNED_BITS.get(out.datatype, 32)) - 1)
    elif out.datatype == FLOAT:
        metric.float_value = value
    else:
        metric.double_value = value

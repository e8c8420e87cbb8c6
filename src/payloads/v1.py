"""The v1 heartbeat decoder, registered as ``"v1"`` when this module is imported."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import msgspec

from sitelink.events import SensorValue
from sitelink.payloads import limits
from sitelink.payloads.parsing import (
    Label,
    SensorKey,
    SensorType,
    Text255,
    Unit,
    Uptime,
    checked_uptime,
    finite_number,
    is_non_finite,
    typed_or_tolerant,
    unique_sensors,
)
from sitelink.payloads.registry import Reading, Rejected, register


class _V1Sensor(msgspec.Struct, frozen=True):
    id: SensorKey
    value: float | None = None
    label: Label = ""
    type: SensorType = ""
    unit: Unit = ""


class _V1Doc(msgspec.Struct, frozen=True):
    v: Literal[1] | None = None
    firmware: Text255 | None = None
    uptime_s: Uptime | None = None
    gateway: Text255 | None = None
    sensors: list[_V1Sensor] | None = None


_v1_typed = msgspec.json.Decoder(_V1Doc)


@register("v1", fits_limits=True)
def decode_v1(payload: bytes) -> Reading | Rejected:
    """``{"firmware", "uptime_s", "gateway", "sensors": [{"id", "label", "type", "value",
    "unit"}]}``, every field optional; ``"v"``, if present, must be 1."""
    doc = typed_or_tolerant(payload, _v1_typed, v1_from_document)
    if not isinstance(doc, _V1Doc):
        return doc
    # Typed floats are always finite: msgspec refuses 1e400 there ("Number out of range"),
    # which sends such a payload down the tolerant path; and JSON has no NaN. Keyed by id,
    # a repeated id keeps its first position and its last value, as in the tolerant path.
    by_key = {
        s.id: SensorValue(key=s.id, value=s.value, label=s.label, sensor_type=s.type, unit=s.unit)
        for s in doc.sensors or ()
    }
    return Reading(
        firmware=doc.firmware,
        uptime_s=doc.uptime_s,
        gateway=doc.gateway,
        sensors=tuple(by_key.values()),
    )


def v1_from_document(doc: Any) -> Reading | Rejected:
    """The tolerant v1 path over an untyped document (also the reference for tests)."""
    if not isinstance(doc, dict):
        return Rejected("expected a JSON object")
    if doc.get("v", 1) not in (1, None) or type(doc.get("v")) is bool:
        return Rejected("v: expected 1 (is this a v2 payload?)")
    firmware = doc.get("firmware")
    if firmware is not None and type(firmware) is not str:
        return Rejected("firmware: expected a string")
    gateway = doc.get("gateway")
    if gateway is not None and type(gateway) is not str:
        return Rejected("gateway: expected a string")
    uptime_s = checked_uptime(doc.get("uptime_s"), "uptime_s")
    if isinstance(uptime_s, Rejected):
        return uptime_s
    entries = doc.get("sensors")
    if entries is None:
        entries = []
    elif type(entries) is not list:
        return Rejected("sensors: expected a list")
    sensors = [s for s in map(_v1_sensor, entries) if s is not None]
    cut: Counter[str] = Counter()
    return Reading(
        firmware=limits.fit_optional(firmware, limits.FIRMWARE_MAX, "firmware", cut),
        uptime_s=uptime_s,
        gateway=limits.fit_optional(gateway, limits.GATEWAY_MAX, "gateway", cut),
        sensors=limits.fit_sensors(unique_sensors(sensors), cut),
        skipped_sensors=len(entries) - len(sensors),
        non_finite=sum(1 for e in entries if type(e) is dict and is_non_finite(e.get("value"))),
        limited=dict(cut),
    )


def _v1_sensor(entry: object) -> SensorValue | None:
    if type(entry) is not dict:
        return None
    key = entry.get("id")
    label = entry.get("label", "")
    sensor_type = entry.get("type", "")
    unit = entry.get("unit", "")
    raw = entry.get("value")
    value = finite_number(raw)
    if (
        type(key) is not str
        or not key
        or (value is None and raw is not None)
        or type(label) is not str
        or type(sensor_type) is not str
        or type(unit) is not str
    ):
        return None
    return SensorValue(key=key, value=value, label=label, sensor_type=sensor_type, unit=unit)

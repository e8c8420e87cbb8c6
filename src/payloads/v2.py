"""The v2 heartbeat decoder, registered as ``"v2"`` when this module is imported."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import msgspec

from sitelink.events import SensorValue
from sitelink.payloads import limits
from sitelink.payloads.parsing import (
    SensorKey,
    SensorType,
    Text255,
    Unit,
    Uptime,
    checked_uptime,
    finite_number,
    is_non_finite,
    typed_or_tolerant,
)
from sitelink.payloads.registry import Reading, Rejected, register


class _V2Doc(msgspec.Struct, frozen=True):
    v: Literal[2] | None = None
    fw: Text255 | None = None
    up: Uptime | None = None
    r: dict[SensorKey, tuple[float | None, Unit, SensorType]] | None = None


_v2_typed = msgspec.json.Decoder(_V2Doc)


@register("v2", fits_limits=True)
def decode_v2(payload: bytes) -> Reading | Rejected:
    """``{"v": 2, "fw", "up", "r": {key: [value, unit, type]}}``, every field optional."""
    doc = typed_or_tolerant(payload, _v2_typed, v2_from_document)
    if not isinstance(doc, _V2Doc):
        return doc
    readings = doc.r or {}
    return Reading(
        firmware=doc.fw,
        uptime_s=doc.up,
        sensors=tuple(
            SensorValue(key=key, value=value, unit=unit, sensor_type=sensor_type)
            for key, (value, unit, sensor_type) in readings.items()
        ),
    )


def v2_from_document(doc: Any) -> Reading | Rejected:
    """The tolerant v2 path over an untyped document (also the reference for tests)."""
    if not isinstance(doc, dict):
        return Rejected("expected a JSON object")
    if doc.get("v", 2) not in (2, None) or type(doc.get("v")) is bool:
        return Rejected("v: expected 2")
    firmware = doc.get("fw")
    if firmware is not None and type(firmware) is not str:
        return Rejected("fw: expected a string")
    uptime_s = checked_uptime(doc.get("up"), "up")
    if isinstance(uptime_s, Rejected):
        return uptime_s
    entries = doc.get("r")
    if entries is None:
        entries = {}
    elif type(entries) is not dict:
        return Rejected("r: expected an object")
    sensors = [s for s in map(_v2_sensor, entries.items()) if s is not None]
    cut: Counter[str] = Counter()
    return Reading(
        firmware=limits.fit_optional(firmware, limits.FIRMWARE_MAX, "firmware", cut),
        uptime_s=uptime_s,
        sensors=limits.fit_sensors(tuple(sensors), cut),
        skipped_sensors=len(entries) - len(sensors),
        non_finite=sum(1 for e in entries.values()
                       if type(e) is list and e and is_non_finite(e[0])),
        limited=dict(cut),
    )


def _v2_sensor(item: tuple[str, object]) -> SensorValue | None:
    key, entry = item
    if not key or type(entry) is not list or len(entry) != 3:
        return None
    raw, unit, sensor_type = entry
    value = finite_number(raw)
    if (value is None and raw is not None) or type(unit) is not str or type(sensor_type) is not str:
        return None
    return SensorValue(key=key, value=value, unit=unit, sensor_type=sensor_type)

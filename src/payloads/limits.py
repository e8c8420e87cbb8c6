"""What a device may make sitelink store: string lengths, text, sensors per message.

Pure functions, safe from any thread; run by ``Ingest`` on its site actor's thread, so every
string that reaches an event (and so the read model, the stream and storage) already fits
its column on both engines. PostgreSQL refuses a ``VARCHAR(n)`` value longer than ``n``
characters and any text holding NUL; SQLite stores both. Checking here, before anything is
written, makes the two engines keep the same thing and keeps one device's bad field from
failing a batch that carries everybody's readings.

Rules (each counted under its reason, see ``REASONS``):

- a serial longer than its column rejects the message (``serial_too_long``): cutting it
  could make two devices one;
- a sensor key longer than its column drops that sensor (``sensor_key_too_long``);
- model, gateway, firmware, label, sensor type and unit longer than their column are cut to
  fit, the last character replaced by ``MARKER`` (``truncated_<field>``);
- NUL characters in any of them become U+FFFD (``nul_character``);
- a message with more than ``max_sensors`` sensors is rejected whole (``too_many_sensors``);
- a sensor value that is not a finite number (``1e400``) is dropped (``non_finite_value``;
  counted by the decoders, see ``sitelink.payloads.parsing``).

``tests/storage/test_limits.py`` checks the lengths below against the table columns.
"""

from __future__ import annotations

from collections import Counter

from sitelink.events import SensorValue

MARKER = "…"

SERIAL_MAX = 255
MODEL_MAX = 255
GATEWAY_MAX = 255
FIRMWARE_MAX = 255
SENSOR_KEY_MAX = 255
LABEL_MAX = 255
SENSOR_TYPE_MAX = 64
UNIT_MAX = 32

DEFAULT_MAX_SENSORS = 256

REASONS = (
    "serial_too_long", "sensor_key_too_long", "too_many_sensors", "non_finite_value",
    "invalid_sensor", "nul_character", "truncated_model", "truncated_gateway",
    "truncated_firmware", "truncated_label", "truncated_sensor_type", "truncated_unit",
    "sensor_cap", "storage_set_aside", "lease_fenced",
)
"""Every reason a field, sensor or message is cut, dropped or rejected (a metric label)."""


def fit(value: str, limit: int, field: str, counts: Counter[str]) -> str:
    """``value`` made storable in a column of ``limit`` characters, counting what changed."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
        counts["nul_character"] += 1
    if len(value) > limit:
        value = value[: limit - 1] + MARKER
        counts[f"truncated_{field}"] += 1
    return value


def fit_optional(value: str | None, limit: int, field: str, counts: Counter[str]) -> str | None:
    return None if value is None else fit(value, limit, field, counts)


def fits(value: str, limit: int) -> bool:
    """The cheap test the hot path runs first: short enough and no NUL."""
    return len(value) <= limit and "\x00" not in value


def fit_sensors(
    sensors: tuple[SensorValue, ...], counts: Counter[str]
) -> tuple[SensorValue, ...]:
    """The sensors, each made storable; a sensor whose key does not fit is dropped."""
    if all(
        fits(s.key, SENSOR_KEY_MAX) and fits(s.unit, UNIT_MAX)
        and fits(s.sensor_type, SENSOR_TYPE_MAX) and fits(s.label, LABEL_MAX)
        for s in sensors
    ):
        return sensors
    kept: list[SensorValue] = []
    for s in sensors:
        if len(s.key) > SENSOR_KEY_MAX:
            counts["sensor_key_too_long"] += 1
            continue
        kept.append(SensorValue(
            key=fit(s.key, SENSOR_KEY_MAX, "sensor_key", counts),
            value=s.value,
            label=fit(s.label, LABEL_MAX, "label", counts),
            sensor_type=fit(s.sensor_type, SENSOR_TYPE_MAX, "sensor_type", counts),
            unit=fit(s.unit, UNIT_MAX, "unit", counts),
        ))
    return tuple(kept)

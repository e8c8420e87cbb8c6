"""Heartbeat and status payloads: bytes from the broker in, a ``Reading`` or a ``Rejected`` out.

Pure functions, no I/O; they run on the hot path (once per MQTT message, on whichever
thread the site's actor runs on) and are safe to call from any thread.

``decode(version, payload, max_payload)`` never raises, whatever the bytes: a payload that
does not decode comes back as ``Rejected(reason)``, with a short reason from a small, fixed
vocabulary (``"invalid UTF-8"``, ``"not JSON"``, ``"sensors: expected a list"``, ...) that
is fit for a log line.

Tolerance (v1 and v2 alike):

- the top level must be a JSON object, and each known top-level field, when present and not
  ``null``, must have its type — otherwise the whole payload is rejected, naming the field;
- unknown fields are ignored, so devices may send more than we read;
- a sensor entry that is not valid (no key, a value that is a bool, a string, NaN or out of
  the float range, a label or unit that is not a string) is skipped and counted in
  ``Reading.skipped_sensors``; the other sensors of the payload are kept;
- a sensor key that appears twice keeps its first position and its last value.

Each JSON decoder has a fast path (msgspec decoding straight into typed structs) and, only
when that fails validation, a tolerant path that walks the untyped document and decides per
field and per sensor. Both give the same result wherever the fast path succeeds.

Adding a payload version
------------------------
Write a function from bytes to ``Reading | Rejected`` in this module (or in a module this
one imports) and register it under the version name that subscriptions will carry in
``payload_version``. Nothing in the actors changes: they call ``decode(sub.payload_version,
...)``. Reuse ``parse_json`` for the UTF-8/JSON/nesting checks and ``finite_number`` for
values::

    @register("v3")
    def decode_v3(payload: bytes) -> Reading | Rejected:
        doc = parse_json(payload)          # {"t": {"t_ext": 22.5}}
        if isinstance(doc, Rejected):
            return doc
        if not isinstance(doc, dict) or not isinstance(doc.get("t"), dict):
            return Rejected("t: expected an object")
        sensors = [
            SensorValue(key=k, value=finite_number(v))
            for k, v in doc["t"].items()
            if k and finite_number(v) is not None
        ]
        return Reading(sensors=tuple(sensors))

A decoder may raise by mistake; ``decode`` turns that into a ``Rejected`` too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from sitelink.errors import ConfigError
from sitelink.events import SensorValue

__all__ = [
    "DECODERS",
    "Decoder",
    "Presence",
    "Reading",
    "Rejected",
    "decode",
    "decode_status",
    "finite_number",
    "guess_payload_version",
    "parse_json",
    "preview",
    "register",
]

Presence = Literal["online", "offline"]
Decoder = Callable[[bytes], "Reading | Rejected"]

_MAX_UPTIME_S = 2**63 - 1  # fits a BIGINT column
_Doc = TypeVar("_Doc")
_STATUS_MAX_BYTES = 4096


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """What a heartbeat said. ``None`` means the payload did not say."""

    firmware: str | None = None
    uptime_s: int | None = None
    gateway: str | None = None
    sensors: tuple[SensorValue, ...] = ()
    skipped_sensors: int = 0

    def is_empty(self) -> bool:
        """True when the payload carried nothing we read (e.g. ``{}``)."""
        return (
            self.firmware is None
            and self.uptime_s is None
            and self.gateway is None
            and not self.sensors
            and not self.skipped_sensors
        )


class Rejected(msgspec.Struct, frozen=True):
    """A payload that does not decode; ``reason`` is a few words for the log."""

    reason: str


# ---------------------------------------------------------------------------- registry

_DECODERS: dict[str, Decoder] = {}
DECODERS: Mapping[str, Decoder] = MappingProxyType(_DECODERS)
"""The registered decoders by ``payload_version``, in registration order (read-only)."""


def register(version: str) -> Callable[[Decoder], Decoder]:
    """Register ``decoder`` for ``version``; a version can be registered only once."""

    def add(decoder: Decoder) -> Decoder:
        if not version or len(version) > 32:
            raise ConfigError(f"payload version name must be 1-32 characters: {version!r}")
        if version in _DECODERS:
            raise ConfigError(f"payload version {version!r} is already registered")
        _DECODERS[version] = decoder
        return decoder

    return add


def decode(version: str, payload: bytes, max_payload: int) -> Reading | Rejected:
    """Decode a heartbeat payload with the decoder of ``version``. Never raises."""
    size = len(payload)
    if size > max_payload:
        return Rejected(f"payload too large ({size} > {max_payload} bytes)")
    decoder = _DECODERS.get(version)
    if decoder is None:
        return Rejected(f"unknown payload version {version[:32]!r}")
    try:
        return decoder(payload)
    except Exception as exc:  # a decoder bug must not reach the actor
        return Rejected(f"decoder {version} failed: {type(exc).__name__}")


def guess_payload_version(payload: bytes, max_payload: int = 262_144) -> str | None:
    """The first registered version that reads something from ``payload``, else None.

    For the discovery window, not the hot path. A version "reads something" when its decoder
    returns a non-empty ``Reading``; v1 refuses payloads that carry ``"v": 2``, so a v2
    payload is not mistaken for an empty v1 one.
    """
    for version in _DECODERS:
        result = decode(version, payload, max_payload)
        if isinstance(result, Reading) and not result.is_empty():
            return version
    return None


# ---------------------------------------------------------------------------- JSON helpers

# float_hook keeps 1e400 as inf in untyped documents, so the tolerant path can skip that one
# sensor; without it msgspec rejects the whole document ("Number out of range").
_untyped = msgspec.json.Decoder(float_hook=float)


def parse_json(payload: bytes) -> Any | Rejected:
    """The untyped JSON document in ``payload``, or why it is not one."""
    try:
        return _untyped.decode(payload)
    except Exception as exc:
        return _json_failure(payload, exc)


def _json_failure(payload: bytes, exc: Exception) -> Rejected:
    if isinstance(exc, RecursionError):
        return Rejected("JSON nested too deeply")
    if isinstance(exc, UnicodeDecodeError):
        return Rejected("invalid UTF-8")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected("invalid UTF-8")
    return Rejected("not JSON")


def _is_invalid_utf8(payload: bytes) -> bool:
    # The typed decoders skip unknown keys and values without looking at their bytes, so
    # UTF-8 is checked here, once; isascii() makes that free for plain-ASCII payloads.
    if payload.isascii():
        return False
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def finite_number(value: object) -> float | None:
    """``value`` as a float if it is a JSON number (not a bool) and finite, else None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer literal of hundreds of digits
            return None
    return None


def _uptime(value: object, field: str) -> int | Rejected | None:
    if value is None or (type(value) is int and 0 <= value <= _MAX_UPTIME_S):
        return value
    return Rejected(f"{field}: expected a non-negative integer")


def _typed_or_tolerant(
    payload: bytes, typed: msgspec.json.Decoder[_Doc], tolerant: Callable[[Any], Reading | Rejected]
) -> _Doc | Reading | Rejected:
    """``payload`` decoded into ``typed``'s struct; if it does not fit, ``tolerant``'s answer."""
    if _is_invalid_utf8(payload):
        return Rejected("invalid UTF-8")
    try:
        return typed.decode(payload)
    except msgspec.ValidationError:
        document = parse_json(payload)
        return document if isinstance(document, Rejected) else tolerant(document)
    except Exception as exc:
        return _json_failure(payload, exc)


def _unique(sensors: Iterable[SensorValue]) -> tuple[SensorValue, ...]:
    # First position, last value: what a device that repeats a key most likely means.
    return tuple({s.key: s for s in sensors}.values())


# ---------------------------------------------------------------------------- v1

_Key = Annotated[str, msgspec.Meta(min_length=1)]
_Uptime = Annotated[int, msgspec.Meta(ge=0, le=_MAX_UPTIME_S)]


class _V1Sensor(msgspec.Struct, frozen=True):
    id: _Key
    value: float | None = None
    label: str = ""
    type: str = ""
    unit: str = ""


class _V1Doc(msgspec.Struct, frozen=True):
    v: Literal[1] | None = None
    firmware: str | None = None
    uptime_s: _Uptime | None = None
    gateway: str | None = None
    sensors: list[_V1Sensor] | None = None


_v1_typed = msgspec.json.Decoder(_V1Doc)


@register("v1")
def decode_v1(payload: bytes) -> Reading | Rejected:
    """``{"firmware", "uptime_s", "gateway", "sensors": [{"id", "label", "type", "value",
    "unit"}]}``, every field optional; ``"v"``, if present, must be 1."""
    doc = _typed_or_tolerant(payload, _v1_typed, v1_from_document)
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
    uptime_s = _uptime(doc.get("uptime_s"), "uptime_s")
    if isinstance(uptime_s, Rejected):
        return uptime_s
    entries = doc.get("sensors")
    if entries is None:
        entries = []
    elif type(entries) is not list:
        return Rejected("sensors: expected a list")
    sensors = [s for s in map(_v1_sensor, entries) if s is not None]
    return Reading(
        firmware=firmware,
        uptime_s=uptime_s,
        gateway=gateway,
        sensors=_unique(sensors),
        skipped_sensors=len(entries) - len(sensors),
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


# ---------------------------------------------------------------------------- v2


class _V2Doc(msgspec.Struct, frozen=True):
    v: Literal[2] | None = None
    fw: str | None = None
    up: _Uptime | None = None
    r: dict[_Key, tuple[float | None, str, str]] | None = None


_v2_typed = msgspec.json.Decoder(_V2Doc)


@register("v2")
def decode_v2(payload: bytes) -> Reading | Rejected:
    """``{"v": 2, "fw", "up", "r": {key: [value, unit, type]}}``, every field optional."""
    doc = _typed_or_tolerant(payload, _v2_typed, v2_from_document)
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
    uptime_s = _uptime(doc.get("up"), "up")
    if isinstance(uptime_s, Rejected):
        return uptime_s
    entries = doc.get("r")
    if entries is None:
        entries = {}
    elif type(entries) is not dict:
        return Rejected("r: expected an object")
    sensors = [s for s in map(_v2_sensor, entries.items()) if s is not None]
    return Reading(
        firmware=firmware,
        uptime_s=uptime_s,
        sensors=tuple(sensors),
        skipped_sensors=len(entries) - len(sensors),
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


# ---------------------------------------------------------------------------- status and logs

_PRESENCE: dict[bytes, Presence] = {b"online": "online", b"offline": "offline"}


def decode_status(payload: bytes) -> Presence | Rejected:
    """``online`` or ``offline`` from a status topic. Never raises.

    Accepted, case-insensitively and ignoring surrounding whitespace: the bare word (what
    devices set as their MQTT will), a JSON string (``"online"``), or a JSON object with a
    ``status`` field (``{"status": "offline", ...}``), since some firmwares wrap it.
    """
    word = _PRESENCE.get(payload.strip().lower())
    if word is not None:
        return word
    if len(payload) > _STATUS_MAX_BYTES:
        return Rejected("status: payload too large")
    doc = parse_json(payload)
    if isinstance(doc, dict):
        doc = doc.get("status")
    if isinstance(doc, str):
        word = _PRESENCE.get(doc.strip().lower().encode())
        if word is not None:
            return word
    return Rejected("status: expected online or offline")


def preview(payload: bytes, limit: int = 200) -> str:
    """The first ``limit`` bytes as one printable line for a log; ``…`` marks a cut.

    Invalid UTF-8 shows as ``\\xNN``; control and other non-printable characters as
    escapes, so a payload can never break or forge a log line.
    """
    text = payload[:limit].decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
        )
    return text + "…" if len(payload) > limit else text

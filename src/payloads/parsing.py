"""What the JSON decoders share: the UTF-8/JSON/nesting checks, the typed fast path with its
tolerant fallback, and the checks of single values. Pure functions, safe from any thread."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

import msgspec

from sitelink.events import SensorValue
from sitelink.payloads import limits
from sitelink.payloads.registry import Reading, Rejected

MAX_UPTIME_S = 2**63 - 1  # fits a BIGINT column
# The typed fast paths check the column lengths (``limits``) as they decode, in C: a payload
# with a longer string goes down the tolerant path, and Ingest cuts what it must.
SensorKey = Annotated[str, msgspec.Meta(min_length=1, max_length=limits.SENSOR_KEY_MAX)]
Text255 = Annotated[str, msgspec.Meta(max_length=255)]
Label = Annotated[str, msgspec.Meta(max_length=limits.LABEL_MAX)]
SensorType = Annotated[str, msgspec.Meta(max_length=limits.SENSOR_TYPE_MAX)]
Unit = Annotated[str, msgspec.Meta(max_length=limits.UNIT_MAX)]
Uptime = Annotated[int, msgspec.Meta(ge=0, le=MAX_UPTIME_S)]
_Doc = TypeVar("_Doc")

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


def is_non_finite(value: object) -> bool:
    """True if ``value`` is a JSON number that is not a finite float (``1e400``, ``-1e400``,
    an integer of hundreds of digits): a value a device meant but that cannot be stored."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and finite_number(value) is None


def checked_uptime(value: object, field: str) -> int | Rejected | None:
    """``value`` if it is None or an uptime in seconds (a non-negative BIGINT), else why not."""
    if value is None or (type(value) is int and 0 <= value <= MAX_UPTIME_S):
        return value
    return Rejected(f"{field}: expected a non-negative integer")


def typed_or_tolerant(
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


def unique_sensors(sensors: Iterable[SensorValue]) -> tuple[SensorValue, ...]:
    """One sensor per key. First position, last value: what a device that repeats a key most
    likely means."""
    return tuple({s.key: s for s in sensors}.values())

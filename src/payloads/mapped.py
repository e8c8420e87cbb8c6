"""The ``mapped`` decoder: any JSON object, read through a subscription's ``payload_map`` of
JMESPath expressions (API.md). Registered as a configured version: each subscription gets a
decoder compiled from its own map when the subscription is built, so a map that does not
compile is refused when it is saved, naming the expression, and never reaches the hot path.

Two shapes of map (keys of the ``payload_map`` object, every value a JMESPath expression):

- a list of objects: ``sensors`` (a list), and per item of it ``key`` and ``value``, optionally
  ``unit``, ``label``, ``type``;
- parallel lists: ``keys`` and ``values``, optionally ``units`` and ``labels``;

and, in either shape, optional ``firmware``, ``uptime_s`` and ``at`` (when the device says it
measured: epoch seconds, epoch milliseconds, or an ISO 8601 time; without a zone it is UTC).

Tolerance is v1's: the document must be a JSON object; ``firmware``/``uptime_s``/``at`` that
come out with the wrong type reject the payload naming the field; a sensor without a key or
with a value that is not a finite number (CSI-JSON writes ``"NAN"``) is skipped and counted;
a key that repeats keeps its first position and its last value. Pure functions, safe from
any thread; the decoder runs on the site actor's thread.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jmespath
import msgspec
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from sitelink.errors import ValidationError
from sitelink.events import SensorValue
from sitelink.payloads.jmespath_fast import Evaluate, evaluator
from sitelink.payloads.parsing import checked_uptime, finite_number, parse_json, unique_sensors
from sitelink.payloads.registry import Decoder, Reading, Rejected, register_configured

LIST_SHAPE = ("sensors", "key", "value", "unit", "label", "type")
PARALLEL_SHAPE = ("keys", "values", "units", "labels")
COMMON = ("firmware", "uptime_s", "at")
_MAX_EXPRESSION = 1000
_MS_AFTER = 100_000_000_000  # an epoch number above this is milliseconds (year 5138 in s)


class CompiledMap(msgspec.Struct, frozen=True, kw_only=True):
    """A ``payload_map`` with every expression compiled (to closures where it is a plain
    path, see ``jmespath_fast``); absent ones are None."""

    expressions: dict[str, Evaluate]
    parallel: bool

    def get(self, name: str) -> Evaluate | None:
        return self.expressions.get(name)


def compile_payload_map(payload_map: object) -> CompiledMap:
    """``payload_map`` checked and compiled; raises ``ValidationError`` naming the field
    (``payload_map``, or ``payload_map.<name>`` for one expression)."""
    if not isinstance(payload_map, Mapping) or not payload_map:
        raise ValidationError("payload_map", "must be a non-empty object of JMESPath expressions")
    names = set(payload_map)
    known = set(LIST_SHAPE) | set(PARALLEL_SHAPE) | set(COMMON)
    unknown = sorted(str(n) for n in names - known)
    if unknown:
        raise ValidationError(
            f"payload_map.{unknown[0]}",
            "unknown name; a map has either sensors/key/value[/unit/label/type] or "
            "keys/values[/units/labels], plus optional firmware, uptime_s, at",
        )
    parallel = bool(names & set(PARALLEL_SHAPE))
    if parallel and names & set(LIST_SHAPE):
        raise ValidationError(
            "payload_map", "use one shape: sensors/key/value… or keys/values…, not both")
    required = ("keys", "values") if parallel else ("sensors", "key", "value")
    for name in required:
        if name not in payload_map:
            raise ValidationError(f"payload_map.{name}", "is required in this shape of map")
    return CompiledMap(
        expressions={name: evaluator(_compile(name, payload_map[name]))
                     for name in sorted(names)},
        parallel=parallel,
    )


def _compile(name: str, expression: object) -> ParsedResult:
    field = f"payload_map.{name}"
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError(field, "must be a non-empty JMESPath expression")
    if len(expression) > _MAX_EXPRESSION:
        raise ValidationError(field, f"at most {_MAX_EXPRESSION} characters")
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        words = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationError(field, f"{expression!r} does not compile: {words}") from None
    except Exception as exc:  # the parser's own failures on odd input (e.g. deep nesting)
        raise ValidationError(
            field, f"{expression!r} does not compile: {type(exc).__name__}") from None


@functools.lru_cache(maxsize=1024)
def _compiled_from_json(canonical: bytes) -> CompiledMap:
    return compile_payload_map(msgspec.json.decode(canonical))


def compiled(payload_map: Mapping[str, str]) -> CompiledMap:
    """``compile_payload_map`` cached by content: subscriptions are rebuilt at every
    reconcile, and the same map must not be parsed again each time."""
    if not isinstance(payload_map, Mapping):
        raise ValidationError("payload_map", "must be an object of JMESPath expressions")
    try:
        canonical = msgspec.json.encode(payload_map, order="sorted")
    except (TypeError, msgspec.EncodeError):
        raise ValidationError("payload_map", "must map names to strings") from None
    return _compiled_from_json(canonical)


@register_configured("mapped")
def mapped_decoder(payload_map: Mapping[str, str]) -> Decoder:
    """The decoder for one subscription's ``payload_map``."""
    return functools.partial(decode_mapped, compiled(payload_map))


def decode_mapped(compiled_map: CompiledMap, payload: bytes) -> Reading | Rejected:
    """``payload`` read through ``compiled_map``. Never raises for any bytes.

    An expression that fails on this document (``keys(values)`` where ``values`` is not an
    object) rejects the payload with JMESPath's words."""
    doc = parse_json(payload)
    if isinstance(doc, Rejected):
        return doc
    if type(doc) is not dict:
        return Rejected("expected a JSON object")
    try:
        return _read(compiled_map, doc)
    except JMESPathError as exc:
        words = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return Rejected(f"payload_map: {words}")


def _read(compiled_map: CompiledMap, doc: dict[str, Any]) -> Reading | Rejected:
    firmware = _search(compiled_map.get("firmware"), doc)
    if isinstance(firmware, (int, float)) and not isinstance(firmware, bool):
        firmware = str(firmware)
    if firmware is not None and type(firmware) is not str:
        return Rejected("firmware: expected a string")
    uptime = _search(compiled_map.get("uptime_s"), doc)
    if type(uptime) is float and uptime.is_integer():
        uptime = int(uptime)
    uptime_s = checked_uptime(uptime, "uptime_s")
    if isinstance(uptime_s, Rejected):
        return uptime_s
    at = _epoch_s(_search(compiled_map.get("at"), doc))
    if isinstance(at, Rejected):
        return at
    found = _parallel(compiled_map, doc) if compiled_map.parallel else _listed(compiled_map, doc)
    if isinstance(found, Rejected):
        return found
    sensors, total = found
    return Reading(firmware=firmware, uptime_s=uptime_s, sensors=unique_sensors(sensors),
                   skipped_sensors=total - len(sensors), at=at)


def _search(expression: Evaluate | None, doc: Any) -> Any:
    return None if expression is None else expression(doc)


def _listed(m: CompiledMap, doc: Any) -> tuple[list[SensorValue], int] | Rejected:
    items = _search(m.get("sensors"), doc)
    if items is None:
        return [], 0
    if type(items) is not list:
        return Rejected("sensors: expected a list")
    key_of, value_of = m.get("key"), m.get("value")
    unit_of, label_of, type_of = m.get("unit"), m.get("label"), m.get("type")
    sensors = []
    for item in items:
        sensor = _sensor(_search(key_of, item), _search(value_of, item),
                         _search(unit_of, item), _search(label_of, item), _search(type_of, item))
        if sensor is not None:
            sensors.append(sensor)
    return sensors, len(items)


def _parallel(m: CompiledMap, doc: Any) -> tuple[list[SensorValue], int] | Rejected:
    lists = {}
    for name in PARALLEL_SHAPE:
        found = _search(m.get(name), doc)
        if found is not None and type(found) is not list:
            return Rejected(f"{name}: expected a list")
        lists[name] = found or []
    keys, values, units, labels = (lists[n] for n in PARALLEL_SHAPE)
    sensors = []
    for index, key in enumerate(keys):
        if index >= len(values):
            break
        unit = units[index] if index < len(units) else None
        label = labels[index] if index < len(labels) else None
        sensor = _sensor(key, values[index], unit, label, None)
        if sensor is not None:
            sensors.append(sensor)
    return sensors, len(keys)


def _sensor(key: Any, raw: Any, unit: Any, label: Any, kind: Any) -> SensorValue | None:
    if type(key) is int:
        key = str(key)
    # A plain finite float is the common case: no call for it (x - x is NaN for inf and NaN).
    value = raw if type(raw) is float and raw - raw == 0 else finite_number(raw)
    if (
        type(key) is not str
        or not key
        or (value is None and raw is not None)
        or (unit is not None and type(unit) is not str)
        or (label is not None and type(label) is not str)
        or (kind is not None and type(kind) is not str)
    ):
        return None
    return SensorValue(key=key, value=value, label=label or "", sensor_type=kind or "",
                       unit=unit or "")


def _epoch_s(value: Any) -> float | Rejected | None:
    if value is None:
        return None
    number = finite_number(value)
    if number is not None:
        if number < 0:
            return Rejected("at: expected a time after 1970")
        return number / 1000 if number > _MS_AFTER else number
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return Rejected("at: expected epoch seconds or an ISO 8601 time")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return Rejected("at: expected epoch seconds or an ISO 8601 time")

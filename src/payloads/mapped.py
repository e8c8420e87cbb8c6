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
from datetime import datetime
from typing import Any

import jmespath
import msgspec
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from sitelink.errors import ValidationError
from sitelink.events import SensorValue
from sitelink.payloads.jmespath_fast import Evaluate, evaluator
from sitelink.payloads.jmespath_typed import TypedReader, typed_reader
from sitelink.payloads.parsing import checked_uptime, finite_number, parse_json, unique_sensors
from sitelink.payloads.registry import Decoder, Reading, Rejected, register_configured

LIST_SHAPE = ("sensors", "key", "value", "unit", "label", "type")
PARALLEL_SHAPE = ("keys", "values", "units", "labels")
COMMON = ("firmware", "uptime_s", "at")
_MAX_EXPRESSION = 1000
_MS_AFTER = 100_000_000_000  # an epoch number above this is milliseconds (year 5138 in s)
_EPOCH = datetime(1970, 1, 1)  # naive: the epoch of a naive time read as UTC
_from_iso = datetime.fromisoformat


class Readers(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One evaluator per name of the map (None where the map has no such name), all over
    the same kind of document: the generic dicts, or the typed reader's Structs."""

    firmware: Evaluate | None = None
    uptime_s: Evaluate | None = None
    at: Evaluate | None = None
    sensors: Evaluate | None = None
    key: Evaluate | None = None
    value: Evaluate | None = None
    unit: Evaluate | None = None
    label: Evaluate | None = None
    type: Evaluate | None = None
    keys: Evaluate | None = None
    values: Evaluate | None = None
    units: Evaluate | None = None
    labels: Evaluate | None = None


class CompiledMap(msgspec.Struct, frozen=True, kw_only=True):
    """A ``payload_map`` with every expression compiled: ``generic`` reads the generic
    document (closures where the expressions are plain paths, see ``jmespath_fast``);
    ``typed``, when the expressions allow, decodes only what they read, and ``typed_readers``
    read that (``jmespath_typed``); a payload the typed decoder does not fit takes the
    generic path."""

    generic: Readers
    parallel: bool
    typed: TypedReader | None = None
    typed_readers: Readers | None = None


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
    parsed = {name: _compile(name, payload_map[name]) for name in sorted(names)}
    expressions = {name: evaluator(expression) for name, expression in parsed.items()}
    per_item = {} if parallel else {n: parsed[n] for n in LIST_SHAPE[1:] if n in parsed}
    top = {name: expression for name, expression in parsed.items() if name not in per_item}
    typed = typed_reader(top, per_item, None if parallel else "sensors", expressions)
    return CompiledMap(
        generic=Readers(**expressions), parallel=parallel, typed=typed,
        typed_readers=None if typed is None else Readers(**typed.expressions))


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
    object) rejects the payload with JMESPath's words (or the name of the exception its
    interpreter let slip, as for a comparison of a string with a number)."""
    typed = compiled_map.typed
    doc = None if typed is None else typed.decode(payload)
    if doc is not None:  # the payload fits the map's Structs
        readers = compiled_map.typed_readers
    else:  # no typed path for this map, or a payload it does not fit
        doc = parse_json(payload)
        if isinstance(doc, Rejected):
            return doc
        if type(doc) is not dict:
            return Rejected("expected a JSON object")
        readers = compiled_map.generic
    try:
        return _read(readers, compiled_map.parallel, doc)  # type: ignore[arg-type]
    except JMESPathError as exc:
        words = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return Rejected(f"payload_map: {words}")
    except TypeError as exc:  # jmespath's own slip: `a[?b > `1`]` compares a string with 1
        return Rejected(f"payload_map: an expression failed ({type(exc).__name__})")


def _read(r: Readers, parallel: bool, doc: Any) -> Reading | Rejected:
    """The reading of ``doc`` (a dict, or the typed reader's Struct) through ``r``."""
    firmware = None if r.firmware is None else r.firmware(doc)
    if firmware is not None and type(firmware) is not str:
        if isinstance(firmware, (int, float)) and not isinstance(firmware, bool):
            firmware = str(firmware)
        else:
            return Rejected("firmware: expected a string")
    uptime_s = None if r.uptime_s is None else r.uptime_s(doc)
    if uptime_s is not None:
        if type(uptime_s) is float and uptime_s.is_integer():
            uptime_s = int(uptime_s)
        uptime_s = checked_uptime(uptime_s, "uptime_s")
        if isinstance(uptime_s, Rejected):
            return uptime_s
    at = None if r.at is None else _epoch_s(r.at(doc))
    if isinstance(at, Rejected):
        return at
    found = _parallel(r, doc) if parallel else _listed(r, doc)
    if isinstance(found, Rejected):
        return found
    sensors, total, unique = found
    return Reading(firmware=firmware, uptime_s=uptime_s,
                   sensors=tuple(sensors) if unique else unique_sensors(sensors),
                   skipped_sensors=total - len(sensors), at=at)


def _search(expression: Evaluate | None, doc: Any) -> Any:
    return None if expression is None else expression(doc)


def _listed(r: Readers, doc: Any) -> tuple[list[SensorValue], int, bool] | Rejected:
    items = _search(r.sensors, doc)
    if items is None:
        return [], 0, True
    if type(items) is not list:
        return Rejected("sensors: expected a list")
    sensors = []
    for item in items:
        sensor = _sensor(_search(r.key, item), _search(r.value, item), _search(r.unit, item),
                         _search(r.label, item), _search(r.type, item))
        if sensor is not None:
            sensors.append(sensor)
    return sensors, len(items), False


def _parallel(r: Readers, doc: Any) -> tuple[list[SensorValue], int, bool] | Rejected:
    """The sensors of the parallel lists, how many keys there were, and whether their keys
    are all different (then none needs to be merged into another)."""
    keys = r.keys(doc)  # type: ignore[misc]  # keys and values: required in this shape
    values = r.values(doc)  # type: ignore[misc]
    units = None if r.units is None else r.units(doc)
    labels = None if r.labels is None else r.labels(doc)
    if type(keys) is not list or type(values) is not list or (
            type(units) is not list and units is not None) or (
            type(labels) is not list and labels is not None):
        return _not_lists(keys, values, units, labels)
    count = min(len(keys), len(values))
    # Units and labels that run short are null past their end.
    if units is None or len(units) < count:
        units = (units or []) + [None] * (count - len(units or ()))
    # The common sensor — a string key, a finite float (x - x is NaN for inf and NaN), a
    # string or no unit and label — is made in the comprehension; _odd_sensor decides the
    # rest and notes that it did. zip stops at the keys or the values, whichever ends first
    # (no strict= keyword: a keyword call of zip costs more than a loop over four sensors).
    odd: list[bool] = []
    if labels is None:  # the usual map: one keyword and one check less per sensor
        sensors = [
            SensorValue(key=key, value=raw, unit=unit or "")
            if type(key) is str and key and type(raw) is float and raw - raw == 0
            and (type(unit) is str or unit is None)
            else _odd_sensor(key, raw, unit, None, odd)
            for key, raw, unit in zip(keys, values, units)  # noqa: B905
        ]
    else:
        if len(labels) < count:
            labels = labels + [None] * (count - len(labels))
        sensors = [
            SensorValue(key=key, value=raw, label=label or "", unit=unit or "")
            if type(key) is str and key and type(raw) is float and raw - raw == 0
            and (type(unit) is str or unit is None) and (type(label) is str or label is None)
            else _odd_sensor(key, raw, unit, label, odd)
            for key, raw, unit, label in zip(keys, values, units, labels)  # noqa: B905
        ]
    if odd:
        return [sensor for sensor in sensors if sensor is not None], len(keys), False
    # Every sensor was a common one: its key is the string in keys, so a set tells.
    plain = keys if len(keys) == count else keys[:count]
    return sensors, len(keys), len(set(plain)) == count  # type: ignore[return-value]


def _odd_sensor(key: Any, raw: Any, unit: Any, label: Any, odd: list[bool]) -> SensorValue | None:
    odd.append(True)
    return _sensor(key, raw, unit, label, None)


def _not_lists(*found: Any) -> tuple[list[SensorValue], int, bool] | Rejected:
    """``_parallel`` when keys or values is null, or one of the four neither a list nor
    null: the first such one rejects the payload, else (keys or values null) no sensors."""
    for name, value in zip(PARALLEL_SHAPE, found, strict=True):
        if value is not None and type(value) is not list:
            return Rejected(f"{name}: expected a list")
    return [], len(found[0] or ()), True


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
    if type(value) is str:  # the usual case first
        try:
            moment = _from_iso(value)
        except ValueError:
            return Rejected("at: expected epoch seconds or an ISO 8601 time")
        if moment.tzinfo is None:  # UTC; subtracting the epoch costs a tenth of replace()
            return (moment - _EPOCH).total_seconds()
        return moment.timestamp()
    if value is None:
        return None
    number = finite_number(value)
    if number is not None:
        if number < 0:
            return Rejected("at: expected a time after 1970")
        return number / 1000 if number > _MS_AFTER else number
    return Rejected("at: expected epoch seconds or an ISO 8601 time")

"""Topics: a site's subscription templates and the router of incoming topics.

The rules for topics that are not a site's templates (MQTT filter matching, what may be
published, what a discovered topic carries) are in ``sitelink.topic_rules``.

Pure code, no I/O; ``TopicRouter.route`` runs once per MQTT message on whichever thread the
site's actor runs on. Every value here is immutable, so all of it is safe to share between
threads.

A **template** is a pattern relative to the site code, e.g.
``datalogger/{model}/{serial}/heartbeat``. Each ``{name}`` is one whole topic level and
becomes ``+`` in the MQTT filter (``site_001/datalogger/+/+/heartbeat``). ``{serial}`` is
required once; ``{model}`` and ``{gateway}`` may appear at most once each. A placeholder
only matches a non-empty level: MQTT's ``+`` also matches an empty level, but an empty
string cannot name a device, so such a topic is not routed.

The first level ``manager`` is reserved: ``{code}/manager/{instance_id}/status`` is our own
availability topic. No template may start with it, and no template matches a topic under
it (not even ``{model}/{serial}/status``), so the router ignores it.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from sitelink.errors import ValidationError
from sitelink.events import DeviceKind
from sitelink.payloads import configured_decoder, is_configured, payload_versions
from sitelink.sparkplug_topics import SPARKPLUG_VERSION, sparkplug_filter

__all__ = [
    "DEFAULT_SUBSCRIPTIONS",
    "MANAGER_LEVEL",
    "MAX_TOPIC_BYTES",
    "PLACEHOLDERS",
    "MessageKind",
    "Route",
    "Subscription",
    "TopicMatch",
    "TopicRouter",
    "TopicTemplate",
]

MessageKind = Literal["heartbeat", "status"]

MAX_TOPIC_BYTES = 1024
"""Longest topic or filter we accept, in UTF-8 bytes (API.md's publish rule)."""

MANAGER_LEVEL = "manager"
PLACEHOLDERS = ("serial", "model", "gateway")

_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LONGEST_PREFIX = 65  # a 64-character site code and its "/"


# Route and TopicMatch are msgspec Structs rather than NamedTuples: they are built once per
# message, and a Struct is built about four times faster (~110 ns against ~450 ns).


class TopicMatch(msgspec.Struct, frozen=True, gc=False):
    """The device named by a topic; ``None`` where the template has no such placeholder."""

    serial: str
    model: str | None
    gateway: str | None


def _check_code(code: str) -> None:
    if not _CODE.fullmatch(code):
        raise ValidationError("code", f"must match ^[A-Za-z0-9_-]{{1,64}}$, got {code!r}")


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """A validated subscription pattern, relative to the site code.

    ``TopicTemplate("datalogger/{model}/{serial}/heartbeat")``; raises
    ``ValidationError("pattern", ...)`` if the pattern breaks a rule of the module docstring.
    Equal and hashed by ``pattern``.
    """

    pattern: str
    levels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Indexes below count the site code as level 0, so they apply to topic.split("/").
    _literals: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _serial_at: int = field(init=False, repr=False, compare=False)
    _model_at: int = field(init=False, repr=False, compare=False)
    _gateway_at: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        levels = _parse_pattern(self.pattern)
        at = {name: -1 for name in PLACEHOLDERS}
        literals: list[tuple[int, str]] = []
        for index, level in enumerate(levels, start=1):
            if level.startswith("{"):
                at[level[1:-1]] = index
            else:
                literals.append((index, level))
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "_literals", tuple(literals))
        object.__setattr__(self, "_serial_at", at["serial"])
        object.__setattr__(self, "_model_at", at["model"])
        object.__setattr__(self, "_gateway_at", at["gateway"])

    def mqtt_filter(self, code: str) -> str:
        """The MQTT filter under ``code``, e.g. ``site_001/datalogger/+/+/heartbeat``."""
        _check_code(code)
        return "/".join((code, *("+" if lv.startswith("{") else lv for lv in self.levels)))

    def match(self, code: str, topic: str) -> TopicMatch | None:
        """The device named by ``topic`` if it matches this template under ``code``."""
        levels = topic.split("/")
        if len(levels) != len(self.levels) + 1 or levels[0] != code or levels[1] == MANAGER_LEVEL:
            return None
        for index, literal in self._literals:
            if levels[index] != literal:
                return None
        found = self._device(levels)
        return None if found is None else TopicMatch(*found)

    def _device(self, levels: list[str]) -> tuple[str, str | None, str | None] | None:
        # (serial, model, gateway) of a topic whose literal levels are known to match.
        serial = levels[self._serial_at]
        model = levels[self._model_at] if self._model_at > 0 else None
        gateway = levels[self._gateway_at] if self._gateway_at > 0 else None
        if not serial or model == "" or gateway == "":
            return None
        return serial, model, gateway


def _parse_pattern(pattern: object) -> tuple[str, ...]:
    if not isinstance(pattern, str):
        raise ValidationError("pattern", "must be a string")
    if not pattern:
        raise ValidationError("pattern", "must not be empty")
    try:
        size = len(pattern.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("pattern", "is not valid UTF-8") from None
    levels = tuple(pattern.split("/"))
    seen: set[str] = set()
    for number, level in enumerate(levels, start=1):
        if not level:
            raise ValidationError(
                "pattern",
                f"level {number} is empty; write levels relative to the site code, "
                "separated by single '/', e.g. datalogger/{model}/{serial}/heartbeat",
            )
        if level.startswith("{") and level.endswith("}"):
            name = level[1:-1]
            if name not in PLACEHOLDERS:
                raise ValidationError(
                    "pattern",
                    f"unknown placeholder {level}; allowed: {{serial}}, {{model}}, {{gateway}}",
                )
            if name in seen:
                raise ValidationError("pattern", f"{level} may appear only once")
            seen.add(name)
        elif "{" in level or "}" in level:
            raise ValidationError(
                "pattern", f"a placeholder must be a whole level, not part of {level!r}"
            )
        elif "+" in level or "#" in level:
            raise ValidationError(
                "pattern",
                "wildcards '+' and '#' are not allowed; name the level with a placeholder "
                "such as {serial}",
            )
        elif "\x00" in level:
            raise ValidationError("pattern", "must not contain NUL")
    if "serial" not in seen:
        raise ValidationError("pattern", "must contain {serial}, which names the device")
    if levels[0] == MANAGER_LEVEL:
        raise ValidationError(
            "pattern", "the first level 'manager' is reserved for sitelink's own status"
        )
    # Placeholders become one-byte "+"; the longest site code adds 65 bytes in front.
    filter_size = size - sum(len(lv) - 1 for lv in levels if lv.startswith("{"))
    if filter_size + _LONGEST_PREFIX > MAX_TOPIC_BYTES:
        raise ValidationError(
            "pattern",
            f"too long: at most {MAX_TOPIC_BYTES - _LONGEST_PREFIX} bytes of filter after the "
            f"site code, got {filter_size}",
        )
    return levels


_template = functools.lru_cache(maxsize=4096)(TopicTemplate)


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """One topic template of a site, with what its messages are.

    ``id`` is the storage id; ``0`` means "not stored yet" (as in ``DEFAULT_SUBSCRIPTIONS``),
    storage assigns positive ids. Validates itself on construction and on decoding, raising
    ``ValidationError`` naming the field.
    """

    id: int
    pattern: str
    device_kind: DeviceKind = "datalogger"
    message_kind: MessageKind = "heartbeat"
    payload_version: str = "v1"
    qos: int = 1
    is_active: bool = True
    payload_map: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str):
            raise ValidationError("pattern", "must be a string")
        if self.payload_version == SPARKPLUG_VERSION:
            sparkplug_filter(self.pattern)
        else:
            _template(self.pattern)
        if type(self.id) is not int or self.id < 0:
            raise ValidationError("id", "must be a non-negative integer")
        if self.device_kind not in ("datalogger", "gateway"):
            raise ValidationError("device_kind", "must be 'datalogger' or 'gateway'")
        if self.message_kind not in ("heartbeat", "status"):
            raise ValidationError("message_kind", "must be 'heartbeat' or 'status'")
        if self.payload_version not in payload_versions():
            known = ", ".join(payload_versions())
            raise ValidationError("payload_version", f"must be one of: {known}")
        if is_configured(self.payload_version):
            if self.payload_map is None:
                raise ValidationError(
                    "payload_map", f"is required with payload_version {self.payload_version}")
            configured_decoder(self.payload_version, self.payload_map)  # compiles, cached
        elif self.payload_map is not None:
            raise ValidationError("payload_map", "is only for payload_version mapped")
        if type(self.qos) is not int or self.qos not in (0, 1, 2):
            raise ValidationError("qos", "must be 0, 1 or 2")
        if type(self.is_active) is not bool:
            raise ValidationError("is_active", "must be true or false")

    @property
    def is_sparkplug(self) -> bool:
        """True for a ``sparkplug_b`` subscription: its pattern is absolute, not a template."""
        return self.payload_version == SPARKPLUG_VERSION

    @property
    def template(self) -> TopicTemplate:
        """The parsed pattern (cached per pattern string); not for Sparkplug subscriptions."""
        return _template(self.pattern)

    def mqtt_filter(self, code: str) -> str:
        """The full MQTT filter: under ``code`` (``site_001/gateway/+/heartbeat``), or the
        absolute Sparkplug filter (``spBv1.0/+/+/+/#``) for a ``sparkplug_b`` subscription."""
        if self.is_sparkplug:
            return sparkplug_filter(self.pattern)
        return self.template.mqtt_filter(code)


DEFAULT_SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(id=0, pattern="gateway/{serial}/heartbeat", device_kind="gateway"),
    Subscription(id=0, pattern="datalogger/{model}/{serial}/heartbeat"),
    Subscription(id=0, pattern="datalogger/{model}/{serial}/status", message_kind="status"),
)
"""What a new site subscribes to (API.md); ``id=0`` until storage gives them ids."""


class Route(msgspec.Struct, frozen=True, gc=False):
    """Where an incoming message goes: its subscription and the device its topic names."""

    subscription: Subscription
    serial: str
    model: str | None
    gateway: str | None


_Entry = tuple[int, Subscription, TopicTemplate]  # (priority, subscription, template)
_KeyOf = Callable[[list[str]], Hashable]


class TopicRouter:
    """Routes the topics of one site to its active subscriptions. Immutable once built.

    Sparkplug subscriptions are not routed here (their topics are not under the site code);
    ``sitelink.actors.sparkplug_nodes`` reads them.

    ``route`` gives the same answer as trying each active subscription's ``template.match``
    in the given order and taking the first hit, but looks templates up by level count and
    literal levels instead: one ``split`` and one dict lookup per template shape.
    """

    __slots__ = ("_by_count", "code", "subscriptions")

    def __init__(self, code: str, subscriptions: Iterable[Subscription]) -> None:
        _check_code(code)
        self.code = code
        self.subscriptions = tuple(
            s for s in subscriptions if s.is_active and not s.is_sparkplug)
        # level count -> shapes; a shape is the literal positions shared by some templates,
        # with a table from the literal values at those positions to the templates.
        shapes: dict[int, dict[tuple[int, ...], dict[Hashable, list[_Entry]]]] = {}
        for priority, sub in enumerate(self.subscriptions):
            template = sub.template
            positions = tuple(index for index, _ in template._literals)
            values = tuple(literal for _, literal in template._literals)
            key: Hashable = values[0] if len(values) == 1 else values
            table = shapes.setdefault(len(template.levels) + 1, {}).setdefault(positions, {})
            table.setdefault(key, []).append((priority, sub, template))
        self._by_count: dict[int, tuple[tuple[_KeyOf, dict[Hashable, list[_Entry]]], ...]] = {
            count: tuple((_key_of(positions), table) for positions, table in by_shape.items())
            for count, by_shape in shapes.items()
        }

    def route(self, topic: str) -> Route | None:
        """The first active subscription matching ``topic``, with the device it names."""
        levels = topic.split("/")
        shapes = self._by_count.get(len(levels))
        if shapes is None or levels[0] != self.code or levels[1] == MANAGER_LEVEL:
            return None
        best_priority = len(self.subscriptions)
        best: tuple[Subscription, tuple[str, str | None, str | None]] | None = None
        for key_of, table in shapes:
            for priority, sub, template in table.get(key_of(levels), ()):
                if priority >= best_priority:
                    break
                found = template._device(levels)
                if found is not None:
                    best = sub, found
                    best_priority = priority
                    break
        if best is None:
            return None
        sub, (serial, model, gateway) = best
        return Route(sub, serial, model, gateway)


def _key_of(positions: tuple[int, ...]) -> _KeyOf:
    # itemgetter returns a bare value for one index and a tuple for several, as the keys are.
    if not positions:
        return lambda _levels: ()
    return operator.itemgetter(*positions)

"""Topic rules outside a site's templates: MQTT filter matching, the publish rule, and
what a topic seen in a discovery window probably carries.

Pure functions, no I/O, safe on any thread. The templates and the router of incoming
topics are in ``sitelink.topics``.
"""

from __future__ import annotations

from sitelink.errors import ValidationError
from sitelink.events import DeviceKind
from sitelink.topics import MANAGER_LEVEL, MAX_TOPIC_BYTES, MessageKind

__all__ = ["guess_kind", "topic_matches", "validate_publish_topic"]


def topic_matches(mqtt_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 §4.7 matching of a topic name against a filter.

    ``+`` matches one level (possibly empty), ``#`` the rest including the parent level;
    topics starting with ``$`` are not matched by a filter starting with a wildcard.
    Raises ``ValidationError("filter", ...)`` for a malformed filter.
    """
    filter_levels = mqtt_filter.split("/")
    for index, level in enumerate(filter_levels):
        if len(level) > 1 and ("+" in level or "#" in level):
            raise ValidationError("filter", f"a wildcard must be a whole level: {level!r}")
        if level == "#" and index != len(filter_levels) - 1:
            raise ValidationError("filter", "'#' must be the last level")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def validate_publish_topic(code: str, topic: str) -> None:
    """Raise ``ValidationError("topic", ...)`` unless ``topic`` may be published for ``code``.

    API.md: it starts with ``{code}/``, holds no ``+``, ``#`` or NUL, and is at most 1024
    bytes of UTF-8. Something must follow the prefix.
    """
    if not topic.startswith(code + "/") or len(topic) == len(code) + 1:
        raise ValidationError("topic", f"must start with the site's code: {code}/...")
    for char, name in (("+", "'+'"), ("#", "'#'"), ("\x00", "NUL")):
        if char in topic:
            raise ValidationError("topic", f"must not contain {name}")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("topic", "is not valid UTF-8") from None
    if size > MAX_TOPIC_BYTES:
        raise ValidationError("topic", f"is {size} bytes, at most {MAX_TOPIC_BYTES}")


def guess_kind(code: str, topic: str) -> tuple[DeviceKind, MessageKind] | None:
    """What a topic seen in the discovery window probably carries, or None.

    The last level says the message kind (``heartbeat`` or ``status``); the innermost
    ``datalogger`` or ``gateway`` level before it says the device kind, so
    ``gateway/1/heartbeat`` is a gateway heartbeat and ``datalogger/M/S/status`` (or a
    relayed ``gateway/1/datalogger/M/S/heartbeat``) a datalogger's. Commands (``.../input``)
    and our own ``manager/...`` topics are not device messages.
    """
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != code or levels[1] == MANAGER_LEVEL:
        return None
    message_kind = _MESSAGE_KINDS.get(levels[-1])
    if message_kind is None:
        return None
    # The kind level must be followed by at least one level naming the device.
    for level in reversed(levels[1:-2]):
        device_kind = _DEVICE_KINDS.get(level)
        if device_kind is not None:
            return device_kind, message_kind
    return None


_MESSAGE_KINDS: dict[str, MessageKind] = {"heartbeat": "heartbeat", "status": "status"}
_DEVICE_KINDS: dict[str, DeviceKind] = {"datalogger": "datalogger", "gateway": "gateway"}

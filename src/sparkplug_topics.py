"""Sparkplug B topics: the absolute subscription patterns of ``sparkplug_b`` subscriptions, and
the namespace ``spBv1.0/{group}/{type}/{edge}[/{device}]`` parsed into its parts.

Pure code, no I/O, immutable values: safe from any thread. ``parse_topic`` runs once per
Sparkplug message on the site actor's thread.

A Sparkplug pattern is absolute: the site code is not put in front of it, since an edge node
publishes under the Sparkplug namespace, not under ours. It starts with ``spBv1.0/``, has at
most five levels (namespace, group, type, edge node, device), and each level after the first
is a name, ``+``, ``#`` (the last level only), or a placeholder that stands for ``+`` and
says what the level is: ``{group}`` (level 2), ``{gateway}`` (level 4, the edge node) and
``{serial}`` (level 5, the device). ``spBv1.0/{group}/+/{gateway}/#`` takes every message of
every edge node; ``spBv1.0/Plant1/+/press-7/#`` one edge node.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import msgspec

from sitelink.errors import ValidationError

NAMESPACE = "spBv1.0"
SPARKPLUG_VERSION = "sparkplug_b"
"""The ``payload_version`` whose subscriptions take these absolute patterns."""

_MAX_LEVELS = 5
_MAX_FILTER_BYTES = 1024
_PLACEHOLDER_AT = {"{group}": 1, "{gateway}": 3, "{serial}": 4}


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"


_NODE_TYPES = frozenset((MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA,
                         MessageType.NCMD))


class SparkplugTopic(msgspec.Struct, frozen=True, gc=False):
    """One topic of the namespace; ``device`` is "" for an edge node's own messages."""

    group: str
    message_type: MessageType
    edge: str
    device: str


@functools.lru_cache(maxsize=4096)
def parse_topic(topic: str) -> SparkplugTopic | None:
    """The parts of a Sparkplug B topic, or None (``STATE``, another namespace, a malformed
    topic: a node message with a device level, a device message without one, empty ids)."""
    levels = topic.split("/")
    if len(levels) not in (4, 5) or levels[0] != NAMESPACE:
        return None
    try:
        message_type = MessageType(levels[2])
    except ValueError:
        return None
    group, edge = levels[1], levels[3]
    device = levels[4] if len(levels) == 5 else ""
    is_node = message_type in _NODE_TYPES
    if not group or not edge or is_node == (len(levels) == 5) or (not is_node and not device):
        return None
    return SparkplugTopic(group, message_type, edge, device)


@functools.lru_cache(maxsize=1024)
def sparkplug_filter(pattern: str) -> str:
    """The MQTT filter of a Sparkplug pattern (placeholders become ``+``); raises
    ``ValidationError("pattern", ...)`` if the pattern breaks a rule of the module docstring."""
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError("pattern", "must be a non-empty string")
    levels = pattern.split("/")
    if levels[0] != NAMESPACE:
        raise ValidationError(
            "pattern",
            f"a sparkplug_b pattern is absolute and starts with {NAMESPACE}/, "
            f"e.g. {NAMESPACE}/{{group}}/+/{{gateway}}/#",
        )
    if len(levels) < 2 or len(levels) > _MAX_LEVELS:
        raise ValidationError("pattern", f"a Sparkplug topic has 2 to {_MAX_LEVELS} levels here")
    out = [NAMESPACE]
    for index, level in enumerate(levels[1:], start=1):
        if level in _PLACEHOLDER_AT:
            if _PLACEHOLDER_AT[level] != index:
                raise ValidationError(
                    "pattern", f"{level} belongs at level {_PLACEHOLDER_AT[level] + 1}")
            out.append("+")
        elif level == "#":
            if index != len(levels) - 1:
                raise ValidationError("pattern", "'#' must be the last level")
            out.append(level)
        elif level == "+" or (level and not any(c in level for c in "+#{}\x00")):
            out.append(level)
        else:
            raise ValidationError(
                "pattern",
                f"level {index + 1} ({level!r}) must be a name, '+', '#' or one of "
                "{group}, {gateway}, {serial}",
            )
    mqtt_filter = "/".join(out)
    if len(mqtt_filter.encode("utf-8", "surrogatepass")) > _MAX_FILTER_BYTES:
        raise ValidationError("pattern", f"too long: at most {_MAX_FILTER_BYTES} bytes")
    return mqtt_filter

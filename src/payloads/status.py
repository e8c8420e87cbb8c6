"""Status payloads: a device's presence, ``online`` or ``offline``, from its status topic."""

from __future__ import annotations

from typing import Literal

from sitelink.payloads.parsing import parse_json
from sitelink.payloads.registry import Rejected

Presence = Literal["online", "offline"]

_STATUS_MAX_BYTES = 4096
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

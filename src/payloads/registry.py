"""The registry of heartbeat decoders by ``payload_version``, and what decoding gives back.

``decode`` and ``guess_payload_version`` dispatch to the registered decoders; ``preview``
prints any payload on one log line. Pure functions, safe to call from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import msgspec

from sitelink.errors import ConfigError
from sitelink.events import SensorValue

Decoder = Callable[[bytes], "Reading | Rejected"]


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

"""The registry of heartbeat decoders by ``payload_version``, and what decoding gives back.

``decode`` and ``guess_payload_version`` dispatch to the registered decoders; ``preview``
prints any payload on one log line. Pure functions, safe to call from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from sitelink.errors import ConfigError
from sitelink.events import SensorValue

Decoder = Callable[[bytes], "Reading | Rejected"]
ConfiguredFactory = Callable[[Any], Decoder]


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """What a heartbeat said. ``None`` means the payload did not say."""

    firmware: str | None = None
    uptime_s: int | None = None
    gateway: str | None = None
    sensors: tuple[SensorValue, ...] = ()
    skipped_sensors: int = 0
    at: float | None = None  # when the device says it measured (epoch seconds), if it says
    non_finite: int = 0  # of the skipped sensors, those whose value was 1e400 or the like
    limited: dict[str, int] = {}
    """What the decoder cut or dropped to fit ``limits``, by reason (decoders registered with
    ``fits_limits=True`` do this; for the others ``Ingest`` does)."""

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
_NOT_GUESSED: set[str] = set()
_CONFIGURED: dict[str, Callable[[Any], Decoder]] = {}
DECODERS: Mapping[str, Decoder] = MappingProxyType(_DECODERS)
"""The registered decoders by ``payload_version``, in registration order (read-only)."""


FITS_LIMITS: set[str] = set()
"""Versions whose decoder returns only strings that fit ``limits`` (except NUL characters,
which ``Ingest`` finds in the payload itself), counting what it cut in ``Reading.limited``."""


def register(
    version: str, *, guessable: bool = True, fits_limits: bool = False
) -> Callable[[Decoder], Decoder]:
    """Register ``decoder`` for ``version``; a version can be registered only once.

    ``guessable=False`` keeps it out of ``guess_payload_version`` (a binary format whose
    decoder could read something out of bytes that were never meant for it).
    ``fits_limits``: the decoder applies ``sitelink.payloads.limits`` itself (then the hot
    path checks nothing more); otherwise ``Ingest`` checks every string it returns."""

    def add(decoder: Decoder) -> Decoder:
        if not version or len(version) > 32:
            raise ConfigError(f"payload version name must be 1-32 characters: {version!r}")
        if version in _DECODERS:
            raise ConfigError(f"payload version {version!r} is already registered")
        _DECODERS[version] = decoder
        if not guessable:
            _NOT_GUESSED.add(version)
        if fits_limits:
            FITS_LIMITS.add(version)
        return decoder

    return add


def register_configured(version: str) -> Callable[[ConfiguredFactory], ConfiguredFactory]:
    """Register a version whose decoder is built from its subscription's configuration (the
    ``payload_map`` of ``mapped``): ``factory(config)`` returns the decoder, or raises
    ``ValidationError`` naming what in ``config`` is wrong."""

    def add(factory: ConfiguredFactory) -> ConfiguredFactory:
        if version in _DECODERS or version in _CONFIGURED:
            raise ConfigError(f"payload version {version!r} is already registered")
        _CONFIGURED[version] = factory
        return factory

    return add


def payload_versions() -> tuple[str, ...]:
    """Every version a subscription may name: the plain decoders, then the configured ones."""
    return (*_DECODERS, *_CONFIGURED)


def is_configured(version: str) -> bool:
    """True when ``version`` needs a configuration (``payload_map``) to decode anything."""
    return version in _CONFIGURED


def configured_decoder(version: str, config: Any) -> Decoder:
    """The decoder of a configured ``version`` for ``config``; it never raises when called.

    Raises ``ValidationError`` for a bad ``config`` and ``ConfigError`` for an unknown version.
    """
    factory = _CONFIGURED.get(version)
    if factory is None:
        raise ConfigError(f"payload version {version!r} takes no configuration")
    decoder = factory(config)

    def never_raises(payload: bytes) -> Reading | Rejected:
        try:
            return decoder(payload)
        except Exception as exc:  # a decoder bug must not reach the actor
            return Rejected(f"decoder {version} failed: {type(exc).__name__}")

    return never_raises


def decode(version: str, payload: bytes, max_payload: int) -> Reading | Rejected:
    """Decode a heartbeat payload with the decoder of ``version``. Never raises."""
    size = len(payload)
    if size > max_payload:
        return Rejected(f"payload too large ({size} > {max_payload} bytes)")
    decoder = _DECODERS.get(version)
    if decoder is None:
        if version in _CONFIGURED:
            return Rejected(f"payload version {version} needs its subscription's configuration")
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
        if version in _NOT_GUESSED:
            continue
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

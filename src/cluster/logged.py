"""What the event log's ``state`` column holds: the facts other instances apply.

The actors' own events (a site's status, its connection history, traffic counters, device
discovery and availability, command outcomes, discovery results) replay into another
instance's read model exactly as they did into the owner's. Beside them, what an API call on
one instance must tell the others: a site changed (``SiteChangeLogged``), a command for a
site's owner (``SiteCommand``, ``PublishRequested``), a publish's answer
(``PublishAnswered``) and a change of the alert configuration (``AlertConfigChanged``).
msgpack, tagged, so one decoder reads every kind.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sitelink.events import (
    CommandOutcome,
    CommandOutcomeKind,
    ConnectionEventOccurred,
    DeviceAvailabilityChanged,
    DeviceDiscovered,
    DeviceKey,
    DiscoveryFinished,
    Event,
    SiteStatusChanged,
    SiteTraffic,
)


class SiteChangeLogged(Event, frozen=True, kw_only=True, tag="site.changed"):
    """A site was created, updated (started, stopped, topics...) or deleted through the API
    of the origin: every instance reloads it; its owner connects, reconnects or stops it."""

    site_id: int
    change: str


SiteAction = Literal["reconnect", "discover", "forget_device", "offline_after"]


class SiteCommand(Event, frozen=True, kw_only=True, tag="site.command"):
    """An operator's command: carried out by the site's owner; every instance also notes
    what it shows (a discovery under way, a device forgotten)."""

    site_id: int
    action: SiteAction
    seconds: float | None = None  # discover: how long; offline_after: the device's own
    device: DeviceKey | None = None
    at: float = 0.0


class PublishRequested(Event, frozen=True, kw_only=True, tag="publish.requested"):
    """Publish through the owner; the origin waits for ``PublishAnswered``."""

    command_id: str
    site_id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    timeout_s: float


class PublishAnswered(Event, frozen=True, kw_only=True, tag="publish.answered"):
    command_id: str
    site_id: int
    outcome: CommandOutcomeKind
    error: str
    connected: bool


AlertChange = Literal["rules", "silences", "channel.saved", "channel.deleted", "ack"]


class AlertConfigChanged(Event, frozen=True, kw_only=True, tag="alert.config"):
    """Alert rules, silences or a channel changed through the API of the origin, or an alert
    was acknowledged there (already in the database): every instance reloads what it holds of
    it at once — the owners' evaluators, every instance's channel senders."""

    change: AlertChange
    ref_id: int | None = None  # the channel (channel.*) or the acknowledged alert (ack)


LoggedState = (
    SiteStatusChanged
    | ConnectionEventOccurred
    | SiteTraffic
    | DeviceDiscovered
    | DeviceAvailabilityChanged
    | CommandOutcome
    | DiscoveryFinished
    | SiteChangeLogged
    | SiteCommand
    | PublishRequested
    | PublishAnswered
    | AlertConfigChanged
)
LOGGED_TYPES: tuple[type[Event], ...] = (
    SiteStatusChanged, ConnectionEventOccurred, SiteTraffic, DeviceDiscovered,
    DeviceAvailabilityChanged, CommandOutcome, DiscoveryFinished, SiteChangeLogged,
    SiteCommand, PublishRequested, PublishAnswered, AlertConfigChanged)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LoggedState)


def encode(state: Event) -> bytes:
    return _encoder.encode(state)


def decode(raw: bytes) -> LoggedState:
    """Raises ``msgspec.DecodeError`` for a row this version cannot read (a newer instance's
    kind during a rolling update): the reader skips it."""
    return _decoder.decode(raw)


def kind_of(state: Event) -> str:
    """The row's ``kind`` column: the state's tag."""
    tag = type(state).__struct_config__.tag
    return str(tag)


def site_of(state: Event) -> int | None:
    site_id = getattr(state, "site_id", None)
    if site_id is None:
        device = getattr(state, "device", None)
        site_id = device.site_id if isinstance(device, DeviceKey) else None
    return site_id if isinstance(site_id, int) else None


def subject_of(state: Event) -> str | None:
    """The row's ``subject`` column: the device a device's state is about (its latest state
    per device is what a starting instance applies)."""
    if isinstance(state, DeviceAvailabilityChanged | DeviceDiscovered):
        return f"{state.device.kind}/{state.device.serial}"
    return None

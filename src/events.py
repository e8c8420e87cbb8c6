"""Events: what actors tell the rest of the world, as typed, frozen values.

Actors publish these to an ``EventSink`` (in production the bridge, which carries them
onto the asyncio loop in batches). They are facts in the past tense. Times are Unix
seconds (float, UTC); the API renders them as ISO 8601 with ``Z``.

A device is named by its ``DeviceKey`` (site id, kind, serial): actors never see
database ids of devices or sensors; the storage writer resolves them.
"""

from __future__ import annotations

import enum
from typing import Literal, Protocol

import msgspec

Availability = Literal["online", "offline", "unreachable", "unknown"]
DeviceKind = Literal["gateway", "datalogger"]
ConnectionEventKind = Literal["connected", "lost", "failed", "stopped"]
CommandOutcomeKind = Literal["sent", "acked", "failed"]


class ConnectionStatus(enum.StrEnum):
    """A site's connection state: the lifecycle's ``State`` and the status the API and the
    history show are this one enum (a str, so it encodes as its value)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERROR = "error"
    DISABLED = "disabled"


class DeviceKey(msgspec.Struct, frozen=True, array_like=True):
    site_id: int
    kind: DeviceKind
    serial: str


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every event; ``tag`` makes the union decodable."""


class SiteStatusChanged(Event, frozen=True, kw_only=True, tag="site.status"):
    site_id: int
    code: str
    status: ConnectionStatus
    is_enabled: bool
    error_message: str
    retry_count: int
    next_retry_at: float | None
    client_id: str
    last_connected_at: float | None
    topics: tuple[str, ...]
    handler_running: bool
    at: float


class ConnectionEventOccurred(Event, frozen=True, kw_only=True, tag="connection.event"):
    """A row of the site's connection history."""

    site_id: int
    kind: ConnectionEventKind
    reason: str
    at: float

    @property
    def counts_as_error(self) -> bool:
        """A failed attempt or a lost connection: what a site's ``connection_errors`` counts
        (the one rule behind the read model's live count and the stored column)."""
        return self.kind in ("failed", "lost")


class SiteTraffic(Event, frozen=True, kw_only=True, tag="site.traffic"):
    """Counters of one batch of messages of a site (deltas, not totals)."""

    site_id: int
    received: int
    rejected: int
    last_message_at: float | None
    # Sparkplug B: DATA before its BIRTH, rebirth requests sent, seq jumps, stale NDEATHs.
    sparkplug_before_birth: int = 0
    sparkplug_rebirths: int = 0
    sparkplug_seq_gaps: int = 0
    sparkplug_stale_deaths: int = 0
    reasons: dict[str, int] = {}
    """Fields cut, sensors dropped, messages rejected for a limit (``payloads.limits``)."""


class SensorValue(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: float | None
    label: str = ""
    sensor_type: str = ""
    unit: str = ""


class DeviceDiscovered(Event, frozen=True, kw_only=True, tag="device.discovered"):
    device: DeviceKey
    model: str
    gateway: str
    at: float


class DeviceHeartbeat(Event, frozen=True, kw_only=True, tag="device.heartbeat"):
    """A decoded sign of life, with what it carried (sensors may be empty)."""

    device: DeviceKey
    model: str
    gateway: str
    firmware: str | None
    uptime_s: int | None
    sensors: tuple[SensorValue, ...]
    at: float
    measured_at: float | None = None  # when the payload says its values were measured


class DeviceAvailabilityChanged(Event, frozen=True, kw_only=True, tag="device.availability"):
    device: DeviceKey
    availability: Availability
    previous: Availability
    reason: str
    at: float


class CommandOutcome(Event, frozen=True, kw_only=True, tag="command.outcome"):
    command_id: str
    site_id: int
    outcome: CommandOutcomeKind
    error: str
    at: float


class DiscoveryFinished(Event, frozen=True, kw_only=True, tag="discovery.finished"):
    site_id: int
    topics: tuple[DiscoveredTopic, ...]
    started_at: float
    at: float


class DiscoveredTopic(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    count: int
    last_payload_size: int
    last_seen_at: float
    guessed_kind: str
    guessed_payload_version: str


class LeaseFence(Event, frozen=True, kw_only=True, tag="lease.fence"):
    """To the storage writer only, in the stream of events: from here on, ``owner`` runs
    the sites of ``epochs`` under those lease epochs and no others (``storage.fencing``)."""

    owner: str
    epochs: dict[int, int]


AnyEvent = (
    SiteStatusChanged
    | ConnectionEventOccurred
    | SiteTraffic
    | DeviceDiscovered
    | DeviceHeartbeat
    | DeviceAvailabilityChanged
    | CommandOutcome
    | DiscoveryFinished
    | LeaseFence
)


# Rare, and someone is waiting for them: they cross at once (the bridge, a worker's outbox),
# without waiting for the batching window.
URGENT: frozenset[type[Event]] = frozenset(
    {SiteStatusChanged, ConnectionEventOccurred, CommandOutcome, DiscoveryFinished})


class EventSink(Protocol):
    """Where actors publish events. Must be safe to call from any thread."""

    def publish(self, event: Event) -> None: ...

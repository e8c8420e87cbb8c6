"""Coalescing: a burst of events becomes the few rows a flush must write. Pure, no I/O.

Per flush the writer keeps, for each device, only the latest heartbeat (device row) and
the latest value of each sensor (current values), but every sensor value as a reading.
Availability changes, connection events and command outcomes are kept in order; site
status keeps the latest per site; traffic counters are summed per site.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from sitelink.events import (
    CommandOutcome,
    ConnectionEventOccurred,
    DeviceAvailabilityChanged,
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    Event,
    SensorValue,
    SiteStatusChanged,
    SiteTraffic,
)


def utc(at: float) -> datetime:
    """Unix seconds (as in events) to an aware UTC datetime (as in the tables)."""
    return datetime.fromtimestamp(at, UTC)


@dataclass(slots=True)
class DeviceSeen:
    """The latest facts about a device in this batch (for its row, or to create it)."""

    model: str
    gateway: str
    at: float
    firmware: str | None = None
    uptime_s: int | None = None
    heard: bool = False  # a heartbeat (not only a discovery) was in the batch


@dataclass(slots=True)
class Traffic:
    received: int = 0
    last_message_at: float | None = None


@dataclass(slots=True)
class Batch:
    devices: dict[DeviceKey, DeviceSeen] = field(default_factory=dict)
    # device -> sensor key -> its latest value and time (one device hash per heartbeat, not
    # one per value: a third of the coalescing time went on hashing (device, key) pairs)
    sensors: dict[DeviceKey, dict[str, tuple[SensorValue, float]]] = field(default_factory=dict)
    # every heartbeat's values, as (device, time, values): one entry per heartbeat, expanded
    # into reading rows (finite values of known sensors) when the batch is written
    readings: list[tuple[DeviceKey, float, tuple[SensorValue, ...]]] = field(default_factory=list)
    availability: dict[DeviceKey, list[DeviceAvailabilityChanged]] = field(default_factory=dict)
    site_status: dict[int, SiteStatusChanged] = field(default_factory=dict)
    traffic: dict[int, Traffic] = field(default_factory=dict)
    connection_events: list[ConnectionEventOccurred] = field(default_factory=list)
    command_outcomes: dict[str, CommandOutcome] = field(default_factory=dict)

    def site_ids(self) -> set[int]:
        """Every site the batch writes to (rows of deleted sites are skipped)."""
        ids = {key.site_id for key in self.devices}
        ids.update(key.site_id for key in self.availability)
        ids.update(self.site_status)
        ids.update(self.traffic)
        ids.update(e.site_id for e in self.connection_events)
        return ids

    def drop_sites(self, site_ids: set[int]) -> int:
        """Leave out every row about these sites (their leases were lost); how many."""
        if not site_ids:
            return 0
        before = self._size()
        for key in [k for k in self.devices if k.site_id in site_ids]:
            del self.devices[key]
        for key in [k for k in self.sensors if k.site_id in site_ids]:
            del self.sensors[key]
        self.readings = [r for r in self.readings if r[0].site_id not in site_ids]
        for key in [k for k in self.availability if k.site_id in site_ids]:
            del self.availability[key]
        for site_id in site_ids:
            self.site_status.pop(site_id, None)
            self.traffic.pop(site_id, None)
        self.connection_events = [e for e in self.connection_events
                                  if e.site_id not in site_ids]
        for command_id in [c for c, o in self.command_outcomes.items() if o.site_id in site_ids]:
            del self.command_outcomes[command_id]
        return before - self._size()

    def _size(self) -> int:
        return (len(self.devices) + sum(len(v) for v in self.sensors.values())
                + len(self.readings)
                + sum(len(v) for v in self.availability.values()) + len(self.site_status)
                + len(self.traffic) + len(self.connection_events) + len(self.command_outcomes))


def coalesce(events: Iterable[Event]) -> Batch:
    """Fold events, in arrival order, into one ``Batch``."""
    batch = Batch()
    for event in events:
        match event:
            case DeviceHeartbeat():
                _add_heartbeat(batch, event)
            case DeviceDiscovered():
                if event.device not in batch.devices:
                    batch.devices[event.device] = DeviceSeen(event.model, event.gateway, event.at)
            case DeviceAvailabilityChanged():
                batch.availability.setdefault(event.device, []).append(event)
            case SiteStatusChanged():
                previous = batch.site_status.get(event.site_id)
                if event.last_connected_at is None and previous is not None:
                    # Keep the connect time an earlier status of the batch carried.
                    event = msgspec.structs.replace(
                        event, last_connected_at=previous.last_connected_at
                    )
                batch.site_status[event.site_id] = event
            case SiteTraffic():
                traffic = batch.traffic.setdefault(event.site_id, Traffic())
                traffic.received += event.received
                if event.last_message_at is not None:
                    traffic.last_message_at = max(
                        traffic.last_message_at or event.last_message_at, event.last_message_at
                    )
            case ConnectionEventOccurred():
                batch.connection_events.append(event)
            case CommandOutcome():
                batch.command_outcomes[event.command_id] = event
            case _:
                pass  # events without a durable trace (e.g. discovery windows)
    return batch


def _add_heartbeat(batch: Batch, event: DeviceHeartbeat) -> None:
    key, at = event.device, event.at
    seen = batch.devices.get(key)
    if seen is None or not seen.heard:
        # Fields a heartbeat leaves out keep what an earlier event of the batch said.
        batch.devices[key] = DeviceSeen(
            model=event.model or (seen.model if seen else ""),
            gateway=event.gateway or (seen.gateway if seen else ""),
            at=at,
            firmware=event.firmware if event.firmware is not None else (
                seen.firmware if seen else None),
            uptime_s=event.uptime_s if event.uptime_s is not None else (
                seen.uptime_s if seen else None),
            heard=True,
        )
    elif at >= seen.at:  # a later heartbeat of a device already heard in this batch
        seen.at = at
        if event.model:
            seen.model = event.model
        if event.gateway:
            seen.gateway = event.gateway
        if event.firmware is not None:
            seen.firmware = event.firmware
        if event.uptime_s is not None:
            seen.uptime_s = event.uptime_s
    if not event.sensors:
        return
    latest = batch.sensors.get(key)
    if latest is None:
        batch.sensors[key] = {sensor.key: (sensor, at) for sensor in event.sensors}
    else:
        for sensor in event.sensors:
            current = latest.get(sensor.key)
            if current is None or at >= current[1]:
                latest[sensor.key] = (sensor, at)
    measured_at = event.measured_at if event.measured_at is not None else at
    batch.readings.append((key, measured_at, event.sensors))

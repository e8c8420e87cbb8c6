"""The read model: what status endpoints answer from, without asking any actor.

Runs on the asyncio loop only. It starts from storage (the last known state of every
site) and is kept current by the actors' events, which the bridge applies in order.
``apply`` returns the public events (type, site id, data) that the change deserves, so
the read model is also the one place that decides what the SSE stream says.

Devices' full state lives in storage (the writer keeps it within a flush); for the
stream, the read model asks ``device_id_of`` (the writer's id cache) for a device's
database id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Literal, cast

import msgspec

from sitelink.desired import client_id
from sitelink.events import (
    CommandOutcome,
    ConnectionEventOccurred,
    ConnectionStatus,
    DeviceAvailabilityChanged,
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    DiscoveryFinished,
    Event,
    SensorValue,
    SiteStatusChanged,
    SiteTraffic,
)
from sitelink.site_rules import Protocol
from sitelink.status_object import Owner, SeenTopic, StatusObject
from sitelink.storage.sites import SiteRecord
from sitelink.times import iso, seconds
from sitelink.workers.assign import hosting_worker

# (type, site id, data): data is a dict, or a function that builds it when a client needs it
Announcement = tuple[str, int | None, dict[str, Any] | Callable[[], dict[str, Any]]]


class SiteView(msgspec.Struct, kw_only=True):
    record: SiteRecord
    status: ConnectionStatus
    error_message: str = ""
    retry_count: int = 0
    next_retry_at: float | None = None
    client_id: str
    last_connected_at: float | None = None
    last_heartbeat_at: float | None = None
    connection_errors: int = 0
    messages_received: int = 0
    messages_rejected: int = 0
    sparkplug: dict[str, int] = msgspec.field(default_factory=dict)  # SiteTraffic's counters
    connect_attempts: int = 0
    topics: tuple[str, ...] = ()
    handler_running: bool = False


class DiscoveryView(msgspec.Struct, kw_only=True):
    state: Literal["running", "finished"]
    started_at: float
    ends_at: float
    topics: tuple[SeenTopic, ...] = ()


class ReadModel:
    def __init__(
        self, instance_id: str, device_id_of: Callable[[DeviceKey], int | None]
    ) -> None:
        self.instance_id = instance_id  # MQTT_INSTANCE_ID: client ids' default prefix
        self.device_id_of = device_id_of
        self.sites: dict[int, SiteView] = {}
        self.device_availability: dict[DeviceKey, str] = {}
        self.discoveries: dict[int, DiscoveryView] = {}
        self.rejects: Counter[str] = Counter()
        """Fields cut, sensors dropped, messages rejected for a limit, by reason (all sites)."""
        self.workers = 0
        """This instance's site workers (0: its sites run in the main process)."""
        self.owner_of: Callable[[SiteRecord], Owner | None] = self._sole_owner
        """The status object's ``owner``; the cluster's lease keeper replaces it."""

    def _sole_owner(self, record: SiteRecord) -> Owner | None:
        """Alone, this instance runs every enabled site, each on its worker."""
        if not record.is_enabled:
            return None
        return Owner(instance_id=self.instance_id,
                     worker=hosting_worker(record.id, self.workers))

    # --- loading and API-side changes -------------------------------------------------------------

    def load(self, records: list[SiteRecord]) -> None:
        for record in records:
            self.sites[record.id] = self._view(record)

    def _view(self, record: SiteRecord) -> SiteView:
        return SiteView(
            record=record,
            # What we knew at the last stop is history; a fresh process starts disconnected
            # and the actor says otherwise within milliseconds.
            status=ConnectionStatus.DISCONNECTED,
            error_message="",
            client_id=client_id(record.client_id_prefix, self.instance_id, record.code),
            last_connected_at=seconds(record.last_connected_at),
            last_heartbeat_at=seconds(record.last_heartbeat_at),
            connection_errors=record.connection_errors,
            messages_received=record.messages_received,
        )

    def upsert_site(self, record: SiteRecord, change: str) -> Announcement:
        view = self.sites.get(record.id)
        if view is None:
            self.sites[record.id] = self._view(record)
        else:
            view.record = record
            view.client_id = client_id(record.client_id_prefix, self.instance_id, record.code)
        return ("site.changed", record.id, {"site_id": record.id, "change": change,
                                            "code": record.code, "name": record.name})

    def remove_site(self, site_id: int) -> Announcement:
        view = self.sites.pop(site_id, None)
        self.discoveries.pop(site_id, None)
        for key in [k for k in self.device_availability if k.site_id == site_id]:
            del self.device_availability[key]
        code = view.record.code if view else ""
        return ("site.changed", site_id, {"site_id": site_id, "change": "deleted", "code": code})

    def forget_device(self, key: DeviceKey) -> None:
        self.device_availability.pop(key, None)

    def discovery_started(self, site_id: int, now: float, seconds_: float) -> None:
        self.discoveries[site_id] = DiscoveryView(state="running", started_at=now,
                                                  ends_at=now + seconds_)

    # --- actor events -----------------------------------------------------------------------------

    def apply(self, event: Event) -> list[Announcement]:
        match event:
            case SiteStatusChanged():
                return self._status(event)
            case SiteTraffic(site_id=site_id, received=received, rejected=rejected,
                             last_message_at=last, reasons=reasons):
                if reasons:
                    self.rejects.update(reasons)
                view = self.sites.get(site_id)
                if view is not None:
                    view.messages_received += received
                    view.messages_rejected += rejected
                    for name, count in _sparkplug_counts(event):
                        view.sparkplug[name] = view.sparkplug.get(name, 0) + count
                    if last is not None:
                        view.last_heartbeat_at = last
                return []
            case ConnectionEventOccurred(site_id=site_id):
                view = self.sites.get(site_id)
                if view is not None and event.counts_as_error:
                    view.connection_errors += 1
                return []
            case DeviceDiscovered(device=key, model=model, gateway=gateway, at=at):
                self.device_availability[key] = "unknown"
                return [self._device("device.discovered", key, "unknown", "discovered", at,
                                     model=model, gateway=gateway)]
            case DeviceAvailabilityChanged(device=key, availability=availability, reason=reason,
                                           at=at):
                self.device_availability[key] = availability
                if availability in ("online", "offline"):
                    return [self._device(f"device.{availability}", key, availability, reason, at)]
                return []
            case DeviceHeartbeat():
                return self._readings(event)
            case CommandOutcome(command_id=command_id, site_id=site_id, outcome=outcome,
                                error=error, at=at):
                return [("command.published", site_id, {"command_id": command_id,
                         "site_id": site_id, "outcome": outcome, "error": error, "at": iso(at)})]
            case DiscoveryFinished(site_id=site_id, topics=topics, started_at=started, at=at):
                self.discoveries[site_id] = DiscoveryView(
                    state="finished", started_at=started, ends_at=at,
                    topics=tuple(
                        SeenTopic(topic=t.topic, count=t.count,
                                  last_payload_size=t.last_payload_size,
                                  last_seen_at=iso(t.last_seen_at), guessed_kind=t.guessed_kind,
                                  guessed_payload_version=t.guessed_payload_version)
                        for t in topics
                    ),
                )
                return []
        return []

    def _status(self, e: SiteStatusChanged) -> list[Announcement]:
        view = self.sites.get(e.site_id)
        if view is None:
            return []
        changed = (view.status, view.error_message, view.retry_count, view.next_retry_at) != (
            e.status, e.error_message, e.retry_count, e.next_retry_at)
        connecting = ConnectionStatus.CONNECTING
        if e.status == connecting and view.status != connecting:
            view.connect_attempts += 1
        view.status = e.status
        view.error_message = e.error_message
        view.retry_count = e.retry_count
        view.next_retry_at = e.next_retry_at
        view.client_id = e.client_id or view.client_id
        if e.last_connected_at is not None:
            view.last_connected_at = e.last_connected_at
        view.topics = e.topics
        view.handler_running = e.handler_running
        if not changed:
            return []
        return [("site.status", e.site_id, {
            "site_id": e.site_id, "status": e.status, "is_enabled": view.record.is_enabled,
            "error_message": e.error_message, "retry_count": e.retry_count,
            "next_retry_at": iso(e.next_retry_at), "at": iso(e.at)})]

    def _device(self, type_: str, key: DeviceKey, availability: str, reason: str, at: float,
                **extra: str) -> Announcement:
        id_field = "gateway_id" if key.kind == "gateway" else "datalogger_id"
        data: dict[str, Any] = {id_field: self.device_id_of(key), "site_id": key.site_id,
                                "serial_number": key.serial, "availability": availability,
                                "reason": reason, "at": iso(at), **extra}
        return (type_, key.site_id, data)

    def _readings(self, e: DeviceHeartbeat) -> list[Announcement]:
        """One ``sensor.reading`` per value. Their data is built only if a client asks for
        readings: at thousands of heartbeats a second most are never sent."""
        if not e.sensors or e.device.kind != "datalogger":
            return []
        device_id = self.device_id_of(e.device)
        site_id = e.device.site_id
        return [("sensor.reading", site_id, _ReadingData(e, s, device_id)) for s in e.sensors]

    # --- answers ----------------------------------------------------------------------------------

    def status_object(self, site_id: int) -> StatusObject | None:
        view = self.sites.get(site_id)
        return None if view is None else self._status_object(view)

    def status_objects(self) -> list[StatusObject]:
        return [self._status_object(v) for _, v in sorted(self.sites.items())]

    def _status_object(self, v: SiteView) -> StatusObject:
        r = v.record
        return StatusObject(
            connection_id=r.id, site_id=r.id, site_name=r.name, code=r.code,
            is_enabled=r.is_enabled, status=v.status,
            broker_host=r.broker_host, broker_port=r.broker_port,
            protocol=cast(Protocol, r.protocol),
            client_id=v.client_id,
            last_connected_at=iso(v.last_connected_at),
            last_heartbeat_at=iso(v.last_heartbeat_at),
            connection_errors=v.connection_errors, error_message=v.error_message,
            handler_running=v.handler_running and r.is_enabled,
            handler_connected=v.status == ConnectionStatus.CONNECTED,
            retry_count=v.retry_count, next_retry_at=iso(v.next_retry_at),
            messages_received=v.messages_received, messages_rejected=v.messages_rejected,
            subscribed_topics=len(v.topics), topics_list=list(v.topics),
            owner=self.owner_of(r),
        )


class _ReadingData(msgspec.Struct, frozen=True, gc=False):
    """Builds one ``sensor.reading``'s data when a client first needs it. Holds only
    immutable values (no cycles), so the garbage collector need not track it."""

    event: DeviceHeartbeat
    sensor: SensorValue
    device_id: int | None

    def __call__(self) -> dict[str, Any]:
        e, s = self.event, self.sensor
        return {"datalogger_id": self.device_id, "site_id": e.device.site_id,
                "serial_number": e.device.serial, "key": s.key, "value": s.value,
                "unit": s.unit, "at": iso(e.at)}


def _sparkplug_counts(event: SiteTraffic) -> Iterator[tuple[str, int]]:
    for name, count in (("before_birth", event.sparkplug_before_birth),
                        ("rebirths", event.sparkplug_rebirths),
                        ("seq_gaps", event.sparkplug_seq_gaps),
                        ("stale_deaths", event.sparkplug_stale_deaths)):
        if count:
            yield name, count

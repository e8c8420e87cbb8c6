"""DeviceActor: one gateway or datalogger, its liveness and its latest values.

Spawned by its SiteActor on the first message from a new device, or at start-up for a
device already in storage (then ``unknown`` until heard from). The offline check is one
scheduled message per device: it fires at ``last_seen + offline_after_s`` and either
declares the device offline or schedules itself again for the time that is left — no sweeps.

While the site link is down the device is ``unreachable`` and its timer is paused; when the
link comes back it returns to what it was and gets a full ``offline_after_s`` of grace
before it can be declared offline, so a broker outage raises no alarm storm.

A device actor is hosted on its site actor's thread rather than having a thread of its own
(see ``roster``): it owns its state and takes its messages one at a time, in order, through
``on_receive``, like any actor, but 10,000 devices cost 10,000 small objects, not 10,000
threads waking each other and queueing for the GIL. Its mailbox is its site's: a timer comes
back as ``ToDevice`` through the site actor's inbox (``inbox`` below). Every method here runs
on the site actor's thread.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import structlog

from sitelink.actors.clock import BaseClock, Fired, Target, Timers
from sitelink.events import (
    Availability,
    DeviceAvailabilityChanged,
    DeviceHeartbeat,
    DeviceKey,
    EventSink,
    SensorValue,
)

log = structlog.get_logger(__name__)

OFFLINE_CHECK = "offline_check"

# --- messages -----------------------------------------------------------------------------


class Heard(msgspec.Struct, frozen=True, array_like=True):
    """One message from the device. ``status`` is set for a status-topic message (or a
    Sparkplug death, ``reason`` then says which); ``sensors`` is empty when the payload did
    not decode (it still counts as a sign of life); ``measured_at`` is when the payload says
    its values were measured, if it says (they are stored at that time; liveness keeps ``at``)."""

    at: float
    retained: bool
    model: str
    gateway: str
    firmware: str | None = None
    uptime_s: int | None = None
    sensors: tuple[SensorValue, ...] = ()
    status: str | None = None
    reason: str | None = None
    measured_at: float | None = None


class HeardBatch(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    items: tuple[Heard, ...]


class SiteDown(msgspec.Struct, frozen=True, kw_only=True):
    at: float


class SiteUp(msgspec.Struct, frozen=True, kw_only=True):
    at: float


class SetOfflineAfter(msgspec.Struct, frozen=True, kw_only=True):
    """This device's own timeout; None goes back to the site's default."""

    seconds: float | None


class SiteOfflineAfter(msgspec.Struct, frozen=True, kw_only=True):
    """The site's default timeout changed (it applies unless the device has its own)."""

    seconds: float


class DeviceInfo(msgspec.Struct, frozen=True, kw_only=True):
    urn: str
    name: str
    state: str
    processed: int
    restarts: int
    started_at: float


class DeviceState(msgspec.Struct, kw_only=True):
    """What a device actor starts from: a fresh discovery, or a row from storage."""

    key: DeviceKey
    model: str = ""
    gateway: str = ""
    availability: Availability = "unknown"
    last_seen_at: float | None = None
    offline_after_s: float = 180.0  # the site's default
    override_s: float | None = None  # the device's own, when set


class DeviceActor:
    def __init__(
        self,
        state: DeviceState,
        *,
        clock: BaseClock,
        sink: EventSink,
        site_up: bool,
        inbox: Target,
        restarts: int = 0,
    ) -> None:
        """``inbox`` is where its timers deliver: the site's mailbox (``roster``), or a test's."""
        self.urn = uuid.uuid4().urn
        self.key = state.key
        self.model = state.model
        self.gateway = state.gateway
        # A device loaded from storage is not known to be anything until heard from in
        # this process; what storage says is recorded as its previous availability.
        self.stored: Availability = state.availability
        self.availability: Availability = "unknown" if site_up else "unreachable"
        self.last_seen_at = state.last_seen_at
        self.site_offline_after_s = state.offline_after_s
        self.override_s = state.override_s
        self.clock = clock
        self.sink = sink
        self.site_up = site_up
        self.before_down: Availability = "unknown"
        self.grace_from: float | None = None  # the link came back at this time
        self.inbox = inbox
        self.timers = Timers(clock, inbox)
        self.processed = 0
        self.restarts = restarts
        self.started_at = clock.now()

    def on_start(self) -> None:
        if self.stored != self.availability:
            self.sink.publish(
                DeviceAvailabilityChanged(
                    device=self.key,
                    availability=self.availability,
                    previous=self.stored,
                    reason="restarted after a failure" if self.restarts
                    else "not heard from since sitelink started",
                    at=self.clock.now(),
                )
            )

    @property
    def name(self) -> str:
        return f"{self.model}/{self.key.serial}" if self.model else self.key.serial

    def on_receive(self, message: Any) -> None:
        self.processed += 1
        match message:
            case HeardBatch(items=items):
                for item in items:
                    self._heard(item)
            case SiteDown(at=at):
                self._cancel_timer()
                if self.availability != "unreachable":
                    self.before_down = self.availability
                    self._set("unreachable", "site connection is down", at)
                self.site_up = False
            case SiteUp(at=at):
                self.site_up = True
                self.grace_from = at
                if self.availability == "unreachable":
                    self._set(self.before_down, "site connection is back", at)
                if self.availability == "online":
                    self._arm(at + self.offline_after_s)
            case SetOfflineAfter(seconds=seconds):
                self.override_s = seconds
                self._timeout_changed()
            case SiteOfflineAfter(seconds=seconds):
                self.site_offline_after_s = seconds
                self._timeout_changed()
            case Fired():
                if self.timers.take(message):
                    self._check_offline()
            case _:  # as pykka does: say so, never drop silently
                log.warning("unknown message dropped", device=self.key.serial,
                            message=type(message).__name__)

    def info(self) -> DeviceInfo:
        return DeviceInfo(urn=self.urn, name=self.name, state=self.availability,
                          processed=self.processed, restarts=self.restarts,
                          started_at=self.started_at)

    def state(self) -> DeviceState:
        """What a replacement would start from (after this actor failed)."""
        return DeviceState(key=self.key, model=self.model, gateway=self.gateway,
                           availability=self.availability, last_seen_at=self.last_seen_at,
                           offline_after_s=self.site_offline_after_s, override_s=self.override_s)

    def on_stop(self) -> None:
        self._cancel_timer()

    # --- behaviour ------------------------------------------------------------------------

    def _heard(self, item: Heard) -> None:
        if item.model:
            self.model = item.model
        if item.gateway:
            self.gateway = item.gateway
        if item.retained:
            return  # delivered at subscribe time: old news, not a sign of life
        if item.status == "offline":
            self.last_seen_at = item.at
            self._cancel_timer()
            self._set("offline", item.reason or "status topic said offline", item.at)
            return
        self.last_seen_at = item.at
        if item.status is None:
            self.sink.publish(
                DeviceHeartbeat(
                    device=self.key,
                    model=self.model,
                    gateway=self.gateway,
                    firmware=item.firmware,
                    uptime_s=item.uptime_s,
                    sensors=item.sensors,
                    at=item.at,
                    measured_at=item.measured_at,
                )
            )
        if not self.site_up:
            return
        if self.availability != "online":
            reason = "status topic said online" if item.status else "heard from"
            self._set("online", reason, item.at)
        if OFFLINE_CHECK not in self.timers:
            self._arm(self._deadline())

    @property
    def offline_after_s(self) -> float:
        return self.override_s if self.override_s is not None else self.site_offline_after_s

    def _timeout_changed(self) -> None:
        if self.availability == "online":
            self._arm(self._deadline())

    def _deadline(self) -> float:
        seen = self.last_seen_at if self.last_seen_at is not None else self.clock.now()
        start = max(seen, self.grace_from) if self.grace_from is not None else seen
        return start + self.offline_after_s

    def _check_offline(self) -> None:
        if self.availability != "online" or not self.site_up:
            return
        now = self.clock.now()
        deadline = self._deadline()
        if now >= deadline:
            self._set("offline", f"silent for more than {self.offline_after_s:g} s", now)
        else:
            self._arm(deadline)

    def _arm(self, due_at: float) -> None:
        self.timers.arm(OFFLINE_CHECK, max(0.0, due_at - self.clock.now()))

    def _cancel_timer(self) -> None:
        self.timers.cancel(OFFLINE_CHECK)

    def _set(self, availability: Availability, reason: str, at: float) -> None:
        if availability == self.availability:
            return
        previous, self.availability = self.availability, availability
        self.sink.publish(
            DeviceAvailabilityChanged(
                device=self.key,
                availability=availability,
                previous=previous,
                reason=reason,
                at=at,
            )
        )

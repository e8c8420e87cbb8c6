"""DeviceActor, unstarted and driven synchronously with a FakeClock: when a device is online,
offline, unreachable or unknown, and exactly when that changes — without sleeping."""

from __future__ import annotations

from typing import Any

import structlog
from actor_fakes import SyncInbox, WaitingSink

from fake_clock import FakeClock
from sitelink.actors.device import (
    DeviceActor,
    DeviceState,
    Heard,
    HeardBatch,
    SetOfflineAfter,
    SiteDown,
    SiteUp,
)
from sitelink.events import DeviceAvailabilityChanged, DeviceHeartbeat, DeviceKey, SensorValue

KEY = DeviceKey(1, "datalogger", "MONSTR-001")
EPS = 2.0**-8  # exact in binary, so fake times add up without rounding


class Device:
    """One unstarted DeviceActor whose offline checks the FakeClock delivers synchronously."""

    def __init__(
        self,
        *,
        offline_after_s: float = 180.0,
        site_up: bool = True,
        availability: Any = "unknown",
        last_seen_at: float | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.sink = WaitingSink()
        state = DeviceState(
            key=KEY,
            model="monstro",
            gateway="1",
            availability=availability,
            last_seen_at=last_seen_at,
            offline_after_s=offline_after_s,
        )
        self.inbox = SyncInbox()
        self.actor = DeviceActor(state, clock=self.clock, sink=self.sink, site_up=site_up,
                                 inbox=self.inbox)
        self.inbox.actor = self.actor
        self.actor.on_start()

    def tell(self, message: Any) -> Any:
        return self.actor.on_receive(message)

    def heard(self, *, retained: bool = False, status: str | None = None) -> float:
        """A message from the device, now; returns its time."""
        at = self.clock.now()
        self.tell(HeardBatch(items=(Heard(at, retained, "monstro", "1", status=status),)))
        return at

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        assert self.inbox.errors == []

    @property
    def availability(self) -> str:
        return str(self.actor.availability)

    def changes(self) -> list[tuple[str, str]]:
        """(availability, reason) of every change so far."""
        events: list[DeviceAvailabilityChanged] = self.sink.of(DeviceAvailabilityChanged)
        return [(e.availability, e.reason) for e in events]

    def last_change(self) -> DeviceAvailabilityChanged:
        events: list[DeviceAvailabilityChanged] = self.sink.of(DeviceAvailabilityChanged)
        return events[-1]


def test_offline_exactly_at_last_seen_plus_offline_after() -> None:
    """A silent device goes offline at last_seen + offline_after_s, and not a tick before."""
    device = Device()
    seen = device.heard()
    assert device.availability == "online"
    device.advance(180.0 - EPS)
    assert device.availability == "online"
    device.advance(EPS)
    assert device.availability == "offline"
    change = device.last_change()
    assert (change.at, change.previous) == (seen + 180.0, "online")
    assert change.reason == "silent for more than 180 s"


def test_each_message_pushes_the_deadline_back() -> None:
    """A message at +100 s moves the offline time to +280 s; one timer, rescheduled."""
    device = Device()
    first = device.heard()
    device.advance(100.0)
    device.heard()
    device.advance(180.0 - EPS)
    assert device.availability == "online"
    assert device.clock.pending() == 1
    device.advance(EPS)
    assert device.last_change().at == first + 280.0


def test_back_online_on_the_next_message() -> None:
    """An offline device is online again on its next message, with a fresh deadline."""
    device = Device()
    device.heard()
    device.advance(200.0)
    assert device.availability == "offline"
    again = device.heard()
    assert device.availability == "online"
    assert device.changes()[-1] == ("online", "heard from")
    device.advance(180.0)
    assert device.last_change().at == again + 180.0


def test_heartbeat_is_published_with_what_it_carried() -> None:
    """Each non-retained heartbeat is published as a DeviceHeartbeat with its sensors."""
    device = Device()
    sensor = SensorValue(key="t_ext", value=22.5, unit="°C")
    device.tell(
        HeardBatch(
            items=(Heard(device.clock.now(), False, "monstro", "1", firmware="V.5",
                         sensors=(sensor,)),)
        )
    )
    (beat,) = device.sink.of(DeviceHeartbeat)
    assert (beat.device, beat.firmware, beat.sensors) == (KEY, "V.5", (sensor,))


def test_status_topic_offline_is_offline_at_once() -> None:
    """``offline`` on the status topic makes the device offline immediately; no timer left."""
    device = Device()
    device.heard()
    device.advance(10.0)
    device.heard(status="offline")
    assert device.availability == "offline"
    assert device.changes()[-1] == ("offline", "status topic said offline")
    assert device.clock.pending() == 0
    device.heard(status="online")
    assert device.changes()[-1] == ("online", "status topic said online")


def test_unreachable_while_the_site_is_down_and_no_offline_alarm() -> None:
    """While the site link is down the device is unreachable and no offline event comes,
    however long the outage."""
    device = Device()
    device.heard()
    device.tell(SiteDown(at=device.clock.now()))
    assert device.availability == "unreachable"
    assert device.changes()[-1] == ("unreachable", "site connection is down")
    device.advance(10_000.0)
    assert device.availability == "unreachable"
    assert "offline" not in [a for a, _ in device.changes()]
    assert device.clock.pending() == 0


def test_full_grace_after_the_site_reconnects() -> None:
    """After the link returns, a device silent since long before gets a full offline_after_s."""
    device = Device()
    device.heard()
    device.advance(100.0)
    device.tell(SiteDown(at=device.clock.now()))
    device.advance(1000.0)
    back = device.clock.now()
    device.tell(SiteUp(at=back))
    assert device.availability == "online"
    assert device.changes()[-1] == ("online", "site connection is back")
    device.advance(180.0 - EPS)
    assert device.availability == "online"
    device.advance(EPS)
    assert device.availability == "offline"
    assert device.last_change().at == back + 180.0


def test_grace_counts_from_the_later_of_last_seen_and_reconnect() -> None:
    """A message after the reconnect moves the deadline on from that message."""
    device = Device()
    device.heard()
    device.tell(SiteDown(at=device.clock.now()))
    device.advance(5.0)
    device.tell(SiteUp(at=device.clock.now()))
    device.advance(50.0)
    seen = device.heard()
    device.advance(180.0 - EPS)
    assert device.availability == "online"
    device.advance(EPS)
    assert device.last_change().at == seen + 180.0


def test_messages_while_down_do_not_make_it_online() -> None:
    """A message that arrives while the site is marked down leaves the device unreachable."""
    device = Device(site_up=False)
    assert device.availability == "unreachable"
    device.heard()
    assert device.availability == "unreachable"
    device.tell(SiteUp(at=device.clock.now()))
    device.heard()
    assert device.availability == "online"


def test_an_offline_device_stays_offline_across_an_outage() -> None:
    """A device that was offline before the link dropped is offline again when it returns."""
    device = Device()
    device.heard()
    device.advance(180.0)
    device.tell(SiteDown(at=device.clock.now()))
    device.tell(SiteUp(at=device.clock.now()))
    assert device.availability == "offline"
    assert device.clock.pending() == 0


def test_per_device_offline_after_overrides_the_site_default() -> None:
    """A device's own offline_after_s decides its deadline, and a change applies at once."""
    device = Device(offline_after_s=60.0)
    seen = device.heard()
    device.advance(60.0)
    assert device.last_change().at == seen + 60.0

    device = Device()
    seen = device.heard()
    device.advance(10.0)
    device.tell(SetOfflineAfter(seconds=30.0))
    device.advance(20.0 - EPS)
    assert device.availability == "online"
    device.advance(EPS)
    assert device.last_change().at == seen + 30.0


def test_shortening_offline_after_below_the_silence_is_offline_now() -> None:
    """Setting offline_after_s shorter than the time already silent makes it offline at once."""
    device = Device()
    device.heard()
    device.advance(100.0)
    device.tell(SetOfflineAfter(seconds=30.0))
    device.advance(0.0)
    assert device.availability == "offline"


def test_retained_messages_are_not_a_sign_of_life() -> None:
    """A retained message neither brings a device online nor moves its deadline."""
    device = Device(availability="online", last_seen_at=1.0)
    assert device.availability == "unknown"
    device.heard(retained=True)
    device.heard(retained=True, status="online")
    assert device.availability == "unknown"
    assert device.sink.of(DeviceHeartbeat) == []

    seen = device.heard()
    device.advance(100.0)
    device.heard(retained=True)
    device.advance(80.0)
    assert device.availability == "offline"
    assert device.last_change().at == seen + 180.0


def test_a_device_from_storage_is_unknown_until_heard() -> None:
    """A device loaded from storage starts unknown (saying what storage had), then online."""
    device = Device(availability="online", last_seen_at=1.0)
    change = device.last_change()
    assert (change.availability, change.previous) == ("unknown", "online")
    device.advance(1000.0)
    assert device.availability == "unknown"
    device.heard()
    assert device.availability == "online"


def test_an_unknown_message_is_logged_not_dropped_silently() -> None:
    """A message the device has no case for is logged by its type, as pykka does."""
    device = Device()
    with structlog.testing.capture_logs() as logs:
        device.tell("not a message")
    assert [(e["event"], e["message"], e["log_level"]) for e in logs] == [
        ("unknown message dropped", "str", "warning")
    ]

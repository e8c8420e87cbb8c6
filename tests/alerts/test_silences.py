"""Silences that end: through the service on a real database (both engines) and the fake
clock, an open alert that no active silence covers any more is unmuted — when the silence's
``until`` passes, when it is deleted, and at start when it ended while the service was down —
and from then on it is notified like any alert (the held-back ``firing`` first)."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.support import Rig, site_record
from manual_scheduler import ManualScheduler
from sitelink.alerts.model import AlertInfo, ChannelKind, RuleKind
from sitelink.alerts.outbox import Sender
from sitelink.alerts.service import AlertService
from sitelink.events import DeviceKey
from sitelink.fanout import Hub
from sitelink.storage import alert_config, alert_state
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site


class World:
    """Two sites, a webhook channel (never reached: the sender is not run) and a
    device_offline rule firing at once and repeating every 300 s."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def setup(self, *, repeat_s: int = 300) -> World:
        self.site = (await create_site(self.db, NewSite(
            name="Site 1", code="s1", broker_host="h"))).id
        self.other = (await create_site(self.db, NewSite(
            name="Site 2", code="s2", broker_host="h"))).id
        channel = await alert_config.create_channel(self.db, {
            "name": "hook", "kind": ChannelKind.WEBHOOK, "url": "http://127.0.0.1:9/x"})
        self.rule = (await alert_config.create_rule(self.db, {
            "name": "off", "kind": RuleKind.DEVICE_OFFLINE, "for_s": 0, "repeat_s": repeat_s,
            "channel_ids": [channel.id]})).id
        return self

    async def service(self, rig: Rig) -> AlertService:
        service = AlertService(self.db, rig.read_model, Hub(), rig.clock,
                               Sender(self.db, public_url="http://dash"))
        rig.evaluator = service.evaluator
        await service.start()
        rig.status(self.site, "connected")
        rig.status(self.other, "connected")
        return service

    def rig(self, start: float | None = None) -> Rig:
        rig = Rig(site_record(self.site), site_record(self.other))
        if start is not None:
            rig.clock = ManualScheduler(start)
        return rig

    async def silence(self, rig: Rig, service: AlertService, after_s: float, *,
                      site_id: int | None = None, rule_id: int | None = None) -> int:
        until = datetime.fromtimestamp(rig.clock.now() + after_s, UTC)
        silence = await alert_config.create_silence(
            self.db, site_id=site_id, rule_id=rule_id, until=until, reason="maintenance",
            created_by="ops")
        await service.silences_changed()
        return silence.id

    async def alert(self) -> AlertInfo:
        [alert] = await alert_state.list_alerts(self.db)
        return alert


def _transitions(alert: AlertInfo) -> list[str]:
    return [n.transition for n in alert.notifications]


async def test_an_expired_silence_unmutes_and_later_transitions_are_notified(
        db: Database) -> None:
    """Fired under a silence: nothing queued, repeats held too. When its ``until`` passes
    the alert is unmuted with the held-back firing notification; its next repeat and its
    resolution are notified."""
    world = await World(db).setup()
    rig = world.rig()
    service = await world.service(rig)
    await world.silence(rig, service, 1000, site_id=world.site)
    device = DeviceKey(world.site, "datalogger", "A")
    rig.availability(device, "offline")
    rig.clock.advance(999)  # repeats at 300, 600, 900: all muted
    await service.drain()
    alert = await world.alert()
    assert alert.state.value == "firing" and alert.silenced and _transitions(alert) == []

    rig.clock.advance(1)  # the silence ends
    await service.drain()
    alert = await world.alert()
    assert not alert.silenced and _transitions(alert) == ["firing"]

    rig.clock.advance(200)  # the fourth repeat, at 1200 s
    rig.availability(device, "online")
    await service.drain()
    await service.stop()
    alert = await world.alert()
    assert alert.state.value == "resolved"
    assert _transitions(alert) == ["firing", "repeat-4", "resolved"]


async def test_deleting_a_silence_unmutes_only_what_no_other_silence_covers(
        db: Database) -> None:
    """An alert notified before two silences covered it (by site, by rule): deleting one
    keeps it muted, the other's expiry unmutes it without a second firing notification,
    and its resolution is notified."""
    world = await World(db).setup(repeat_s=0)
    rig = world.rig()
    service = await world.service(rig)
    device = DeviceKey(world.site, "datalogger", "A")
    rig.availability(device, "offline")
    rig.clock.advance(1)
    await service.drain()
    assert _transitions(await world.alert()) == ["firing"]

    by_site = await world.silence(rig, service, 3600, site_id=world.site)
    await world.silence(rig, service, 7200, rule_id=world.rule)
    assert (await world.alert()).silenced
    await alert_config.delete_silence(db, by_site)
    await service.silences_changed()
    assert (await world.alert()).silenced  # the rule's silence still covers it

    rig.clock.advance(7200)
    await service.drain()
    alert = await world.alert()
    assert not alert.silenced and _transitions(alert) == ["firing"]  # sent once only

    rig.availability(device, "online")
    await service.drain()
    await service.stop()
    assert _transitions(await world.alert()) == ["firing", "resolved"]


async def test_a_deleted_silence_unmutes_at_once(db: Database) -> None:
    """Deleting the only silence of a muted firing alert unmutes it before the API call
    returns, with its held-back firing notification; one of another site stays muted."""
    world = await World(db).setup(repeat_s=0)
    rig = world.rig()
    service = await world.service(rig)
    silence = await world.silence(rig, service, 3600, site_id=world.site)
    await world.silence(rig, service, 3600, site_id=world.other)
    rig.availability(DeviceKey(world.site, "datalogger", "A"), "offline")
    rig.availability(DeviceKey(world.other, "datalogger", "B"), "offline")
    rig.clock.advance(1)
    await service.drain()
    await alert_config.delete_silence(db, silence)
    await service.silences_changed()
    await service.stop()
    mine, other = sorted(await alert_state.list_alerts(db), key=lambda a: a.site_id or 0)
    assert not mine.silenced and _transitions(mine) == ["firing"]
    assert other.silenced and _transitions(other) == []


async def test_a_silence_that_ended_while_down_is_honoured_at_start(db: Database) -> None:
    """A muted firing alert whose silence ended while the service was stopped is unmuted
    when a new service starts (firing notified then), and its resolution is notified."""
    world = await World(db).setup(repeat_s=0)
    first = world.rig()
    service = await world.service(first)
    await world.silence(first, service, 600, site_id=world.site)
    device = DeviceKey(world.site, "datalogger", "A")
    first.availability(device, "offline")
    first.clock.advance(1)
    await service.drain()
    await service.stop()
    assert (await world.alert()).silenced

    second = world.rig(start=first.clock.now() + 3600)
    service = await world.service(second)
    await service.drain()
    alert = await world.alert()
    assert alert.state.value == "firing"
    assert not alert.silenced and _transitions(alert) == ["firing"]
    second.availability(device, "offline")
    second.availability(device, "online")
    await service.drain()
    await service.stop()
    assert _transitions(await world.alert()) == ["firing", "resolved"]

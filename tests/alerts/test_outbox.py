"""The sender against a real database (both engines) and a real HTTP receiver, on a fake
clock: retries with backoff, every attempt recorded, giving up after 24 h, storm groups as
one webhook call, and the service recording transitions with their notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from alerts.receivers import WebhookReceiver
from alerts.support import Rig, site_record
from sitelink.alerts.model import ChannelKind, RuleKind
from sitelink.alerts.outbox import GIVE_UP_S, NoteState, Sender, after_attempt
from sitelink.alerts.service import AlertService
from sitelink.events import DeviceKey
from sitelink.fanout import Hub
from sitelink.storage import alert_config, alert_state
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site
from sitelink.storage.tables import AlertNotification

T0 = datetime(2027, 1, 1, tzinfo=UTC)


class Now:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@given(st.integers(1, 40), st.integers(0, 2 * 86_400))
def test_backoff_doubles_and_gives_up_after_a_day(attempts: int, age_s: int) -> None:
    """A failed attempt is retried after 10 s doubling up to an hour, never past 24 h after
    it was queued; a sent one is done."""
    now = T0 + timedelta(seconds=age_s)
    state, retry_at = after_attempt(attempts, T0, now, ok=False)
    if state is NoteState.QUEUED:
        assert retry_at is not None
        delay = (retry_at - now).total_seconds()
        assert delay == min(10 * 2 ** (attempts - 1), 3600)
        assert (retry_at - T0).total_seconds() <= GIVE_UP_S
    else:
        assert state is NoteState.FAILED and retry_at is None
    assert after_attempt(attempts, T0, now, ok=True) == (NoteState.SENT, None)


async def _channel_and_rule(db: Database, url: str, **rule: Any) -> tuple[int, int, int]:
    """Site 1, a webhook channel to ``url`` and a device_offline rule (with ``rule``'s
    fields) notifying it: their ids."""
    site = await create_site(db, NewSite(name="Site 1", code="s1", broker_host="h"))
    channel = await alert_config.create_channel(db, {
        "name": "hook", "kind": ChannelKind.WEBHOOK, "url": url, "is_enabled": True})
    r = await alert_config.create_rule(db, {
        "name": "down", "kind": RuleKind.DEVICE_OFFLINE, "channel_ids": [channel.id], **rule})
    return site.id, channel.id, r.id


async def _started_service(db: Database, rig: Rig) -> AlertService:
    """An alert service on the rig's read model and fake clock, started (open alerts
    restored), its evaluator the one the rig feeds."""
    service = AlertService(db, rig.read_model, Hub(), rig.clock,
                           Sender(db, public_url="http://dash"))
    rig.evaluator = service.evaluator
    await service.start()
    return service


async def test_failures_are_retried_with_backoff_and_recorded(db: Database) -> None:
    """Two 503s, then success: three attempts recorded, each retry after its backoff, and
    nothing sent before it is due."""
    with WebhookReceiver(statuses=[503, 503]) as hook:
        site_id, channel_id, rule_id = await _channel_and_rule(db, hook.url)
        alert_id = await alert_state.open_alert(
            db, rule_id=rule_id, kind=RuleKind.DEVICE_OFFLINE, subject="x", site_id=site_id,
            device_id=None, sensor_key=None, message="m", started_at=T0.timestamp())
        await alert_state.fire_alert(db, alert_id, at=T0.timestamp(), message="m",
                                     silenced=False, rule_id=rule_id, channel_ids=[channel_id])
        now = Now()
        sender = Sender(db, public_url="http://dash", now=now, timeout_s=5)
        try:
            assert await sender.run_once(channel_id) == 1
            now.at += timedelta(seconds=9)
            assert await sender.run_once(channel_id) == 0  # the first retry is due at 10 s
            now.at += timedelta(seconds=1)
            assert await sender.run_once(channel_id) == 1
            now.at += timedelta(seconds=20)
            assert await sender.run_once(channel_id) == 1
        finally:
            await sender.stop()
        [note] = (await alert_state.get_alert(db, alert_id)).notifications
        assert (note.outcome, note.attempts) == ("sent", 3)
        assert [a.outcome for a in note.history] == ["failed", "failed", "sent"]
        assert note.history[0].error == "the receiver answered HTTP 503"
        assert len(hook.wait(1)) == 1
        assert sender.outcomes[("hook", "failed")] == 2


async def test_a_storm_goes_out_as_ten_calls_and_one_group(db: Database) -> None:
    """25 alerts of one rule within a minute: 10 webhook calls, then one call carrying 15."""
    with WebhookReceiver() as hook:
        site_id, channel_id, rule_id = await _channel_and_rule(db, hook.url)
        for i in range(25):
            alert_id = await alert_state.open_alert(
                db, rule_id=rule_id, kind=RuleKind.DEVICE_OFFLINE, subject=f"d{i}",
                site_id=site_id, device_id=None, sensor_key=None, message=f"m{i}",
                started_at=T0.timestamp())
            await alert_state.fire_alert(db, alert_id, at=T0.timestamp() + i, message=f"m{i}",
                                         silenced=False, rule_id=rule_id,
                                         channel_ids=[channel_id])
        now = Now()
        now.at = T0 + timedelta(seconds=30)
        sender = Sender(db, public_url="http://dash", now=now)
        try:
            assert await sender.run_once(channel_id) == 10
            now.at = T0 + timedelta(seconds=60)
            assert await sender.run_once(channel_id) == 15
        finally:
            await sender.stop()
        bodies = hook.wait(11)
        assert [len(b["alerts"]) for b in bodies] == [1] * 10 + [15]
        assert await AlertNotification.count().where(AlertNotification.state == "sent") == 25


async def test_service_records_transitions_and_restores_firing(db: Database) -> None:
    """Through the service, a device offline for for_s is recorded firing with one queued
    notification; a new service on the same database restores it as firing (no second
    notification) and resolves it when the device is back."""
    site_id, _, _ = await _channel_and_rule(db, "http://127.0.0.1:9/x", for_s=60)
    device = DeviceKey(site_id, "datalogger", "SN1")

    first = Rig(site_record(site_id))
    service = await _started_service(db, first)
    first.status(site_id, "connected")
    first.availability(device, "offline")
    first.clock.advance(60)
    await service.drain()
    await service.stop()
    [alert] = await alert_state.list_alerts(db)
    assert alert.state.value == "firing" and alert.message.endswith(": SN1 offline, for 60 s")
    assert await AlertNotification.count() == 1

    second = Rig(site_record(site_id))
    service = await _started_service(db, second)
    second.status(site_id, "connected")
    second.availability(device, "offline")
    second.clock.advance(600)
    second.availability(device, "online")
    await service.drain()
    await service.stop()
    [alert] = await alert_state.list_alerts(db)
    assert alert.state.value == "resolved"
    assert [n.transition for n in alert.notifications] == ["firing", "resolved"]


async def test_repeats_stop_when_acknowledged_and_silences_mute(db: Database) -> None:
    """A firing alert with repeat_s queues a repeat per period until acknowledged; an alert
    of a silenced site fires silenced and queues nothing."""
    site = await create_site(db, NewSite(name="Site 1", code="s1", broker_host="h"))
    quiet = await create_site(db, NewSite(name="Site 2", code="s2", broker_host="h"))
    channel = await alert_config.create_channel(db, {
        "name": "hook", "kind": ChannelKind.WEBHOOK, "url": "http://127.0.0.1:9/x"})
    await alert_config.create_rule(db, {"name": "off", "kind": RuleKind.DEVICE_OFFLINE,
                                        "for_s": 0, "repeat_s": 300,
                                        "channel_ids": [channel.id]})
    rig = Rig(site_record(site.id), site_record(quiet.id))
    await alert_config.create_silence(  # silences are in the service's (fake) clock's time
        db, site_id=quiet.id, rule_id=None,
        until=datetime.fromtimestamp(rig.clock.now(), UTC) + timedelta(hours=2),
        reason="maintenance", created_by="ops")
    service = await _started_service(db, rig)
    rig.status(site.id, "connected")
    rig.status(quiet.id, "connected")
    rig.availability(DeviceKey(site.id, "datalogger", "A"), "offline")
    rig.availability(DeviceKey(quiet.id, "datalogger", "B"), "offline")
    rig.clock.advance(600)
    await service.drain()
    loud, muted = sorted(await alert_state.list_alerts(db), key=lambda a: a.site_id or 0)
    assert [n.transition for n in loud.notifications] == ["firing", "repeat-1", "repeat-2"]
    assert muted.silenced and muted.notifications == []
    await service.acknowledge(loud.id, "ops")
    rig.clock.advance(3600)
    await service.drain()
    await service.stop()
    loud = await alert_state.get_alert(db, loud.id)
    assert loud.acknowledged_by == "ops" and len(loud.notifications) == 3


async def test_a_restored_alert_goes_on_repeating_where_it_left_off(db: Database) -> None:
    """A firing alert that repeated twice, then a restart (or the site claimed by another
    instance): the new service's repeats are the third and the fourth, each notified — not
    a second "repeat-1" that the outbox would take for the one already sent."""
    site_id, _, _ = await _channel_and_rule(db, "http://127.0.0.1:9/x", for_s=0, repeat_s=300)
    device = DeviceKey(site_id, "datalogger", "A")
    for _ in range(2):
        rig = Rig(site_record(site_id))
        service = await _started_service(db, rig)
        rig.status(site_id, "connected")
        rig.availability(device, "offline")
        rig.clock.advance(600)
        await service.drain()
        await service.stop()
    [alert] = await alert_state.list_alerts(db)
    assert [n.transition for n in alert.notifications] == [
        "firing", "repeat-1", "repeat-2", "repeat-3", "repeat-4"]

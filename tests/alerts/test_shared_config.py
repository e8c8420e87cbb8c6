"""Two alert services on one real database (both engines), as two instances of a cluster: a
change made through one is sent (``share``, or with ``alert.acknowledged`` through the hub's
log) and applied by the other (``apply_remote``) — the owner's evaluator acts on it at once.
The event log between them is ``tests/faults/test_alert_config_shared``'s business."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from alerts.support import Rig, site_record
from sitelink.alerts.model import ChannelKind, RuleKind
from sitelink.alerts.outbox import Sender
from sitelink.alerts.service import AlertService
from sitelink.cluster.logged import AlertConfigChanged
from sitelink.events import DeviceKey, Event
from sitelink.fanout import Hub
from sitelink.storage import alert_config, alert_state
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site


class LogOf:
    """A hub's log outlet that keeps the states it is given (what the event log would carry)."""

    def __init__(self) -> None:
        self.states: list[msgspec.Struct] = []

    def append(self, type_: str, site_id: int | None, data: dict[str, Any],
               state: msgspec.Struct | None) -> None:
        if state is not None:
            self.states.append(state)


def _change(state: object) -> AlertConfigChanged:
    assert isinstance(state, AlertConfigChanged), state
    return state


async def test_changes_made_on_one_instance_are_applied_by_the_owner(db: Database) -> None:
    """Through B (owning nothing): a channel, a rule, a silence and an acknowledgement. A
    (the owner), given what B sent, runs the channel's sender, fires the rule, mutes by the
    silence and, acknowledged, schedules no more repeats."""
    site = await create_site(db, NewSite(name="Site 1", code="s1", broker_host="h"))
    rig = Rig(site_record(site.id))
    b_log = LogOf()
    b_hub = Hub()
    b_hub.log = b_log
    a = AlertService(db, rig.read_model, Hub(), rig.clock, Sender(db, public_url="http://a"))
    b = AlertService(db, rig.read_model, b_hub, rig.clock, Sender(db, public_url="http://b"),
                     owns=lambda _site_id: False)
    sent: list[Event] = []
    b.share = sent.append
    rig.evaluator = a.evaluator  # the rig's events reach the owner's evaluator
    await a.start()
    await b.start()
    try:
        rig.status(site.id, "connected")
        device = DeviceKey(site.id, "datalogger", "A")
        rig.availability(device, "online")

        channel = await alert_config.create_channel(db, {
            "name": "hook", "kind": ChannelKind.WEBHOOK, "url": "http://127.0.0.1:9/x"})
        b.channel_saved(channel.id)
        rule = await alert_config.create_rule(db, {
            "name": "off", "kind": RuleKind.DEVICE_OFFLINE, "for_s": 0, "repeat_s": 60,
            "channel_ids": [channel.id]})
        await b.rules_changed()
        assert sent == [AlertConfigChanged(change="channel.saved", ref_id=channel.id),
                        AlertConfigChanged(change="rules")]
        for change in sent:
            await a.apply_remote(_change(change))
        assert channel.id in a.sender._tasks  # the sender A runs for it
        assert set(a.evaluator.rules) == {rule.id}

        await alert_config.create_silence(
            db, site_id=site.id, rule_id=None,
            until=datetime.fromtimestamp(rig.clock.now(), UTC) + timedelta(hours=1),
            reason="works", created_by="ops")
        await b.silences_changed()
        assert sent[-1] == AlertConfigChanged(change="silences")
        await a.apply_remote(_change(sent[-1]))
        rig.availability(device, "offline")
        await a.drain()
        [alert] = await alert_state.list_alerts(db)
        assert alert.state.value == "firing" and alert.silenced and alert.notifications == []

        await b.acknowledge(alert.id, "ops")
        [ack] = b_log.states
        assert ack == AlertConfigChanged(change="ack", ref_id=alert.id)
        [slot] = a.evaluator.slots.values()
        assert slot.machine.due_at is not None  # A would repeat it
        await a.apply_remote(_change(ack))
        assert slot.machine.acked and slot.machine.due_at is None

        b.channel_deleted(channel.id)
        assert sent[-1] == AlertConfigChanged(change="channel.deleted", ref_id=channel.id)
        await a.apply_remote(_change(sent[-1]))
        assert channel.id not in a.sender._tasks
    finally:
        await a.stop()
        await b.stop()


async def test_a_change_applied_from_another_instance_is_not_sent_again(db: Database) -> None:
    """What came from the log is applied, never sent back (no echo between instances)."""
    rig = Rig()
    service = AlertService(db, rig.read_model, Hub(), rig.clock,
                           Sender(db, public_url="http://a"))
    sent: list[Event] = []
    service.share = sent.append
    await service.start()
    try:
        for change in (AlertConfigChanged(change="rules"),
                       AlertConfigChanged(change="silences"),
                       AlertConfigChanged(change="channel.saved", ref_id=5),
                       AlertConfigChanged(change="channel.deleted", ref_id=5),
                       AlertConfigChanged(change="ack", ref_id=7)):
            await service.apply_remote(change)
        assert sent == []
    finally:
        await service.stop()

"""Alert storage on both engines: rules, channels with encrypted secrets, alert state with
its outbox rows written in the same transaction, claims, attempts and storm grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitelink.alerts.model import AlertStateName, ChannelKind, RuleKind
from sitelink.storage import alert_config, alert_state, outbox
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site
from sitelink.storage.tables import AlertChannel, AlertNotification

T0 = 1_800_000_000.0  # a whole minute: 1_800_000_000 % 60 == 0


async def _setup(db: Database) -> tuple[int, int, int]:
    site = await create_site(db, NewSite(name="Site 1", code="s1", broker_host="h",
                                         labels={"region": "puglia"}))
    channel = await alert_config.create_channel(db, {
        "name": "hook", "kind": ChannelKind.WEBHOOK, "url": "https://u:long-password@example.com/h?k=1",
        "secret": "s3cret", "is_enabled": True})
    rule = await alert_config.create_rule(db, {
        "name": "down", "kind": RuleKind.SITE_DOWN, "site_id": None, "labels": {"region": "puglia"},
        "for_s": 60, "repeat_s": 0, "notify_resolved": True, "channel_ids": [channel.id],
        "is_enabled": True})
    return site.id, channel.id, rule.id


async def test_site_labels_round_trip(db: Database) -> None:
    """A site's labels are stored and read back as a string map."""
    site_id, _, _ = await _setup(db)
    from sitelink.storage.sites import get_site
    assert (await get_site(db, site_id)).labels == {"region": "puglia"}


async def test_channel_secrets_are_encrypted_and_never_shown(db: Database) -> None:
    """The URL with credentials and the secret are stored encrypted; the API form shows
    neither, only has_secret; the sender's target has them in plaintext."""
    _, channel_id, _ = await _setup(db)
    row = await AlertChannel.select().where(AlertChannel.id == channel_id).first()
    assert row is not None
    assert "long-password" not in row["url_encrypted"] and "s3cret" not in str(row)
    shown = await alert_config.get_channel(db, channel_id)
    assert shown.url == "https://example.com/h" and shown.has_secret
    target = await alert_config.get_target(db, channel_id)
    assert target.url == "https://u:long-password@example.com/h?k=1" and target.secret == "s3cret"
    assert "long-password" not in repr(target)


async def test_transition_writes_one_notification_and_claims_are_exclusive(db: Database) -> None:
    """Firing queues one row per channel in the same transaction; firing the same transition
    again queues nothing; a claimed row is not claimed twice until its lease ends."""
    site_id, channel_id, rule_id = await _setup(db)
    alert_id = await alert_state.open_alert(
        db, rule_id=rule_id, kind=RuleKind.SITE_DOWN, subject=f"site:{site_id}",
        site_id=site_id, device_id=None, sensor_key=None, message="m", started_at=T0)
    again = await alert_state.open_alert(
        db, rule_id=rule_id, kind=RuleKind.SITE_DOWN, subject=f"site:{site_id}",
        site_id=site_id, device_id=None, sensor_key=None, message="m", started_at=T0)
    assert again == alert_id
    for _ in range(2):
        await alert_state.fire_alert(db, alert_id, at=T0 + 60, message="down", silenced=False,
                                     rule_id=rule_id, channel_ids=[channel_id])
    assert await AlertNotification.count() == 1
    now = datetime.fromtimestamp(T0 + 61, UTC)
    claimed = await outbox.claim_due(db, channel_id, now, lease_s=30)
    assert [(d.transition, d.site_code, d.rule_name) for d in claimed] == [("firing", "s1", "down")]
    assert await outbox.claim_due(db, channel_id, now, lease_s=30) == []
    later = now + timedelta(seconds=31)
    assert len(await outbox.claim_due(db, channel_id, later, lease_s=30)) == 1
    await outbox.record_attempt(db, [claimed[0].id], at=later, ok=False, error="boom",
                                duration_ms=5, retry_at=later + timedelta(seconds=5))
    await outbox.record_attempt(db, [claimed[0].id], at=later, ok=True, error="",
                                duration_ms=5, retry_at=None)
    info = await alert_state.get_alert(db, alert_id)
    assert info.state is AlertStateName.FIRING
    [note] = info.notifications
    assert (note.outcome, note.attempts) == ("sent", 2)
    assert [a.outcome for a in note.history] == ["failed", "sent"]


async def test_more_than_ten_in_a_minute_are_grouped(db: Database) -> None:
    """Of 25 alerts of one rule in one minute, 10 go out one by one and 15 as one group
    held to the end of the minute."""
    site_id, channel_id, rule_id = await _setup(db)
    for i in range(25):
        alert_id = await alert_state.open_alert(
            db, rule_id=rule_id, kind=RuleKind.SITE_DOWN, subject=f"x:{i}", site_id=site_id,
            device_id=None, sensor_key=None, message="m", started_at=T0)
        await alert_state.fire_alert(db, alert_id, at=T0 + 1 + i, message="m", silenced=False,
                                     rule_id=rule_id, channel_ids=[channel_id])
    now = datetime.fromtimestamp(T0 + 30, UTC)
    first = await outbox.claim_due(db, channel_id, now, lease_s=30)
    assert len(first) == 10 and all(d.group_key == "" for d in first)
    end = datetime.fromtimestamp(T0 + 60, UTC)
    group = await outbox.claim_due(db, channel_id, end, lease_s=30)
    assert len(group) == 15 and len({d.group_key for d in group}) == 1


async def test_resolve_and_discard(db: Database) -> None:
    """A pending alert that clears leaves no row; a fired one resolves with a notification,
    and is listed by state; a silenced one is kept but queues nothing."""
    site_id, channel_id, rule_id = await _setup(db)
    kw = dict(rule_id=rule_id, kind=RuleKind.SITE_DOWN, site_id=site_id, device_id=None,
              sensor_key=None, message="m", started_at=T0)
    pending = await alert_state.open_alert(db, subject="a", **kw)  # type: ignore[arg-type]
    await alert_state.discard_alert(db, pending)
    assert await alert_state.list_alerts(db) == []
    fired = await alert_state.open_alert(db, subject="b", **kw)  # type: ignore[arg-type]
    await alert_state.fire_alert(db, fired, at=T0 + 60, message="m", silenced=False,
                                 rule_id=rule_id, channel_ids=[channel_id])
    assert await alert_state.resolve_alert(db, fired, at=T0 + 90, notify=True,
                                           channel_ids=[channel_id], rule_id=rule_id)
    quiet = await alert_state.open_alert(db, subject="c", **kw)  # type: ignore[arg-type]
    await alert_state.fire_alert(db, quiet, at=T0 + 60, message="m", silenced=True,
                                 rule_id=rule_id, channel_ids=[channel_id])
    resolved = await alert_state.list_alerts(db, state=AlertStateName.RESOLVED)
    assert [a.id for a in resolved] == [fired]
    assert [n.transition for n in resolved[0].notifications] == ["firing", "resolved"]
    assert (await alert_state.get_alert(db, quiet)).notifications == []
    assert [o.id for o in await alert_state.open_alerts(db)] == [quiet]


@pytest.mark.parametrize("per_query", [alert_state.SITES_PER_QUERY, 0])
async def test_open_alerts_of_some_sites(db: Database, per_query: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim gets the open alerts of its sites only, each with its repeats so far, picked
    by the database or (more sites than one query takes: 0 here) after it; an empty claim
    reads nothing."""
    monkeypatch.setattr(alert_state, "SITES_PER_QUERY", per_query)
    site_id, channel_id, rule_id = await _setup(db)
    other = (await create_site(db, NewSite(name="Site 2", code="s2", broker_host="h"))).id
    opened = {}
    for site in (site_id, other):
        opened[site] = await alert_state.open_alert(
            db, rule_id=rule_id, kind=RuleKind.SITE_DOWN, subject=f"site:{site}", site_id=site,
            device_id=None, sensor_key=None, message="m", started_at=T0)
        await alert_state.fire_alert(db, opened[site], at=T0 + 60, message="m", silenced=False,
                                     rule_id=rule_id, channel_ids=[channel_id])
    for n in (1, 2):
        await alert_state.renotify_alert(db, opened[other], n=n, at=T0 + 60 * n,
                                         rule_id=rule_id, channel_ids=[channel_id])
    assert [(a.id, a.repeats) for a in await alert_state.open_alerts(db, [other])] == [
        (opened[other], 2)]
    assert [(a.id, a.repeats) for a in await alert_state.open_alerts(db, {site_id})] == [
        (opened[site_id], 0)]
    assert await alert_state.open_alerts(db, []) == []
    assert sorted(a.id for a in await alert_state.open_alerts(db)) == sorted(opened.values())


async def test_concurrent_claims_never_share_a_row(db: Database) -> None:
    """Two senders claiming at once (SKIP LOCKED on PostgreSQL, the write lock on SQLite)
    get disjoint rows that add up to all of them."""
    import asyncio

    site_id, channel_id, rule_id = await _setup(db)
    for i in range(6):
        alert_id = await alert_state.open_alert(
            db, rule_id=rule_id, kind=RuleKind.SITE_DOWN, subject=f"c{i}", site_id=site_id,
            device_id=None, sensor_key=None, message="m", started_at=T0)
        await alert_state.fire_alert(db, alert_id, at=T0 + 1, message="m", silenced=False,
                                     rule_id=rule_id, channel_ids=[channel_id])
    now = datetime.fromtimestamp(T0 + 2, UTC)
    first, second = await asyncio.gather(
        outbox.claim_due(db, channel_id, now, lease_s=30, limit=4),
        outbox.claim_due(db, channel_id, now, lease_s=30, limit=4))
    ids = [d.id for d in first] + [d.id for d in second]
    assert len(ids) == len(set(ids)) == 6


async def test_unmuting_queues_the_held_firing_only_when_it_is_due(db: Database) -> None:
    """Unmuting a muted firing alert queues its firing notification, once; unmuting a
    pending, an acknowledged or a resolved alert queues nothing; muting queues nothing."""
    site_id, channel_id, rule_id = await _setup(db)
    kw = dict(rule_id=rule_id, kind=RuleKind.SITE_DOWN, site_id=site_id, device_id=None,
              sensor_key=None, message="m", started_at=T0)

    async def mute(alert_id: int, silenced: bool) -> bool:
        return await alert_state.set_silenced(db, alert_id, silenced, at=T0 + 120,
                                              rule_id=rule_id, channel_ids=[channel_id])

    firing, acked, pending, gone = [
        await alert_state.open_alert(db, subject=s, **kw)  # type: ignore[arg-type]
        for s in "abcd"]
    for alert_id in (firing, acked, gone):
        await alert_state.fire_alert(db, alert_id, at=T0 + 60, message="m", silenced=True,
                                     rule_id=rule_id, channel_ids=[channel_id])
    await alert_state.acknowledge(db, acked, by="ops", at=datetime.fromtimestamp(T0, UTC))
    await alert_state.resolve_alert(db, gone, at=T0 + 90, notify=True,
                                    channel_ids=[channel_id], rule_id=rule_id)
    assert await mute(pending, True)
    for alert_id in (firing, acked, pending):
        assert await mute(alert_id, False)
    assert not await mute(gone, False)
    assert not await mute(firing, False)
    assert await mute(firing, True)
    assert await mute(firing, False)
    assert await alert_state.silenced_flags(db, [firing, acked, pending, gone]) == {
        firing: False, acked: False, pending: False, gone: True}
    rows = await AlertNotification.select(AlertNotification.alert, AlertNotification.transition)
    assert rows == [{"alert": firing, "transition": "firing"}]

"""History retention: connection events, closed intervals, commands and resolved alerts older
than the cut-off go; what the 24-hour figures stand on stays (both engines)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from sitelink.storage import retention
from sitelink.storage.database import Database
from sitelink.storage.history import connection_stats, list_connection_events
from sitelink.storage.sites import NewSite, create_site
from sitelink.storage.tables import (
    Alert,
    AlertChannel,
    AlertNotification,
    AvailabilityInterval,
    Command,
    ConnectionEvent,
    Device,
)
from sitelink.storage.writer import StorageWriter

NOW = datetime.now(UTC).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=90)


async def prune_history(db: Database, older_than: datetime) -> dict[str, int]:
    """Every chunk of the prune at once; how many rows went, by table."""
    deleted = dict.fromkeys(("connection_event", "availability_interval", "command", "alert"), 0)
    async for table, count in retention.history_chunks(db, asyncio.Lock(), older_than):
        deleted[table] += count
    return deleted


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def add_events(site_id: int, *events: tuple[str, float]) -> None:
    await ConnectionEvent.insert(*[
        ConnectionEvent(site=site_id, kind=kind, reason="", at=days_ago(days))
        for kind, days in events])


async def event_days(db: Database, site_id: int) -> list[float]:
    events = await list_connection_events(db, site_id)
    return sorted(round((NOW - e.at).total_seconds() / 86400, 2) for e in events)


async def test_connection_events_keep_each_sites_state_before_the_cutoff(
        db: Database, site_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Older events go, but each site's newest older one stays: the uptime of a site that
    has been connected since then reads 100 %, as it did before the prune."""
    quiet = (await create_site(db, NewSite(name="Q", code="q1", broker_host="h"))).id
    await add_events(site_id, ("connected", 100), ("lost", 95), ("connected", 92),
                     ("lost", 1), ("connected", 0.5))
    await add_events(quiet, ("failed", 120), ("connected", 100))
    before = await connection_stats(db, quiet, now=NOW)

    monkeypatch.setattr(retention, "HISTORY_CHUNK", 1)  # one event a statement
    deleted = await prune_history(db, CUTOFF)

    assert deleted["connection_event"] == 3  # 100 and 95 days of site_id, 120 of quiet
    assert await event_days(db, site_id) == [0.5, 1, 92]
    assert await event_days(db, quiet) == [100]
    assert await connection_stats(db, quiet, now=NOW) == before
    assert before.uptime_percentage == 100.0


async def test_closed_intervals_commands_and_resolved_alerts_go(
        db: Database, site_id: int) -> None:
    [device] = await Device.insert(
        Device(site=site_id, kind="datalogger", serial="SN1")).returning(Device.id)
    device_id = device["id"]
    await AvailabilityInterval.insert(
        AvailabilityInterval(device=device_id, availability="online",
                             started_at=days_ago(200), ended_at=days_ago(95)),
        AvailabilityInterval(device=device_id, availability="offline",
                             started_at=days_ago(95), ended_at=days_ago(30)),
        AvailabilityInterval(device=device_id, availability="online",
                             started_at=days_ago(30), ended_at=None))
    await Command.insert(*[
        Command(command_id=f"c{days}", site=site_id, topic="t", created_at=days_ago(days))
        for days in (91, 89)])
    [channel] = await AlertChannel.insert(AlertChannel(
        name="hook", kind="webhook", url_encrypted="x")).returning(AlertChannel.id)
    alerts = await Alert.insert(*[
        Alert(kind="site_down", subject=f"site:{site_id}", state=state, site=site_id,
              started_at=days_ago(started), resolved_at=resolved)
        for state, started, resolved in (
            ("resolved", 100, days_ago(99)),  # goes
            ("resolved", 100, days_ago(80)),  # resolved after the cut-off: stays
            ("firing", 100, None),  # still open: stays
        )]).returning(Alert.id)
    await AlertNotification.insert(AlertNotification(
        alert=alerts[0]["id"], channel=channel["id"], transition="firing",
        dedupe_key="k1", next_attempt_at=days_ago(100)))

    deleted = await prune_history(db, CUTOFF)

    assert deleted == {"connection_event": 0, "availability_interval": 1, "command": 1,
                       "alert": 1}
    intervals = await AvailabilityInterval.select(AvailabilityInterval.availability).order_by(
        AvailabilityInterval.started_at)
    assert [i["availability"] for i in intervals] == ["offline", "online"]
    assert [c["command_id"] for c in await Command.select(Command.command_id)] == ["c89"]
    assert sorted(a["id"] for a in await Alert.select(Alert.id)) == sorted(
        a["id"] for a in alerts[1:])
    assert await AlertNotification.count() == 0  # went with its alert


async def test_the_writer_prunes_history_when_it_prunes(db: Database, site_id: int) -> None:
    """With a history retention, the writer's upkeep prunes it after the first flush (and
    then every prune_every_s); without one, nothing goes."""
    await add_events(site_id, ("connected", 100), ("lost", 95), ("connected", 10))
    keeping = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await keeping.upkeep.after_flush(0)  # what the flush task does after a flush
    assert await event_days(db, site_id) == [10, 95, 100]

    pruning = StorageWriter(db, flush_interval_s=3600, retention_days=None,
                            history_retention_days=90)
    await pruning.upkeep.after_flush(0)
    assert await event_days(db, site_id) == [10, 95]
    await add_events(site_id, ("lost", 94))
    await pruning.upkeep.after_flush(0)  # not due again for an hour
    assert await event_days(db, site_id) == [10, 94, 95]

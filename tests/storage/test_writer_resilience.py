"""The writer survives what happens around it: deletions, a failing database, a flood."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sitelink.events import (
    ConnectionEventOccurred,
    DeviceHeartbeat,
    DeviceKey,
    SensorValue,
    SiteTraffic,
)
from sitelink.storage.database import Database
from sitelink.storage.devices import delete_device, list_devices
from sitelink.storage.sites import NewSite, create_site, delete_site
from sitelink.storage.tables import ConnectionEvent, Device, Reading
from sitelink.storage.writer import StorageWriter

T0 = 1_700_000_000.0


def beat(site_id: int, serial: str, at: float) -> DeviceHeartbeat:
    return DeviceHeartbeat(
        device=DeviceKey(site_id, "datalogger", serial),
        model="m",
        gateway="",
        firmware=None,
        uptime_s=None,
        sensors=(SensorValue(key="t", value=at - T0),),
        at=at,
    )


@pytest.fixture
async def site_id(db: Database) -> int:
    return (await create_site(db, NewSite(name="S", code="s1", broker_host="h"))).id


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[StorageWriter]:
    w = StorageWriter(db, flush_interval_s=3600, retention_days=None, max_attempts=3)
    await w.start()
    yield w
    await w.close()


async def test_deleted_device_is_rediscovered_when_it_speaks(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """A device deleted through the API comes back on its next heartbeat."""
    writer.submit([beat(site_id, "A", T0)])
    await writer.flush()
    [device] = await list_devices(db, "datalogger")
    assert await delete_device(db, device.id) == DeviceKey(site_id, "datalogger", "A")
    assert await Reading.count() == 0  # cascaded
    writer.submit([beat(site_id, "A", T0 + 1)])
    await writer.flush()
    [again] = await list_devices(db, "datalogger")
    assert again.discovered_at > device.discovered_at and again.sensors_count == 1
    assert writer.device_id(DeviceKey(site_id, "datalogger", "A")) == again.id
    assert writer.lag == 0 and writer.dropped == 0


async def test_events_of_a_deleted_site_are_skipped(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """Late events of a deleted site neither fail the flush nor resurrect anything."""
    other = (await create_site(db, NewSite(name="T", code="t1", broker_host="h"))).id
    writer.submit([beat(site_id, "A", T0)])
    await writer.flush()
    await delete_site(db, site_id)
    writer.submit(
        [
            beat(site_id, "A", T0 + 1),
            ConnectionEventOccurred(site_id=site_id, kind="lost", reason="x", at=T0 + 1),
            SiteTraffic(site_id=site_id, received=3, rejected=0, last_message_at=T0 + 1),
            beat(other, "B", T0 + 1),
        ]
    )
    await writer.flush()
    assert [d.serial for d in await list_devices(db, "datalogger")] == ["B"]
    assert await ConnectionEvent.count() == 0
    assert writer.lag == 0 and writer.dropped == 0


async def test_failed_flush_is_retried_then_succeeds(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """While a table is missing, flushes fail and keep the events; then they are written."""
    writer.submit([beat(site_id, "A", T0), beat(site_id, "A", T0 + 1)])
    await db.execute('ALTER TABLE "reading" RENAME TO "reading_away"')
    await writer.flush()
    await writer.flush()
    assert writer.lag == 2 and await Device.count() == 0  # rolled back, kept
    await db.execute('ALTER TABLE "reading_away" RENAME TO "reading"')
    await writer.flush()
    assert writer.lag == 0 and writer.dropped == 0
    assert await Reading.count() == 2


async def test_batch_that_keeps_failing_is_dropped(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """After max_attempts failures in a row the events are dropped and counted."""
    writer.submit([beat(site_id, "A", T0)])
    await db.execute('ALTER TABLE "reading" RENAME TO "reading_away"')
    try:
        for _ in range(3):
            await writer.flush()
    finally:
        await db.execute('ALTER TABLE "reading_away" RENAME TO "reading"')
    assert writer.lag == 0 and writer.dropped == 1
    writer.submit([beat(site_id, "A", T0 + 1)])
    await writer.flush()
    assert await Reading.count() == 1


async def test_full_queue_drops_oldest_heartbeats_first(db: Database, site_id: int) -> None:
    """Over max_pending, old heartbeats go before any other event; submit never raises."""
    writer = StorageWriter(db, flush_interval_s=3600, max_pending=5, retention_days=None)
    await writer.start()
    event = ConnectionEventOccurred(site_id=site_id, kind="connected", reason="", at=T0)
    writer.submit([beat(site_id, "A", T0 + i) for i in range(4)])
    writer.submit([event, beat(site_id, "A", T0 + 10), beat(site_id, "A", T0 + 11)])
    assert writer.lag == 5 and writer.dropped == 2
    await writer.close()
    assert await ConnectionEvent.count() == 1
    rows = await Reading.select(Reading.value).order_by(Reading.value)
    assert [r["value"] for r in rows] == [2.0, 3.0, 10.0, 11.0]

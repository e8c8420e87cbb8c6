"""The writer survives what happens around it: deletions, a failing database, a flood."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from sitelink.events import (
    ConnectionEventOccurred,
    DeviceHeartbeat,
    DeviceKey,
    SensorValue,
    SiteTraffic,
)
from sitelink.storage import recent
from sitelink.storage.database import Database
from sitelink.storage.devices import delete_device, list_devices
from sitelink.storage.sites import NewSite, create_site, delete_site
from sitelink.storage.tables import ConnectionEvent, Device
from sitelink.storage.writer import StorageWriter
from sitelink.storage.writer_buffer import Chunk, encode_events
from stored_readings import count_readings, reading_values

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
    assert await count_readings() == 0  # cascaded
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
    appended_to = recent.appended_to(db)  # the table the writer appends readings to
    await db.execute(f'ALTER TABLE "{appended_to}" RENAME TO "reading_away"')
    await writer.flush()
    await writer.flush()
    assert writer.lag == 2 and await Device.count() == 0  # rolled back, kept
    assert not writer.storage_ok and appended_to in writer.last_error
    await db.execute(f'ALTER TABLE "reading_away" RENAME TO "{appended_to}"')
    assert not writer.storage_ok  # up again only once a write succeeded
    await writer.flush()
    assert writer.storage_ok
    assert writer.lag == 0 and writer.dropped == 0
    assert await count_readings() == 2


@contextlib.asynccontextmanager
async def refusing_value(db: Database, value: float) -> AsyncIterator[None]:
    """The database refuses a reading row with ``value`` (a trigger, on both engines) while
    inside; the trigger goes after, so later tests on the session's database can store it."""
    if db.engine_name == "sqlite":
        await db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {recent.appended_to(db)} "
                         f"WHEN NEW.value = {value} BEGIN SELECT RAISE(ABORT, 'refused'); END")
    else:
        await db.execute(
            "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.value = {value} THEN RAISE EXCEPTION 'refused' USING ERRCODE = "
            "'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
        await db.execute("CREATE TRIGGER refuse BEFORE INSERT ON reading FOR EACH ROW "
                         "EXECUTE FUNCTION refuse()")
    try:
        yield
    finally:
        await db.execute("DROP TRIGGER IF EXISTS refuse" if db.engine_name == "sqlite"
                         else "DROP TRIGGER IF EXISTS refuse ON reading")


async def test_a_refused_row_is_set_aside_and_every_other_row_written(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """The batch is split until the refused row is alone: it is set aside and counted, the
    other 199 heartbeats are written (the old writer retried the batch and dropped it whole)."""
    async with refusing_value(db, 150.0):
        writer.submit([beat(site_id, f"D{i % 10}", T0 + i) for i in range(200)])
        await writer.flush()
    assert writer.lag == 0 and writer.dropped == 0 and writer.storage_ok
    assert writer.rejects["storage_set_aside"] == 1
    values = set(await reading_values())
    assert values == {float(i) for i in range(200)} - {150.0}


async def test_an_overlong_unit_costs_only_its_own_heartbeat(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """Issue 11, point 4: a unit over 32 characters straight to the writer (past the ingest
    limits) made PostgreSQL refuse the whole batch, and a neighbour kept 1 reading of 40.
    Now the neighbour keeps all 40 on both engines."""
    bad_sensor = SensorValue(key="t", value=1.0, unit="u" * 40)
    for i in range(40):
        good = beat(site_id, "GOOD", T0 + i)
        bad = DeviceHeartbeat(device=DeviceKey(site_id, "datalogger", "BAD"), model="m",
                              gateway="", firmware=None, uptime_s=None, sensors=(bad_sensor,),
                              at=T0 + i)
        writer.submit([good, bad])
        await writer.flush()
    devices = {d.serial: d for d in await list_devices(db, "datalogger")}
    good_sensor = await count_readings(devices["GOOD"].id)
    assert good_sensor == 40
    assert writer.lag == 0 and writer.dropped == 0


async def test_a_full_buffer_drops_the_oldest_and_counts_them(db: Database, site_id: int) -> None:
    """Past its bound in bytes the buffer drops its oldest events; submit never raises."""
    one = len(Chunk.of(1, encode_events([beat(site_id, "A", T0)])).data)
    writer = StorageWriter(db, flush_interval_s=3600, max_buffer_bytes=one * 5,
                           retention_days=None)
    await writer.start()
    event = ConnectionEventOccurred(site_id=site_id, kind="connected", reason="", at=T0)
    for i in range(6):
        writer.submit([beat(site_id, "A", T0 + i)])
    writer.submit([event])
    assert writer.dropped == 2 and writer.buffered_bytes <= one * 5
    await writer.close()
    assert await ConnectionEvent.count() == 1
    assert await reading_values() == [2.0, 3.0, 4.0, 5.0]


async def test_a_device_gets_at_most_max_sensors_sensors(db: Database, site_id: int) -> None:
    """New keys past the cap are not made sensors (their values not stored) and are counted;
    the device's first sensors go on being written."""
    writer = StorageWriter(db, flush_interval_s=3600, retention_days=None, max_sensors=3)
    await writer.start()
    key = DeviceKey(site_id, "datalogger", "MANY")
    for round_ in range(3):
        sensors = tuple(SensorValue(key=f"k{round_}{i}", value=float(i)) for i in range(2))
        writer.submit([DeviceHeartbeat(device=key, model="m", gateway="", firmware=None,
                                       uptime_s=None, sensors=sensors, at=T0 + round_)])
        await writer.flush()
    await writer.close()
    from sitelink.storage.tables import Sensor

    assert sorted(r["key"] for r in await Sensor.select(Sensor.key)) == ["k00", "k01", "k10"]
    assert writer.rejects["sensor_cap"] == 3
    assert await count_readings() == 3

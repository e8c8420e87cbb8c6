"""SQLite's recent readings (``storage.recent``): appended apart, merged into ``reading`` with
their ids, read as one with the merged ones, gone with their site or device. On PostgreSQL
every reading is in ``reading``: the same tests hold there, with nothing to merge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from test_writer_resilience import T0, beat  # a reading whose value is its second

from sitelink.storage import recent
from sitelink.storage.database import Database
from sitelink.storage.devices import delete_device
from sitelink.storage.reading_upkeep import ReadingUpkeep
from sitelink.storage.sensors import bucketed_readings, iter_readings, readings
from sitelink.storage.sites import delete_site
from sitelink.storage.tables import Device, Sensor
from sitelink.storage.writer import StorageWriter
from stored_readings import count_readings

# PostgreSQL has no recent table (its readings' foreign key deletes them with their sensor)
SQLITE_ONLY = pytest.mark.parametrize("db_settings", ["sqlite"], indirect=True)


def at(offset_s: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset_s, UTC)


async def in_tables(db: Database) -> tuple[int, int]:
    """How many readings are in ``reading`` and in ``reading_recent`` (0 on PostgreSQL)."""
    merged = (await db.execute('SELECT count(*) AS n FROM "reading"'))[0]["n"]
    if db.engine_name != "sqlite":
        return merged, 0
    return merged, (await db.execute('SELECT count(*) AS n FROM "reading_recent"'))[0]["n"]


async def sensor_of(serial: str) -> int:
    row = await Sensor.select(Sensor.id).where(Sensor.device.serial == serial).first()
    assert row is not None
    return int(row["id"])


@pytest.fixture
async def split(db: Database, writer: StorageWriter, site_id: int) -> int:
    """A sensor read at 0..9 s: 0..5 merged into ``reading``, 6..9 still recent (on SQLite).
    Its id."""
    writer.submit([beat(site_id, "D1", T0 + i) for i in range(6)])
    await writer.flush()
    await writer.upkeep.merge()
    writer.submit([beat(site_id, "D1", T0 + i) for i in range(6, 10)])
    await writer.flush()
    assert await in_tables(db) == ((6, 4) if db.engine_name == "sqlite" else (10, 0))
    return await sensor_of("D1")


async def test_readers_read_merged_and_recent_readings_as_one(db: Database, split: int) -> None:
    """The list (its window's first ones, or the latest ones), the buckets and the pages of
    the CSV export see every reading once, in time order, wherever it is."""
    values = [float(i) for i in range(10)]
    assert [r.value for r in await readings(db, split)] == values
    assert [r.value for r in await readings(db, split, limit=3)] == [7.0, 8.0, 9.0]
    assert [r.value for r in await readings(db, split, since=at(4), limit=4)] == [
        4.0, 5.0, 6.0, 7.0]
    assert [r.value for r in await readings(db, split, since=at(5), until=at(7))] == [5.0, 6.0]
    assert [r.at for r in await readings(db, split, limit=2)] == [at(8), at(9)]
    buckets = await bucketed_readings(db, split, 4)  # T0 is a multiple of 4 s
    assert [(b.at, b.min, b.max, b.count) for b in buckets] == [
        (at(0), 0.0, 3.0, 4), (at(4), 4.0, 7.0, 4), (at(8), 8.0, 9.0, 2)]
    pages = [page async for page in iter_readings(db, split, page=4)]
    assert [[r.value for r in page] for page in pages] == [values[:4], values[4:8], values[8:]]


async def test_a_merge_keeps_ids_so_paging_across_it_repeats_and_skips_nothing(
        db: Database, writer: StorageWriter, split: int) -> None:
    """Readings keep their ids when they move: pages taken before and after a merge fit."""
    source = recent.source(db.engine_name)
    before = await db.execute(f"SELECT id, value FROM {source} AS r ORDER BY id")
    pages = iter_readings(db, split, page=4)
    first = await anext(pages)
    assert await writer.upkeep.merge() == (4 if db.engine_name == "sqlite" else 0)
    assert await in_tables(db) == (10, 0)
    assert await db.execute(f"SELECT id, value FROM {source} AS r ORDER BY id") == before
    rest = [r.value async for page in pages for r in page]
    assert [r.value for r in first] + rest == [float(i) for i in range(10)]


async def test_recent_readings_go_with_their_device_and_site(
        db: Database, writer: StorageWriter, split: int, site_id: int) -> None:
    """Deleting a device or a site deletes its readings, recent ones too; a merge after it
    finds nothing of theirs."""
    writer.submit([beat(site_id, "D2", T0 + i) for i in range(3)])
    await writer.flush()
    assert await count_readings() == 13
    [d2] = await Device.select(Device.id).where(Device.serial == "D2")
    await delete_device(db, d2["id"])
    assert await count_readings() == 10
    await delete_site(db, site_id)
    assert await count_readings() == 0
    assert await writer.upkeep.merge() == 0 and await in_tables(db) == (0, 0)


@SQLITE_ONLY
async def test_a_merge_leaves_out_readings_of_sensors_that_are_gone(
        db: Database, split: int) -> None:
    """No foreign key holds the recent table (its cascade would scan it per sensor): a
    reading of a sensor deleted behind the writer's back is dropped at the merge."""
    await db.execute('INSERT INTO "reading_recent" ("sensor", "at", "value") '
                     "VALUES (987654, {}, 1.5)", str(at(20)))
    assert await recent.merge(db) == 5
    assert await in_tables(db) == (10, 0)


@SQLITE_ONLY
async def test_upkeep_merges_when_due_and_only_after_new_readings(
        db: Database, writer: StorageWriter, site_id: int) -> None:
    """At its first chance (what a crash left), then every ``merge_every_s`` once readings
    were written since the last merge."""
    upkeep = ReadingUpkeep(db, asyncio.Lock(), retention=None, prune_every_s=3600,
                           merge_every_s=0.0)
    writer.submit([beat(site_id, "D1", T0 + i) for i in range(3)])
    await writer.flush()
    await upkeep.after_flush(writer.readings_written)
    assert await in_tables(db) == (3, 0)
    writer.submit([beat(site_id, "D1", T0 + 3)])
    await writer.flush()
    await upkeep.after_flush(writer.readings_written)
    assert await in_tables(db) == (4, 0)
    sensor = await sensor_of("D1")  # a reading the writer did not count: no merge for it
    await db.execute('INSERT INTO "reading_recent" ("sensor", "at", "value") '
                     "VALUES ({}, {}, 9.5)", sensor, str(at(9)))
    await upkeep.after_flush(writer.readings_written)
    assert await in_tables(db) == (4, 1)
    await recent.merge(db)
    later = ReadingUpkeep(db, asyncio.Lock(), retention=None, prune_every_s=3600,
                          merge_every_s=3600.0)
    writer.submit([beat(site_id, "D1", T0 + 4)])
    await writer.flush()
    await later.after_flush(writer.readings_written)  # its first: merged
    writer.submit([beat(site_id, "D1", T0 + 5)])
    await writer.flush()
    await later.after_flush(writer.readings_written)  # not due for an hour
    assert await in_tables(db) == (6, 1)


async def test_a_stopping_writer_leaves_recent_readings_to_the_next(
        db: Database, site_id: int) -> None:
    """Closing writes what is pending but merges nothing (a stop stays quick); the next
    writer merges what it finds after its first flush, as after a crash."""
    first = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await first.start()
    first.submit([beat(site_id, "D1", T0 + i) for i in range(3)])
    await first.close()
    assert await in_tables(db) == ((0, 3) if db.engine_name == "sqlite" else (3, 0))
    assert await count_readings() == 3
    second = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await second.start()
    await second.flush()  # nothing pending: as the writer's task does, then its upkeep
    await second.upkeep.after_flush(second.readings_written)
    assert await in_tables(db) == (3, 0)
    await second.close()


@SQLITE_ONLY
async def test_recent_ids_start_above_the_ids_of_reading(db: Database, site_id: int,
                                                         writer: StorageWriter) -> None:
    """The migration step numbers recent readings from above every id ``reading`` holds, so
    a merge never meets an id twice (here: made again over a table that has readings)."""
    writer.submit([beat(site_id, "D1", T0)])
    await writer.flush()
    sensor = await sensor_of("D1")
    await db.execute('INSERT INTO "reading" ("id", "sensor", "at", "value") '
                     "VALUES (5000, {}, {}, 1.0)", sensor, str(at(1)))
    await db.execute("DELETE FROM sqlite_sequence WHERE name = 'reading_recent'")
    await recent.create_table(db)
    writer.submit([beat(site_id, "D1", T0 + 2)])
    await writer.flush()
    [row] = await db.execute('SELECT "id" FROM "reading_recent" WHERE "value" = 2.0')
    assert row["id"] == 5001
    await writer.upkeep.merge()
    assert await in_tables(db) == (3, 0)

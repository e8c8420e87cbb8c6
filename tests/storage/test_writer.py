"""The storage writer: coalescing, bulk readings, availability, restart safety, pruning."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitelink.events import (
    CommandOutcome,
    ConnectionEventOccurred,
    DeviceAvailabilityChanged,
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    SensorValue,
    SiteStatusChanged,
    SiteTraffic,
)
from sitelink.settings import Settings
from sitelink.storage import retention
from sitelink.storage.availability import mark_unknown
from sitelink.storage.commands import get_command, insert_command
from sitelink.storage.database import Database, open_database
from sitelink.storage.devices import get_device, list_devices, load_devices
from sitelink.storage.history import list_connection_events
from sitelink.storage.migrations import migrate
from sitelink.storage.reading_upkeep import ReadingUpkeep
from sitelink.storage.sensors import SensorRecord, readings, sensor_record
from sitelink.storage.sites import NewSite, create_site, get_site
from sitelink.storage.tables import Device, Sensor
from sitelink.storage.writer import StorageWriter
from sitelink.storage.writer_timing import CHECKPOINT_READINGS, flush_delay
from stored_readings import count_readings, reading_values

T0 = 1_700_000_000.0


def heartbeat(
    site_id: int, serial: str, at: float, temp: float, **extra: object
) -> DeviceHeartbeat:
    return DeviceHeartbeat(
        device=DeviceKey(site_id, "datalogger", serial),
        model="monstro",
        gateway="1",
        firmware=extra.get("firmware", "V.5.53.0"),  # type: ignore[arg-type]
        uptime_s=int(at - T0),
        sensors=(
            SensorValue(key="t_ext", value=temp, label="Temperatura", unit="°C"),
            SensorValue(key="rh", value=temp / 2, sensor_type="humidity", unit="%"),
        ),
        at=at,
    )


async def sensors_of_device(device_id: int) -> list[SensorRecord]:
    """The stored sensors of a device, by key."""
    rows = await Sensor.select().where(Sensor.device == device_id).order_by(Sensor.key)
    return [sensor_record(row) for row in rows]


async def test_coalescing_keeps_latest_state_and_every_reading(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """1000 heartbeats of 10 devices: 10 device rows, 2000 readings, current = last value."""
    events = [heartbeat(site_id, f"SN{i % 10}", T0 + i, float(i)) for i in range(1000)]
    writer.submit(events)
    assert writer.lag == 1000
    await writer.flush()
    assert writer.lag == 0
    assert await Device.count() == 10
    assert await count_readings() == 2000
    assert writer.readings_written == 2000
    dataloggers = await list_devices(db, "datalogger", site_id=site_id)
    assert [d.serial for d in dataloggers] == [f"SN{i}" for i in range(10)]
    last = dataloggers[3]
    assert last.last_seen_at == datetime.fromtimestamp(T0 + 993, UTC)
    assert (last.firmware, last.uptime_s, last.model, last.sensors_count) == (
        "V.5.53.0",
        993,
        "monstro",
        2,
    )
    sensors = {s.key: s for s in await sensors_of_device(last.id)}
    assert sensors["t_ext"].current_value == 993.0 and sensors["rh"].current_value == 496.5
    assert (sensors["t_ext"].label, sensors["t_ext"].unit, sensors["rh"].sensor_type) == (
        "Temperatura",
        "°C",
        "humidity",
    )
    series = await readings(db, sensors["t_ext"].id)
    assert [r.value for r in series] == [float(i) for i in range(3, 1000, 10)]
    assert writer.device_id(DeviceKey(site_id, "datalogger", "SN3")) == last.id
    assert writer.sensor_id(last.id, "t_ext") == sensors["t_ext"].id


async def test_what_a_later_heartbeat_leaves_empty_keeps_the_stored_text(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """A heartbeat without model, gateway, label, type or unit (a terser payload) updates the
    values and times but keeps the text an earlier one stored."""
    writer.submit([heartbeat(site_id, "SN1", T0, 20.0)])
    await writer.flush()
    terse = DeviceHeartbeat(device=DeviceKey(site_id, "datalogger", "SN1"), model="", gateway="",
                            firmware=None, uptime_s=None, at=T0 + 60,
                            sensors=(SensorValue(key="t_ext", value=21.5),
                                     SensorValue(key="rh", value=40.0)))
    writer.submit([terse])
    await writer.flush()
    [device] = await list_devices(db, "datalogger", site_id=site_id)
    assert (device.model, device.firmware, device.uptime_s) == ("monstro", "V.5.53.0", 0)
    assert device.last_seen_at == datetime.fromtimestamp(T0 + 60, UTC)
    sensors = {s.key: s for s in await sensors_of_device(device.id)}
    assert (sensors["t_ext"].current_value, sensors["t_ext"].label, sensors["t_ext"].unit) == (
        21.5, "Temperatura", "°C")
    assert (sensors["rh"].current_value, sensors["rh"].sensor_type, sensors["rh"].unit) == (
        40.0, "humidity", "%")
    assert await Device.select(Device.gateway).first() == {"gateway": "1"}


async def test_ensure_devices_creates_rows_at_once(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """Discovery gets database ids without waiting for a flush; known keys keep theirs."""
    found = [
        DeviceDiscovered(device=DeviceKey(site_id, "gateway", "G1"), model="", gateway="G1", at=T0),
        DeviceDiscovered(
            device=DeviceKey(site_id, "datalogger", "D1"), model="m", gateway="G1", at=T0
        ),
        DeviceDiscovered(device=DeviceKey(999, "datalogger", "X"), model="m", gateway="", at=T0),
    ]
    ids = await writer.ensure_devices(found)
    assert set(ids) == {found[0].device, found[1].device}
    assert await writer.ensure_devices(found[:2]) == ids
    assert [g.serial for g in await list_devices(db, "gateway")] == ["G1"]
    detail = await get_device(db, ids[found[1].device])
    assert detail.device.discovered_at == datetime.fromtimestamp(T0, UTC)
    assert detail.device.availability == "unknown" and detail.device.model == "m"


def availability(
    key: DeviceKey, now: float, hours_ago: float, to: str, previous: str
) -> DeviceAvailabilityChanged:
    return DeviceAvailabilityChanged(
        device=key,
        availability=to,
        previous=previous,
        reason="test",
        at=now - hours_ago * 3600,  # type: ignore[arg-type]
    )


async def test_availability_intervals_and_uptime(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """Each change closes the open interval and opens one; uptime is the online share of 24 h."""
    now = time.time()
    old = DeviceKey(site_id, "datalogger", "OLD")
    new = DeviceKey(site_id, "datalogger", "NEW")
    ids = await writer.ensure_devices(
        [
            DeviceDiscovered(device=old, model="m", gateway="", at=now - 48 * 3600),
            DeviceDiscovered(device=new, model="m", gateway="", at=now - 2 * 3600),
        ]
    )
    # Two flushes, so that closing an interval opened by an earlier flush is covered.
    writer.submit([availability(old, now, 30, "online", "unknown")])
    await writer.flush()
    writer.submit(
        [
            availability(old, now, 4, "offline", "online"),
            availability(old, now, 1, "online", "offline"),
            availability(new, now, 2, "online", "unknown"),
            availability(new, now, 1, "unreachable", "online"),
        ]
    )
    await writer.flush()
    detail = await get_device(db, ids[old])
    assert detail.device.availability == "online"
    assert [(i.availability, i.ended_at is None) for i in detail.history] == [
        ("online", True),
        ("offline", False),
        ("online", False),
    ]
    assert detail.history[1].ended_at == detail.history[0].started_at
    # OLD: online 24h-4h = 20h, then 1h of the last hour: 21 of 24 h.
    assert detail.device.uptime_percentage == pytest.approx(87.5, abs=0.01)
    # NEW: discovered 2 h ago, online for the first of them.
    fresh = (await get_device(db, ids[new])).device
    assert fresh.availability == "unreachable"
    assert fresh.uptime_percentage == pytest.approx(50.0, abs=0.01)
    online = await list_devices(db, "datalogger", online_only=True)
    assert [d.serial for d in online] == ["OLD"]


async def test_site_status_traffic_events_and_commands(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """Status fields take the latest event, traffic adds up, events and outcomes are kept."""
    await insert_command(
        db,
        command_id="c-1",
        site_id=site_id,
        topic="s1/x/input",
        qos=1,
        retain=False,
        payload_size=5,
        sender="ops",
    )

    def status(status: str, at: float, error: str = "") -> SiteStatusChanged:
        return SiteStatusChanged(
            site_id=site_id,
            code="s1",
            status=status,
            is_enabled=True,
            error_message=error,  # type: ignore[arg-type]
            retry_count=0,
            next_retry_at=None,
            client_id="sitelink-s1",
            last_connected_at=T0 + 1 if status == "connected" else None,
            topics=(),
            handler_running=True,
            at=at,
        )

    writer.submit(
        [
            status("connecting", T0),
            status("connected", T0 + 1),
            ConnectionEventOccurred(site_id=site_id, kind="connected", reason="", at=T0 + 1),
            SiteTraffic(site_id=site_id, received=10, rejected=1, last_message_at=T0 + 2),
            SiteTraffic(site_id=site_id, received=5, rejected=0, last_message_at=T0 + 3),
            ConnectionEventOccurred(
                site_id=site_id, kind="lost", reason="Connection lost", at=T0 + 4
            ),
            status("error", T0 + 4, "Connection lost"),
            CommandOutcome(command_id="c-1", site_id=site_id, outcome="acked", error="", at=T0 + 5),
        ]
    )
    await writer.flush()
    site = await get_site(db, site_id)
    assert (site.status, site.error_message) == ("error", "Connection lost")
    assert site.last_connected_at == datetime.fromtimestamp(T0 + 1, UTC)
    assert site.last_heartbeat_at == datetime.fromtimestamp(T0 + 3, UTC)
    assert (site.messages_received, site.connection_errors) == (15, 1)
    events = await list_connection_events(db, site_id)
    assert [(e.kind, e.reason) for e in events] == [("lost", "Connection lost"), ("connected", "")]
    command = await get_command(db, "c-1")
    assert command.outcome == "acked"
    assert command.completed_at == datetime.fromtimestamp(T0 + 5, UTC)


async def test_restart_loses_nothing(db: Database, db_settings: Settings, site_id: int) -> None:
    """After close and reopen, devices, sensors, last values, readings and intervals are there."""
    writer = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await writer.start()
    key = DeviceKey(site_id, "datalogger", "SN1")
    writer.submit([heartbeat(site_id, "SN1", T0 + i, float(i)) for i in range(5)])
    writer.submit([availability(key, T0 + 5, 0, "online", "unknown")])
    await writer.close()  # close flushes what is pending
    await db.close()

    reopened = await open_database(db_settings)
    try:
        [device] = await load_devices(reopened)
        assert device.key == key and device.availability == "online"
        assert device.last_seen_at == T0 + 4 and device.firmware == "V.5.53.0"
        assert {s.key: s.current_value for s in device.sensors} == {"t_ext": 4.0, "rh": 2.0}
        assert len((await get_device(reopened, device.id)).history) == 1
        assert await count_readings() == 10
        again = StorageWriter(reopened, flush_interval_s=3600, retention_days=None)
        await again.start()
        assert again.device_id(key) == device.id
        sensor_ids = {s.key: s.id for s in device.sensors}
        assert again.sensor_id(device.id, "t_ext") == sensor_ids["t_ext"]
        again.submit([heartbeat(site_id, "SN1", T0 + 10, 10.0)])
        await again.close()
        assert await Device.count() == 1 and await count_readings() == 12
    finally:
        await reopened.close()


async def test_prune_readings(db: Database, writer: StorageWriter, site_id: int) -> None:
    """Readings older than the cut-off go (SQLite's recent ones too: merged first), newer
    ones stay."""
    now = time.time()
    writer.submit([heartbeat(site_id, "SN1", now - 86400 * d, float(d)) for d in range(40)])
    await writer.flush()
    assert await count_readings() == 80
    await writer.upkeep.merge()
    cutoff = datetime.now(UTC) - timedelta(days=30) + timedelta(hours=1)
    deleted = [n async for n in retention.reading_chunks(db, asyncio.Lock(), cutoff)]
    assert deleted == [20]  # days 30..39, two sensors each: one chunk
    assert await count_readings() == 60


class Calls:
    """Counts the calls of a coroutine method (of the writer, of the database), started and
    returned."""

    def __init__(self, owner: object, method: str,
                 after: Callable[[int], object] = lambda _returned: None) -> None:
        self.started = self.returned = 0
        self._returned = asyncio.Event()
        original = getattr(owner, method)

        async def counted(*args: object) -> object:
            self.started += 1
            result = await original(*args)
            self.returned += 1
            after(self.returned)  # what a test does between two calls
            self._returned.set()
            return result

        setattr(owner, method, counted)

    async def returned_times(self, n: int) -> None:
        async with asyncio.timeout(10):
            while self.returned < n:
                self._returned.clear()
                await self._returned.wait()


@contextlib.asynccontextmanager
async def running(writer: StorageWriter, after_flush: Callable[[int], object] = lambda _n: None,
                  ) -> AsyncIterator[Calls]:
    """The writer with its own flush task, its flushes counted (``after_flush`` is given how
    many have returned); closed after."""
    flushes = Calls(writer, "flush", after_flush)
    await writer.start()
    try:
        yield flushes
    finally:
        await writer.close()


async def test_background_task_flushes_and_prunes(db: Database, site_id: int) -> None:
    """Started with a retention, the task flushes by itself, then prunes old readings.
    The submit wakes it (``eager_flush_at``): no timer of the writer is waited for."""
    now = time.time()
    writer = StorageWriter(db, flush_interval_s=3600.0, eager_flush_at=2, retention_days=30)
    upkeeps = Calls(writer.upkeep, "after_flush")
    async with running(writer):
        writer.submit([heartbeat(site_id, "SN1", now - 86400 * 31, 1.0)])
        writer.submit([heartbeat(site_id, "SN1", now, 2.0)])
        await upkeeps.returned_times(1)
        assert writer.lag == 0
        # rh = t_ext / 2 of the new heartbeat; the old ones pruned
        assert await reading_values() == [1.0, 2.0]


async def test_a_prune_backlog_goes_a_chunk_per_flush(
        db: Database, writer: StorageWriter, site_id: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Readings past the retention are deleted one chunk after each flush, not all at once
    after one: a backlog of millions (a retention just lowered) would otherwise hold every
    flush back while events pile up. What comes meanwhile is written in between."""
    monkeypatch.setattr(retention, "READINGS_CHUNK", 4)
    now = time.time()
    writer.submit([heartbeat(site_id, "SN1", now - 86400 * (40 + d), 0.0) for d in range(5)])
    await writer.flush()  # ten old readings: three chunks
    upkeep = ReadingUpkeep(db, asyncio.Lock(), retention=timedelta(days=30), prune_every_s=3600)
    await upkeep.after_flush(writer.readings_written)
    assert await count_readings() == 6
    writer.submit([heartbeat(site_id, "SN1", now, 2.0)])
    await writer.flush()  # between two chunks of the prune
    await upkeep.after_flush(writer.readings_written)
    assert await count_readings() == 2 + 2
    await upkeep.after_flush(writer.readings_written)
    assert await reading_values() == [1.0, 2.0]
    await upkeep.after_flush(writer.readings_written)  # done; the next is an hour away
    writer.submit([heartbeat(site_id, "SN1", now - 86400 * 50, 3.0)])
    await writer.flush()
    await upkeep.after_flush(writer.readings_written)
    assert await reading_values() == [1.0, 1.5, 2.0, 3.0]


async def test_heartbeats_wait_for_the_routine_flush_and_news_is_flushed_sooner(
        db: Database, site_id: int) -> None:
    """Heartbeats and traffic alone wait for ``routine_flush_s``; an event that is news (a
    connection event here) brings the flush forward to ``flush_interval_s`` after the last
    one, and that flush takes the heartbeats that waited as well."""
    writer = StorageWriter(db, flush_interval_s=0.0, routine_flush_s=3600.0,
                           retention_days=None)
    async with running(writer) as flushes:
        writer.submit([heartbeat(site_id, "SN1", T0, 1.0),
                       SiteTraffic(site_id=site_id, received=1, rejected=0, last_message_at=T0)])
        # waiting for the routine flush (a flush due now would have delay 0)
        assert (writer._delay(), writer.lag, flushes.started) == (3600.0, 2, 0)
        writer.submit([ConnectionEventOccurred(site_id=site_id, kind="connected", reason="",
                                               at=T0 + 1)])
        await flushes.returned_times(1)
        assert writer.lag == 0
        assert await count_readings() == 2
        assert [e.kind for e in await list_connection_events(db, site_id)] == ["connected"]


def test_when_the_next_flush_is_due() -> None:
    """``flush_interval_s`` when news is pending or the last flush was busy, the routine
    flush's interval otherwise, and a backoff (capped) after failed flushes."""
    assert flush_delay(0.25, 1.0, failures=0, soon=True) == 0.25
    assert flush_delay(0.25, 1.0, failures=0, soon=False) == 1.0
    assert [flush_delay(0.25, 1.0, failures=n, soon=False) for n in (1, 2, 3, 9)] == [
        0.5, 1.0, 2.0, 2.0]


async def test_a_busy_flush_keeps_the_next_one_soon(db: Database, site_id: int) -> None:
    """A flush that took ``busy_at`` events or more (an eager one here) makes the next flush
    due at ``flush_interval_s`` (a stream's tail is not held back); after it, nothing is
    pending and the writer is quiet again."""
    writer = StorageWriter(db, flush_interval_s=3600.0, routine_flush_s=7200.0, busy_at=3,
                           eager_flush_at=3, retention_days=None)
    async with running(writer) as flushes:
        assert writer._delay() == 7200.0
        writer.submit([heartbeat(site_id, "SN1", T0 + n, 1.0) for n in range(3)])
        await flushes.returned_times(1)
        assert writer._delay() == 3600.0
    assert await count_readings() == 6


async def test_a_burst_of_heartbeats_does_not_wait_for_the_routine_flush(
        db: Database, site_id: int) -> None:
    """Heartbeats alone wait for the routine flush, until ``busy_at`` of them are pending:
    a busy stream starting is flushed ``flush_interval_s`` after the last flush."""
    writer = StorageWriter(db, flush_interval_s=0.0, routine_flush_s=3600.0, busy_at=3,
                           retention_days=None)
    async with running(writer) as flushes:
        writer.submit([heartbeat(site_id, "SN1", T0 + n, 1.0) for n in range(2)])
        assert (writer._delay(), writer.lag, flushes.started) == (3600.0, 2, 0)
        writer.submit([heartbeat(site_id, "SN1", T0 + 2, 1.0)])
        await flushes.returned_times(1)
        assert writer.lag == 0
    assert await count_readings() == 6


async def test_a_writer_behind_a_busy_stream_flushes_again_at_once(
        db: Database, site_id: int) -> None:
    """When ``busy_at`` events or more came during a busy flush, the next flush starts at
    once: no pause of ``flush_interval_s`` while the stream outruns the writer."""
    writer = StorageWriter(db, flush_interval_s=3600.0, routine_flush_s=7200.0, busy_at=3,
                           eager_flush_at=5, retention_days=None)

    def more_came(flushed: int) -> None:
        if flushed == 1:  # three more, fewer than eager_flush_at: not eager
            writer.submit([heartbeat(site_id, "SN2", T0 + n, 1.0) for n in range(3)])

    async with running(writer, more_came) as flushes:
        writer.submit([heartbeat(site_id, "SN1", T0 + n, 1.0) for n in range(5)])  # eager
        await flushes.returned_times(2)
        assert writer.lag == 0
    assert await count_readings() == 16


async def test_the_log_is_checkpointed_after_many_readings_not_after_each_flush(
        db: Database, site_id: int) -> None:
    """A flush that wrote CHECKPOINT_READINGS readings starts a checkpoint (on SQLite, on a
    thread of its own); a small flush after it does not."""
    writer = StorageWriter(db, flush_interval_s=3600.0, eager_flush_at=10, retention_days=None)
    checkpoints = Calls(db, "checkpoint")
    async with running(writer) as flushes:
        writer.submit([heartbeat(site_id, f"SN{n % 50}", T0 + n, 1.0)
                       for n in range(CHECKPOINT_READINGS // 2)])  # two sensors each
        await checkpoints.returned_times(1)
        writer.submit([heartbeat(site_id, "SN1", T0 + n, 1.0) for n in range(10)])
        await flushes.returned_times(2)
        # the flush task decides at once after a flush: no second checkpoint was started
        assert checkpoints.started == 1 and writer._checkpoints._task is not None
        assert writer._checkpoints._task.done()
    assert await count_readings() == CHECKPOINT_READINGS + 20


async def test_a_checkpoint_that_could_not_copy_everything_is_finished_by_the_writer(
        tmp_path: Path) -> None:
    """The background checkpoint cannot copy what is committed while it runs (here a reader
    holds the log at the first flush, as the writer's own commits would); the flush after
    it ends finishes it, so the next transaction starts the log again: it holds that flush
    only, not everything since the writer started."""
    path = tmp_path / "log.db"
    db = await open_database(Settings(database_url=f"sqlite:///{path}"))
    await migrate(db)
    site = (await create_site(db, NewSite(name="S", code="s1", broker_host="h"))).id
    writer = StorageWriter(db, flush_interval_s=3600.0, eager_flush_at=10, retention_days=None)
    go = threading.Event()
    checkpoint_now = db._checkpoint_now
    db._checkpoint_now = lambda: (go.wait(10), checkpoint_now())  # type: ignore[method-assign]
    checkpoints = Calls(db, "checkpoint")

    def beats(first: int, count: int) -> list[DeviceHeartbeat]:
        return [heartbeat(site, f"SN{n % 50}", T0 + n, 1.0) for n in range(first, first + count)]

    try:
        async with running(writer) as flushes:
            writer.submit(beats(0, CHECKPOINT_READINGS // 2))  # starts a checkpoint, held at go
            await flushes.returned_times(1)
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM reading").fetchall()  # holds the log here
                writer.submit(beats(20_000, 10))
                await flushes.returned_times(2)
                go.set()
                await checkpoints.returned_times(1)  # it copied up to the reader's mark only
                reader.execute("COMMIT")
            for flush in (3, 4):  # the third finishes the checkpoint, the fourth a new log
                writer.submit(beats(30_000 + 100 * flush, 10))
                await flushes.returned_times(flush)
            with contextlib.closing(sqlite3.connect(path)) as other:
                _, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert frames == copied and frames < 50, f"{frames} frames: the log did not start again"
    finally:
        await db.close()


async def test_a_checkpoint_that_fails_to_finish_does_not_stop_the_writer(
        db: Database, site_id: int) -> None:
    """An error finishing a checkpoint (a disk error, say) is logged; the flushes go on."""
    writer = StorageWriter(db, flush_interval_s=3600.0, eager_flush_at=10, retention_days=None)

    def broken() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    db.finish_checkpoint = broken  # type: ignore[method-assign]
    checkpoints = Calls(db, "checkpoint")
    async with running(writer) as flushes:
        writer.submit([heartbeat(site_id, f"SN{n % 50}", T0 + n, 1.0)
                       for n in range(CHECKPOINT_READINGS // 2)])
        await checkpoints.returned_times(1)
        for flush in (2, 3):  # the second one's finish fails; the third still comes
            writer.submit([heartbeat(site_id, "SN1", T0 + 100 * flush + n, 1.0)
                           for n in range(10)])
            await flushes.returned_times(flush)
    assert await count_readings() == CHECKPOINT_READINGS + 40


async def test_first_flush_of_a_large_fleet(
    db: Database, writer: StorageWriter, site_id: int
) -> None:
    """2,000 new devices with 5 sensors each in one flush: more rows than one INSERT may
    carry parameters for on PostgreSQL (32,767), so inserts are chunked."""
    writer.submit(
        [
            DeviceHeartbeat(
                device=DeviceKey(site_id, "datalogger", f"D{n}"),
                model="m",
                gateway="g",
                firmware=None,
                uptime_s=None,
                sensors=tuple(SensorValue(key=f"s{k}", value=float(k)) for k in range(5)),
                at=T0,
            )
            for n in range(2000)
        ]
    )
    await writer.flush()
    assert writer.lag == 0 and writer.dropped == 0
    assert await Device.count() == 2000 and await count_readings() == 10_000


async def test_mark_all_unknown_at_start(db: Database, writer: StorageWriter, site_id: int) -> None:
    """At start-up the previous run's availability is closed and every device is unknown."""
    key = DeviceKey(site_id, "datalogger", "SN1")
    now = time.time()
    writer.submit([heartbeat(site_id, "SN1", now - 7200, 1.0)])
    writer.submit([availability(key, now, 2, "online", "unknown")])
    await writer.flush()
    restart = datetime.fromtimestamp(now - 3600, UTC)
    assert await mark_unknown(db, None, restart) == 1
    assert await mark_unknown(db, None, restart) == 0
    detail = await get_device(db, writer.device_id(key) or 0)
    assert detail.device.availability == "unknown"
    assert [(i.availability, i.ended_at) for i in detail.history] == [
        ("unknown", None),
        ("online", restart),
    ]
    assert detail.device.uptime_percentage == pytest.approx(50.0, abs=0.01)  # 1 of 2 h


async def test_mark_unknown_touches_only_the_sites_given(
        db: Database, writer: StorageWriter, site_id: int) -> None:
    """A cluster's instance resets only the sites it owns: another instance's devices keep
    their availability and their open interval."""
    other = (await create_site(db, NewSite(name="O", code="o1", broker_host="h"))).id
    mine, theirs = DeviceKey(site_id, "datalogger", "M1"), DeviceKey(other, "datalogger", "T1")
    now = time.time()
    writer.submit([heartbeat(site_id, "M1", now - 7200, 1.0),
                   heartbeat(other, "T1", now - 7200, 1.0)])
    writer.submit([availability(mine, now, 2, "online", "unknown"),
                   availability(theirs, now, 2, "online", "unknown")])
    await writer.flush()
    at = datetime.fromtimestamp(now - 3600, UTC)
    assert await mark_unknown(db, [], at) == 0
    assert await mark_unknown(db, [site_id], at) == 1
    ours = await get_device(db, writer.device_id(mine) or 0)
    kept = await get_device(db, writer.device_id(theirs) or 0)
    assert ours.device.availability == "unknown"
    assert [(i.availability, i.ended_at) for i in ours.history] == [
        ("unknown", None), ("online", at)]
    assert kept.device.availability == "online"
    assert [(i.availability, i.ended_at) for i in kept.history] == [("online", None)]

"""6. Storage: the writer's sustained rows/s on SQLite and PostgreSQL, and its lag.

In-process: a migrated database, one site, 1,000 devices created through ``ensure_devices``
(as discovery does), and the real ``StorageWriter`` fed the events the bridge would hand it:
heartbeats of the 1,000 devices with four sensors each (one device row, four sensor rows and
four readings per heartbeat), submitted every 10 ms from the event loop.

- **saturation**: the whole backlog is offered as fast as the loop takes it; rows/s = readings
  written / time until the queue is empty. This is the writer's ceiling.
- **paced**: the ingest rate sitelink reached (bench 3, or ``--rate``) for ``--seconds``; the
  lag (events waiting, the ``sitelink_storage_lag_events`` metric) is sampled every 100 ms and
  must stay bounded: it ends at zero and its peak is reported beside the queue bound.
- **overload**: 3x the saturation rate for the same time with a small queue bound: the queue
  stays at its bound, the oldest heartbeats are dropped and counted (``dropped``), never more
  memory.

Baseline, same run: raw inserts of the same readings rows with the same driver, without the
writer (``Database.copy_records``: multi-row INSERT on SQLite, COPY on PostgreSQL), in one
transaction, into the table the writer appends readings to (``recent.appended_to``: on
SQLite the recent readings, before 2026-12-07 ``reading``).

PostgreSQL: postgresql://postgres@127.0.0.1:5432/test is used to create a database of our own
(``sitelink_bench_<random>``), dropped afterwards.

Run alone: ``python -m bench.storage [--engines sqlite,postgres] [--rate 5000]``
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

from bench.common import Section, main_for, met, rate, ratio, run_section, workdir
from sitelink.events import DeviceDiscovered, DeviceHeartbeat, DeviceKey, Event, SensorValue
from sitelink.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
DEVICES = 1000
SENSORS = (("t_ext", "Temperatura Esterna", "temperature", "°C"),
           ("rh", "Umidità Relativa", "humidity", "%"),
           ("p_atm", "Pressione Atmosferica", "pressure", "hPa"),
           ("v_batt", "Tensione Batteria", "battery_voltage", "V"))


def heartbeats(site_id: int, count: int, start: float) -> list[Event]:
    keys = [DeviceKey(site_id, "datalogger", f"DL-{i:04d}") for i in range(DEVICES)]
    events: list[Event] = []
    for n in range(count):
        sensors = tuple(SensorValue(key=k, value=20.0 + (n % 97) / 10 + j, label=label,
                                    sensor_type=kind, unit=unit)
                        for j, (k, label, kind, unit) in enumerate(SENSORS))
        events.append(DeviceHeartbeat(device=keys[n % DEVICES], model="monstro", gateway="1",
                                      firmware="V.5.53.0", uptime_s=86_400 + n,
                                      sensors=sensors, at=start + n * 1e-4))
    return events


async def _setup(url: str, key: str) -> tuple[Any, int]:
    from sitelink.storage import sites as site_store
    from sitelink.storage.database import open_database
    from sitelink.storage.migrations import migrate

    db = await open_database(Settings(database_url=url, secret_key=key))
    await migrate(db)
    site = await site_store.create_site(db, site_store.NewSite(
        name="bench", code=f"st_{secrets.token_hex(3)}", broker_host="127.0.0.1"))
    return db, site.id


async def _raw_baseline(db: Any, rows: list[tuple[Any, ...]]) -> float:
    """Readings rows/s inserted by the driver alone, one transaction, into the table the
    writer appends to (on SQLite the recent readings: an id taken in ``reading`` behind
    their numbering would make every later merge fail on it)."""
    from sitelink.storage import recent

    started = time.perf_counter()
    async with db.transaction():
        await db.copy_records(recent.appended_to(db), ("sensor", "at", "value"), rows)
    return len(rows) / (time.perf_counter() - started)


async def _feed(writer: Any, events: list[Event], per_tick: int, tick_s: float,
                lag: list[int]) -> float:
    """Submit ``per_tick`` events every ``tick_s`` (absolute schedule); sample the lag."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n, start in enumerate(range(0, len(events), per_tick)):
        due = started + n * tick_s
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.submit(events[start:start + per_tick])
        lag.append(writer.lag)
    return loop.time() - started


async def _drain(writer: Any, timeout_s: float, lag: list[int]) -> float:
    """Until every submitted event is written: the queue is empty and no flush is running
    (``flush()`` waits for the running one, then writes what is left)."""
    started = time.perf_counter()
    while writer.lag and time.perf_counter() - started < timeout_s:
        await asyncio.sleep(0.02)
        lag.append(writer.lag)
    await writer.flush()
    return time.perf_counter() - started


async def _engine(section: Section, label: str, url: str, key: str, paced_rate: float,
                  seconds: float, saturation_count: int) -> None:
    from datetime import UTC, datetime

    from sitelink.storage.writer import StorageWriter
    from sitelink.storage.writer_buffer import Chunk, encode_events

    db, site_id = await _setup(url, key)
    try:
        writer = StorageWriter(db, retention_days=None)
        await writer.start()
        now = time.time()
        await writer.ensure_devices([
            DeviceDiscovered(device=DeviceKey(site_id, "datalogger", f"DL-{i:04d}"),
                             model="monstro", gateway="1", at=now) for i in range(DEVICES)])
        # warm-up: one heartbeat per device creates the sensors
        writer.submit(heartbeats(site_id, DEVICES, now))
        await writer.flush()

        # saturation
        events = heartbeats(site_id, saturation_count, now + 1)
        written0 = writer.readings_written
        lag: list[int] = []
        started = time.perf_counter()
        for start in range(0, len(events), 2000):
            writer.submit(events[start:start + 2000])
            lag.append(writer.lag)
            await asyncio.sleep(0)
        await _drain(writer, 300, lag)
        elapsed = time.perf_counter() - started
        rows = writer.readings_written - written0
        saturation = rows / elapsed

        # baseline: the driver alone, same rows
        sensor_ids = sorted({sid for per in writer._ids.sensors.values() for sid in per.values()})
        stamp = datetime.now(UTC)
        raw_rows = [(sensor_ids[n % len(sensor_ids)], stamp, float(n)) for n in range(rows)]
        raw = await _raw_baseline(db, raw_rows)
        section.add(f"{label}: writer saturated, readings rows/s ({rows:,} rows)", rate(saturation),
                    f"raw {'COPY' if 'postgres' in url else 'multi-row INSERT'} {rate(raw)}",
                    ratio(saturation, raw))
        section.note(f"{label} saturated: {saturation / 4:,.0f} heartbeats/s "
                     f"(each: 1 device row, 4 sensor rows, 4 readings), {writer.flushes} flushes, "
                     f"last flush {writer.last_flush_s * 1000:.0f} ms, peak lag {max(lag):,}")

        # paced at the ingest rate
        count = int(paced_rate * seconds)
        events = heartbeats(site_id, count, now + 100)
        written0, dropped0 = writer.readings_written, writer.dropped
        lag = []
        tick = 0.01
        fed = await _feed(writer, events, max(1, int(paced_rate * tick)), tick, lag)
        at_end = writer.lag
        drain = await _drain(writer, 120, lag)
        rows = writer.readings_written - written0
        section.add(f"{label}: paced at {paced_rate:,.0f} heartbeats/s for {seconds:g} s, "
                    "readings rows/s", rate(rows / (fed + drain)),
                    f"offered {rate(paced_rate * 4)}", ratio(rows / (fed + drain), paced_rate * 4))
        bounded = drain < 5 and writer.dropped == dropped0 and rows == count * 4
        section.add(f"{label}: paced, peak lag (events waiting)", f"{max(lag):,}",
                    "buffer bound 256 MiB", "", "bounded, drains",
                    met(bounded))
        section.note(f"{label} paced: lag at the end of the load {at_end:,} events, empty "
                     f"{drain:.2f} s later; dropped {writer.dropped - dropped0}; "
                     f"stored {rows:,} of {count * 4:,} readings")
        await writer.close()

        # overload: more than it can take, small queue: bounded by dropping old heartbeats
        # a buffer of about 20,000 heartbeats' bytes
        one = len(Chunk.of(100, encode_events(heartbeats(site_id, 100, now))).data) / 100
        small = StorageWriter(db, retention_days=None, max_buffer_bytes=int(20_000 * one),
                              eager_flush_at=5_000)
        await small.start()
        over = saturation / 4 * 3
        events = heartbeats(site_id, min(int(over * 3), 150_000), now + 1000)
        lag = []
        fed = await _feed(small, events, max(1, int(over * tick)), tick, lag)
        await _drain(small, 120, lag)
        section.add(f"{label}: overload at {over:,.0f} heartbeats/s (3x saturation), peak lag",
                    f"{max(lag):,}", "buffer bound ~20,000", "",
                    "bounded", met(max(lag) <= 20_500))
        section.note(f"{label} overload: dropped {small.dropped:,} of {len(events):,} events "
                     f"(counted in sitelink_storage_dropped_events), memory bounded")
        await small.close()
    finally:
        await db.close()


async def _pg_database() -> str | None:
    import asyncpg

    name = f"sitelink_bench_{secrets.token_hex(6)}"
    try:
        connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    except Exception:
        return None
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def _pg_drop(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def body(section: Section, engines: tuple[str, ...], paced_rate: float, seconds: float,
         saturation_count: int) -> None:
    key = "bench-secret-key-0123456789abcdef"
    if "sqlite" in engines:
        with workdir("storage") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            asyncio.run(_engine(section, "SQLite", url, key, paced_rate, seconds,
                                saturation_count))
    if "postgres" in engines:
        name = asyncio.run(_pg_database())
        if name is None:
            section.note("PostgreSQL at 127.0.0.1:5432 not available: skipped")
            return
        try:
            asyncio.run(_engine(section, "PostgreSQL", f"{PG_BASE}/{name}", key, paced_rate,
                                seconds, saturation_count))
        finally:
            asyncio.run(_pg_drop(name))


def run(engines: tuple[str, ...] = ("sqlite", "postgres"), paced_rate: float = 5000.0,
        seconds: float = 8.0, saturation_count: int = 60_000) -> Section:
    return run_section("storage", "6. Storage writer: rows/s and lag",
                       lambda s: body(s, engines, paced_rate, seconds, saturation_count))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--rate", type=float, default=5000.0, help="paced heartbeats/s")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--count", type=int, default=60_000, help="saturation heartbeats")
    args = parser.parse_args()
    main_for(lambda: run(tuple(args.engines.split(",")), args.rate, args.seconds, args.count))

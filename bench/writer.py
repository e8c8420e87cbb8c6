"""6b. The storage writer alone: CPU per 1,000 heartbeats, busy and idle, this tree against a
git ref (default ``main``) in one run.

The real ``StorageWriter`` on a migrated SQLite (or PostgreSQL) database, in a process of its
own, fed what its process gets from the parent (``submit_encoded``: msgpack chunks of events)
and flushed by hand, so the figure is the writer's CPU (every thread of the process: the loop
and the database driver's) and nothing else. Each case runs three rounds:

- **busy** (``bench.ingest4``'s load): 4 sites x 1,000 dataloggers, heartbeats of four sensors
  submitted 250 at a time with a ``SiteTraffic`` per site, flushed every 3,500 heartbeats (a
  quarter second at 14,000/s), each flush followed by the writer's upkeep (on SQLite the
  merge of recent readings, when due): ms of CPU per 1,000 heartbeats over the three rounds,
  as the table grows and the merges fall in some of them;
- **idle** (``bench.scale``'s fleet): 500 sites x 20 dataloggers at 333 heartbeats/s, one
  flush per quarter second (83 heartbeats each; a merge every minute's worth): ms of CPU
  per flush in the least of the three rounds, and what four of them a second are of a core;
- **paced**: the same fleet's 333 heartbeats/s handed to the real writer process
  (``RemoteWriter``) three at a time, as the bridge does, for 10 s: the child's CPU from
  /proc, in % of a core (frames, flushes on its own timer, stats: everything it does).

The ref's ``src`` is exported with ``git archive`` and imported in place of this tree's
(``PYTHONPATH``); the bench code itself is this tree's. ``--profile`` prints a cProfile of the
busy or the idle case (this tree only).

Run alone: ``python -m bench.writer [--against main] [--engine sqlite|postgres]
[--profile busy|idle]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PY, REPO, Section, main_for, ratio, run_section, workdir
from bench.storage import PG_BASE, SENSORS, _pg_database, _pg_drop

KEY = "bench-secret-key-0123456789abcdef"
BUSY = (4, 1000, 40_000)  # sites, dataloggers per site, heartbeats
IDLE = (500, 20, 200)  # sites, dataloggers per site, flushes
IDLE_PER_FLUSH = 83  # 333 heartbeats/s, four flushes a second
PACED_RATE = 333.0  # heartbeats/s
PACED_BATCH = 3  # heartbeats per submit (a worker's drain at this rate), with their traffic
PACED_S = 10.0
ROUNDS = 3  # each case is run this many times on the same writer
IDLE_MERGE_EVERY = 240  # flushes: SQLite's recent readings are merged every minute


def _heartbeats(site_ids: list[int], per_site: int, count: int, start: float) -> list[Any]:
    from sitelink.events import DeviceHeartbeat, DeviceKey, SensorValue

    keys = [DeviceKey(s, "datalogger", f"DL-{i:04d}") for s in site_ids for i in range(per_site)]
    return [DeviceHeartbeat(
        device=keys[n % len(keys)], model="monstro", gateway="1", firmware="V.5.53.0",
        uptime_s=86_400 + n, at=start + n * 1e-4,
        sensors=tuple(SensorValue(key=k, value=20.0 + (n % 97) / 10 + j, label=label,
                                  sensor_type=kind, unit=unit)
                      for j, (k, label, kind, unit) in enumerate(SENSORS)))
        for n in range(count)]


async def _fleet(url: str, sites: int, per_site: int) -> tuple[Any, Any, list[int]]:
    """A migrated database with the sites, a started writer, and every device discovered
    and heard once (its sensors exist)."""
    from sitelink.events import DeviceDiscovered, DeviceKey
    from sitelink.settings import Settings
    from sitelink.storage.database import open_database
    from sitelink.storage.migrations import migrate
    from sitelink.storage.sites import NewSite, create_site
    from sitelink.storage.writer import StorageWriter

    db = await open_database(Settings(database_url=url, secret_key=KEY))
    await migrate(db)
    site_ids = [(await create_site(db, NewSite(name=f"b{n}", code=f"wb_{n}_{secrets.token_hex(2)}",
                                               broker_host="127.0.0.1"))).id
                for n in range(sites)]
    writer = StorageWriter(db, retention_days=None, flush_interval_s=3600.0)
    await writer.start()
    now = time.time()
    await writer.ensure_devices([DeviceDiscovered(device=DeviceKey(s, "datalogger", f"DL-{i:04d}"),
                                                  model="monstro", gateway="1", at=now)
                                 for s in site_ids for i in range(per_site)])
    writer.submit(_heartbeats(site_ids, per_site, sites * per_site, now))
    await writer.flush()
    return db, writer, site_ids


def _chunks(events: list[Any], site_ids: list[int], size: int) -> list[tuple[int, bytes]]:
    """What the parent sends: ``size`` events and the sites' traffic, encoded once."""
    from sitelink.events import SiteTraffic
    from sitelink.storage.writer_buffer import encode_events

    chunks = []
    for start in range(0, len(events), size):
        part = events[start:start + size]
        at = part[-1].at
        part += [SiteTraffic(site_id=s, received=size // len(site_ids), rejected=0,
                             last_message_at=at) for s in site_ids]
        chunks.append((len(part), encode_events(part)))
    return chunks


async def _busy(url: str) -> float:
    sites, per_site, count = BUSY
    db, writer, site_ids = await _fleet(url, sites, per_site)
    try:
        chunks = _chunks(_heartbeats(site_ids, per_site, count, time.time() + 10),
                         site_ids, 250)
        upkeep = getattr(writer, "upkeep", None)  # a ref before it merged nothing

        async def flush() -> None:  # and what the writer's task does after each flush
            await writer.flush()
            if upkeep is not None:
                await upkeep.after_flush(writer.readings_written)

        started = time.process_time()
        for _ in range(ROUNDS):
            written = writer.readings_written
            for n, (events, data) in enumerate(chunks, 1):
                writer.submit_encoded(events, data)
                if n % 14 == 0:
                    await flush()
            await flush()
            assert writer.readings_written - written == count * 4, "every reading written"
        return (time.process_time() - started) * 1000 / (ROUNDS * count / 1000)
    finally:
        await writer.close()
        await db.close()


async def _idle(url: str) -> float:
    sites, per_site, flushes = IDLE
    db, writer, site_ids = await _fleet(url, sites, per_site)
    try:
        events = _heartbeats(site_ids, per_site, IDLE_PER_FLUSH * flushes, time.time() + 10)
        chunks = _chunks(events, site_ids[:IDLE_PER_FLUSH], IDLE_PER_FLUSH)
        upkeep = getattr(writer, "upkeep", None)  # a ref before it merged nothing
        used = []
        for _ in range(ROUNDS):
            started = time.process_time()
            for n, (events_in, data) in enumerate(chunks, 1):
                writer.submit_encoded(events_in, data)
                await writer.flush()
                if upkeep is not None and n % IDLE_MERGE_EVERY == 0:
                    await upkeep.merge()  # its cadence at four flushes a second
            used.append(time.process_time() - started)
        return min(used) * 1000 / flushes
    finally:
        await writer.close()
        await db.close()


async def _paced(url: str) -> float:
    """The real writer process (``RemoteWriter``) fed the idle fleet's traffic as the bridge
    hands it over, for PACED_S seconds: its CPU (from /proc) in % of a core."""
    from sitelink.events import DeviceDiscovered, DeviceKey
    from sitelink.settings import Settings
    from sitelink.storage.database import open_database
    from sitelink.storage.migrations import migrate
    from sitelink.storage.remote_writer import RemoteWriter
    from sitelink.storage.sites import NewSite, create_site

    try:  # a ref before SQLite's recent readings (storage.recent) has one table
        from sitelink.storage.recent import source
    except ImportError:
        def source(_engine_name: str) -> str:
            return "reading"

    sites, per_site, _ = IDLE
    settings = Settings(database_url=url, secret_key=KEY)
    db = await open_database(settings)
    await migrate(db)
    site_ids = [(await create_site(db, NewSite(name=f"b{n}", code=f"wp_{n}_{secrets.token_hex(2)}",
                                               broker_host="127.0.0.1"))).id
                for n in range(sites)]
    writer = RemoteWriter(settings)
    await writer.start()
    try:
        now = time.time()
        await writer.ensure_devices([DeviceDiscovered(
            device=DeviceKey(s, "datalogger", f"DL-{i:04d}"), model="monstro", gateway="1",
            at=now) for s in site_ids for i in range(per_site)])
        count = int(PACED_RATE * PACED_S)
        events = _heartbeats(site_ids, per_site, sites * per_site + count, now)
        writer.submit(events[:sites * per_site])  # every device heard once: sensors exist
        pid = _child_pid(writer)
        deadline = time.monotonic() + 120
        stored = f"SELECT count(*) AS n FROM {source(db.engine_name)} AS r"
        while (await db.execute(stored))[0]["n"] < sites * per_site * len(SENSORS):  # written
            if time.monotonic() > deadline:
                raise RuntimeError("the warm-up heartbeats were not written in 120 s")
            await asyncio.sleep(0.05)
        chunks = _chunks(events[sites * per_site:], site_ids[:PACED_BATCH], PACED_BATCH)
        from sitelink.storage.writer_buffer import decode_events

        batches = [decode_events(data) for _, data in chunks]
        cpu = _cpu_s(pid)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n, batch in enumerate(batches):
            await asyncio.sleep(max(0.0, started + n * PACED_BATCH / PACED_RATE - loop.time()))
            writer.submit(batch)
        elapsed = loop.time() - started
        return (_cpu_s(pid) - cpu) / elapsed * 100
    finally:
        await writer.close()
        await db.close()


def _child_pid(writer: Any) -> int:
    process = writer._process  # the bench looks inside: the pid is nobody else's business
    assert process is not None
    return int(process.pid)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(engine: str, profile: str = "") -> dict[str, float]:
    """Every case on a fresh database each; in the process that imports the tree measured."""
    results: dict[str, float] = {}
    for case, work in (("busy", _busy), ("idle", _idle), ("paced", _paced)):
        if engine == "postgres":
            name = asyncio.run(_pg_database())
            if name is None:
                raise RuntimeError("PostgreSQL at 127.0.0.1:5432 is not available")
            try:
                results[case] = asyncio.run(work(f"{PG_BASE}/{name}"))
            finally:
                asyncio.run(_pg_drop(name))
            continue
        with workdir("writer") as tmp:
            url = f"sqlite:///{tmp / 'bench.db'}"
            if profile == case:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                results[case] = profiler.runcall(asyncio.run, work(url))
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
            else:
                results[case] = asyncio.run(work(url))
    return results


def _measure(tree: Path | None, engine: str, profile: str) -> dict[str, float]:
    """``child`` in a new interpreter, importing ``tree``'s ``sitelink`` (None: this tree)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO)])
    code = ("import json, sys; from bench.writer import child; "
            f"print(json.dumps(child({engine!r}, {profile!r})))")
    done = subprocess.run([PY, "-c", code], cwd=REPO, env=env, check=True,
                          stdout=subprocess.PIPE, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _export(ref: str, into: Path) -> Path:
    """``ref``'s ``src`` as an importable ``sitelink`` package under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "src"],
                             check=True, stdout=subprocess.PIPE).stdout
    tar_path = into / "src.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    (into / "src").rename(into / "sitelink")
    return into


def body(section: Section, against: str, engine: str, profile: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sitelink-bench-ref-") as tmp:
        before = _measure(_export(against, Path(tmp)), engine, "")
    after = _measure(None, engine, profile)
    label = "SQLite" if engine == "sqlite" else "PostgreSQL"
    section.add(f"{label}: busy, ms CPU per 1,000 heartbeats (4 x 1,000 devices)",
                f"{after['busy']:.1f}", f"{against}: {before['busy']:.1f}",
                ratio(after["busy"], before["busy"]))
    section.add(f"{label}: idle, ms CPU per flush of {IDLE_PER_FLUSH} heartbeats "
                "(500 x 20 devices)", f"{after['idle']:.2f}",
                f"{against}: {before['idle']:.2f}", ratio(after["idle"], before["idle"]))
    section.add(f"{label}: writer process at {PACED_RATE:.0f} heartbeats/s in submits of "
                f"{PACED_BATCH}, % of a core", f"{after['paced']:.1f}",
                f"{against}: {before['paced']:.1f}", ratio(after["paced"], before["paced"]))
    section.note(f"idle at four flushes a second: {after['idle'] * 4 / 10:.1f}% of a core "
                 f"({against}: {before['idle'] * 4 / 10:.1f}%); CPU of the whole writer "
                 "process (time.process_time), flushes run by hand")


def run(against: str = "main", engine: str = "sqlite", profile: str = "") -> Section:
    return run_section("writer", "6b. Storage writer alone: CPU per heartbeat",
                       lambda s: body(s, against, engine, profile))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git ref to compare with")
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--profile", default="", choices=("", "busy", "idle"),
                        help="print a cProfile of one case (this tree only)")
    args = parser.parse_args()
    main_for(lambda: run(args.against, args.engine, args.profile))

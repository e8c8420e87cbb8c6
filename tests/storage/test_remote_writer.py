"""The storage writer in its own process: the same results as in-process, on both engines;
a child that dies costs counted events, never a hang, and is started again."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from sitelink.errors import StorageError
from sitelink.events import DeviceDiscovered, DeviceHeartbeat, DeviceKey, SensorValue
from sitelink.settings import Settings
from sitelink.storage.database import Database
from sitelink.storage.devices import load_devices
from sitelink.storage.remote_writer import RemoteWriter
from sitelink.storage.tables import ConnectionEvent
from stored_readings import count_readings

# Recent: the child prunes readings older than the retention (30 days) as it starts.
T0 = float(int(time.time()) - 3600)  # whole seconds: stored to the microsecond


def discovered(site_id: int, serial: str) -> DeviceDiscovered:
    return DeviceDiscovered(device=DeviceKey(site_id, "datalogger", serial), model="monstro",
                            gateway="1", at=T0)


def heartbeat(site_id: int, serial: str, n: int) -> DeviceHeartbeat:
    return DeviceHeartbeat(
        device=DeviceKey(site_id, "datalogger", serial), model="monstro", gateway="1",
        firmware="V.5.53.0", uptime_s=n,
        sensors=(SensorValue(key="t_ext", value=float(n), unit="°C"),
                 SensorValue(key="rh", value=n / 2, unit="%")),
        at=T0 + n,
    )


async def test_what_the_child_writes_is_what_was_submitted(
    db: Database, db_settings: Settings, site_id: int
) -> None:
    writer = RemoteWriter(db_settings)
    await writer.start()
    ids = await writer.ensure_devices([discovered(site_id, s) for s in ("A", "B", "C")])
    assert sorted(k.serial for k in ids) == ["A", "B", "C"]
    assert writer.device_id(DeviceKey(site_id, "datalogger", "B")) == ids[
        DeviceKey(site_id, "datalogger", "B")]
    # more than a socket buffer at once: the outbox carries what the socket cannot take
    burst = [heartbeat(site_id, "ABC"[n % 3], n) for n in range(6_000)]
    for start in range(0, len(burst), 500):
        writer.submit(burst[start:start + 500])
    await writer.close()  # the child writes everything pending before it says so
    assert (writer.lag, writer.dropped) == (0, 0)
    assert await count_readings() == 2 * len(burst)
    devices = {d.key.serial: d for d in await load_devices(db)}
    assert devices["C"].last_seen_at == T0 + 5_999  # 5,999 % 3 == 2: the last was C's
    assert {s.key: s.current_value for s in devices["A"].sensors} == {"t_ext": 5_997.0,
                                                                      "rh": 5_997 / 2}


async def test_a_quiet_trickle_is_held_counted_and_written_at_close(
    db: Database, db_settings: Settings, site_id: int
) -> None:
    """Routine events wait here for company (``writer_outbox``): counted in the lag
    meanwhile, and a close sends them before its goodbye."""
    writer = RemoteWriter(db_settings)
    await writer.start()
    await writer.ensure_devices([discovered(site_id, "A")])
    writer.submit([heartbeat(site_id, "A", n) for n in range(3)])
    assert writer.lag >= 3
    await writer.close()
    assert (writer.lag, writer.dropped) == (0, 0) and await count_readings() == 2 * 3


async def test_forgetting_a_device_forgets_its_id_on_both_sides(
    db: Database, db_settings: Settings, site_id: int
) -> None:
    writer = RemoteWriter(db_settings)
    await writer.start()
    key = DeviceKey(site_id, "datalogger", "A")
    await writer.ensure_devices([discovered(site_id, "A")])
    writer.forget_device(key)
    assert writer.device_id(key) is None
    await writer.close()


async def test_a_child_that_dies_costs_counted_events_and_is_started_again(
    db: Database, db_settings: Settings, site_id: int
) -> None:
    writer = RemoteWriter(db_settings, restart_after_s=0.0)
    await writer.start()
    first = writer._process
    assert first is not None
    first.kill()
    await first.wait()
    with pytest.raises(StorageError):  # asked while it is gone: a clean error
        await writer.ensure_devices([discovered(site_id, "A")])
    writer.submit([heartbeat(site_id, "A", n) for n in range(10)])
    assert writer.dropped == 10
    async with asyncio.timeout(30):  # a new child, when it is ready
        await writer.up.wait()
    assert writer.restarts == 1 and writer._process is not first
    await writer.ensure_devices([discovered(site_id, "A")])
    writer.submit([heartbeat(site_id, "A", n) for n in range(10, 15)])
    await writer.close()
    assert writer.dropped == 10 and await count_readings() == 2 * 5


async def test_the_child_prunes_history_past_its_retention(
    db: Database, db_settings: Settings, site_id: int
) -> None:
    """SITELINK_HISTORY_RETENTION_DAYS reaches the child: after its first flush it deletes
    the connection events past it, but the site's newest one before the cut-off."""
    now = datetime.now(UTC)
    await ConnectionEvent.insert(*[
        ConnectionEvent(site=site_id, kind="failed", reason="", at=now - timedelta(days=d))
        for d in (12, 95, 100, 200)])
    writer = RemoteWriter(msgspec.structs.replace(db_settings, history_retention_days=10))
    await writer.start()
    try:
        deadline = time.monotonic() + 10
        while await ConnectionEvent.count() > 1:  # the child's flush timer is its own
            assert time.monotonic() < deadline, "history not pruned within 10 s"
            await asyncio.sleep(0.05)
    finally:
        await writer.close()
    [kept] = await ConnectionEvent.select(ConnectionEvent.at)
    assert now - kept["at"] == timedelta(days=12)

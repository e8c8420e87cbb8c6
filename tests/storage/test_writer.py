"""The storage writer: coalescing, bulk readings, availability, restart safety, pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sitelink.events import (
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    SensorValue,
)
from sitelink.storage.database import Database
from sitelink.storage.devices import get_device, list_devices
from sitelink.storage.sensors import readings, sensors_of_device
from sitelink.storage.sites import NewSite, create_site
from sitelink.storage.tables import Device, Reading
from sitelink.storage.writer import StorageWriter

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


@pytest.fixture
async def site_id(db: Database) -> int:
    return (await create_site(db, NewSite(name="S", code="s1", broker_host="h"))).id


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[StorageWriter]:
    w = StorageWriter(db, flush_interval_s=3600, retention_days=None)  # tests flush by hand
    await w.start()
    yield w
    await w.close()


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
    assert await Reading.count() == 2000
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
    sensors = {s.key: s for s in await sensors_of_device(db, last.id)}
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

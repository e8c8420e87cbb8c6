"""Devices, sensors and readings as the API reads and edits them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from sitelink.errors import NotFound
from sitelink.events import DeviceHeartbeat, DeviceKey, SensorValue
from sitelink.storage.database import Database
from sitelink.storage.devices import (
    DevicePatch,
    delete_device,
    get_device,
    list_devices,
    update_device,
)
from sitelink.storage.sensors import (
    bucketed_readings,
    get_sensor,
    iter_readings,
    readings,
)
from sitelink.storage.sites import NewSite, SitePatch, create_site, update_site
from sitelink.storage.tables import Sensor
from sitelink.storage.writer import StorageWriter

T0 = 1_700_000_000.0


def at(offset_s: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset_s, UTC)


@pytest.fixture
async def fleet(db: Database) -> AsyncIterator[dict[str, int]]:
    """Two sites; a datalogger with one sensor read 10 times (values 0..9) and a gateway."""
    s1 = (await create_site(db, NewSite(name="A", code="a", broker_host="h"))).id
    s2 = (await create_site(db, NewSite(name="B", code="b", broker_host="h"))).id
    writer = StorageWriter(db, flush_interval_s=3600, retention_days=None)
    await writer.start()
    writer.submit(
        [
            DeviceHeartbeat(
                device=DeviceKey(s1, "datalogger", "D1"),
                model="m",
                gateway="G1",
                firmware="1.0",
                uptime_s=i,
                sensors=(SensorValue(key="t", value=float(i)),),
                at=T0 + i,
            )
            for i in range(10)
        ]
        + [
            DeviceHeartbeat(
                device=DeviceKey(s2, "gateway", "G9"),
                model="",
                gateway="G9",
                firmware=None,
                uptime_s=None,
                sensors=(),
                at=T0,
            )
        ]
    )
    await writer.close()
    d1 = writer.device_id(DeviceKey(s1, "datalogger", "D1"))
    g9 = writer.device_id(DeviceKey(s2, "gateway", "G9"))
    assert d1 is not None and g9 is not None
    sensor = writer.sensor_id(d1, "t")
    assert sensor is not None
    yield {"s1": s1, "s2": s2, "d1": d1, "g9": g9, "sensor": sensor}


async def test_lists_filter_by_kind_and_site(db: Database, fleet: dict[str, int]) -> None:
    """Dataloggers and gateways are listed apart, and per site."""
    assert [d.serial for d in await list_devices(db, "datalogger")] == ["D1"]
    assert [d.serial for d in await list_devices(db, "gateway")] == ["G9"]
    assert await list_devices(db, "datalogger", site_id=fleet["s2"]) == []
    assert await list_devices(db, "datalogger", online_only=True) == []  # nobody said online


async def test_get_device_checks_kind(db: Database, fleet: dict[str, int]) -> None:
    """A gateway id is not a datalogger; unknown ids are NotFound."""
    detail = await get_device(db, fleet["d1"], kind="datalogger")
    assert [s.key for s in detail.sensors] == ["t"] and detail.history == []
    with pytest.raises(NotFound):
        await get_device(db, fleet["g9"], kind="datalogger")
    with pytest.raises(NotFound):
        await get_device(db, 12345)


async def test_offline_after_follows_site_unless_overridden(
    db: Database, fleet: dict[str, int]
) -> None:
    """offline_after_s is the site's until a device sets its own; None goes back."""
    assert (await get_device(db, fleet["d1"])).device.offline_after_s == 180
    await update_site(db, fleet["s1"], SitePatch(offline_after_s=60))
    assert (await get_device(db, fleet["d1"])).device.offline_after_s == 60
    changed = await update_device(db, fleet["d1"], DevicePatch(label="Roof", offline_after_s=30))
    assert (changed.label, changed.offline_after_s, changed.offline_after_override_s) == (
        "Roof",
        30,
        30,
    )
    back = await update_device(db, fleet["d1"], DevicePatch(offline_after_s=None))
    assert (back.label, back.offline_after_s, back.offline_after_override_s) == ("Roof", 60, None)
    with pytest.raises(NotFound):
        await update_device(db, 12345, DevicePatch(label="x"))


async def test_delete_device_cascades(db: Database, fleet: dict[str, int]) -> None:
    """Deleting a device removes its sensors and readings; a second delete is NotFound."""
    key = await delete_device(db, fleet["d1"], kind="datalogger")
    assert key == DeviceKey(fleet["s1"], "datalogger", "D1")
    with pytest.raises(NotFound):
        await get_sensor(db, fleet["sensor"])
    with pytest.raises(NotFound):
        await delete_device(db, fleet["d1"])
    assert not await Sensor.exists().where(Sensor.device == fleet["d1"])


async def test_readings_window_and_limit(db: Database, fleet: dict[str, int]) -> None:
    """Oldest first; since/until bound the window; limit takes the first of a window,
    or the latest when there is no since."""
    sensor = fleet["sensor"]
    values = lambda rows: [r.value for r in rows]  # noqa: E731
    assert values(await readings(db, sensor)) == [float(i) for i in range(10)]
    assert values(await readings(db, sensor, since=at(3), until=at(6))) == [3.0, 4.0, 5.0]
    assert values(await readings(db, sensor, since=at(3), limit=2)) == [3.0, 4.0]
    assert values(await readings(db, sensor, limit=3)) == [7.0, 8.0, 9.0]
    assert values(await readings(db, sensor, until=at(2))) == [0.0, 1.0]
    first = (await readings(db, sensor, limit=1))[0]
    assert first.at == at(9) and first.at.tzinfo is not None
    with pytest.raises(NotFound):
        await readings(db, 12345)


async def test_readings_in_buckets_are_computed_by_the_database(
    db: Database, fleet: dict[str, int]
) -> None:
    """Values 0..9 one second apart, from T0 (a multiple of 4 s): buckets of 4 s start at
    multiples of 4 since the epoch and hold min/avg/max/count; since/until and limit apply."""
    sensor = fleet["sensor"]
    assert T0 % 4 == 0
    buckets = await bucketed_readings(db, sensor, 4)
    assert [(b.at, b.min, b.avg, b.max, b.count) for b in buckets] == [
        (at(0), 0.0, 1.5, 3.0, 4),
        (at(4), 4.0, 5.5, 7.0, 4),
        (at(8), 8.0, 8.5, 9.0, 2),
    ]
    window = await bucketed_readings(db, sensor, 4, since=at(2), until=at(9))
    assert [(b.at, b.min, b.max, b.count) for b in window] == [
        (at(0), 2.0, 3.0, 2),
        (at(4), 4.0, 7.0, 4),
        (at(8), 8.0, 8.0, 1),
    ]
    assert len(await bucketed_readings(db, sensor, 4, limit=2)) == 2
    assert [b.count for b in await bucketed_readings(db, sensor, 3600)] == [10]
    with pytest.raises(NotFound):
        await bucketed_readings(db, 12345, 60)


async def test_every_reading_of_a_window_in_pages(db: Database, fleet: dict[str, int]) -> None:
    """Pages of 3 give every reading once, oldest first, whatever the page size."""
    sensor = fleet["sensor"]
    pages = [page async for page in iter_readings(db, sensor, page=3)]
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [r.value for p in pages for r in p] == [float(i) for i in range(10)]
    pages = [p async for p in iter_readings(db, sensor, since=at(2), until=at(7), page=2)]
    window = [r.value for p in pages for r in p]
    assert window == [2.0, 3.0, 4.0, 5.0, 6.0]
    with pytest.raises(NotFound):
        [p async for p in iter_readings(db, 12345)]

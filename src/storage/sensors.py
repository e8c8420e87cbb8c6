"""Sensors and their readings, read side. Every function runs on the asyncio event loop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from sitelink.errors import NotFound
from sitelink.storage.database import Database
from sitelink.storage.tables import Device, Reading, Sensor

MAX_READINGS = 10_000


class SensorRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    device_id: int
    key: str
    label: str
    sensor_type: str
    unit: str
    current_value: float | None
    updated_at: datetime | None


class ReadingRecord(msgspec.Struct, frozen=True):
    at: datetime
    value: float


def sensor_record(row: dict[str, Any]) -> SensorRecord:
    return SensorRecord(
        id=row["id"],
        device_id=row["device"],
        key=row["key"],
        label=row["label"],
        sensor_type=row["sensor_type"],
        unit=row["unit"],
        current_value=row["current_value"],
        updated_at=row["updated_at"],
    )


async def get_sensor(db: Database, sensor_id: int) -> SensorRecord:
    row = await Sensor.select().where(Sensor.id == sensor_id).first()
    if row is None:
        raise NotFound(f"sensor {sensor_id} does not exist")
    return sensor_record(row)


async def sensors_of_device(db: Database, device_id: int) -> list[SensorRecord]:
    """The sensors of a device, by key; ``NotFound`` if the device does not exist."""
    if not await Device.exists().where(Device.id == device_id):
        raise NotFound(f"device {device_id} does not exist")
    rows = await Sensor.select().where(Sensor.device == device_id).order_by(Sensor.key)
    return [sensor_record(row) for row in rows]


async def readings(
    db: Database,
    sensor_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[ReadingRecord]:
    """Readings of a sensor in ``[since, until)``, oldest first, at most ``limit``
    (capped at 10,000). With ``since`` the window's first readings are returned, without it
    the latest ones. ``NotFound`` if the sensor does not exist."""
    if not await Sensor.exists().where(Sensor.id == sensor_id):
        raise NotFound(f"sensor {sensor_id} does not exist")
    if limit <= 0:
        return []
    query = Reading.select(Reading.at, Reading.value).where(Reading.sensor == sensor_id)
    if since is not None:
        query = query.where(Reading.at >= since)
    if until is not None:
        query = query.where(Reading.at < until)
    newest_first = since is None
    rows = (
        await query.order_by(Reading.at, ascending=not newest_first)
        .order_by(Reading.id, ascending=not newest_first)
        .limit(min(limit, MAX_READINGS))
    )
    if newest_first:
        rows.reverse()
    return [ReadingRecord(row["at"], row["value"]) for row in rows]

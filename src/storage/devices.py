"""Devices as the API and start-up see them: lists, details, uptime, edits, deletion.

Every function runs on the asyncio event loop. Rows are written by ``StorageWriter``;
here only the operator's fields (``label``, ``offline_after_s``) change, and devices are
deleted. Stored availability trails the live one (in the actors) by at most one flush.
``uptime_percentage``: see ``sitelink.storage.availability``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from sitelink.errors import NotFound
from sitelink.events import DeviceKey, DeviceKind
from sitelink.storage import recent
from sitelink.storage.apply import IN_CHUNK
from sitelink.storage.availability import uptime_percentages
from sitelink.storage.database import Database
from sitelink.storage.sensors import SensorRecord, sensor_record
from sitelink.storage.tables import AvailabilityInterval, Device, Sensor, Site

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType


class DeviceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A device row. ``offline_after_s`` is effective (the site's when not overridden)."""

    id: int
    site_id: int
    kind: DeviceKind
    serial: str
    model: str
    gateway: str
    label: str
    firmware: str
    uptime_s: int | None
    offline_after_s: int
    offline_after_override_s: int | None
    availability: str
    last_seen_at: datetime | None
    discovered_at: datetime
    sensors_count: int
    uptime_percentage: float


class IntervalRecord(msgspec.Struct, frozen=True, kw_only=True):
    availability: str
    started_at: datetime
    ended_at: datetime | None


class DeviceDetail(msgspec.Struct, frozen=True, kw_only=True):
    device: DeviceRecord
    sensors: list[SensorRecord]
    history: list[IntervalRecord]
    """Availability intervals, newest first."""


class DevicePatch(msgspec.Struct, frozen=True, kw_only=True):
    """``offline_after_s=None`` goes back to the site's default."""

    label: str | UnsetType = UNSET
    offline_after_s: int | UnsetType | None = UNSET


class StoredSensor(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    key: str
    label: str
    sensor_type: str
    unit: str
    current_value: float | None
    updated_at: float | None


class StoredDevice(msgspec.Struct, frozen=True, kw_only=True):
    """A device for start-up (actors and read model). Times in Unix seconds, as events."""

    id: int
    key: DeviceKey
    model: str
    gateway: str
    label: str
    firmware: str
    uptime_s: int | None
    offline_after_s: int | None
    availability: str
    last_seen_at: float | None
    sensors: tuple[StoredSensor, ...]


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


async def list_devices(
    db: Database, kind: DeviceKind, *, site_id: int | None = None, online_only: bool = False
) -> list[DeviceRecord]:
    """Devices of one kind, by id, optionally of one site and only those stored online."""
    query = Device.select().where(Device.kind == kind)
    if site_id is not None:
        query = query.where(Device.site == site_id)
    if online_only:
        query = query.where(Device.availability == "online")
    return await _records(await query.order_by(Device.id))


async def get_device(
    db: Database, device_id: int, *, kind: DeviceKind | None = None, history_limit: int = 50
) -> DeviceDetail:
    """One device with its sensors and its last ``history_limit`` availability intervals.

    ``NotFound`` if there is no such device (of that kind, when given).
    """
    row = await _device_row(device_id, kind)
    [record] = await _records([row])
    sensors = await Sensor.select().where(Sensor.device == device_id).order_by(Sensor.key)
    intervals = (
        await AvailabilityInterval.select()
        .where(AvailabilityInterval.device == device_id)
        .order_by(AvailabilityInterval.started_at, ascending=False)
        .order_by(AvailabilityInterval.id, ascending=False)
        .limit(history_limit)
    )
    return DeviceDetail(
        device=record,
        sensors=[sensor_record(s) for s in sensors],
        history=[
            IntervalRecord(
                availability=i["availability"], started_at=i["started_at"], ended_at=i["ended_at"]
            )
            for i in intervals
        ],
    )


async def update_device(
    db: Database, device_id: int, patch: DevicePatch, *, kind: DeviceKind | None = None
) -> DeviceRecord:
    values: dict[Any, Any] = {}
    if not isinstance(patch.label, UnsetType):
        values[Device.label] = patch.label
    if not isinstance(patch.offline_after_s, UnsetType):
        values[Device.offline_after_s] = patch.offline_after_s
    await _device_row(device_id, kind)
    if values:
        await Device.update(values).where(Device.id == device_id)
    [record] = await _records([await _device_row(device_id, kind)])
    return record


async def delete_device(
    db: Database, device_id: int, *, kind: DeviceKind | None = None
) -> DeviceKey:
    """Forget a device with its sensors, readings and intervals; return its key (so the
    caller can tell its site actor to forget it too). ``NotFound`` if unknown."""
    row = await _device_row(device_id, kind)
    async with db.transaction():
        await recent.delete_of(db, 'd."id" = {}', device_id)
        await Device.delete().where(Device.id == device_id)
    return DeviceKey(row["site"], row["kind"], row["serial"])


async def load_devices(db: Database, site_ids: Collection[int] | None = None
                       ) -> list[StoredDevice]:
    """Every device (of ``site_ids``, when given) with its sensors and current values, by
    id (for start-up, or for sites this instance has just taken over)."""
    sensor_query, device_query = Sensor.select(), Device.select()
    if site_ids is not None:
        sensor_query = sensor_query.where(Sensor.device.site.is_in(list(site_ids) or [0]))
        device_query = device_query.where(Device.site.is_in(list(site_ids) or [0]))
    sensors: dict[int, list[StoredSensor]] = {}
    for s in await sensor_query.order_by(Sensor.id):
        sensors.setdefault(s["device"], []).append(
            StoredSensor(
                id=s["id"],
                key=s["key"],
                label=s["label"],
                sensor_type=s["sensor_type"],
                unit=s["unit"],
                current_value=s["current_value"],
                updated_at=_ts(s["updated_at"]),
            )
        )
    return [
        StoredDevice(
            id=d["id"],
            key=DeviceKey(d["site"], d["kind"], d["serial"]),
            model=d["model"],
            gateway=d["gateway"],
            label=d["label"],
            firmware=d["firmware"],
            uptime_s=d["uptime_s"],
            offline_after_s=d["offline_after_s"],
            availability=d["availability"],
            last_seen_at=_ts(d["last_seen_at"]),
            sensors=tuple(sensors.get(d["id"], ())),
        )
        for d in await device_query.order_by(Device.id)
    ]


async def _device_row(device_id: int, kind: DeviceKind | None) -> dict[str, Any]:
    query = Device.select().where(Device.id == device_id)
    if kind is not None:
        query = query.where(Device.kind == kind)
    row = await query.first()
    if row is None:
        raise NotFound(f"{kind or 'device'} {device_id} does not exist")
    return row


async def _records(rows: Sequence[dict[str, Any]]) -> list[DeviceRecord]:
    now = datetime.now(UTC)
    ids = [row["id"] for row in rows]
    uptimes = await uptime_percentages({row["id"]: row["discovered_at"] for row in rows}, now=now)
    counts: dict[int, int] = {}
    site_defaults: dict[int, int] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        for s in await Sensor.select(Sensor.device).where(Sensor.device.is_in(chunk)):
            counts[s["device"]] = counts.get(s["device"], 0) + 1
    site_ids = sorted({row["site"] for row in rows})
    for start in range(0, len(site_ids), IN_CHUNK):
        chunk = site_ids[start : start + IN_CHUNK]
        for site in await Site.select(Site.id, Site.offline_after_s).where(Site.id.is_in(chunk)):
            site_defaults[site["id"]] = site["offline_after_s"]
    return [
        DeviceRecord(
            id=row["id"],
            site_id=row["site"],
            kind=row["kind"],
            serial=row["serial"],
            model=row["model"],
            gateway=row["gateway"],
            label=row["label"],
            firmware=row["firmware"],
            uptime_s=row["uptime_s"],
            offline_after_s=(
                row["offline_after_s"]
                if row["offline_after_s"] is not None
                else site_defaults.get(row["site"], 180)
            ),
            offline_after_override_s=row["offline_after_s"],
            availability=row["availability"],
            last_seen_at=row["last_seen_at"],
            discovered_at=row["discovered_at"],
            sensors_count=counts.get(row["id"], 0),
            uptime_percentage=uptimes.get(row["id"], 0.0),
        )
        for row in rows
    ]

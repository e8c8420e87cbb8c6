"""The JSON answers of the device endpoints (msgspec structs, typed in OpenAPI), and how a
stored device or sensor becomes one. Times are ISO 8601 UTC with ``Z``, null when absent."""

from __future__ import annotations

from typing import Literal, cast

import msgspec

from sitelink.storage.devices import DeviceRecord, IntervalRecord
from sitelink.storage.sensors import ReadingBucket, ReadingRecord, SensorRecord
from sitelink.times import iso_time

Availability = Literal["online", "offline", "unreachable", "unknown"]


class Gateway(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    site_id: int
    serial_number: str
    label: str
    availability: Availability
    is_online: bool
    firmware_version: str
    uptime_percentage: float
    offline_after_s: int
    last_seen_at: str | None
    discovered_at: str


class Datalogger(Gateway, frozen=True, kw_only=True):
    model: str
    gateway: str
    sensors_count: int


class Sensor(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    datalogger_id: int
    key: str
    label: str
    sensor_type: str
    is_online: bool
    current_value: float | None
    unit_of_measure: str
    updated_at: str | None


class AvailabilityInterval(msgspec.Struct, frozen=True, kw_only=True):
    """One stretch of a device's availability; ``ended_at`` is null while it lasts."""

    availability: Availability
    started_at: str
    ended_at: str | None


class DataloggerDetail(Datalogger, frozen=True, kw_only=True):
    sensors: list[Sensor]
    availability_history: list[AvailabilityInterval]
    """Newest first."""


class DataloggerList(msgspec.Struct, frozen=True, kw_only=True):
    dataloggers: list[Datalogger]


class GatewayList(msgspec.Struct, frozen=True, kw_only=True):
    gateways: list[Gateway]


class SensorList(msgspec.Struct, frozen=True, kw_only=True):
    sensors: list[Sensor]


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    at: str
    value: float | None
    """A value that is not a number (a Sparkplug NaN) goes out as null, as msgspec sends it."""


class Bucket(msgspec.Struct, frozen=True, kw_only=True):
    """Readings of one bucket ``[at, at + bucket_s)``, summed up by the database."""

    at: str
    min: float
    avg: float
    max: float
    count: int


class Readings(msgspec.Struct, frozen=True, kw_only=True):
    """Raw readings, oldest first."""

    readings: list[Reading]


class Buckets(msgspec.Struct, frozen=True, kw_only=True):
    """With ``bucket_s``: one row per bucket, oldest first."""

    readings: list[Bucket]


def gateway(d: DeviceRecord) -> Gateway:
    """The fields every device answer has (a gateway has just these)."""
    return Gateway(
        id=d.id, site_id=d.site_id, serial_number=d.serial, label=d.label,
        availability=cast(Availability, d.availability),
        is_online=d.availability == "online", firmware_version=d.firmware,
        uptime_percentage=round(d.uptime_percentage, 2),
        offline_after_s=d.offline_after_s, last_seen_at=iso_time(d.last_seen_at),
        discovered_at=iso_time(d.discovered_at),
    )


def datalogger(d: DeviceRecord) -> Datalogger:
    return Datalogger(**msgspec.structs.asdict(gateway(d)), model=d.model, gateway=d.gateway,
                      sensors_count=d.sensors_count)


def datalogger_detail(d: DeviceRecord, sensors: list[SensorRecord],
                      history: list[IntervalRecord]) -> DataloggerDetail:
    online = d.availability == "online"
    return DataloggerDetail(
        **msgspec.structs.asdict(datalogger(d)),
        sensors=[sensor(s, online) for s in sensors],
        availability_history=[
            AvailabilityInterval(availability=cast(Availability, i.availability),
                                 started_at=iso_time(i.started_at),
                                 ended_at=iso_time(i.ended_at)) for i in history])


def sensor(s: SensorRecord, online: bool) -> Sensor:
    return Sensor(id=s.id, datalogger_id=s.device_id, key=s.key, label=s.label,
                  sensor_type=s.sensor_type, is_online=online, current_value=s.current_value,
                  unit_of_measure=s.unit, updated_at=iso_time(s.updated_at))


def reading(r: ReadingRecord) -> Reading:
    return Reading(at=iso_time(r.at), value=r.value)


def bucket(b: ReadingBucket) -> Bucket:
    return Bucket(at=iso_time(b.at), min=b.min, avg=b.avg, max=b.max, count=b.count)

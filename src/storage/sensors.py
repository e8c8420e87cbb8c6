"""Sensors and their readings, read side. Every function runs on the asyncio event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from sitelink.errors import NotFound
from sitelink.storage import recent
from sitelink.storage.database import Database
from sitelink.storage.tables import Sensor

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
    where, args = _window(db, sensor_id, since, until)
    direction = "ASC" if since is not None else "DESC"  # without since: the latest ones
    sql, values = recent.select(db, "id, at, value", where, args,
                                order=f"at {direction}, id {direction}",
                                limit=min(limit, MAX_READINGS))
    rows = await db.execute(sql, *values)
    if since is None:
        rows.reverse()
    return [ReadingRecord(_time(row["at"]), row["value"]) for row in rows]


def _window(db: Database, sensor_id: int, since: datetime | None, until: datetime | None,
            ) -> tuple[str, list[Any]]:
    """The WHERE clause (``{}`` placeholders) and its values: a sensor's readings in
    ``[since, until)``."""
    where = ["sensor = {}"]
    args: list[Any] = [sensor_id]
    if since is not None:
        where.append("at >= {}")
        args.append(_db_time(db, since))
    if until is not None:
        where.append("at < {}")
        args.append(_db_time(db, until))
    return " AND ".join(where), args


def _time(value: datetime | str) -> datetime:
    """A reading's time as read: SQLite gives the stored text where it cannot tell the
    column's type (a subquery over two tables)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


class ReadingBucket(msgspec.Struct, frozen=True, kw_only=True):
    """Readings of one time bucket ``[at, at + bucket_s)``, summed up by the database."""

    at: datetime
    min: float
    avg: float
    max: float
    count: int


def _db_time(db: Database, when: datetime) -> Any:
    """A time as the engine compares it: aware UTC for asyncpg; for SQLite the text that
    piccolo stores (``str`` of the UTC datetime), which sorts as time does."""
    utc = when.astimezone(UTC)
    return str(utc) if db.engine_name == "sqlite" else utc


async def bucketed_readings(
    db: Database,
    sensor_id: int,
    bucket_s: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[ReadingBucket]:
    """Min, average, maximum and count of a sensor's readings per ``bucket_s`` seconds of
    ``[since, until)``, oldest bucket first, at most ``limit`` buckets (capped at 10,000);
    buckets start at multiples of ``bucket_s`` since the epoch. Computed by the database in
    one GROUP BY, so a week of 5-second readings comes back as a few hundred rows.
    ``NotFound`` if the sensor does not exist."""
    if not await Sensor.exists().where(Sensor.id == sensor_id):
        raise NotFound(f"sensor {sensor_id} does not exist")
    if bucket_s <= 0 or limit <= 0:
        return []
    # The bucket number: whole seconds since the epoch, divided by the bucket (both engines
    # floor here, as times are after 1970).
    if db.engine_name == "sqlite":
        bucket = f"(CAST(strftime('%s', at) AS INTEGER) / {int(bucket_s)})"
    else:
        bucket = f"floor(extract(epoch FROM at) / {int(bucket_s)})::bigint"
    where, args = _window(db, sensor_id, since, until)
    rows = await db.execute(
        f"SELECT {bucket} AS bucket, min(value) AS lo, avg(value) AS mean, max(value) AS hi, "
        f"count(*) AS n FROM {recent.source(db.engine_name)} AS r WHERE {where} "
        f"GROUP BY bucket ORDER BY bucket LIMIT {min(int(limit), MAX_READINGS)}",
        *args,
    )
    return [
        ReadingBucket(
            at=datetime.fromtimestamp(int(row["bucket"]) * bucket_s, UTC),
            min=float(row["lo"]),
            avg=float(row["mean"]),
            max=float(row["hi"]),
            count=int(row["n"]),
        )
        for row in rows
    ]


async def iter_readings(
    db: Database,
    sensor_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = MAX_READINGS,
) -> AsyncIterator[list[ReadingRecord]]:
    """Every reading of ``[since, until)``, oldest first, in pages of ``page`` rows (for CSV
    export: memory stays one page whatever the window). Pages follow ``(at, id)``, so
    readings that share a time are neither repeated nor skipped. ``NotFound`` if the sensor
    does not exist (raised before the first page)."""
    if not await Sensor.exists().where(Sensor.id == sensor_id):
        raise NotFound(f"sensor {sensor_id} does not exist")
    where, args = _window(db, sensor_id, since, until)
    after: tuple[Any, int] | None = None  # the last row's (at as read, id)
    while True:
        page_where, page_args = where, args
        if after is not None:
            page_where += " AND (at > {} OR (at = {} AND id > {}))"
            page_args = [*args, after[0], after[0], after[1]]
        sql, values = recent.select(db, "id, at, value", page_where, page_args,
                                    order="at, id", limit=page)
        rows = await db.execute(sql, *values)
        if not rows:
            return
        yield [ReadingRecord(_time(row["at"]), row["value"]) for row in rows]
        if len(rows) < page:
            return
        after = (rows[-1]["at"], rows[-1]["id"])

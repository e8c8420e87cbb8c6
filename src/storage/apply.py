"""Writing one coalesced ``Batch`` in one transaction, and the device/sensor id maps.

Runs on the asyncio event loop, called only by ``StorageWriter`` (which serialises calls).
The hot statements are raw SQL run with ``executemany`` (one round trip for many rows) and
readings are appended with ``Database.copy_records`` (COPY on PostgreSQL): piccolo builds
one Python object per row, several times slower at this volume.

The id maps are a cache. Each flush checks that the device ids it is about to use still
exist (a device or site may have been deleted through the API or by another process);
a device that is gone is created again if its site still exists (it spoke, so it is
rediscovered), and rows of deleted sites are skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from piccolo.table import Table

from sitelink.events import DeviceKey, SensorValue
from sitelink.storage import recent
from sitelink.storage.batch import Batch, DeviceSeen, utc
from sitelink.storage.database import Database
from sitelink.storage.fencing import held_sites
from sitelink.storage.tables import Device, Sensor

Fence = tuple[str, dict[int, int]]  # owner, site -> epoch to check
IN_CHUNK = 500  # ids per IN (...) list: well under both engines' parameter limits


@dataclass(slots=True)
class IdMaps:
    """DeviceKey → device id and device id → sensor key → sensor id, loaded at start."""

    devices: dict[DeviceKey, int] = field(default_factory=dict)
    sensors: dict[int, dict[str, int]] = field(default_factory=dict)

    async def load(self) -> None:
        self.devices.clear()
        self.sensors.clear()
        for row in await Device.select(Device.id, Device.site, Device.kind, Device.serial):
            self.devices[DeviceKey(row["site"], row["kind"], row["serial"])] = row["id"]
        for row in await Sensor.select(Sensor.id, Sensor.device, Sensor.key):
            self.sensors.setdefault(row["device"], {})[row["key"]] = row["id"]

    def sensor_id(self, device_id: int, key: str) -> int | None:
        return self.sensors.get(device_id, {}).get(key)

    def drop_device(self, key: DeviceKey) -> None:
        """Forget a device that is gone, with the sensors cached under its id."""
        device_id = self.devices.pop(key, None)
        if device_id is not None:
            self.sensors.pop(device_id, None)

    def add_new_device(self, key: DeviceKey, device_id: int) -> None:
        """Remember a device just created. Sensors cached under its id belonged to a
        deleted device whose id SQLite gave out again: they are forgotten."""
        self.devices[key] = device_id
        self.sensors.pop(device_id, None)


def _chunks(values: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), IN_CHUNK):
        yield list(values[start : start + IN_CHUNK])


def _listed(ids: Iterable[int]) -> str:
    """Our own integer ids as an IN list of literals: binding them one by one through
    piccolo cost more than the query itself."""
    return ", ".join(str(int(i)) for i in ids)


async def existing_sites(db: Database, site_ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(site_ids)):
        rows = await db.execute(f'SELECT "id" FROM "site" WHERE "id" IN ({_listed(chunk)})')
        found.update(row["id"] for row in rows)
    return found


async def resolve_devices(
    db: Database, ids: IdMaps, wanted: dict[DeviceKey, DeviceSeen], live_sites: set[int]
) -> dict[DeviceKey, int]:
    """Ids of the wanted devices, creating the missing ones (bulk) on live sites.

    Keys of deleted sites are left out of the answer. Call inside a transaction.
    """
    keys = [key for key in wanted if key.site_id in live_sites]
    cached = {key: ids.devices[key] for key in keys if key in ids.devices}
    # Compare identities, not just ids: SQLite reuses the id of a deleted last row.
    actual: dict[int, tuple[int, str, str]] = {}
    for chunk in _chunks(sorted(set(cached.values()))):
        rows = await db.execute('SELECT "id", "site", "kind", "serial" FROM "device" '
                                f'WHERE "id" IN ({_listed(chunk)})')
        actual.update({row["id"]: (row["site"], row["kind"], row["serial"]) for row in rows})
    for key, device_id in cached.items():
        if actual.get(device_id) != (key.site_id, key.kind, key.serial):
            ids.drop_device(key)
    missing = [key for key in keys if key not in ids.devices]
    if missing:
        await _create_devices(db, ids, {key: wanted[key] for key in missing})
    return {key: ids.devices[key] for key in keys if key in ids.devices}


async def _insert_ignoring_duplicates(
    db: Database, table: type[Table], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """One statement run for every row (raw SQL: building piccolo rows cost ~400 µs each);
    rows that hit a unique constraint (made meanwhile) are skipped."""
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("{}" for _ in columns)
    await db.executemany(f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES ({marks}) '
                         "ON CONFLICT DO NOTHING", rows)


_DEVICE_COLUMNS = ("site", "kind", "serial", "model", "gateway", "label", "firmware",
                   "uptime_s", "offline_after_s", "availability", "last_seen_at",
                   "discovered_at")
_SENSOR_COLUMNS = ("device", "key", "label", "sensor_type", "unit", "current_value",
                   "updated_at")


async def _create_devices(db: Database, ids: IdMaps, new: dict[DeviceKey, DeviceSeen]) -> None:
    stamp = Stamps(db.engine_name)
    await _insert_ignoring_duplicates(db, Device, _DEVICE_COLUMNS, [
        (key.site_id, key.kind, key.serial, seen.model, seen.gateway, "", "", None, None,
         "unknown", None, stamp[seen.at])
        for key, seen in new.items()
    ])
    by_site: dict[int, list[str]] = {}
    for key in new:
        by_site.setdefault(key.site_id, []).append(key.serial)
    for site_id, serials in by_site.items():
        for start in range(0, len(serials), IN_CHUNK):
            part = serials[start : start + IN_CHUNK]
            found = await db.execute(
                'SELECT "id", "kind", "serial" FROM "device" WHERE "site" = {} AND "serial" IN ('
                + ", ".join("{}" for _ in part) + ")", site_id, *part)
            for row in found:
                key = DeviceKey(site_id, row["kind"], row["serial"])
                if key in new:
                    ids.add_new_device(key, row["id"])


async def _create_sensors(
    db: Database, ids: IdMaps, batch: Batch, device_ids: dict[DeviceKey, int],
    max_sensors: int, counts: Counter[str],
) -> None:
    """Create the batch's sensors not known yet (on devices that exist), and cache their ids."""
    missing: dict[tuple[int, str], SensorValue] = {}
    no_sensors: dict[str, int] = {}
    for key, latest in batch.sensors.items():
        device_id = device_ids.get(key)
        if device_id is None:
            continue
        known = ids.sensors.get(device_id, no_sensors)
        if latest.keys() <= known.keys():  # the usual case, decided in C
            continue
        new = [sensor_key for sensor_key in latest if sensor_key not in known]
        # A device has at most max_sensors sensors: one that sends ever new keys would
        # otherwise grow the sensor table (and every answer about it) without end.
        room = max(0, max_sensors - len(known))
        if len(new) > room:
            counts["sensor_cap"] += len(new) - room
        for sensor_key in new[:room]:
            missing[(device_id, sensor_key)] = latest[sensor_key][0]
    if not missing:
        return
    await _insert_ignoring_duplicates(db, Sensor, _SENSOR_COLUMNS, [
        (device_id, key, value.label, value.sensor_type, value.unit, None, None)
        for (device_id, key), value in missing.items()
    ])
    for chunk in _chunks(sorted({device_id for device_id, _ in missing})):
        rows = await db.execute('SELECT "id", "device", "key" FROM "sensor" '
                                f'WHERE "device" IN ({_listed(chunk)})')
        for row in rows:
            ids.sensors.setdefault(row["device"], {})[row["key"]] = row["id"]


class Stamps(dict[float, Any]):
    """Times of one flush as the driver takes them, each converted once (the readings of a
    heartbeat share its time): an aware UTC datetime for asyncpg; for SQLite the text that
    piccolo's datetime adapter would store (``str`` of the UTC datetime), so the adapter is
    not run per row and what is read back is the same. ``stamps[at]``: a dict, so a time
    already converted costs one lookup, not a method call (it is asked for every row)."""

    def __init__(self, engine_name: str) -> None:
        super().__init__()
        self._text = engine_name == "sqlite"

    def __missing__(self, at: float) -> Any:
        stamp: Any = utc(at)
        if self._text:
            stamp = str(stamp)
        self[at] = stamp
        return stamp


async def apply_batch(db: Database, ids: IdMaps, batch: Batch, *, max_sensors: int = 256,
                      counts: Counter[str] | None = None, fence: Fence | None = None) -> int:
    """Write the batch in one transaction; return the number of readings appended.

    New sensors past ``max_sensors`` per device are not created (their values are not
    stored) and counted in ``counts["sensor_cap"]``. With a ``fence`` (owner, site ->
    epoch), rows about a site whose lease that owner no longer holds under that epoch are
    left out and counted in ``counts["lease_fenced"]`` (``storage.fencing``)."""
    counts = Counter() if counts is None else counts
    stamp = Stamps(db.engine_name)
    async with db.writer_transaction():
        live_sites = await existing_sites(db, batch.site_ids())
        if fence is not None:
            owner, checks = fence
            lost = set(checks) - await held_sites(db, owner, checks)
            counts["lease_fenced"] += batch.drop_sites(lost)
            live_sites -= lost
        wanted = dict(batch.devices)
        for key, changes in batch.availability.items():
            wanted.setdefault(key, DeviceSeen(model="", gateway="", at=changes[0].at))
        device_ids = await resolve_devices(db, ids, wanted, live_sites)
        await _create_sensors(db, ids, batch, device_ids, max_sensors, counts)
        await _write_devices(db, batch, device_ids, stamp)
        await _write_sensors(db, batch, ids, device_ids, stamp)
        readings = _reading_rows(batch, ids, device_ids, stamp)
        await db.copy_records(recent.appended_to(db), ("sensor", "at", "value"), readings)
        await _write_availability(db, batch, device_ids)
        await _write_sites(db, batch, live_sites)
        await _write_commands(db, batch)
    return len(readings)


def _reading_rows(batch: Batch, ids: IdMaps, device_ids: dict[DeviceKey, int], stamp: Stamps
                  ) -> list[tuple[int, Any, float]]:
    """One row per finite value of a known sensor (NaN and infinities are not stored)."""
    rows: list[tuple[int, Any, float]] = []
    append = rows.append
    isfinite = math.isfinite
    sensors_of: dict[DeviceKey, dict[str, int]] = {}
    for key, at, values in batch.readings:
        known = sensors_of.get(key)
        if known is None:
            device_id = device_ids.get(key)
            known = sensors_of[key] = ids.sensors.get(device_id, {}) if device_id else {}
        when = stamp[at]
        for value in values:
            number = value.value
            if number is None or not isfinite(number):
                continue
            sensor_id = known.get(value.key)
            if sensor_id is not None:
                append((sensor_id, when, number))
    return rows


async def _write_devices(db: Database, batch: Batch, device_ids: dict[DeviceKey, int],
                         stamp: Stamps) -> None:
    await db.executemany(
        "UPDATE device SET last_seen_at = {}, firmware = COALESCE({}, firmware), "
        "uptime_s = COALESCE({}, uptime_s), "
        "model = COALESCE(NULLIF({}, ''), model), "
        "gateway = COALESCE(NULLIF({}, ''), gateway) WHERE id = {}",
        [
            (stamp[seen.at], seen.firmware, seen.uptime_s, seen.model, seen.gateway,
             device_ids[key])
            for key, seen in batch.devices.items()
            if seen.heard and key in device_ids
        ],
    )


async def _write_sensors(db: Database, batch: Batch, ids: IdMaps,
                         device_ids: dict[DeviceKey, int], stamp: Stamps) -> None:
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for key, latest in batch.sensors.items():
        device_id = device_ids.get(key)
        known = ids.sensors.get(device_id) if device_id is not None else None
        if not known:
            continue
        for sensor_key, (value, at) in latest.items():
            sensor_id = known.get(sensor_key)
            if sensor_id is not None:
                append((value.value, stamp[at], value.label, value.sensor_type, value.unit,
                        sensor_id))
    # An empty label, type or unit keeps what the row has (each parameter bound once).
    await db.executemany(
        "UPDATE sensor SET current_value = {}, updated_at = {}, "
        "label = COALESCE(NULLIF({}, ''), label), "
        "sensor_type = COALESCE(NULLIF({}, ''), sensor_type), "
        "unit = COALESCE(NULLIF({}, ''), unit) WHERE id = {}",
        rows,
    )


async def _write_availability(db: Database, batch: Batch, device_ids: dict[DeviceKey, int]) -> None:
    closes: list[tuple[datetime, int]] = []
    opens: list[tuple[int, str, datetime, datetime | None]] = []
    latest: list[tuple[str, int]] = []
    for key, changes in batch.availability.items():
        device_id = device_ids.get(key)
        if device_id is None:
            continue
        closes.append((utc(changes[0].at), device_id))
        for change, following in zip(changes, [*changes[1:], None], strict=True):
            ended = utc(following.at) if following is not None else None
            opens.append((device_id, change.availability, utc(change.at), ended))
        latest.append((changes[-1].availability, device_id))
    await db.executemany(
        "UPDATE availability_interval SET ended_at = {} WHERE device = {} AND ended_at IS NULL",
        closes,
    )
    await db.copy_records(
        "availability_interval", ("device", "availability", "started_at", "ended_at"), opens
    )
    await db.executemany("UPDATE device SET availability = {} WHERE id = {}", latest)


async def _write_sites(db: Database, batch: Batch, live_sites: set[int]) -> None:
    await db.executemany(
        "UPDATE site SET status = {}, error_message = {}, "
        "last_connected_at = COALESCE({}, last_connected_at) WHERE id = {}",
        [
            (
                status.status,
                status.error_message,
                utc(status.last_connected_at) if status.last_connected_at is not None else None,
                site_id,
            )
            for site_id, status in batch.site_status.items()
        ],
    )
    await db.executemany(
        "UPDATE site SET messages_received = messages_received + {}, "
        "last_heartbeat_at = COALESCE({}, last_heartbeat_at) WHERE id = {}",
        [
            (
                traffic.received,
                utc(traffic.last_message_at) if traffic.last_message_at is not None else None,
                site_id,
            )
            for site_id, traffic in batch.traffic.items()
        ],
    )
    events = [e for e in batch.connection_events if e.site_id in live_sites]
    await db.copy_records(
        "connection_event",
        ("site", "kind", "reason", "at"),
        [(e.site_id, e.kind, e.reason, utc(e.at)) for e in events],
    )
    errors: dict[int, int] = {}
    for e in events:
        if e.counts_as_error:
            errors[e.site_id] = errors.get(e.site_id, 0) + 1
    await db.executemany(
        "UPDATE site SET connection_errors = connection_errors + {} WHERE id = {}",
        [(count, site_id) for site_id, count in errors.items()],
    )


async def _write_commands(db: Database, batch: Batch) -> None:
    await db.executemany(
        "UPDATE command SET outcome = {}, error = {}, completed_at = {} WHERE command_id = {}",
        [(o.outcome, o.error, utc(o.at), o.command_id) for o in batch.command_outcomes.values()],
    )

"""Availability history of devices: uptime from intervals, and the reset at start-up.

Intervals are written by ``StorageWriter`` from ``DeviceAvailabilityChanged`` events.
Every function runs on the asyncio event loop.

``uptime_percentage`` is the share of the last 24 h, or of the time since discovery if
that is shorter, that the device's intervals say ``online``; two decimals.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sitelink.storage.database import Database
from sitelink.storage.tables import AvailabilityInterval, Device

UPTIME_WINDOW = timedelta(hours=24)
IN_CHUNK = 500


async def mark_unknown(db: Database, site_ids: Collection[int] | None, at: datetime) -> int:
    """What storage says about these sites' devices is from their previous owner's run
    (``None``: every site — one instance alone, at its start). Close each of their open
    intervals that is not ``unknown`` at ``at``, open an ``unknown`` one, and set each of
    their devices ``unknown`` (API.md: known from storage, not heard from since start).
    Returns how many intervals were closed. Call before this instance's writer writes about
    them: at start for the sites it owns, and when a cluster's lease keeper claims a site —
    never for another instance's sites, whose devices are live."""
    sites = None if site_ids is None else sorted(set(site_ids))
    if sites == []:
        return 0
    async with db.transaction():
        query = AvailabilityInterval.select(AvailabilityInterval.device).where(
            AvailabilityInterval.ended_at.is_null()
            & (AvailabilityInterval.availability != "unknown")
        )
        if sites is not None:
            query = query.where(AvailabilityInterval.device.site.is_in(sites))
        rows = await query
        stale = sorted({row["device"] for row in rows})
        await db.executemany(
            "UPDATE availability_interval SET ended_at = {} WHERE device = {} AND ended_at IS NULL",
            [(at, device_id) for device_id in stale],
        )
        await db.copy_records(
            "availability_interval",
            ("device", "availability", "started_at", "ended_at"),
            [(device_id, "unknown", at, None) for device_id in stale],
        )
        devices = Device.update({Device.availability: "unknown"}).where(
            Device.availability != "unknown"
        )
        if sites is not None:
            devices = devices.where(Device.site.is_in(sites))
        await devices
    return len(stale)


async def uptime_percentages(
    discovered_at: dict[int, datetime], *, now: datetime
) -> dict[int, float]:
    """Online share of the last 24 h (or since discovery), per device id, two decimals."""
    window_start = now - UPTIME_WINDOW
    online_s: dict[int, float] = dict.fromkeys(discovered_at, 0.0)
    ids = sorted(discovered_at)
    for start in range(0, len(ids), IN_CHUNK):
        rows = await AvailabilityInterval.select().where(
            AvailabilityInterval.device.is_in(ids[start : start + IN_CHUNK])
            & (AvailabilityInterval.availability == "online")
            & (
                AvailabilityInterval.ended_at.is_null()
                | (AvailabilityInterval.ended_at > window_start)
            )
        )
        for row in rows:
            device = row["device"]
            begin = max(row["started_at"], window_start, discovered_at[device])
            end = min(row["ended_at"] or now, now)
            if end > begin:
                online_s[device] += (end - begin).total_seconds()
    result: dict[int, float] = {}
    for device, seconds in online_s.items():
        span = (now - max(window_start, discovered_at[device])).total_seconds()
        result[device] = round(min(100.0, 100.0 * seconds / span), 2) if span > 0 else 0.0
    return result

"""What a test's database holds of readings, wherever they wait: on SQLite the storage writer
appends to ``reading_recent`` and moves them into ``reading`` now and then
(``sitelink.storage.recent``), so a test counts both, through the bound piccolo engine."""

from __future__ import annotations

from sitelink.storage import recent
from sitelink.storage.tables import Reading


def _source() -> str:
    return recent.source(Reading._meta.db.engine_type)


async def count_readings(device_id: int | None = None) -> int:
    """Every reading stored (of one device's sensors, with ``device_id``)."""
    where, args = ("", []) if device_id is None else (
        "WHERE sensor IN (SELECT id FROM sensor WHERE device = {})", [device_id])
    rows = await Reading.raw(f"SELECT count(*) AS n FROM {_source()} AS r {where}", *args)
    return int(rows[0]["n"])


async def reading_values() -> list[float]:
    """The values of every reading stored, smallest first."""
    rows = await Reading.raw(f"SELECT value FROM {_source()} AS r ORDER BY value")
    return [float(row["value"]) for row in rows]

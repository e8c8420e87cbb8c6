"""Live readings of sites another instance runs, for this instance's ``?readings=1`` streams.

Readings are far too many for the event log. The owner streams its own sites' readings at
once (``Hub.publish``, no id); the others read them from where the owner's storage writer
puts them anyway, the ``reading`` table, by id — and only while one of their own streams
asked for readings, so a cluster whose dashboards show no live chart pays nothing.

Runs on the asyncio loop: every ``POLL_S`` while a local stream wants readings, the rows
after the last id read (starting from the newest when the first such stream opens), for
sites this instance does not run. A reading reaches another instance within the owner's
writer flush (0.25 s) plus a poll. Readings are not replayed on reconnect (they carry no
id); one whose writer committed after a later id was read is not streamed there (the
chart's history has it).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from sitelink.fanout import Hub
from sitelink.ownership import Ownership
from sitelink.times import iso_time

log = structlog.get_logger(__name__)

POLL_S = 0.5
LIMIT = 5_000

_AFTER = (
    "SELECT r.id, r.at, r.value, s.key, s.unit, d.id AS device_id, d.serial, d.site "
    "FROM reading r JOIN sensor s ON s.id = r.sensor JOIN device d ON d.id = s.device "
    "WHERE r.id > $1 AND d.kind = 'datalogger' ORDER BY r.id LIMIT $2"
)


class ReadingsFollower:
    def __init__(self, pool: Any, hub: Hub, ownership: Ownership) -> None:
        self.pool = pool
        self.hub = hub
        self.ownership = ownership
        self.last_id: int | None = None  # None: no local stream wants readings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="readings")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)  # a polling pace: the table has no notification
            if not self.hub.wants_readings():
                self.last_id = None
                continue
            try:
                await self._read()
            except Exception as exc:
                log.warning("reading other instances' readings failed", error=str(exc)[:300])

    async def _read(self) -> None:
        async with self.pool.acquire() as connection:
            if self.last_id is None:
                self.last_id = int(await connection.fetchval(
                    "SELECT coalesce(max(id), 0) FROM reading"))
                return
            rows = await connection.fetch(_AFTER, self.last_id, LIMIT)
        owned: dict[int, bool] = {}
        for row in rows:
            self.last_id = int(row["id"])
            site_id = int(row["site"])
            if owned.setdefault(site_id, self.ownership.owns(site_id)):
                continue  # streamed live by this instance's own actors
            self.hub.publish("sensor.reading", site_id, {
                "datalogger_id": row["device_id"], "site_id": site_id,
                "serial_number": row["serial"], "key": row["key"], "value": row["value"],
                "unit": row["unit"], "at": iso_time(row["at"])})

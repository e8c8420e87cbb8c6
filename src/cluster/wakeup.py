"""Waking every lease keeper at once when leases are freed or an instance joins (PostgreSQL
``LISTEN``/``NOTIFY`` on channel ``sitelink_leases``), so a graceful handover takes a
database round trip instead of up to a balance tick.

Only a shortcut: the keeper ticks every ``tick_s`` anyway, so a lost or black-holed listening
connection costs speed, never correctness; it is opened again at a later wait. One
connection of its own per instance (a pooled one cannot keep listening). Loop thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog

from sitelink.storage.database import Database

log = structlog.get_logger(__name__)

CHANNEL = "sitelink_leases"
CONNECT_TIMEOUT_S = 5.0


class Wakeup:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.event = asyncio.Event()
        self._connection: Any = None

    async def wait(self, timeout_s: float) -> None:
        """Return after ``timeout_s``, or sooner when another instance said leases moved."""
        if self._connection is None or self._connection.is_closed():
            await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout_s)
        self.event.clear()

    async def _listen(self) -> None:
        self._connection = None
        try:
            connection = await asyncpg.connect(dsn=self.dsn, timeout=CONNECT_TIMEOUT_S)
            await connection.add_listener(CHANNEL, self._heard)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("cannot listen for lease changes; ticking only", error=str(exc))
            return
        self._connection = connection

    def _heard(self, *_: object) -> None:
        self.event.set()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=CONNECT_TIMEOUT_S)


async def notify(db: Database) -> None:
    """Tell every listening keeper that leases were freed or an instance joined."""
    await db.execute(f"SELECT pg_notify('{CHANNEL}', '')")

"""The reading tables' upkeep between the storage writer's flushes: merging and pruning.

Runs on the writer's loop, under the writer's lock (one database writer at a time), after a
flush that succeeded:

- on SQLite, recent readings are moved into ``reading`` (``recent.merge``) every
  ``MERGE_EVERY_S`` once readings were written since the last merge (and after the first
  flush, for what a stop or a crash left), sooner once ``MERGE_READINGS`` were (a merge's
  sort stays small), and before every prune, so that old readings are in one table;
- readings older than the retention are deleted every ``prune_every_s``, in chunks, and
  at the same time the history older than its own retention (``retention.prune_history``).

A failure is logged and left for the next time: unmerged readings stay readable where they
are, and old ones are pruned an interval later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from sitelink.storage import recent
from sitelink.storage.database import Database
from sitelink.storage.retention import prune_history
from sitelink.storage.tables import Reading

log = structlog.get_logger(__name__)

PRUNE_CHUNK = 10_000
MERGE_READINGS = 200_000
_T = TypeVar("_T")


class ReadingUpkeep:
    def __init__(self, db: Database, lock: asyncio.Lock, *, retention: timedelta | None,
                 prune_every_s: float, merge_every_s: float = recent.MERGE_EVERY_S,
                 history_retention: timedelta | None = None) -> None:
        self._db = db
        self._lock = lock
        self._retention = retention
        self._history_retention = history_retention
        self._prune_every_s = prune_every_s
        self._merge_every_s = merge_every_s
        self._next_prune_at = 0.0
        self._next_merge_at = 0.0
        self._merged_at_readings = -1  # what a stop or a crash left: merged at once

    async def after_flush(self, readings_written: int) -> None:
        """Merge and prune if due; ``readings_written``: the writer's count so far."""
        now = time.monotonic()
        since = readings_written - self._merged_at_readings
        if since and (now >= self._next_merge_at or since >= MERGE_READINGS):
            self._next_merge_at = now + self._merge_every_s
            self._merged_at_readings = readings_written
            await self.merge()
        if now < self._next_prune_at:
            return
        self._next_prune_at = now + self._prune_every_s
        if self._retention is not None:
            readings = await self._guarded("readings", self.prune(
                datetime.now(UTC) - self._retention))
            if readings:
                log.info("storage_readings_pruned", deleted=readings)
        if self._history_retention is not None:
            history = await self._guarded("history", self.prune_history(
                datetime.now(UTC) - self._history_retention))
            if history and any(history.values()):
                log.info("storage_history_pruned", **history)

    async def _guarded(self, what: str, prune: Awaitable[_T]) -> _T | None:
        """The prune's result; None (and an error logged) if it failed: tried again at the
        next prune."""
        try:
            return await prune
        except Exception as exc:
            log.error("storage_prune_failed", what=what,
                      error=f"{type(exc).__name__}: {exc}"[:500])
            return None

    async def prune_history(self, older_than: datetime) -> dict[str, int]:
        """Delete connection events, closed availability intervals, commands and resolved
        alerts older than ``older_than`` (``storage.retention``); how many, by table."""
        return await prune_history(self._db, self._lock, older_than)

    async def merge(self) -> int:
        """Move the recent readings into ``reading`` now (SQLite); how many, 0 on a failure."""
        if self._db.engine_name != "sqlite":
            return 0
        try:
            async with self._lock:
                return await recent.merge(self._db)
        except Exception as exc:
            log.warning("storage_merge_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            return 0

    async def prune(self, older_than: datetime) -> int:
        """Delete readings taken before ``older_than``, in chunks; return how many."""
        await self.merge()
        deleted = 0
        while True:
            async with self._lock:
                doomed = Reading.select(Reading.id).where(Reading.at < older_than)
                rows = (
                    await Reading.delete()
                    .where(Reading.id.is_in(doomed.limit(PRUNE_CHUNK)))
                    .returning(Reading.id)
                )
            deleted += len(rows)
            if len(rows) < PRUNE_CHUNK:
                return deleted

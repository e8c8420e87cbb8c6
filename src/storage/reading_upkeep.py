"""The storage writer's upkeep between its flushes: merging readings and pruning old rows.

Runs on the writer's loop, under the writer's lock (one database writer at a time), after a
flush that succeeded:

- on SQLite, recent readings are moved into ``reading`` (``recent.merge``) every
  ``MERGE_EVERY_S`` once readings were written since the last merge (and after the first
  flush, for what a stop or a crash left), sooner once ``MERGE_READINGS`` were (a merge's
  sort stays small), and before every prune, so that old readings are in one table;
- every ``prune_every_s``, readings older than their retention are deleted, then the
  history older than its own (both in ``retention``). A prune goes one chunk per flush: a backlog
  of millions of rows (a retention just lowered, a first start after an upgrade) must not
  hold the flushes back for minutes while events pile up in the buffer.

A failure is logged and left for the next time: unmerged readings stay readable where they
are, and old rows are pruned an interval later.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import structlog

from sitelink.storage import recent
from sitelink.storage.database import Database
from sitelink.storage.retention import history_chunks, reading_chunks

log = structlog.get_logger(__name__)

MERGE_READINGS = 200_000


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
        self._pruning: AsyncGenerator[None, None] | None = None  # the prune under way

    async def after_flush(self, readings_written: int) -> None:
        """Merge if due, and take the next step of a prune (starting one if due);
        ``readings_written``: the writer's count so far."""
        now = time.monotonic()
        since = readings_written - self._merged_at_readings
        if since and (now >= self._next_merge_at or since >= MERGE_READINGS):
            self._next_merge_at = now + self._merge_every_s
            self._merged_at_readings = readings_written
            await self.merge()
        if self._pruning is None and now >= self._next_prune_at:
            self._next_prune_at = now + self._prune_every_s
            self._pruning = self._prune_steps()
        if self._pruning is None:
            return
        try:
            await anext(self._pruning)
        except StopAsyncIteration:
            self._pruning = None
        except Exception as exc:
            self._pruning = None
            log.error("storage_prune_failed", error=f"{type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        """Leave a prune under way where it is (it starts again at the next start)."""
        pruning, self._pruning = self._pruning, None
        if pruning is not None:
            await pruning.aclose()

    async def _prune_steps(self) -> AsyncGenerator[None, None]:
        """The prune: readings, then history, yielding after each chunk (a flush goes)."""
        if self._retention is not None:
            readings = 0
            await self.merge()
            async for deleted in reading_chunks(self._db, self._lock,
                                                datetime.now(UTC) - self._retention):
                readings += deleted
                yield
            if readings:
                log.info("storage_readings_pruned", deleted=readings)
        if self._history_retention is not None:
            history: Counter[str] = Counter()
            cutoff = datetime.now(UTC) - self._history_retention
            async for table, deleted in history_chunks(self._db, self._lock, cutoff):
                history[table] += deleted
                yield
            if history:
                log.info("storage_history_pruned", **history)

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

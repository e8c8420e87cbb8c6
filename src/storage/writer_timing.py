"""When the storage writer flushes, and when its write-ahead log is checkpointed.

Both are decided on the writer's loop; the checkpoint itself runs on a thread of its own
(``Database.checkpoint``), so a flush never waits for one.
"""

from __future__ import annotations

import asyncio

import structlog

from sitelink.storage.database import Database

log = structlog.get_logger(__name__)

MAX_RETRY_DELAY_S = 2.0
# About the log SQLite's own auto-checkpoint lets grow (1,000 pages), counted in readings
# (a reading with its two index entries is ~150 bytes of pages); an idle fleet's few
# readings are checkpointed at least this often, but not after every quiet flush.
CHECKPOINT_READINGS = 20_000
CHECKPOINT_EVERY_S = 30.0


def flush_delay(interval_s: float, routine_s: float, *, failures: int, soon: bool) -> float:
    """Seconds from one flush to the next: backing off after failed ones, ``interval_s``
    when it should be soon (news pending, or busy), else ``routine_s``."""
    if failures:
        return min(interval_s * 2.0**failures, MAX_RETRY_DELAY_S)
    return interval_s if soon else routine_s


class Checkpoints:
    """Starts a checkpoint after a flush once enough readings were written since the last
    (or some were, long enough ago); one at a time, never awaited by the flush. The flush
    after it ended finishes it (``Database.finish_checkpoint``): what was committed
    meanwhile, a flush or two, is copied there, and the log starts again."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._task: asyncio.Task[None] | None = None
        self._readings_at_last = 0
        self._last_at = 0.0
        self._finished = True  # the last checkpoint was finished on the writer's connection
        self.done = 0

    def after_flush(self, readings_written: int) -> None:
        if self._task is not None and self._task.done() and not self._finished:
            self._finished = True
            try:
                self._db.finish_checkpoint()
            except Exception as exc:  # the flush task goes on; the next checkpoint copies it
                log.warning("storage_checkpoint_failed",
                            error=f"{type(exc).__name__}: {exc}"[:300])
        written = readings_written - self._readings_at_last
        now = asyncio.get_running_loop().time()
        due = written >= CHECKPOINT_READINGS or (
            written > 0 and now - self._last_at >= CHECKPOINT_EVERY_S)
        if not due or (self._task is not None and not self._task.done()):
            return
        self._readings_at_last, self._last_at = readings_written, now
        self._finished = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="checkpoint")

    async def _run(self) -> None:
        try:
            await self._db.checkpoint()
            self.done += 1
        except Exception as exc:  # the next one copies what this one did not
            log.warning("storage_checkpoint_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def close(self) -> None:
        """Wait for a checkpoint under way (its thread cannot be stopped)."""
        if self._task is not None:
            await self._task

"""The storage writer: actors' observations written in coalesced batches (DESIGN.md rule 6).

Everything here runs on the asyncio event loop; ``submit`` must be called from it (the
writer process does, see ``writer_child``).

- ``submit(events)`` / ``submit_encoded(count, data)`` never block and never raise. Events
  wait, encoded, in a buffer bounded by bytes (``max_buffer_bytes``, see ``writer_buffer``);
  past the bound the oldest are dropped and counted in ``dropped``.
- A background task flushes ``flush_interval_s`` after the last flush when news is pending
  (``writer_buffer.has_news``: a status, a connection event, a command's outcome…), when a
  burst is (``busy_at`` events or more pending) or when the last flush was busy (a stream's
  tail is not held back), else after ``routine_flush_s`` (a quiet trickle of heartbeats and
  traffic: fewer wake-ups); at once when ``eager_flush_at`` events are pending, or when
  ``busy_at`` came during a busy flush (the writer is behind: no pause between flushes,
  and each takes what came meanwhile, so batches grow with the load). One flush writes
  everything pending, ``batch_events`` at a time, each batch one transaction (see
  ``sitelink.storage.apply``), oldest first.
- What a failed write does depends on why it failed (``database.refuses_row`` /
  ``is_unreachable``):

  * the database refused a row (a value it cannot hold): the batch is split in halves,
    again and again, until the rows it refuses are alone; those are set aside (logged,
    counted in ``rejects["storage_set_aside"]``) and every other row is written;
  * the database is unreachable (refused, reset, timed out after ``flush_timeout_s``): the
    batch goes back to the front of the buffer and is tried again every second or two
    (``storage_ok`` is False meanwhile), as long as the database stays away — what does not
    fit the buffer's bound is dropped and counted, nothing else;
  * anything else: tried again ``max_attempts`` times, then split as above, so that one
    poisonous event cannot wedge the writer.

- ``storage_ok`` turns False at a failed write and True again only after a write
  succeeded (or, with nothing to write, the database answered).
- ``ensure_devices`` creates device rows at once, for the bridge, which needs database ids
  before it announces ``device.discovered``.
- Between flushes, ``upkeep`` (``reading_upkeep``) merges SQLite's recent readings into
  ``reading`` and prunes readings older than ``retention_days`` and history older than
  ``history_retention_days`` (``retention``) every ``prune_every_s``.
- On SQLite, the write-ahead log is copied into the database file on a thread of its own
  (``writer_timing.Checkpoints``), not by the commits of a flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import structlog

from sitelink.events import DeviceDiscovered, DeviceKey, Event, LeaseFence
from sitelink.storage.apply import Fence, IdMaps, apply_batch, existing_sites, resolve_devices
from sitelink.storage.batch import DeviceSeen, coalesce
from sitelink.storage.database import Database, is_unreachable, refuses_row
from sitelink.storage.fencing import sort_out
from sitelink.storage.reading_upkeep import ReadingUpkeep
from sitelink.storage.writer_buffer import Chunk, EventBuffer, encode_events, has_news
from sitelink.storage.writer_timing import Checkpoints, flush_delay

log = structlog.get_logger(__name__)

SET_ASIDE_LOGGED_MAX = 100  # per process: a flood of bad rows is counted, not logged
_T = TypeVar("_T")


class StorageWriter:
    """Batches events into the database. Build, ``await start()``, ``submit``, ``await close()``."""

    def __init__(
        self,
        db: Database,
        *,
        flush_interval_s: float = 0.25,
        routine_flush_s: float = 1.0,
        busy_at: int = 1_000,
        max_buffer_bytes: int = 256 * 2**20,
        eager_flush_at: int = 10_000,
        batch_events: int = 20_000,
        max_attempts: int = 5,
        flush_timeout_s: float = 30.0,
        max_sensors: int = 256,
        retention_days: int | None = 30,
        history_retention_days: int | None = None,
        prune_every_s: float = 3600.0,
    ) -> None:
        self._db = db
        self._flush_interval_s = flush_interval_s
        self._routine_flush_s = max(routine_flush_s, flush_interval_s)
        self._busy_at = busy_at
        self._buffer = EventBuffer(max_buffer_bytes)
        self._eager_flush_at = eager_flush_at
        self._batch_events = batch_events
        self._max_attempts = max_attempts
        self._flush_timeout_s = flush_timeout_s
        self._max_sensors = max_sensors
        self._ids = IdMaps()
        self._failures = 0
        self._lock = asyncio.Lock()  # one database writer at a time: flush, ensure, upkeep
        self._wake = asyncio.Event()
        self._soon = False  # news or busy_at events pending (flush after flush_interval_s)
        self._eager = False  # eager_flush_at events are pending (flush now)
        self._busy = False  # the last flush took busy_at events or more
        self._flushed_at = 0.0  # loop time of the last flush
        self._checkpoints = Checkpoints(db)
        self.upkeep = ReadingUpkeep(
            db, self._lock, prune_every_s=prune_every_s,
            retention=timedelta(days=retention_days) if retention_days else None,
            history_retention=(timedelta(days=history_retention_days)
                               if history_retention_days else None))
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._set_aside_logged = 0
        self._in_flight = 0
        self._fence: LeaseFence | None = None  # the last one written (storage.fencing)
        self.storage_ok = True
        """False from a failed write until a write succeeds."""
        self.last_error = ""
        self.rejects: Counter[str] = Counter()
        """Rows set aside and sensors not created, by reason (``payloads.limits.REASONS``)."""
        self.last_flush_s = 0.0
        """Duration of the last successful flush, in seconds."""
        self.readings_written = 0
        self.flushes = 0

    @property
    def lag(self) -> int:
        """Events waiting to be written (including a batch being written or retried)."""
        return len(self._buffer) + self._in_flight

    @property
    def dropped(self) -> int:
        """Events dropped because the buffer was full."""
        return self._buffer.dropped

    @property
    def buffered_bytes(self) -> int:
        return self._buffer.bytes + self._buffer.taken_bytes

    async def start(self) -> None:
        """Load the id maps and start the flush task."""
        await self._ids.load()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-writer")

    def submit(self, events: Sequence[Event]) -> None:
        """Queue events for the next flush. Never blocks, never raises; loop thread only."""
        if events:
            self.submit_encoded(len(events), encode_events(events), news=has_news(events))

    def submit_encoded(self, count: int, data: bytes, *, news: bool = True) -> None:
        """Queue ``count`` events already encoded (``writer_buffer.encode_events``);
        ``news``: whether they hold any (``writer_buffer.has_news``)."""
        self._buffer.add(count, data)
        if len(self._buffer) >= self._eager_flush_at and self.storage_ok:
            self._eager = True
            self._wake.set()
        elif (news or len(self._buffer) >= self._busy_at) and not self._soon:
            # news, or a burst starting: the task waits for the routine flush, now less
            self._soon = True
            self._wake.set()

    def device_id(self, key: DeviceKey) -> int | None:
        """The cached database id of a device, if known."""
        return self._ids.devices.get(key)

    def forget_device(self, key: DeviceKey) -> None:
        """The device was deleted: drop its cached ids, so it is created anew if it speaks."""
        self._ids.drop_device(key)

    def sensor_id(self, device_id: int, key: str) -> int | None:
        """The cached database id of a sensor, if known."""
        return self._ids.sensor_id(device_id, key)

    async def ensure_devices(self, discovered: Sequence[DeviceDiscovered]) -> dict[DeviceKey, int]:
        """Database ids of the discovered devices, creating missing rows now (one bulk insert).

        Devices of sites that no longer exist are left out of the answer. Raises the
        database's error if it is down (the caller decides what to announce then).
        """
        wanted: dict[DeviceKey, DeviceSeen] = {}
        for event in discovered:
            wanted.setdefault(event.device, DeviceSeen(event.model, event.gateway, event.at))
        if not wanted:
            return {}
        async def ensure() -> dict[DeviceKey, int]:
            async with self._db.writer_transaction():
                live_sites = await existing_sites(self._db, {key.site_id for key in wanted})
                return await resolve_devices(self._db, self._ids, wanted, live_sites)

        async with self._lock:
            return await self._bounded(ensure())

    async def flush(self) -> None:
        """Write everything pending now, oldest first; stop at the first outage (what was
        not written stays, first in line)."""
        async with self._lock:
            if not self._buffer.events:
                if not self.storage_ok and await self._db.ping():
                    self._up()
                return
            while self._buffer.events:
                taken = self._buffer.take(self._batch_events)
                self._in_flight = sum(c.count for c in taken)
                try:
                    written = await self._write_chunks(taken)
                finally:
                    self._in_flight = 0
                if not written:
                    return

    async def _write_chunks(self, taken: list[Chunk]) -> bool:
        """Write the chunks; False (and the chunks back in the buffer) on an outage."""
        sorted_out = sort_out(self._fence, [e for chunk in taken for e in chunk.events()])
        events = sorted_out.kept
        fence = (None if sorted_out.fence is None
                 else (sorted_out.fence.owner, sorted_out.checks))
        started = time.perf_counter()
        error = await self._apply(events, fence)
        if error is None:
            self._fence = sorted_out.fence
            self.rejects["lease_fenced"] += sorted_out.refused
            self._buffer.settle(taken)
            self.last_flush_s = time.perf_counter() - started
            self._up()
            return True
        self._down(error, len(events))
        if is_unreachable(error) or (
            not refuses_row(error) and self._failures < self._max_attempts
        ):
            self._buffer.put_back(taken)
            await self._reload_ids()
            return False
        left = await self._split(events, fence)
        self._fence = sorted_out.fence
        self.rejects["lease_fenced"] += sorted_out.refused
        if left:  # the database went away while the batch was being split
            if fence is not None and sorted_out.fence is not None:  # their fence, then ours
                left = [LeaseFence(owner=fence[0], epochs=fence[1]), *left, sorted_out.fence]
            self._buffer.settle(taken)
            self._buffer.put_back([Chunk.of(len(left), encode_events(left))])
            return False
        self._buffer.settle(taken)
        self._up()
        return True

    async def _apply(self, events: list[Event], fence: Fence | None) -> Exception | None:
        """One transaction; the error instead of raising it. A write that takes longer than
        ``flush_timeout_s`` is abandoned (an unanswering database must not hold the writer:
        its task is left to fail on its own) and reported as a ``TimeoutError``."""
        counts: Counter[str] = Counter()
        try:
            readings = await self._bounded(apply_batch(
                self._db, self._ids, coalesce(events), max_sensors=self._max_sensors,
                counts=counts, fence=fence))
        except Exception as exc:
            return exc
        self.flushes += 1
        self.readings_written += readings
        self.rejects.update(counts)
        return None

    async def _bounded(self, work: Coroutine[Any, Any, _T]) -> _T:
        """``work``'s result, or ``TimeoutError`` after ``flush_timeout_s``. The work is then
        abandoned, not awaited: cancelling a transaction on a connection that swallows
        packets would wait as long for the rollback."""
        task = asyncio.get_running_loop().create_task(work)
        done, _ = await asyncio.wait({task}, timeout=self._flush_timeout_s)
        if not done:
            task.cancel()
            task.add_done_callback(_consume)
            raise TimeoutError(f"no answer from the database in {self._flush_timeout_s:g} s")
        return task.result()

    async def _split(self, events: list[Event], fence: Fence | None) -> list[Event]:
        """Write ``events`` in ever smaller parts, setting aside each one the database
        refuses on its own. Returns what is left unwritten if the database goes away."""
        todo: deque[list[Event]] = deque()
        middle = len(events) // 2
        todo.extend([events[:middle], events[middle:]] if middle else [events])
        while todo:
            part = todo.popleft()
            error = await self._apply(part, fence)
            if error is None:
                continue
            if is_unreachable(error):
                return [event for rest in (part, *todo) for event in rest]
            if len(part) == 1:
                self._set_aside(part[0], error)
                continue
            middle = len(part) // 2
            todo.extendleft([part[middle:], part[:middle]])
        return []

    def _set_aside(self, event: Event, error: Exception) -> None:
        self.rejects["storage_set_aside"] += 1
        if self._set_aside_logged < SET_ASIDE_LOGGED_MAX:
            self._set_aside_logged += 1
            log.error("storage_row_set_aside", kind=type(event).__name__,
                      device=str(getattr(event, "device", "")),
                      error=f"{type(error).__name__}: {error}"[:300])

    def _up(self) -> None:
        if not self.storage_ok:
            log.info("storage_writes_resumed", pending=self.lag)
        self._failures = 0
        self.storage_ok = True
        self.last_error = ""

    def _down(self, error: Exception, events: int) -> None:
        # No traceback with locals: they would hold the whole batch (and render slowly).
        text = f"{type(error).__name__}: {error}"[:500]
        self._failures += 1
        if self.storage_ok or text != self.last_error:
            log.warning("storage_write_failed", events=events, pending=self.lag,
                        attempt=self._failures, error=text)
        self.storage_ok = False
        self.last_error = text

    async def _reload_ids(self) -> None:
        # The caches may be what is wrong (rows deleted behind our back): reload them.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._flush_timeout_s):
                await self._ids.load()

    async def close(self) -> None:
        """Stop the task and write everything still pending (a few attempts at most)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.upkeep.close()
        await self._checkpoints.close()
        for _ in range(self._max_attempts):
            if not self.lag:
                return
            await self.flush()
        if self.lag:
            log.error("storage_writer_closed_with_pending", events=self.lag)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._flushed_at = loop.time()
        while not self._closing:
            wait = self._flushed_at + self._delay() - loop.time()
            if wait > 0 and not self._eager and not self._behind():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                continue  # woken (news, a burst, eager, closing) or due: see again
            self._eager = self._soon = False  # this flush takes every pending event
            self._busy = self.lag >= self._busy_at
            await self.flush()
            self._flushed_at = loop.time()
            self._checkpoints.after_flush(self.readings_written)
            if self.storage_ok:
                await self.upkeep.after_flush(self.readings_written)

    def _behind(self) -> bool:
        """A busy stream outran the last flush: what came meanwhile goes at once, so a
        flush is never followed by an idle pause while a busy batch waits."""
        return self._busy and not self._failures and len(self._buffer) >= self._busy_at

    def _delay(self) -> float:
        return flush_delay(self._flush_interval_s, self._routine_flush_s, failures=self._failures,
                           soon=self._soon or self._busy)


def _consume(task: asyncio.Task[Any]) -> None:
    """An abandoned write's outcome is nobody's business any more; read it so asyncio does
    not log it as never retrieved."""
    if not task.cancelled():
        task.exception()

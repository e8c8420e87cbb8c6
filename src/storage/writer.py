"""The storage writer: actors' observations written in coalesced batches (DESIGN.md rule 6).

Everything here runs on the asyncio event loop; ``submit`` must be called from it (the
bridge does, after moving events off the actor threads).

- ``submit(events)`` never blocks and never raises. Events wait in a bounded queue; when
  it is full the oldest heartbeats are dropped first (then the oldest other events), and
  ``dropped`` counts them. Drop policy name: *drop-oldest-heartbeat*.
- A background task flushes every ``flush_interval_s``, or at once when ``eager_flush_at``
  events are pending. One flush is one transaction (see ``sitelink.storage.apply``).
- A failed flush is logged and retried with the next one (backoff up to 5 s); after
  ``max_attempts`` failures in a row its events are dropped and counted, so one poisonous
  event cannot wedge the writer. Nothing ever raises out of the task.
- ``ensure_devices`` creates device rows at once, for the bridge, which needs database ids
  before it announces ``device.discovered``.
- Readings older than ``retention_days`` are pruned every ``prune_every_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from sitelink.events import DeviceDiscovered, DeviceHeartbeat, DeviceKey, Event
from sitelink.storage.apply import IdMaps, apply_batch, existing_sites, resolve_devices
from sitelink.storage.batch import DeviceSeen, coalesce
from sitelink.storage.database import Database
from sitelink.storage.tables import Reading

log = structlog.get_logger(__name__)

PRUNE_CHUNK = 10_000
MAX_RETRY_DELAY_S = 5.0


class StorageWriter:
    """Batches events into the database. Build, ``await start()``, ``submit``, ``await close()``."""

    def __init__(
        self,
        db: Database,
        *,
        flush_interval_s: float = 0.25,
        max_pending: int = 200_000,
        eager_flush_at: int = 10_000,
        max_attempts: int = 5,
        retention_days: int | None = 30,
        prune_every_s: float = 3600.0,
    ) -> None:
        self._db = db
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._eager_flush_at = eager_flush_at
        self._max_attempts = max_attempts
        self._retention = timedelta(days=retention_days) if retention_days else None
        self._prune_every_s = prune_every_s
        self._ids = IdMaps()
        self._heartbeats: deque[Event] = deque()
        self._others: deque[Event] = deque()
        self._retry: list[Event] = []
        self._failures = 0
        self._lock = asyncio.Lock()  # one database writer at a time: flush, ensure, prune
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._next_prune_at = 0.0
        self.dropped = 0
        """Events dropped so far (queue full, or a batch that kept failing)."""
        self.last_flush_s = 0.0
        """Duration of the last successful flush, in seconds."""
        self.readings_written = 0
        self.flushes = 0

    @property
    def lag(self) -> int:
        """Events waiting to be written (including a batch waiting for a retry)."""
        return len(self._heartbeats) + len(self._others) + len(self._retry)

    async def start(self) -> None:
        """Load the id maps and start the flush task."""
        await self._ids.load()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-writer")

    def submit(self, events: Sequence[Event]) -> None:
        """Queue events for the next flush. Never blocks, never raises; loop thread only."""
        for event in events:
            queue = self._heartbeats if isinstance(event, DeviceHeartbeat) else self._others
            queue.append(event)
        excess = len(self._heartbeats) + len(self._others) - self._max_pending
        while excess > 0:
            (self._heartbeats or self._others).popleft()
            self.dropped += 1
            excess -= 1
        if len(self._heartbeats) + len(self._others) >= self._eager_flush_at:
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
        async with self._lock, self._db.transaction():
            live_sites = await existing_sites({key.site_id for key in wanted})
            return await resolve_devices(self._db, self._ids, wanted, live_sites)

    async def flush(self) -> None:
        """Write everything pending now. Logs and keeps the events for a retry on failure."""
        async with self._lock:
            events = [*self._retry, *self._others, *self._heartbeats]
            self._retry = []
            self._others.clear()
            self._heartbeats.clear()
            if not events:
                return
            started = time.perf_counter()
            try:
                readings = await apply_batch(self._db, self._ids, coalesce(events))
            except Exception as exc:
                await self._failed(events, exc)
                return
            self._failures = 0
            self.flushes += 1
            self.readings_written += readings
            self.last_flush_s = time.perf_counter() - started

    async def _failed(self, events: list[Event], exc: Exception) -> None:
        # No traceback with locals: they would hold the whole batch (and render slowly).
        error = f"{type(exc).__name__}: {exc}"[:500]
        self._failures += 1
        if self._failures >= self._max_attempts:
            log.error(
                "storage_flush_dropped", events=len(events), attempts=self._failures, error=error
            )
            self.dropped += len(events)
            self._failures = 0
        else:
            log.warning(
                "storage_flush_failed", events=len(events), attempt=self._failures, error=error
            )
            self._retry = events
        # The caches may be what is wrong (rows deleted behind our back): reload them.
        with contextlib.suppress(Exception):
            await self._ids.load()

    async def prune_readings(self, older_than: datetime) -> int:
        """Delete readings taken before ``older_than``, in chunks; return how many."""
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

    async def close(self) -> None:
        """Stop the task and write everything still pending (a few attempts at most)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for _ in range(self._max_attempts):
            if not self.lag:
                return
            await self.flush()
        if self.lag:
            log.error("storage_writer_closed_with_pending", events=self.lag)

    async def _run(self) -> None:
        while not self._closing:
            try:
                async with asyncio.timeout(self._delay()):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                return
            await self.flush()
            await self._maybe_prune()

    def _delay(self) -> float:
        if not self._failures:
            return self._flush_interval_s
        backoff: float = self._flush_interval_s * 2.0**self._failures
        return min(backoff, MAX_RETRY_DELAY_S)

    async def _maybe_prune(self) -> None:
        if self._retention is None or time.monotonic() < self._next_prune_at:
            return
        self._next_prune_at = time.monotonic() + self._prune_every_s
        try:
            deleted = await self.prune_readings(datetime.now(UTC) - self._retention)
        except Exception as exc:
            log.error("storage_prune_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            return
        if deleted:
            log.info("storage_readings_pruned", deleted=deleted)

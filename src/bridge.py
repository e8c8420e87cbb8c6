"""The bridge: the one crossing from actor threads to the asyncio loop.

``publish(event)`` is called by actors on their own threads. Events are appended to a
list under a lock; the first event of a batch schedules one ``call_soon_threadsafe``, so
under load one hand-off carries many events. Crossings are also spaced in time: a batch is
taken at once when the previous one was taken at least ``window_s`` ago (an operator's start
reaches the stream without delay), otherwise when that window ends — so a steady trickle
of heartbeats from many sites wakes the loop at most twice per window instead of once per
message. What an operator waits for (a site's status, its connection history, a command's
outcome, a discovery's end) never waits for a window: it takes the batch with it at once.
On the loop, one consumer task takes batches in order and

1. resolves database ids for newly discovered devices (the public events carry them) —
   with one lookup for all the batches that queued up while it waited,
2. applies every event to the read model, which says what to announce,
3. announces that to the SSE hub — on PostgreSQL through the cluster's event log
   (``log``), which numbers it and hands the state behind it to the other instances,
4. shows it to the alert evaluator (``alerts``), which reads the read model's new state,
5. hands the batch to the storage writer (which coalesces and writes in the background).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Protocol

import structlog

from sitelink.errors import StorageError
from sitelink.events import URGENT, DeviceDiscovered, DeviceKey, Event
from sitelink.fanout import Hub
from sitelink.readmodel import Announcement, ReadModel

log = structlog.get_logger(__name__)

ANNOUNCED_PER_TURN = 1_000  # announcements between two turns of the loop in one batch


class Writer(Protocol):
    """What the bridge needs of the storage writer (runs on the loop)."""

    def submit(self, events: Sequence[Event]) -> None: ...
    async def ensure_devices(
        self, discovered: Sequence[DeviceDiscovered]
    ) -> dict[DeviceKey, int]: ...


class EventRecorder(Protocol):
    """What the bridge needs of the cluster's event log (runs on the loop, must not block)."""

    def record(self, event: Event, announcements: list[Announcement]) -> None: ...


class AlertObserver(Protocol):
    """What the bridge needs of the alert service (runs on the loop, must not block)."""

    def observe(self, event: Event) -> None: ...


class Bridge:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read_model: ReadModel,
        hub: Hub,
        writer: Writer | None,
        *,
        window_s: float = 0.02,
    ) -> None:
        self.loop = loop
        self.read_model = read_model
        self.hub = hub
        self.writer = writer
        self.window_s = window_s
        self._pending: list[Event] = []
        self._due = False  # a take is scheduled on the loop
        self._urgent_due = False  # ... and it is an immediate one
        self._taken_at = float("-inf")  # loop time of the last take
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.crossings = 0
        self.events = 0
        self.alerts: AlertObserver | None = None
        self.log: EventRecorder | None = None

    # --- any thread -----------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        urgent = type(event) in URGENT
        with self._lock:
            self._pending.append(event)
            if self._urgent_due or (self._due and not urgent):
                return
            self._due = True
            self._urgent_due = urgent
        # RuntimeError: the loop is closed, we are shutting down.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._take if urgent else self._schedule)

    def publish_batch(self, events: Sequence[Event]) -> None:
        """Many events at once (a site worker's batch): one lock, at most one wake-up."""
        if not events:
            return
        urgent = any(type(event) in URGENT for event in events)
        with self._lock:
            self._pending.extend(events)
            if self._urgent_due or (self._due and not urgent):
                return
            self._due = True
            self._urgent_due = urgent
        # RuntimeError: the loop is closed, we are shutting down.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._take if urgent else self._schedule)

    # --- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = self.loop.create_task(self._consume(), name="bridge")

    async def stop(self) -> None:
        """Carry what is still pending (``drain``), then stop the consumer (shutdown)."""
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drain(self) -> None:
        """Wait until every event published so far has been handled (``stop``, tests)."""
        await asyncio.sleep(0)
        self._take()
        await self._queue.join()

    def _schedule(self) -> None:
        wait = self._taken_at + self.window_s - self.loop.time()
        if wait > 0:
            self.loop.call_later(wait, self._take)
        else:
            self._take()

    def _take(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._due = self._urgent_due = False
        self._taken_at = self.loop.time()
        if batch:
            self.crossings += 1
            self.events += len(batch)
            self._queue.put_nowait(batch)

    async def _consume(self) -> None:
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            try:
                await self._ensure_devices(batches)
            except StorageError as exc:  # storage is down: said in one line, not a traceback
                log.warning("looking up discovered devices failed", batches=len(batches),
                            error=str(exc)[:300])
            except Exception:  # the events still go out, without ids; the writer retries
                log.exception("looking up discovered devices failed", batches=len(batches))
            for batch in batches:
                try:
                    await self._handle(batch)
                except Exception:
                    log.exception("bridge failed to handle a batch", size=len(batch))
                finally:
                    self._queue.task_done()
                await asyncio.sleep(0)  # let streams write between batches

    async def _ensure_devices(self, batches: list[list[Event]]) -> None:
        discovered = [e for b in batches for e in b if isinstance(e, DeviceDiscovered)]
        if discovered and self.writer is not None:
            await self.writer.ensure_devices(discovered)

    async def _handle(self, batch: list[Event]) -> None:
        alerts = self.alerts
        recorder = self.log
        announced = 0
        for event in batch:
            announcements = self.read_model.apply(event)
            if recorder is not None:  # PostgreSQL: the cluster's event log numbers, replicates
                recorder.record(event, announcements)
            else:
                for type_, site_id, data in announcements:
                    self.hub.publish(type_, site_id, data)
            announced += len(announcements)
            if announced >= ANNOUNCED_PER_TURN:
                # Let the streams take what they were offered: a batch of 100 heartbeats of
                # 100 sensors would otherwise queue 10,000 readings for each stream at once,
                # past how far behind a stream may fall, and drop every reader of readings.
                announced = 0
                await asyncio.sleep(0)
            if alerts is not None:
                try:
                    alerts.observe(event)
                except Exception:  # an alerting bug must not cost the batch its storage
                    log.exception("alert evaluation failed", event=type(event).__name__)
        if self.writer is not None:
            self.writer.submit(batch)

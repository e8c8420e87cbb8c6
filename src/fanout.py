"""Fan-out of public events to Server-Sent Event clients.

Runs on the asyncio loop only. Each event gets the next id and is encoded to JSON once,
when first needed (a ``sensor.reading`` that no client asked for is never encoded: its data
comes as a function that builds it); the last ``buffer_size`` events stay in a ring for
clients that reconnect with ``Last-Event-ID``. Every client has a bounded queue, and a slow
client is dropped (its stream ends, and its browser reconnects with ``Last-Event-ID``), so a
slow client never slows the others or the actors. Drop policy: **drop the client, never the
event** — a client either gets every event it asked for, or a clean reconnect.

Slow is measured in time as well as in events: a client more than ``queue_size`` events
behind is dropped once it has sent nothing for ``stall_s`` (it is stuck), but a client that
keeps sending may fall further behind during a burst, up to ``buffer_size`` events (the most
a reconnect could replay anyway) — a burst of readings does not cut off every reader. A
client stuck after the last event of a burst is found by a sweep every ``stall_s / 2``.

Ids, SQLite: unique across restarts (``sitelink.storage.event_ids``): ``start_run`` sets
where this run's ids begin and how far they are reserved, and the hub calls
``on_reserve_due`` (with its last id) when half of the reservation is used. An id from
before this run — or above the last id — is not this run's, and always answers ``reset``.

Ids, PostgreSQL: the cluster's event log numbers them (``sitelink.cluster.eventlog``), so
every instance sends the same event under the same id, one more than the one before.
``log`` is then set: ``publish`` hands the event to the log instead of numbering it, and
the log's reader calls ``publish_logged`` with the row's SSE id, in order. A
``sensor.reading`` is not logged (too many): it goes out at once without an ``id:`` line,
carrying the last id for the ring.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec

from sitelink.errors import SitelinkError

_encoder = msgspec.json.Encoder()


class TooManyClients(SitelinkError):
    pass


Data = dict[str, Any] | Callable[[], dict[str, Any]]


class PublicEvent:
    """One public event. ``data`` is its JSON, encoded from ``source`` on first use."""

    __slots__ = ("_data", "_frame", "_source", "id", "numbered", "site_id", "type")

    def __init__(self, id: int, type: str, site_id: int | None, data: bytes | None = None,
                 *, source: Callable[[], dict[str, Any]] | None = None,
                 numbered: bool = True) -> None:
        self.id = id
        self.numbered = numbered  # False: sent without an ``id:`` line (the cluster's readings)
        self.type = type
        self.site_id = site_id
        self._data = data
        self._source = source
        self._frame: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            source, self._source = self._source, None
            self._data = _encoder.encode(source() if source is not None else None)
        return self._data

    @property
    def frame(self) -> bytes:
        """The event as a Server-Sent Events message (``id``, ``event``, ``data`` lines and
        the blank line), built once however many streams send it. ``data`` is one line:
        compact JSON has no line breaks."""
        if self._frame is None:
            self._frame = b"event: %s\r\ndata: %s\r\n\r\n" % (self.type.encode(), self.data)
            if self.numbered:
                self._frame = b"id: %d\r\n%s" % (self.id, self._frame)
        return self._frame

    def __repr__(self) -> str:
        return f"PublicEvent(id={self.id}, type={self.type!r}, site_id={self.site_id})"


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    site_ids: frozenset[int] = frozenset()
    types: frozenset[str] = frozenset()
    readings: bool = False

    def accepts(self, event: PublicEvent) -> bool:
        if event.type == "reset":
            return True
        if event.type == "sensor.reading" and not self.readings:
            return False
        if self.types and event.type not in self.types:
            return False
        if not self.site_ids or event.site_id is None:
            return True
        return event.site_id in self.site_ids


class Subscriber:
    """One stream's side of the hub: its filter, the events waiting to be sent, and the
    wake-up of the stream that sends them. Loop thread only.

    Up to ``behind`` events may wait; more only while the stream keeps taking them (it took
    some within ``stall_s``), and never more than ``limit``."""

    def __init__(self, event_filter: EventFilter, behind: int, limit: int, stall_s: float,
                 now: Callable[[], float]) -> None:
        self.filter = event_filter
        self.behind = behind
        self.limit = max(limit, behind)
        self.stall_s = stall_s
        self._now = now
        self.took_at = now()
        self.pending: deque[PublicEvent] = deque()
        self.unsent = 0  # events taken by the stream, its write not done yet
        self.dropped = asyncio.Event()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: PublicEvent) -> bool:
        """Queue ``event``; False (and nothing queued) when this client is too slow for it."""
        waiting = len(self.pending)
        if waiting >= self.behind and (waiting >= self.limit or self.stalled()):
            return False
        self.pending.append(event)
        self.wake()
        return True

    def stalled(self) -> bool:
        """Behind (counting what it took and has not sent yet), and has taken or sent
        nothing for ``stall_s``: a client that stopped reading right after its stream took a
        whole burst is stuck, though nothing more waits for it."""
        behind = len(self.pending) + self.unsent
        return behind >= self.behind and self._now() - self.took_at > self.stall_s

    def take(self) -> list[PublicEvent]:
        """Everything queued, oldest first; the queue is empty afterwards. ``sent`` says when
        the stream's write of them is done."""
        self.took_at = self._now()
        events = list(self.pending)
        self.pending.clear()
        self.unsent = len(events)
        return events

    def sent(self) -> None:
        """The stream's last write went out."""
        self.took_at = self._now()
        self.unsent = 0

    def wake(self) -> None:
        """End a ``wait`` now (an event came, or the stream must end)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        """Return when an event is queued, ``wake`` is called, or after ``timeout_s``."""
        if self.pending:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout_s, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LogOutlet(Protocol):
    """Where a hub on PostgreSQL sends what it publishes: the cluster's event log (loop only)."""

    def append(self, type_: str, site_id: int | None, data: dict[str, Any],
               state: msgspec.Struct | None) -> None: ...


class Hub:
    def __init__(
        self, *, buffer_size: int = 10_000, queue_size: int = 2_000, max_clients: int = 1000,
        stall_s: float = 2.0, now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ring: deque[PublicEvent] = deque(maxlen=buffer_size)
        self.last_id = 0
        self.run_first_id = 1  # the first id of this run
        self.on_reserve_due: Callable[[int], None] | None = None
        self._reserve_at = math.inf  # last id at which on_reserve_due is called
        self.buffer_size = buffer_size
        self.queue_size = queue_size
        self.stall_s = stall_s
        self.now = now
        self.max_clients = max_clients
        self.subscribers: set[Subscriber] = set()
        # Slots taken before a stream's answer starts and not yet turned into a subscriber
        # (the cap counts them, so it is decided before the 200 is sent).
        self.slots_reserved = 0
        # Subscribers grouped by filter: an event is matched once per distinct filter (a
        # thousand dashboards ask for the same thing), not once per client.
        self._groups: dict[EventFilter, dict[Subscriber, None]] = {}
        self.dropped_clients = 0
        self.published = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self.log: LogOutlet | None = None

    def publish(self, type_: str, site_id: int | None, data: Data,
                *, state: msgspec.Struct | None = None) -> PublicEvent | None:
        """Number, buffer and offer one event. ``data`` is a dict (encoded now) or a function
        that returns it (called and encoded when a client first needs the event). With a
        ``log``, the event (and ``state``, what other instances apply with it) goes to the
        log, and comes back through ``publish_logged``: None is returned."""
        if self.log is not None:
            if type_ != "sensor.reading":
                self.log.append(type_, site_id, data() if callable(data) else data, state)
                return None
            # Not kept for replay: it has no id of its own, and in the ring it would push out
            # the events a Last-Event-ID resumes (and pose as the oldest of them).
            return self._offer(PublicEvent(self.last_id, type_, site_id, numbered=False,
                                           source=data if callable(data) else lambda: data),
                               kept=False)
        self.last_id += 1
        if self.last_id >= self._reserve_at and self.on_reserve_due is not None:
            self._reserve_at = math.inf  # until ``reserved`` says how far we may go
            self.on_reserve_due(self.last_id)
        if callable(data):
            event = PublicEvent(self.last_id, type_, site_id, source=data)
        else:
            event = PublicEvent(self.last_id, type_, site_id, _encoder.encode(data))
        return self._offer(event)

    def publish_logged(self, id: int, type_: str, site_id: int | None, data: bytes | None) -> None:
        """A public row of the event log, in order, under its SSE id (its ``seq``)."""
        self.last_id = max(self.last_id, id)
        self._offer(PublicEvent(id, type_, site_id, data or b"null"))

    def start_log(self, high_id: int, tail: Iterable[tuple[int, str, int | None, bytes]]) -> None:
        """A run on the event log: the log's last rows fill the ring (so ``Last-Event-ID`` from
        before this start resumes); the next row is ``high_id + 1``."""
        first = high_id + 1
        for id, type_, site_id, data in tail:
            first = min(first, id)
            self.ring.append(PublicEvent(id, type_, site_id, data))
        self.last_id = high_id
        self.run_first_id = first - 1  # the log has no runs: resuming from just before is fine

    def _offer(self, event: PublicEvent, *, kept: bool = True) -> PublicEvent:
        if kept:
            self.ring.append(event)
        self.published += 1
        if self._groups:
            slow: list[Subscriber] = []
            for event_filter, group in self._groups.items():
                if event_filter.accepts(event):
                    slow.extend(sub for sub in group if not sub.offer(event))
            for sub in slow:
                self._drop(sub)
        return event

    def start_run(self, last_id: int, reserved: int) -> None:
        """This run's ids begin at ``last_id + 1``; ids up to ``reserved`` are reserved in
        storage. Called once, before any event is published."""
        self.last_id = last_id
        self.run_first_id = last_id + 1
        self.reserved(reserved)

    def reserved(self, ceiling: int) -> None:
        """Storage now reserves ids up to ``ceiling``: ask again when half is used."""
        self._reserve_at = self.last_id + max(1, (ceiling - self.last_id) // 2)

    def wants_readings(self) -> bool:
        """Some open stream asked for ``sensor.reading``."""
        return any(event_filter.readings for event_filter in self._groups)

    def drop_stalled(self) -> int:
        """Drop every client that is stuck (also when no event is coming to notice it)."""
        stalled = [sub for sub in self.subscribers if sub.stalled()]
        for sub in stalled:
            self._drop(sub)
        return len(stalled)

    def start_sweeping(self) -> None:
        """``drop_stalled`` every ``stall_s / 2`` on the running loop, until ``stop_sweeping``."""
        def sweep() -> None:
            self.drop_stalled()
            self._sweeper = loop.call_later(self.stall_s / 2, sweep)

        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(self.stall_s / 2, sweep)

    def stop_sweeping(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def reserve(self) -> Reservation:
        """Take one of the ``max_clients`` slots now, or raise ``TooManyClients``. Check and
        take happen in one step on the loop thread, so concurrent opens cannot both pass."""
        if len(self.subscribers) + self.slots_reserved >= self.max_clients:
            raise TooManyClients(f"{self.max_clients} event streams are open already")
        self.slots_reserved += 1
        return Reservation(self)

    def subscribe(self, event_filter: EventFilter, last_event_id: int | None,
                  reservation: Reservation | None = None) -> Subscriber:
        """A new subscriber, in the slot of ``reservation`` (which is used up) or in a free
        slot (``TooManyClients`` when there is none)."""
        if reservation is None or not reservation.take():
            self.reserve().take()
        backlog = [] if last_event_id is None else list(self._replay(last_event_id))
        backlog = [e for e in backlog if event_filter.accepts(e)]
        sub = Subscriber(event_filter, self.queue_size + len(backlog),
                         self.buffer_size + len(backlog), self.stall_s, self.now)
        sub.pending.extend(backlog)
        self.subscribers.add(sub)
        self._groups.setdefault(event_filter, {})[sub] = None
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        group = self._groups.get(sub.filter)
        if group is not None:
            group.pop(sub, None)
            if not group:
                del self._groups[sub.filter]

    def _release_slot(self) -> None:
        self.slots_reserved -= 1

    def _replay(self, last_event_id: int) -> Iterable[PublicEvent]:
        oldest = self.ring[0].id if self.ring else self.last_id + 1
        if (last_event_id > self.last_id or last_event_id < oldest - 1
                or last_event_id < self.run_first_id):
            # Unknown, too old or another run's: say so once; the client refetches everything.
            return [PublicEvent(self.last_id, "reset", None, b'{"reason":"event id not buffered"}')]
        return (e for e in self.ring if e.id > last_event_id)

    def _drop(self, sub: Subscriber) -> None:
        """A client too slow to keep up: its stream ends (its browser reconnects with
        Last-Event-ID); never the event, never the others."""
        self.unsubscribe(sub)
        self.dropped_clients += 1
        sub.dropped.set()


class Reservation:
    """One reserved slot of the hub: turned into a subscriber by ``Hub.subscribe``, or given
    back by ``release`` — exactly once either way (later calls do nothing). Loop thread only."""

    __slots__ = ("_hub",)

    def __init__(self, hub: Hub) -> None:
        self._hub: Hub | None = hub

    def take(self) -> bool:
        """Hand the slot over to a subscriber; False when it was already released or taken."""
        hub, self._hub = self._hub, None
        if hub is None:
            return False
        hub._release_slot()
        return True

    def release(self) -> None:
        """Give the slot back unused."""
        self.take()

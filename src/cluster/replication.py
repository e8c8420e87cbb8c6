"""One event sequence for the cluster: this instance's events into the log, every
instance's out of it, in id order, to the read model and the SSE hub.

Runs on the asyncio loop. Three tasks:

- the **appender** takes what the hub (``append``) and the bridge (``record``) queued and
  writes it to the log in one transaction per turn (``sitelink.cluster.eventlog.append``);
  when its rows follow the last row delivered, it delivers them at once, from memory — so
  one instance alone pays one round trip to PostgreSQL between an actor's event and the
  stream, and nothing else. Traffic counters are coalesced per site, at most one row per
  ``TRAFFIC_EVERY_S``; readings are not logged at all (the hub sends them at once, without
  an id). While the database is down the rows wait (at most ``MAX_QUEUED``, then the oldest
  go, counted) and the append is retried.
- the **follower** reads every row after the last one delivered (``after``) whenever it is
  poked, and delivers it: another instance's state goes to ``on_remote`` (the read model,
  the owner's commands), then the public event to the hub under the row's id.
- the **listener** holds a connection of its own that LISTENs on ``eventlog.CHANNEL`` and
  pokes the follower at each NOTIFY; if that connection drops it connects again (0.5 s, then
  twice as long up to 5 s) and pokes the follower, which catches up by id — nothing is lost.
  Every ``POLL_S`` it checks its connection and pokes anyway (a NOTIFY is never the only
  way a row is found).

Delivery holds one lock, so rows reach the hub strictly in id order whichever task found
them. A row below the last id delivered was delivered already (ids are handed out in
commit order: ``eventlog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
import structlog

from sitelink.cluster import eventlog, logged
from sitelink.cluster.eventlog import NewRow, Row
from sitelink.events import DeviceHeartbeat, Event, SiteTraffic
from sitelink.fanout import Hub
from sitelink.readmodel import Announcement
from sitelink.storage.database import is_unreachable

log = structlog.get_logger(__name__)

TRAFFIC_EVERY_S = 1.0
MAX_QUEUED = 100_000
MAX_APPEND = 2_000  # rows per transaction
POLL_S = 2.0
PRUNE_EVERY_S = 300.0
LISTEN_RETRY_MAX_S = 5.0

_json = msgspec.json.Encoder()
RemoteHandler = Callable[[logged.LoggedState], Awaitable[None]]


class Replication:
    """This instance's side of the event log (``Hub.log`` and ``Bridge.log``)."""

    def __init__(self, pool: Any, dsn: str, hub: Hub, *, retention_s: float) -> None:
        self.pool = pool  # the main process's asyncpg pool (piccolo's)
        self.dsn = dsn
        self.hub = hub
        self.retention_s = retention_s
        self.origin = uuid.uuid4().hex  # this run: rows it wrote are never applied again
        self.on_remote: RemoteHandler | None = None
        self.last_id = 0
        self.listens = 0  # LISTEN connections made (1 + reconnects)
        self.dropped = 0  # rows dropped while the database was down too long
        self._queue: deque[NewRow] = deque()
        self._traffic: dict[int, SiteTraffic] = {}
        self._traffic_due: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._poked = asyncio.Event()
        self._order = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # --- start and stop ---------------------------------------------------------------------

    async def start(self, rebuild: Callable[[logged.LoggedState], None]) -> None:
        """Fill the hub's ring from the log and hand each site's and device's latest state to
        ``rebuild``; then append, follow and listen."""
        high, high_seq = await eventlog.high_ids(self.pool)
        tail = await eventlog.public_tail(self.pool, high, self.hub.buffer_size)
        self.hub.start_log(high_seq, [(r.seq or 0, r.type or "", r.site_id, r.data or b"null")
                                      for r in tail])
        for row in await eventlog.latest_states(self.pool, high):
            state = _decode(row)
            if state is not None:
                rebuild(state)
        self.last_id = high
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(work(), name=f"eventlog-{work.__name__.strip('_')}")
                       for work in (self._append_forever, self._follow_forever,
                                    self._listen_forever, self._prune_forever)]

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Stop every task, then append what is still queued (within ``timeout_s``)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._flush_traffic()
        try:
            async with asyncio.timeout(timeout_s):
                while self._queue:
                    await self._append_once()
        except Exception as exc:
            log.warning("event log rows not appended at stop", rows=len(self._queue),
                        error=str(exc)[:300])

    # --- into the log (loop, never blocks) ----------------------------------------------------

    def append(self, type_: str, site_id: int | None, data: dict[str, Any],
               state: msgspec.Struct | None) -> None:
        """A public event (and the state behind it): the hub's ``LogOutlet``."""
        self._queue_row(state if isinstance(state, Event) else None, type_, site_id,
                        _json.encode(data))

    def record(self, event: Event, announcements: list[Announcement]) -> None:
        """An actor's event with what the read model announced for it: the bridge's recorder."""
        if isinstance(event, DeviceHeartbeat):  # readings: at once, unlogged
            for type_, site_id, data in announcements:
                self.hub.publish(type_, site_id, data)
            return
        if isinstance(event, SiteTraffic):
            self._add_traffic(event)
            return
        public = [a for a in announcements if a[0] != "sensor.reading"]
        if not isinstance(event, logged.LOGGED_TYPES):
            for type_, site_id, data in public:
                self.hub.publish(type_, site_id, data)
            return
        if not public:
            self._queue_row(event, None, logged.site_of(event), None)
            return
        first, *rest = public
        self.hub.publish(first[0], first[1], first[2], state=event)
        for type_, site_id, data in rest:
            self.hub.publish(type_, site_id, data)

    def send(self, state: Event) -> None:
        """A state row alone (a command for an owner, its answer, a site change)."""
        self._queue_row(state, None, logged.site_of(state), None)

    def _queue_row(self, state: Event | None, type_: str | None, site_id: int | None,
                   data: bytes | None) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 10_000 == 0:
                log.warning("event log queue full: oldest rows dropped", dropped=self.dropped)
        self._queue.append(NewRow(
            site_id=site_id, type=type_, data=data,
            kind=logged.kind_of(state) if state is not None else None,
            subject=logged.subject_of(state) if state is not None else None,
            state=logged.encode(state) if state is not None else None))
        self._wake.set()

    def _add_traffic(self, event: SiteTraffic) -> None:
        was = self._traffic.get(event.site_id)
        if was is not None:
            reasons = dict(was.reasons)
            for name, count in event.reasons.items():
                reasons[name] = reasons.get(name, 0) + count
            event = SiteTraffic(
                site_id=event.site_id, received=was.received + event.received,
                rejected=was.rejected + event.rejected,
                last_message_at=max((t for t in (was.last_message_at, event.last_message_at)
                                     if t is not None), default=None),
                sparkplug_before_birth=was.sparkplug_before_birth + event.sparkplug_before_birth,
                sparkplug_rebirths=was.sparkplug_rebirths + event.sparkplug_rebirths,
                sparkplug_seq_gaps=was.sparkplug_seq_gaps + event.sparkplug_seq_gaps,
                sparkplug_stale_deaths=was.sparkplug_stale_deaths + event.sparkplug_stale_deaths,
                reasons=reasons)
        self._traffic[event.site_id] = event
        if self._traffic_due is None:
            self._traffic_due = asyncio.get_running_loop().call_later(
                TRAFFIC_EVERY_S, self._flush_traffic)

    def _flush_traffic(self) -> None:
        self._traffic_due = None
        traffic, self._traffic = self._traffic, {}
        for event in traffic.values():
            self.send(event)

    async def _append_forever(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                await self._wake.wait()
                self._wake.clear()
                continue
            try:
                await self._append_once()
                failures = 0
            except Exception as exc:
                if not is_unreachable(exc):
                    log.exception("event log rows refused; dropped", rows=min(
                        len(self._queue), MAX_APPEND))
                    for _ in range(min(len(self._queue), MAX_APPEND)):
                        self._queue.popleft()
                    continue
                failures += 1
                if failures == 1:
                    log.warning("cannot append to the event log; retrying", error=str(exc)[:300])
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))  # a retry pace

    async def _append_once(self) -> None:
        rows = [self._queue[i] for i in range(min(len(self._queue), MAX_APPEND))]
        numbered = await eventlog.append(self.pool, self.origin, rows)
        for _ in rows:
            self._queue.popleft()
        try:
            await self._deliver_own(numbered, rows)
        except Exception as exc:  # appended: the follower delivers them instead
            log.warning("delivering appended rows failed; the follower will",
                        error=str(exc)[:300])
            self.poke()

    async def _deliver_own(self, numbered: list[tuple[int, int | None]],
                           rows: list[NewRow]) -> None:
        async with self._order:
            first, last = numbered[0][0], numbered[-1][0]
            if first == self.last_id + 1:  # nothing of another instance came in between
                for (_, seq), row in zip(numbered, rows, strict=True):
                    if seq is not None and row.type is not None:
                        self.hub.publish_logged(seq, row.type, row.site_id, row.data)
                self.last_id = last
            elif last > self.last_id:  # others' rows first: read them all, ours with them
                await self._catch_up()

    # --- out of the log -----------------------------------------------------------------------

    def poke(self) -> None:
        """Read the rows after the last one delivered (soon, on the follower task)."""
        self._poked.set()

    async def _follow_forever(self) -> None:
        while True:
            await self._poked.wait()
            self._poked.clear()
            try:
                async with self._order:
                    await self._catch_up()
            except Exception as exc:
                log.warning("reading the event log failed; will read again",
                            error=str(exc)[:300])

    async def _catch_up(self) -> None:
        """Deliver every row after ``last_id``, in order (holding ``_order``)."""
        while True:
            rows = await eventlog.after(self.pool, self.last_id)
            for row in rows:
                if row.origin != self.origin and row.state is not None:
                    await self._apply(row)
                if row.seq is not None and row.type is not None:
                    self.hub.publish_logged(row.seq, row.type, row.site_id, row.data)
                self.last_id = row.id
            if len(rows) < 5_000:
                return

    async def _apply(self, row: Row) -> None:
        state = _decode(row)
        if state is None or self.on_remote is None:
            return
        try:
            await self.on_remote(state)
        except Exception:  # one bad row must not stop the sequence
            log.exception("applying another instance's event failed", row_id=row.id)

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    self.dsn, timeout=5.0,
                    server_settings={"application_name": f"sitelink-listen-{self.origin}"})
                delay = 0.5
                await self._listen_on(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event log listener lost; connecting again", error=str(exc)[:300])
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(delay)  # a reconnect pace
            delay = min(delay * 2, LISTEN_RETRY_MAX_S)

    async def _listen_on(self, connection: Any) -> None:
        """LISTEN on ``connection`` until it is lost (returns) or stops answering (raises)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        await connection.add_listener(eventlog.CHANNEL, self._notified)
        self.listens += 1
        self.poke()  # what came while nobody listened
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), POLL_S)
            if not lost.is_set():
                await connection.fetchval("SELECT 1", timeout=5.0)
                self.poke()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            high = int(payload)
        except ValueError:
            high = self.last_id + 1
        if high > self.last_id:
            self.poke()

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)  # a housekeeping pace
            try:
                pruned = await eventlog.prune(self.pool, self.retention_s)
                if pruned:
                    log.info("event log pruned", rows=pruned)
            except Exception as exc:
                log.warning("pruning the event log failed", error=str(exc)[:300])


def _decode(row: Row) -> logged.LoggedState | None:
    if row.state is None:
        return None
    try:
        return logged.decode(row.state)
    except msgspec.DecodeError:
        log.warning("event log row of an unknown kind skipped", row_id=row.id)
        return None

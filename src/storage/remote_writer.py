"""The storage writer in a process of its own, so that its SQL work runs beside the actors
and the event loop instead of taking turns with them for one GIL.

``RemoteWriter`` is what the runtime and the bridge use: the same calls as ``StorageWriter``
(``submit``, ``ensure_devices``, ``device_id``, ``forget_device``, ``lag``, ``dropped``,
``last_flush_s``), on the event loop. Underneath, a child process (``python -m
sitelink.storage.writer_child FD``, handed one end of a socket pair and, as its first
frame, the settings) runs a real ``StorageWriter`` on a database connection of its own; the
two talk in length-prefixed msgpack frames:

- submit: the events, encoded once, written without ever blocking the loop
  (``writer_outbox``: routine events are held up to 0.1 s to go as one frame, and what the
  socket does not take at once waits; past ``max_outbox_bytes`` unsent a batch is dropped
  and counted, which only happens if the child stopped reading);
- ensure_devices: a request answered with the device ids (the bridge waits for them, as
  before, and they are cached here for the read model);
- the child reports its lag, drops and flush time every ``stats_every_s``;
- a child that dies is started again, after 1 s and then twice as long each time it dies
  before it was ready (at most 30 s); what is submitted meanwhile is dropped and counted
  (the states and what each event does: ``storage.writer_life``);
- close: the child writes everything pending, says so, and exits. If this process dies,
  the child reads end-of-file, writes what it has, and exits too. The child ignores SIGINT
  and SIGTERM: a Ctrl-C or a stop signal to the process group reaches this process, which
  closes the child in order.

The child is the only writer of observations; the API's own writes (sites, tokens, audit)
stay in this process, and the two queue on the database's write lock (SQLite: ``BEGIN
IMMEDIATE`` and a busy timeout; PostgreSQL: row locks).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import msgspec
import structlog

from sitelink.channel import child_argv, first_frame
from sitelink.errors import StorageError
from sitelink.events import DeviceDiscovered, DeviceKey, Event
from sitelink.settings import Settings
from sitelink.storage import writer_life as life
from sitelink.storage.apply import IdMaps
from sitelink.storage.writer_frames import (
    Close,
    Closed,
    Ensure,
    Ensured,
    Forget,
    Frames,
    Ready,
    Stats,
    ToParent,
)
from sitelink.storage.writer_outbox import WriterOutbox

log = structlog.get_logger(__name__)

# Twice SQLite's busy timeout: a child that takes longer is stuck, and the bridge goes on.
ENSURE_TIMEOUT_S = 30.0
# The child loads its device ids and prunes old readings before it says Ready; on a large
# database on a slow disk that takes seconds, so a child silent this long is stuck.
START_TIMEOUT_S = 30.0
# The child's last flush is bounded by shutdown_timeout_s; this much more covers its own
# exit and a write that was under way (one batch, one busy timeout at most).
CLOSE_GRACE_S = 30.0
REAP_TIMEOUT_S = 5.0  # an exited child is waited for this long, then killed
MAX_OUTBOX_BYTES = 64 * 2**20  # unsent while the child does not read: past it, batches drop


class RemoteWriter:
    """The storage writer as seen from the event loop; the work happens in a child process."""

    def __init__(
        self,
        settings: Settings,
        *,
        start_timeout_s: float = START_TIMEOUT_S,
        max_outbox_bytes: int = MAX_OUTBOX_BYTES,
        restart_after_s: float = life.FIRST_RESTART_DELAY_S,
    ) -> None:
        self._settings = settings
        self._start_timeout_s = start_timeout_s
        self._policy = life.RestartPolicy(first_delay_s=restart_after_s)
        self.lifecycle = life.Life(restart_delay_s=restart_after_s)
        self._restart: asyncio.TimerHandle | None = None
        self.restarts = 0
        self.up = asyncio.Event()  # set while a child is ready (MarkUp until Abandon)
        self._max_outbox_bytes = max_outbox_bytes
        self._ids = IdMaps()
        self._decoder = msgspec.msgpack.Decoder(ToParent)
        self._frames = Frames()
        self._out: WriterOutbox | None = None  # one per child
        self._sock: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests: dict[int, asyncio.Future[Ensured]] = {}
        self._next_request = 0
        self._ready: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[int] | None = None
        self._child = Stats(lag=0, dropped=0, last_flush_s=0.0)
        self._dropped_here = 0
        self._rejects_before: dict[str, int] = {}

    # --- the StorageWriter interface -----------------------------------------------------------

    @property
    def lag(self) -> int:
        """Events waiting to be written: not yet sent, and in the child."""
        return (self._out.events if self._out is not None else 0) + self._child.lag

    @property
    def dropped(self) -> int:
        return self._dropped_here + self._child.dropped

    @property
    def last_flush_s(self) -> float:
        return self._child.last_flush_s

    @property
    def storage_ok(self) -> bool:
        """The child runs and its last write succeeded (False from a failed write until one
        succeeds)."""
        return self.running and self._child.storage_ok

    @property
    def storage_error(self) -> str:
        return self._child.error

    @property
    def buffered_bytes(self) -> int:
        return self._child.buffered_bytes

    @property
    def rejects(self) -> dict[str, int]:
        """Rows set aside and sensors not created by the child, by reason (since start)."""
        merged = dict(self._rejects_before)
        for reason, count in self._child.rejects.items():
            merged[reason] = merged.get(reason, 0) + count
        return merged

    @property
    def running(self) -> bool:
        """The child is up and answering (False while it is being started again)."""
        return self.up.is_set()

    async def start(self) -> None:
        """Load the device ids, start the child and wait until it is ready."""
        await self._ids.load()
        self._loop = asyncio.get_running_loop()
        await self._perform(self._step(life.Start()))

    def _step(self, event: life.WriterEvent) -> list[life.Effect]:
        """Move ``lifecycle`` on; do the effects that do not wait. Loop thread only."""
        self.lifecycle, effects = life.transition(self.lifecycle, event, self._policy)
        for effect in effects:
            match effect:
                case life.MarkUp():
                    self.up.set()
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(None)
                case life.Fail(why=why):
                    self._fail(why)
                case life.Abandon():
                    self._abandon()
                case life.ScheduleRestart(delay_s=delay_s, why=why):
                    self._schedule_restart(delay_s, why)
                case life.CancelRestart() if self._restart is not None:
                    self._restart.cancel()
                    self._restart = None
                case life.SendClose():
                    self._send_close()
        return effects

    async def _perform(self, effects: list[life.Effect]) -> None:
        """The effects that wait (Spawn, Reap), in order."""
        for effect in effects:
            match effect:
                case life.Reap():
                    await self._reap()
                case life.Spawn(respawn=respawn):
                    if respawn:
                        self._carry_over()
                    await self._spawn()

    async def _spawn(self) -> None:
        assert self._loop is not None
        self._frames = Frames()
        self._ready = self._loop.create_future()
        try:
            mine, theirs = socket.socketpair()
            with theirs:
                self._process = await asyncio.create_subprocess_exec(
                    *child_argv("sitelink.storage.writer_child", theirs.fileno()),
                    pass_fds=(theirs.fileno(),))
            mine.sendall(first_frame(self._settings))  # before the socket is ours alone
            mine.setblocking(False)
            self._sock = mine
            self._out = WriterOutbox(self._loop, mine, on_gone=self._gone)
            self._loop.add_reader(mine.fileno(), self._readable)
            async with asyncio.timeout(self._start_timeout_s):
                await self._ready
        except BaseException:
            self._step(life.StartFailed())
            raise

    def _carry_over(self) -> None:
        """A new child counts from zero: keep what the last one counted."""
        self._dropped_here += self._child.dropped
        for reason, count in self._child.rejects.items():
            self._rejects_before[reason] = self._rejects_before.get(reason, 0) + count
        self._child = Stats(lag=0, dropped=0, last_flush_s=0.0)
        self.restarts += 1

    async def _respawn(self) -> None:
        self._restart = None
        try:
            await self._perform(self._step(life.RestartDue()))  # the last child reaped
            await self._perform(self._step(life.Reaped()))  # a new one, unless closed meanwhile
        except Exception as exc:  # the next try is scheduled (StartFailed or Gone)
            log.error("storage writer process did not start", error=str(exc))
        else:
            if self.lifecycle.state is life.State.UP:
                log.info("storage writer process started again", restarts=self.restarts)

    def submit(self, events: Sequence[Event]) -> None:
        """Hand events to the child. Never blocks, never raises; loop thread only."""
        if not events:
            return
        out = self._out
        if not self.running or out is None or out.unsent_bytes > self._max_outbox_bytes:
            self._dropped_here += len(events)
            return
        out.submit(events)

    async def ensure_devices(self, discovered: Sequence[DeviceDiscovered]) -> dict[DeviceKey, int]:
        """Database ids of the discovered devices, created now by the child if missing."""
        if not discovered:
            return {}
        if not self.running or self._loop is None:
            raise StorageError("the storage writer is not running")
        if not self.storage_ok:
            # The database is away: do not hold the bridge (and every event behind it) for a
            # lookup that will time out. The discovery events are written when it is back.
            raise StorageError(f"storage is down ({self.storage_error or 'last write failed'})")
        self._next_request += 1
        request = self._next_request
        answer: asyncio.Future[Ensured] = self._loop.create_future()
        self._requests[request] = answer
        assert self._out is not None
        self._out.send(Ensure(request, list(discovered)))
        try:
            async with asyncio.timeout(ENSURE_TIMEOUT_S):
                ensured = await answer
        except TimeoutError:
            raise StorageError("the storage writer did not answer in time") from None
        finally:
            self._requests.pop(request, None)
        if ensured.error:
            raise StorageError(ensured.error)
        ids = dict(ensured.ids)
        for key, device_id in ids.items():
            self._ids.add_new_device(key, device_id)
        return ids

    def device_id(self, key: DeviceKey) -> int | None:
        return self._ids.devices.get(key)

    def forget_device(self, key: DeviceKey) -> None:
        self._ids.drop_device(key)
        if self.running and self._out is not None:
            self._out.send(Forget(key))

    async def close(self) -> None:
        """Have the child write everything pending, then let it exit."""
        effects = self._step(life.Close())
        if self.lifecycle.state is not life.State.CLOSING:
            await self._perform(effects)
            return
        assert self._closed is not None
        try:
            async with asyncio.timeout(self._settings.shutdown_timeout_s + CLOSE_GRACE_S):
                left = await self._closed
            if left:
                log.error("storage_writer_closed_with_pending", events=left)
        except (TimeoutError, StorageError) as exc:
            log.error("storage writer process did not close cleanly", error=str(exc))
        finally:
            await self._perform(self._step(life.CloseDone()))

    def _send_close(self) -> None:
        assert self._loop is not None
        self._closed = self._loop.create_future()
        if self._out is None:  # between two children (a restart is reaping the last one)
            self._closed.set_exception(StorageError("no storage writer process to close"))
            return
        self._out.send(Close())

    # --- the socket ----------------------------------------------------------------------------

    def _gone(self, lost: int) -> None:
        """The socket failed under a send; ``lost`` events went with that frame."""
        self._dropped_here += lost
        self._step(life.Gone(why="the storage writer process is gone"))

    def _readable(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._step(life.Gone(why="the storage writer process exited"))
            return
        for packet in self._frames.feed(data):
            self._answer(self._decoder.decode(packet))

    def _answer(self, message: ToParent) -> None:
        match message:
            case Ready():
                self._step(life.Ready())
            case Ensured(request=request):
                answer = self._requests.get(request)
                if answer is not None and not answer.done():
                    answer.set_result(message)
            case Stats():
                self._child = message
            case Closed(lag=lag):
                # the last word on what is left: a periodic Stats may predate the final flush
                self._child = msgspec.structs.replace(self._child, lag=lag)
                if self._closed is not None and not self._closed.done():
                    self._closed.set_result(lag)

    def _fail(self, why: str) -> None:
        """The child is no longer there: fail whoever waits, count what cannot be sent."""
        if self._out is not None:
            self._dropped_here += self._out.events  # Abandon comes next and drops them
        error = StorageError(why)
        for future in (self._ready, self._closed, *self._requests.values()):
            if future is not None and not future.done():
                future.set_exception(error)

    def _schedule_restart(self, delay_s: float, why: str) -> None:
        assert self._loop is not None
        log.error("storage writer process lost; starting it again", reason=why, after_s=delay_s)
        loop = self._loop
        self._restart = loop.call_later(delay_s, lambda: loop.create_task(self._respawn()))

    def _abandon(self) -> None:
        self.up.clear()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            self._loop.remove_writer(sock.fileno())
        sock.close()
        if self._out is not None:
            self._out.close()
            self._out = None

    async def _reap(self) -> None:
        if self._process is None:
            return
        try:
            async with asyncio.timeout(REAP_TIMEOUT_S):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

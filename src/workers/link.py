"""One site worker as the main process sees it: its process, its channel, its state.

``spawn`` starts ``python -m sitelink.workers.child FD`` (blocking, quick) and a reader
thread that decodes what the worker sends: event batches go straight to the sink (the
bridge's ``publish_batch``), publish answers to the waiting ``reply`` (kept here by request
number, since a callable cannot cross), tree answers to whoever asked. ``send`` may be
called from any thread. When the channel ends (the worker died or exited), every waiting
publish is answered as failed and ``on_exit`` is called (on the reader thread).
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec
import structlog

from sitelink.actors.commands import settle
from sitelink.actors.site_messages import PublishResult
from sitelink.api.cluster_answers import WorkerState
from sitelink.channel import Frames, frame, spawn
from sitelink.events import AnyEvent, Event, EventSink
from sitelink.settings import Settings
from sitelink.thread_names import name_this_thread
from sitelink.workers.frames import (
    Events,
    Hello,
    Inspect,
    Ready,
    Replied,
    Stopped,
    ToMain,
    ToWorker,
    Tree,
)

log = structlog.get_logger(__name__)

REPLY_MAX_AGE_S = 600.0  # a publish nobody was answered for this long is forgotten


class BatchSink(EventSink, Protocol):
    """Where a worker's events go (the bridge): its batches, on the link's reader thread,
    and the outcomes of the publishes the link fails itself (``publish``)."""

    def publish_batch(self, events: Sequence[Event]) -> None: ...


Reply = Callable[[PublishResult], None]


class WorkerLink:
    def __init__(self, index: int, workers: int, settings: Settings, sink: BatchSink,
                 on_exit: Callable[[WorkerLink], None]) -> None:
        self.index = index
        self.workers = workers
        self.settings = settings
        self.sink = sink
        self.on_exit = on_exit
        self.state: WorkerState = "stopped"
        self.restarts = 0
        self.failures = 0  # deaths in a row, for the restart backoff (``pool``)
        self.pid: int | None = None
        self.started_at: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._decoder = msgspec.msgpack.Decoder(ToMain)
        self._events = msgspec.msgpack.Decoder(list[AnyEvent])
        self._requests = itertools.count(1)
        self._replies: dict[int, tuple[Reply, str, int, float]] = {}  # command, site, since
        self._trees: dict[int, tuple[threading.Event, list[Tree]]] = {}
        self._lock = threading.Lock()  # replies and trees
        self.stopped = threading.Event()  # the worker said Stopped, or its channel ended
        self.ready = threading.Event()  # the worker said Ready (cleared at each spawn)

    @property
    def alive(self) -> bool:
        return self._sock is not None

    def spawn(self) -> None:
        self.stopped.clear()
        self.ready.clear()
        self.process, sock = spawn("sitelink.workers.child", Hello(
            worker=self.index, workers=self.workers, settings=self.settings))
        self.pid, self.started_at = self.process.pid, time.time()
        self._sock = sock
        threading.Thread(target=self._read, args=(sock,), name=f"worker-{self.index}",
                         daemon=True).start()

    def send(self, message: ToWorker) -> bool:
        """False when the worker is not there (it died; it will be given everything again)."""
        sock = self._sock
        if sock is None:
            return False
        try:
            with self._send_lock:
                sock.sendall(frame(message))
        except OSError:
            return False
        return True

    def expect_reply(self, reply: Reply, command_id: str, site_id: int) -> int:
        """A request number for ``reply``, answered by the worker's ``Replied``."""
        now = time.monotonic()
        request = next(self._requests)
        with self._lock:
            self._replies[request] = (reply, command_id, site_id, now)
            if request % 1000 == 0:  # answers that never came (the caller gave up long ago)
                for old in [r for r, (*_, at) in self._replies.items()
                            if now - at > REPLY_MAX_AGE_S]:
                    del self._replies[old]
        return request

    def refuse(self, request: int, error: str) -> None:
        """The publish of ``request`` never reached the worker: failed, like a refusal there
        (``actors.commands.refuse``), unless the channel's end has answered it already."""
        with self._lock:
            waiting = self._replies.pop(request, None)
        if waiting is not None:
            self._refuse([waiting], error)

    def _refuse(self, waiting: list[tuple[Reply, str, int, float]], error: str) -> None:
        """Settle each as failed, like every other outcome (``actors.commands``)."""
        at = time.time()
        for reply, command_id, site_id, _ in waiting:
            settle(self.sink, site_id, command_id, reply, "failed", error, at, connected=False)

    def inspect(self, timeout_s: float) -> Tree | None:
        """The worker's subtree (blocking), None when it does not answer in time."""
        request, done = next(self._requests), threading.Event()
        answer: list[Tree] = []
        with self._lock:
            self._trees[request] = (done, answer)
        try:
            if self.send(Inspect(request)) and done.wait(timeout_s) and answer:
                return answer[0]
            return None
        finally:
            with self._lock:
                self._trees.pop(request, None)

    def wait_exit(self, timeout_s: float) -> None:
        """Reap the process; killed when it has not exited within ``timeout_s``."""
        process = self.process
        if process is None:
            return
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("a site worker did not exit in time; killing it", worker=self.index)
            process.kill()
            process.wait()

    # --- the reader thread ---------------------------------------------------------------------

    def _read(self, sock: socket.socket) -> None:
        name_this_thread(f"worker-{self.index}")
        frames = Frames()
        while True:
            try:
                data = sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                break
            for packet in frames.feed(data):
                try:
                    self._handle(self._decoder.decode(packet))
                except Exception:  # one bad frame or a failing consumer: said, not fatal
                    log.exception("could not handle a site worker's message", worker=self.index)
        self._closed(sock)

    def _handle(self, message: ToMain) -> None:
        match message:
            case Events(events=events):
                self.sink.publish_batch(self._events.decode(events))
            case Replied(request=request, result=result):
                with self._lock:
                    waiting = self._replies.pop(request, None)
                if waiting is not None:
                    waiting[0](result)
            case Tree(request=request):
                with self._lock:
                    asked = self._trees.get(request)
                if asked is not None:
                    asked[1].append(message)
                    asked[0].set()
            case Ready():
                self.state = "running"
                self.ready.set()
            case Stopped():
                self.stopped.set()

    def _closed(self, sock: socket.socket) -> None:
        with self._send_lock:
            self._sock = None
        sock.close()
        with self._lock:
            waiting, self._replies = list(self._replies.values()), {}
        if waiting:
            self._refuse(waiting, "the site's worker stopped")
        self.stopped.set()
        self.ready.set()  # nobody waits for a worker that is gone
        self.on_exit(self)


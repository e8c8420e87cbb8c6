"""A site worker process: ``python -m sitelink.workers.child FD``.

Started by ``workers.link.WorkerLink`` with one end of a socket pair; its first frame is a
pickled ``Hello`` (its number, the worker count, the settings). It runs a supervisor with
its own clock and an ``Outbox`` as the actors' event sink, then reads commands until the
main process says ``Goodbye`` (every site says goodbye, then it exits) or goes away
(end-of-file: the same goodbye, then exit — a worker never outlives its main process; a
SIGINT or SIGTERM to the process group is ignored here, the main process stops us in
order). If its supervisor dies, the worker exits: the main process starts a new worker and
gives it the sites again.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pykka
import structlog

from sitelink.actors.clock import Clock
from sitelink.actors.commands import refuse
from sitelink.actors.site_messages import Publish, PublishResult
from sitelink.actors.supervisor import Forward, Supervisor
from sitelink.channel import Frames, frame, read_first
from sitelink.site_host import start_supervisor, stop_supervisor
from sitelink.workers.frames import (
    Command,
    Goodbye,
    Hello,
    Inspect,
    Ready,
    Replied,
    Stopped,
    ToMain,
    ToWorker,
    Tree,
)
from sitelink.workers.outbox import Outbox
from sitelink.workers.tree import supervisor_sites

log = structlog.get_logger(__name__)

SUPERVISOR_DIED = 3  # the exit status of a worker whose supervisor died
INSPECT_TIMEOUT_S = 1.8  # the main process waits 2 s for the whole tree


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    frames = Frames()
    first = read_first(sock, frames)
    if first is None or not isinstance(first[0], Hello):
        return
    hello, early = first
    from sitelink import collector
    from sitelink.logs import configure_logging

    configure_logging(hello.settings.log_format)
    collector.tune()
    structlog.contextvars.bind_contextvars(process=f"worker-{hello.worker}")
    _Worker(sock, frames, hello).run(early)


class _Worker:
    def __init__(self, sock: socket.socket, frames: Frames, hello: Hello) -> None:
        self.sock = sock
        self.frames = frames
        self.settings = hello.settings
        self.decoder = msgspec.msgpack.Decoder(ToWorker)
        self.send_lock = threading.Lock()
        self.clock = Clock()
        self.outbox = Outbox(self.send)
        self.supervisor: pykka.ActorRef[Supervisor] = start_supervisor(
            self.settings, clock=self.clock, sink=self.outbox, port_factory=None,
            on_death=self._supervisor_died, share=hello.workers)

    def send(self, message: ToMain) -> None:
        with self.send_lock, contextlib.suppress(OSError):
            self.sock.sendall(frame(message))

    def run(self, early: list[bytes]) -> None:
        """``early``: the frames that came with the Hello."""
        self.outbox.start()
        self.send(Ready(os.getpid()))
        for message in self._read(early):
            match message:
                case Command(request=request, body=body):
                    self._tell(request, pickle.loads(body))
                case Inspect(request=request):
                    threading.Thread(target=self._inspect, args=(request,), daemon=True).start()
                case Goodbye():
                    break
        self._goodbye()

    def _read(self, early: list[bytes]) -> Iterator[ToWorker]:
        """The main process's messages, in order, until it says Goodbye or goes away."""
        for packet in early:
            yield self.decoder.decode(packet)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                return  # the main process is gone: say goodbye all the same
            for packet in self.frames.feed(data):
                yield self.decoder.decode(packet)

    def _tell(self, request: int, message: Any) -> None:
        inner = message.message if isinstance(message, Forward) else None
        if request and isinstance(inner, Publish):
            inner = msgspec.structs.replace(inner, reply=self._replier(request))
            message = Forward(message.site_id, inner)
        try:
            self.supervisor.tell(message)
        except pykka.ActorDeadError:
            if isinstance(message, Forward) and isinstance(inner, Publish):
                refuse(self.outbox, message.site_id, inner, "site is not running",
                       self.clock.now(), connected=False)

    def _replier(self, request: int) -> Any:
        def reply(result: PublishResult) -> None:  # on the site actor's thread
            self.send(Replied(request, result))
        return reply

    def _inspect(self, request: int) -> None:
        try:
            info, sites = supervisor_sites(self.supervisor, INSPECT_TIMEOUT_S)
        except Exception:
            return  # no answer: the main process shows this worker as unresponsive
        self.send(Tree(request, info.processed, sum(info.restarts.values()), info.started_at,
                       sites))

    def _goodbye(self) -> None:
        stop_supervisor(self.supervisor, self.settings.shutdown_timeout_s)
        self.clock.stop()
        self.outbox.close()
        self.send(Stopped())
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def _supervisor_died(self, error: str) -> None:
        """On the dying supervisor's thread (its sites are stopped): what the sites said goes
        out, then the worker ends and the main process starts a new one."""
        log.error("the worker's supervisor has died; the worker exits", error=error)
        self.outbox.close()
        os._exit(SUPERVISOR_DIED)


if __name__ == "__main__":
    main(int(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # every actor is stopped; a library thread left behind must not keep us

"""The storage writer process itself: ``python -m sitelink.storage.writer_child FD``.

Started by ``remote_writer.RemoteWriter`` with one end of a socket pair; its first frame is
the settings. Runs a real ``StorageWriter`` and answers its parent (see ``remote_writer``).

Everything runs on the event loop, frames included: the loop reads the socket when it is
readable. A reading thread cost a thread switch and a loop wake-up per frame (an idle fleet's
bridge sends ~100 a second); while a flush holds the loop (SQLite, ``writer_transaction``)
what the parent sends waits in the socket and in the parent's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys

import msgspec
import structlog

from sitelink.channel import read_first
from sitelink.settings import Settings
from sitelink.storage.writer_frames import (
    Close,
    Closed,
    Ensure,
    Ensured,
    Forget,
    Frames,
    Ready,
    Stats,
    Submit,
    ToChild,
    ToParent,
    frame,
)


def main(fd: int) -> None:
    """The child: ``python -m sitelink.storage.writer_child FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    frames = Frames()
    first = read_first(sock, frames)  # the parent sends nothing more before Ready
    if first is None:
        return
    settings = first[0]
    from sitelink import collector
    from sitelink.logs import configure_logging

    configure_logging(settings.log_format)
    collector.tune()
    structlog.contextvars.bind_contextvars(process="storage-writer")
    asyncio.run(_Child(sock, settings, frames).run())


class _Child:
    def __init__(self, sock: socket.socket, settings: Settings, frames: Frames) -> None:
        self.sock = sock
        self.settings = settings
        self.frames = frames
        self.decoder = msgspec.msgpack.Decoder(ToChild)
        self.done = asyncio.Event()

    def send(self, message: ToParent) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(frame(message))

    async def run(self) -> None:
        from sitelink.storage.database import open_database
        from sitelink.storage.writer import StorageWriter

        s = self.settings
        db = await open_database(s)
        # On PostgreSQL the cluster's other instances stream this one's readings from the
        # table (``cluster.readings``): a quiet trickle is flushed as soon as anything else.
        routine_flush_s = 1.0 if db.engine_name == "sqlite" else 0.25
        self.writer = StorageWriter(
            db, retention_days=s.readings_retention_days,
            history_retention_days=s.history_retention_days, max_sensors=s.max_sensors_per_device,
            max_buffer_bytes=s.storage_buffer_mb * 2**20, flush_timeout_s=4 * s.db_timeout_s,
            routine_flush_s=routine_flush_s)
        await self.writer.start()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self.read)
        self.send(Ready())
        stats = loop.create_task(self.report())
        await self.done.wait()
        stats.cancel()
        await self.writer.close()
        self.send(Closed(self.writer.lag))
        await db.close()

    def read(self) -> None:
        """The socket is readable: take what came and handle it, in order. The socket stays
        blocking for ``send``; this read never waits."""
        try:
            data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the parent is gone: write what we have and stop
            self.stop_reading()
            self.done.set()
            return
        messages = [self.decoder.decode(f) for f in self.frames.feed(data)]
        if any(isinstance(m, Close) for m in messages):
            self.stop_reading()
        self.handle(messages)

    def stop_reading(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())

    def handle(self, messages: list[ToChild]) -> None:
        for message in messages:
            match message:
                case Submit(count=count, events=events, news=news):
                    self.writer.submit_encoded(count, bytes(events), news=news)
                case Ensure():
                    asyncio.get_running_loop().create_task(self.ensure(message))
                case Forget(device=key):
                    self.writer.forget_device(key)
                case Close():
                    self.done.set()

    async def ensure(self, request: Ensure) -> None:
        try:
            ids = await self.writer.ensure_devices(request.discovered)
        except Exception as exc:
            self.send(Ensured(request.request, [], f"{type(exc).__name__}: {exc}"[:500]))
            return
        self.send(Ensured(request.request, list(ids.items())))

    async def report(self) -> None:
        last: Stats | None = None
        while True:
            await asyncio.sleep(0.25)
            w = self.writer
            now = Stats(lag=w.lag, dropped=w.dropped, last_flush_s=w.last_flush_s,
                        storage_ok=w.storage_ok, buffered_bytes=w.buffered_bytes,
                        rejects=dict(w.rejects), error=w.last_error)
            if now != last:
                self.send(now)
                last = now


if __name__ == "__main__":
    main(int(sys.argv[1]))

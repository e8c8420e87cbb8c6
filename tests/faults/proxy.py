"""A TCP proxy for fault tests: it passes bytes on, swallows them, or resets every link.

``FaultProxy(target_host, target_port)`` listens on a free port of 127.0.0.1 and forwards
each connection to the target. It runs an asyncio loop on a thread of its own, so a test
(or a server under test) on any thread can use it. Modes:

- ``passing()``: bytes flow both ways (the start).
- ``swallow()``: a half-open link, as when a cable is cut or a NAT forgets the flow: every
  connection stays open but bytes in either direction are read and dropped; new connections
  are accepted and then hear nothing.
- ``reset()``: every open connection is aborted (RST), and new ones are aborted as soon as
  they are accepted, until ``passing()``.

Nothing here sleeps to wait for something: every change is made on the proxy's loop and
``call`` waits for it to be done.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Self


class Mode(enum.Enum):
    PASSING = "passing"
    SWALLOW = "swallow"
    RESET = "reset"


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.mode = Mode.PASSING
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)

    # --- life -----------------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        self._server = self.call(lambda: asyncio.start_server(self._serve, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                _abort(writer)

        with contextlib.suppress(Exception):
            self.call(stop, timeout_s=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, make: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run ``make()`` (a coroutine function, or a plain one) on the proxy's loop and
        return its result, waiting at most ``timeout_s``."""
        async def run() -> Any:
            result = make()
            return await result if asyncio.iscoroutine(result) else result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout_s)

    # --- modes ----------------------------------------------------------------------------------

    def passing(self) -> None:
        self.call(lambda: self._set(Mode.PASSING))

    def swallow(self) -> None:
        self.call(lambda: self._set(Mode.SWALLOW))

    def reset(self) -> None:
        def go() -> None:
            self._set(Mode.RESET)
            for writer in list(self._writers):
                _abort(writer)

        self.call(go)

    def _set(self, mode: Mode) -> None:
        self.mode = mode

    @property
    def open_links(self) -> int:
        return int(self.call(lambda: len(self._writers)) // 2)

    # --- one connection (proxy loop) -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode is Mode.RESET:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                _abort(w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65_536):
                if self.mode is Mode.PASSING:
                    writer.write(data)
                    await writer.drain()
                elif self.mode is Mode.RESET:
                    break
                # SWALLOW: read and drop, so neither end sees a close or a reset
        if self.mode is not Mode.SWALLOW:
            _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN, as a dropped link or a dead host does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()

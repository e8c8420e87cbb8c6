"""A TCP proxy between sitelink and PostgreSQL that can reset or black-hole the link.

``PgProxy(target_port)`` listens on a free port of 127.0.0.1 and forwards every connection
to ``127.0.0.1:target_port``, two threads per connection. Its mode changes at any time:

- ``forward``: bytes flow both ways;
- ``reset``: every open connection is closed with a TCP reset (``SO_LINGER`` 0) and every
  new one is reset as soon as it is accepted — a database that went away;
- ``blackhole``: connections stay open (new ones are accepted) but no byte moves in either
  direction until the mode is ``forward`` again; what was sent meanwhile waits in the
  kernel's buffers and then arrives late — a network that swallows packets, then heals.

Written for the fault suite; only sockets and threads, no I/O beyond them.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Literal

Mode = Literal["forward", "reset", "blackhole"]
_LINGER_RESET = struct.pack("ii", 1, 0)


class PgProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode: Mode = "forward"
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, name="pg-proxy-accept", daemon=True).start()

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
            if mode == "forward":
                self._flowing.set()
                return
            self._flowing.clear()
            if mode == "reset":
                for sock in list(self._open):
                    _reset(sock)
                self._open.clear()

    def close(self) -> None:
        self._closed = True
        self.set_mode("reset")
        self._flowing.set()  # let the pumps see their sockets are gone and end
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                if self._mode == "reset":
                    _reset(client)
                    continue
                self._open.add(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # a black hole does not even connect onwards
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if self._mode == "reset" or client not in self._open:
                _reset(client)
                _reset(upstream)
                return
            self._open.add(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            self._flowing.wait()  # in a black hole, what was read waits here
            if source not in self._open and self._mode != "forward":
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        with self._lock:
            for sock in (source, sink):
                if sock in self._open:
                    self._open.discard(sock)
                    _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset. Shutting the reading side first wakes a thread blocked in
    ``recv`` on it (closing alone does not, on Linux)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()

"""One network thread for every MQTT connection of the process: ``Network``.

paho's own loop (``loop_forever``) gives each connection a thread that sleeps in select()
and wakes for every packet. An idle fleet's heartbeat reaches each site every ~1.5 s, so
every heartbeat woke a thread, and on this kind of machine a wake costs more than the
message's work (bench/PROPOSALS.md). Here one thread per process selects over every
connected client's socket and drives paho through its external-loop calls (``loop_read``,
``loop_write``, ``loop_misc``). After a round that read something it rests ``window_s``,
so what arrives meanwhile is read in the next round, several sockets for one wake. A
command, a subscription or a goodbye (``poke``) ends the rest at once, and there is no rest
within ``FRESH_S`` of a new connection (its CONNACK and SUBACK are what a start waits for).

The connect itself stays on the port's per-attempt thread (a blocking ``connect()`` says
why it failed in words); the client is ``add``-ed here once it is connected. Everything
paho does on a socket after that happens on this thread. Other threads queue packets (a
publish, a subscribe, a disconnect) and ``poke`` the client: paho would otherwise write them
on the caller's thread, or wait for a wake-up byte that only its own loop reads.
"""

from __future__ import annotations

import contextlib
import select
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import structlog

from sitelink.thread_names import name_this_thread

log = structlog.get_logger(__name__)

MISC_EVERY_S = 1.0  # paho's keepalive check (PINGREQ due, PINGRESP late), for every client
FRESH_S = 0.5  # a connection this new never waits for a rest: a start waits on its answers
# The rest: 50 ms rather than 20 took an idle fleet's workers from 9.6 to 6.5 % of a core
# (bench.scale) and changed neither one busy site's rate nor start -> connected.
WINDOW_S = 0.05
READS_PER_ROUND = 16  # a busy socket's chunks (64 KiB each) read in one round


class Link:
    """A client on the network thread. ``closed`` is set once paho has closed its socket
    (after our DISCONNECT was sent, or the connection was lost)."""

    def __init__(self, client: mqtt.Client, on_error: Callable[[Exception], None]) -> None:
        self.client = client
        self.on_error = on_error
        self.closed = threading.Event()
        self.fd = -1
        self.events = 0  # what the selector watches it for


class Network:
    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._requests: deque[tuple[str, Link]] = deque()
        self._links: set[Link] = set()
        self._fresh_until = 0.0
        self._next_misc = 0.0
        self._thread = threading.Thread(target=self._run, name="paho", daemon=True)
        self._thread.start()

    # --- any thread ------------------------------------------------------------------------

    def add(self, link: Link) -> None:
        """Take over a connected client (its CONNECT sent). From now on only this thread
        touches its socket. Whoever pokes ``link`` must hold it before this call: the
        client's first answers can arrive before ``add`` returns."""
        client = link.client
        client.on_socket_close = lambda _client, _userdata, _sock: self._closed(link)
        # Set, so that paho queues what other threads send instead of writing it there.
        client.on_socket_register_write = _nothing
        self._request("add", link)

    def poke(self, link: Link) -> None:
        """Something was queued on ``link``'s client: write it now."""
        self._request("write", link)

    def _request(self, kind: str, link: Link) -> None:
        self._requests.append((kind, link))
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"\0")

    # --- the network thread ----------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread("paho")
        self._next_misc = time.monotonic() + MISC_EVERY_S
        while True:
            try:
                read_any = self._round()
            except Exception:  # a bug here must not take every connection down with it
                log.exception("MQTT network round failed")
                continue
            if read_any and self.window_s and time.monotonic() >= self._fresh_until:
                select.select([self._wake_r], [], [], self.window_s)  # a poke ends it

    def _round(self) -> bool:
        """Serve what the sockets and the other threads ask; True if anything was read."""
        read_any = False
        for key, mask in self._selector.select(max(0.0, self._next_misc - time.monotonic())):
            link = key.data
            if link is None:
                self._drain_wake()
                continue
            if mask & selectors.EVENT_READ:
                read_any = True
                self._step(link, _read)
            if mask & selectors.EVENT_WRITE:
                self._step(link, mqtt.Client.loop_write)
        self._serve_requests()
        if time.monotonic() >= self._next_misc:
            for link in list(self._links):
                self._step(link, mqtt.Client.loop_misc)
            self._next_misc = time.monotonic() + MISC_EVERY_S
        return read_any

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _serve_requests(self) -> None:
        while self._requests:
            kind, link = self._requests.popleft()
            if kind == "add":
                self._register(link)
            elif kind == "closed":
                self._unwatch(link)
                link.closed.set()
            elif link in self._links:
                self._step(link, mqtt.Client.loop_write)

    def _register(self, link: Link) -> None:
        sock = link.client.socket()
        if sock is None or link.closed.is_set():  # lost before it got here
            link.closed.set()
            return
        try:
            link.fd = sock.fileno()
            self._selector.register(link.fd, selectors.EVENT_READ, link)
        except (OSError, ValueError) as exc:  # closed under us
            self._fail(link, exc)
            return
        link.events = selectors.EVENT_READ
        self._links.add(link)
        self._fresh_until = time.monotonic() + FRESH_S
        self._step(link, mqtt.Client.loop_write)  # what was queued meanwhile (a goodbye)

    def _step(self, link: Link, call: Callable[[mqtt.Client], Any]) -> None:
        """One paho call on ``link``; then what it queued is written, and the socket is
        watched for writing only while paho has more to write than the socket took."""
        client = link.client
        try:
            call(client)
            if client.want_write() and client.socket() is not None:
                client.loop_write()
        except Exception as exc:  # paho's own failure: the connection is over, say so
            self._fail(link, exc)
            return
        if link in self._links:
            events = selectors.EVENT_READ
            if client.want_write():
                events |= selectors.EVENT_WRITE
            if events != link.events:
                link.events = events
                try:
                    self._selector.modify(link.fd, events, link)
                except (OSError, ValueError, KeyError) as exc:
                    self._fail(link, exc)

    def _closed(self, link: Link) -> None:
        """paho is closing the socket: inside a read, write or misc call on this thread."""
        if threading.current_thread() is not self._thread:  # not expected; keep it safe
            self._request("closed", link)
            return
        self._unwatch(link)
        link.closed.set()

    def _unwatch(self, link: Link) -> None:
        if link in self._links:
            self._links.discard(link)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(link.fd)

    def _fail(self, link: Link, exc: Exception) -> None:
        log.error("MQTT network call failed", error=repr(exc))
        self._unwatch(link)
        with contextlib.suppress(Exception):
            sock = link.client.socket()
            if sock is not None:
                sock.close()
        link.closed.set()
        link.on_error(exc)


def _read(client: mqtt.Client) -> None:
    """Read what the socket has (up to ``READS_PER_ROUND`` chunks, then the others' turn),
    and what TLS has already decrypted, which select() cannot see."""
    for _ in range(READS_PER_ROUND):
        client.loop_read()
        sock = client.socket()
        if sock is None:
            return
        pending = getattr(sock, "pending", None)
        if not (getattr(client, "filled", False) or (pending is not None and pending())):
            return


def _nothing(*_args: Any) -> None:
    pass


_network: Network | None = None
_network_lock = threading.Lock()


def network() -> Network:
    """The process's network thread, started on first use."""
    global _network
    with _network_lock:
        if _network is None:
            _network = Network()
        return _network

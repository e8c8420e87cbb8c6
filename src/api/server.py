"""Serving: uvicorn, with a shutdown that does not wait for open event streams.

uvicorn waits for open connections before it runs the lifespan shutdown, and an SSE stream
never ends by itself. ``Server.handle_exit`` therefore also sets the runtime's
``shutting_down`` event, which every stream watches; streams end, uvicorn proceeds, and the
lifespan stops the actors within MQTT_SHUTDOWN_TIMEOUT.

``serve`` (the process-level entry point, not the tests' in-process servers) moves
everything that exists once started up — modules, sites, device actors loaded from storage —
out of the collector's sight with ``gc.freeze()``, so full collections do not walk it again
and again. The collector's thresholds stay CPython's: they count objects, not bytes, and
raising them (it was 50,000/20/100) let cyclic garbage that holds large buffers live long —
a refused 9 MB body was kept ~17 MiB a request (issue 12); after that fix, uvicorn's cycles of
refused oversized requests still grew the server by 20 MiB per 100 requests with the raised
thresholds, 4 MiB with CPython's. The ingest benchmark, alternated four times on this shared
machine, showed no gain above its noise (5.8-11.5k/s raised, 6.9-12.4k/s default).

``serve`` starts in an order that never harms a running instance: the HTTP port is bound
first (``listen`` — a busy port is one clear ``SitelinkError``), then the SQLite instance
lock is taken (``sitelink.instance_lock``), and only then does the lifespan connect sites.
uvicorn by itself would run the lifespan, connecting every site under the same client ids as
the instance already there, and fail to bind afterwards.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
from types import FrameType
from typing import Any

import uvicorn

from sitelink import instance_lock
from sitelink.api.app import create_app
from sitelink.errors import SitelinkError
from sitelink.settings import Settings


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, shutting_down: list[asyncio.Event]) -> None:
        super().__init__(config)
        self._shutting_down = shutting_down
        self._loop: asyncio.AbstractEventLoop | None = None
        self.freeze_after_startup = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.freeze_after_startup:
            gc.collect()
            gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Runs in a signal handler: must never raise, or the signal is lost. The loop is the
        one captured at startup; looking it up here fails when no loop is current."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for event in self._shutting_down:
                loop.call_soon_threadsafe(event.set)
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Runs on the server's loop for every way of stopping, including a programmatic
        ``should_exit = True`` that never passes through ``handle_exit``: end the streams
        first, or uvicorn waits for them until its graceful timeout and then cancels them."""
        for event in self._shutting_down:
            event.set()
        await super().shutdown(sockets)


def build_server(settings: Settings, host: str, port: int, **app_options: Any) -> Server:
    app = create_app(settings, **app_options)
    app.state.runtime.listen_url = f"http://{host}:{port}"
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
        # Forwarded headers are read in api/clients.py, from SITELINK_TRUSTED_PROXIES only;
        # uvicorn's own handling would believe any local client's X-Forwarded-Proto.
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s)),
    )
    return Server(config, [app.state.shutting_down])


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``SitelinkError`` in one line if it cannot
    be had (the port is taken, the address is not this machine's, ...)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SitelinkError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # as uvicorn does: a restart may reuse the port of connections in TIME_WAIT; a port
        # another process listens on is still refused
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason += " (is another sitelink or another server running there?)"
        raise SitelinkError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, host: str, port: int, **app_options: Any) -> None:
    """Run the server until a signal: port first, then the instance lock, then the sites."""
    sock = listen(host, port)
    try:
        lock = instance_lock.hold(settings, f"{host}:{port}")
        try:
            server = build_server(settings, host, port, **app_options)
            server.freeze_after_startup = True
            server.run(sockets=[sock])
        finally:
            if lock is not None:
                lock.release()
    finally:
        sock.close()

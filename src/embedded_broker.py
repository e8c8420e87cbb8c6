"""MQTT brokers that sitelink runs itself, always on 127.0.0.1 and a free port.

``Mosquitto``: a real ``mosquitto`` process with a generated config in a temporary directory,
for tests and benchmarks; it can be stopped, killed (a crash) and restarted on the same port.
``EmbeddedBroker``: the broker of ``sitelink demo``, that same Mosquitto when installed, else
amqtt in-process. Every method runs on the caller's thread and blocks until done.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import importlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from sitelink.errors import ConfigError, SitelinkError

LOCALHOST = "127.0.0.1"


_CONNECTED = re.compile(r"New client connected from \S+ as (\S+) ")
_GONE = re.compile(r"Client (\S+) (?:disconnected|closed its connection|has exceeded timeout)"
                   r"|Socket error on client (\S+),|Client (\S+) already connected")


class BrokerError(SitelinkError):
    """A broker that sitelink runs itself did not start or is missing."""


_port_block: list[int] = []  # empty: the OS picks; else the ports free_port hands out in turn


def use_port_block(first: int, count: int) -> None:
    """Make ``free_port`` hand out the ports ``first .. first + count - 1`` in turn (from a
    random one, wrapping), skipping any taken. Each process of a parallel test run takes its own
    block below the OS's ephemeral range: a port freed by a killed server then stays free until
    the test starts it again there, as no other process and no outgoing connection is given it."""
    offset = random.randrange(count)
    _port_block[:] = [first + (offset + n) % count for n in range(count)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago: the OS picks it, or the next free
    one of the block set by ``use_port_block``."""
    for _ in range(len(_port_block)):
        _port_block.append(port := _port_block.pop(0))
        if port_is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if nothing holds ``port`` on 127.0.0.1 now (not even a connection in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, contextlib.suppress(OSError):
        sock.bind((LOCALHOST, port))
        return True
    return False


def port_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True if a TCP connect to ``host:port`` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def find_mosquitto() -> str | None:
    """Path of the ``mosquitto`` executable: PATH first, then Debian's /usr/sbin."""
    sbin = "/usr/sbin/mosquitto"
    return shutil.which("mosquitto") or (sbin if os.access(sbin, os.X_OK) else None)


class _LocalBroker(abc.ABC):
    """An address on 127.0.0.1, and use as a context manager (``start`` … ``close``)."""

    host = LOCALHOST
    _port: int

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{LOCALHOST}:{self._port}"

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Mosquitto(_LocalBroker):
    """One ``mosquitto`` process on 127.0.0.1, owned by this object.

    ``users`` (name → password) turns on a password file built with ``mosquitto_passwd``;
    anonymous clients are then refused unless ``allow_anonymous`` says otherwise.
    ``max_queued_messages=0`` lifts Mosquitto's per-client queue limit (1000 by default,
    which silently drops bursts to a slow subscriber): benchmarks want that.
    ``extra_config`` lines are appended to the configuration (another listener, say).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        max_queued_messages: int | None = None,
        start_timeout_s: float = 10.0,
        extra_config: Sequence[str] = (),
    ) -> None:
        self._executable = find_mosquitto() or "mosquitto"
        self._fixed_port = port is not None
        self._port = port if port is not None else free_port()
        self._users = dict(users or {})
        self._allow_anonymous = not self._users if allow_anonymous is None else allow_anonymous
        self._max_queued_messages = max_queued_messages
        self._start_timeout_s = start_timeout_s
        self._extra_config = tuple(extra_config)
        self._tmp = tempfile.TemporaryDirectory(prefix="sitelink-mosquitto-")
        self.dir = Path(self._tmp.name)
        self.log_path = self.dir / "mosquitto.log"
        self.config_path = self.dir / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> None:
        lines = [
            f"listener {self._port} {LOCALHOST}",
            f"allow_anonymous {'true' if self._allow_anonymous else 'false'}",
            "persistence false",
            f"log_dest file {self.log_path}",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto 2 drops to the user "mosquitto", which cannot write our
            # temporary directory; "user root" keeps the current user.
            lines.append("user root")
        if self._max_queued_messages is not None:
            lines.append(f"max_queued_messages {self._max_queued_messages}")
        if self._users:
            passwd = self.dir / "passwd"
            passwd.touch(mode=0o600)
            for name, password in self._users.items():
                command = ["mosquitto_passwd", "-b", str(passwd), name, password]
                subprocess.run(command, check=True, capture_output=True)
            lines.append(f"password_file {passwd}")
        # More listeners (e.g. TLS with client certificates), after the plain one that
        # start() waits for.
        lines.extend(self._extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Start and return once our process listens. An OS-chosen port that someone took
        meanwhile is replaced once; a port given by the caller never changes."""
        if self.running:
            return
        try:
            self._spawn_and_wait()
        except BrokerError:
            if self._fixed_port:
                raise
            self._port = free_port()
            self._write_config()
            self._spawn_and_wait()

    def _spawn_and_wait(self) -> None:
        if port_accepts(LOCALHOST, self._port):
            raise BrokerError(f"port {self._port} is already in use on {LOCALHOST}")
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        argv = [self._executable, "-c", str(self.config_path)]
        try:
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)") from None
        self._process = process
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise BrokerError(
                    f"mosquitto exited with {process.returncode} on port {self._port}: "
                    f"{self.log()[-2000:]}"
                )
            # The port alone could be answered by someone else: our process says "running"
            # in its log once its listener is open.
            if "running" in self.log(log_offset) and port_accepts(LOCALHOST, self._port):
                return
            time.sleep(0.01)  # polling a socket that has no readiness event
        self._end(signal.SIGKILL)
        raise BrokerError(
            f"mosquitto did not listen on port {self._port} within "
            f"{self._start_timeout_s} s: {self.log()[-2000:]}"
        )

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM) and wait for the process to end."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes as in a crash; clients see the socket drop."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (if running) and start again on the same port."""
        self.stop()
        self._fixed_port = True
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        process.wait()  # mosquitto ends within milliseconds of SIGTERM

    def log(self, since_byte: int = 0) -> str:
        """The broker's log file, from a byte offset on."""
        try:
            return self.log_path.read_bytes()[since_byte:].decode(errors="replace")
        except FileNotFoundError:
            return ""

    def watch_clients(self, clients: Sequence[str]) -> ClientWatch:
        """From now on, how long each of ``clients`` (connected now) is connected by nobody
        (needs ``log_type all``)."""
        return ClientWatch(self.log_path, clients)

    def close(self) -> None:
        """Stop the broker and delete its temporary directory."""
        self.stop()
        self._tmp.cleanup()


class EmbeddedBroker(_LocalBroker):
    """The demo's broker: Mosquitto if installed, else amqtt (the ``demo`` extra, MQTT 3.1.1
    only) on an asyncio loop in a thread of its own. ``kind`` says which one runs;
    ``use_mosquitto=False`` forces amqtt. ``extra_listeners`` are more amqtt listeners by
    name (e.g. ``{"ws": {"type": "ws", "bind": "127.0.0.1:9001"}}``: MQTT over WebSockets,
    which this machine's Mosquitto cannot serve); they force amqtt."""

    def __init__(self, *, port: int | None = None, use_mosquitto: bool = True,
                 extra_listeners: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._extra_listeners = {k: dict(v) for k, v in (extra_listeners or {}).items()}
        use_mosquitto = use_mosquitto and not self._extra_listeners
        self._port = port if port is not None else free_port()
        self._mosquitto: Mosquitto | None = None
        self._amqtt_loop: asyncio.AbstractEventLoop | None = None
        self._amqtt_thread: threading.Thread | None = None
        self._amqtt_broker: Any = None
        self.kind = "mosquitto" if use_mosquitto and find_mosquitto() else "amqtt"

    def start(self) -> None:
        """Start the broker; returns once it accepts connections."""
        if self.kind == "mosquitto":
            self._mosquitto = Mosquitto(port=self._port)
            self._mosquitto.start()
        else:
            self._start_amqtt()

    def _start_amqtt(self) -> None:
        try:
            # Imported by name: amqtt is an optional extra, and mypy need not know it.
            amqtt_broker = importlib.import_module("amqtt.broker")
        except ImportError:
            raise ConfigError(
                "the demo needs an MQTT broker: install mosquitto (apt-get install mosquitto) "
                "or amqtt (pip install amqtt, or pip install 'sitelink[demo]')"
            ) from None
        listener = {"type": "tcp", "bind": f"{LOCALHOST}:{self._port}"}
        anonymous = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        config = {"listeners": {"default": listener, **self._extra_listeners},
                  "plugins": anonymous}
        loop = asyncio.new_event_loop()
        self._amqtt_loop = loop
        self._amqtt_thread = threading.Thread(target=loop.run_forever, name="amqtt", daemon=True)
        self._amqtt_thread.start()

        async def serve() -> Any:
            broker = amqtt_broker.Broker(config)
            await broker.start()
            return broker

        try:
            self._amqtt_broker = asyncio.run_coroutine_threadsafe(serve(), loop).result(15)
        except Exception as exc:
            self.close()
            raise BrokerError(f"amqtt did not start on port {self._port}: {exc!r}") from exc

    def close(self) -> None:
        """Stop the broker and wait for it to be gone."""
        if self._mosquitto is not None:
            self._mosquitto.close()
            self._mosquitto = None
        loop, self._amqtt_loop = self._amqtt_loop, None
        if loop is None:
            return
        broker, self._amqtt_broker = self._amqtt_broker, None
        if broker is not None:
            asyncio.run_coroutine_threadsafe(_shutdown_amqtt(broker), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._amqtt_thread is not None:
            self._amqtt_thread.join(timeout=10)
        loop.close()

    stop = close


async def _shutdown_amqtt(broker: Any) -> None:
    """Shut amqtt down on its loop. amqtt 0.12's shutdown can hang cleaning up a client that
    is still connected: then close its listeners ourselves and cancel what is left."""
    shutdown = asyncio.ensure_future(broker.shutdown())
    done, _ = await asyncio.wait({shutdown}, timeout=3)
    if not done:
        for server in getattr(broker, "_servers", {}).values():
            server.instance.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()


class ClientWatch:
    """Each client id's time connected by nobody, as Mosquitto saw it: its log read as it is
    written (it flushes every line), each line stamped when read, every 10 ms. A takeover
    counts as the old connection gone and the new one come."""

    def __init__(self, log_path: Path, clients: Sequence[str]) -> None:
        self.up = dict.fromkeys(clients, 1)  # watched from a moment all are connected
        self.down = dict.fromkeys(clients, 0.0)
        self._down_since: dict[str, float] = {}
        self._offset = log_path.stat().st_size
        self._path = log_path
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="client-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        partial = b""
        with self._path.open("rb") as log:
            log.seek(self._offset)
            while not self._done.wait(0.01):  # a reading pace: the log has no notification
                lines = (partial + log.read()).split(b"\n")
                partial = lines.pop()
                now = time.monotonic()
                for line in lines:
                    self._line(line.decode(errors="replace"), now)

    def _line(self, line: str, now: float) -> None:
        if (up := _CONNECTED.search(line)) is not None:
            client, change = up.group(1), 1
        elif (gone := _GONE.search(line)) is not None:
            client, change = next(g for g in gone.groups() if g is not None), -1
        else:
            return
        if client not in self.up:
            return
        self.up[client] = max(0, self.up[client] + change)
        if self.up[client] == 0:
            self._down_since.setdefault(client, now)
        elif client in self._down_since:
            self.down[client] += now - self._down_since.pop(client)

    def stop(self) -> dict[str, float]:
        """Seconds each client was connected by nobody, up to now."""
        self._done.set()
        self._thread.join(5)
        now = time.monotonic()
        for client, since in self._down_since.items():
            self.down[client] += now - since
        self._down_since.clear()
        return self.down

"""A real sitelink server for tests: uvicorn in a thread, real HTTP, real SSE clients.

``LiveServer`` runs the app of ``sitelink.api.server.build_server`` on a free port of
127.0.0.1 in a background thread, with settings built directly (never from the
environment). ``EventStream`` is a real Server-Sent Events client on its own thread that
records every event and comment under a condition, so tests wait on what arrives — never
on a sleep. ``wait_until`` polls a condition against a deadline for the few things that
have no event.

Only one server runs at a time in a process: piccolo binds its tables to one database
per process.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import msgspec

from sitelink.api.server import Server, build_server
from sitelink.embedded_broker import free_port
from sitelink.runtime import Runtime
from sitelink.settings import Settings
from sitelink.storage import tokens as token_store

T = TypeVar("T")

ADMIN_TOKEN = "test-admin-" + secrets.token_urlsafe(16)
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
# Short enough for tests to see streams wake up and end promptly; long enough to be rare.
SSE_KEEPALIVE_S = 0.5


def wait_until(predicate: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.02,
               message: str | Callable[[], str] = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"not true within {timeout_s} s: {text}")
        time.sleep(interval_s)  # polling a condition that has no event to wait on


def workers_under_test() -> int:
    """The site workers of test servers: ``SITELINK_WORKERS`` of the test run, else 1."""
    import os

    return int(os.environ.get("SITELINK_WORKERS") or "1")


def server_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test server: fast retries, no periodic reconcile, a bootstrap admin."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": "test-secret-" + uuid.uuid4().hex,
        "instance_id": "it-" + uuid.uuid4().hex[:8],
        "retry_base_s": 0.2,
        "retry_max_s": 1.0,
        "retry_jitter": 0.1,
        "connect_timeout_s": 2.0,
        "reconcile_s": 3600.0,
        "shutdown_timeout_s": 2.0,
        "log_format": "json",
        # Tests fail authentication on purpose in many places, all from 127.0.0.1: only the
        # tests of the limit itself set it low.
        "auth_failures_max": 1_000_000,
        # CI runs these tests once with one site worker and once with two (SITELINK_WORKERS).
        "workers": workers_under_test(),
    }
    values.update(overrides)
    return Settings(**values)


# --- PostgreSQL -------------------------------------------------------------------------------


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pg_available() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at 127.0.0.1:5432 is not available: {exc}"
    return None


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards (concurrent runs never meet)."""
    name = f"sitelink_it_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_url(engine: str, tmp: Path, stack: contextlib.ExitStack) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp / 'sitelink.db'}"
    return stack.enter_context(pg_database())


# --- the server -------------------------------------------------------------------------------


class LiveServer:
    """sitelink's real HTTP server on a thread; ``restart`` keeps the port and the database."""

    def __init__(self, settings: Settings, *, port: int | None = None,
                 sse_keepalive_s: float = SSE_KEEPALIVE_S, send_buffer: int | None = None,
                 app_options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.app_options = app_options or {}
        # A small kernel send buffer (inherited by accepted sockets) makes a client that does
        # not read fill up after kilobytes instead of megabytes: the slow-client test stays short.
        self.send_buffer = send_buffer
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.sse_keepalive_s = sse_keepalive_s
        self.server: Server | None = None
        self.thread: threading.Thread | None = None
        self._clients: list[httpx.Client] = []
        self._tokens: dict[str, str] = {}

    # lifecycle (test thread)

    def start(self, timeout_s: float = 20.0) -> None:
        self.server = build_server(self.settings, "127.0.0.1", self.port,
                                   sse_keepalive_s=self.sse_keepalive_s, **self.app_options)
        server = self.server
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.send_buffer is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        listener.bind(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                       name="uvicorn", daemon=True)
        self.thread.start()
        wait_until(lambda: server.started or not self.thread_alive, timeout_s,
                   message="the server did not start")
        assert server.started, "the server thread ended during start-up"

    @property
    def thread_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> float:
        """Ask uvicorn to exit (as embedding code does) and wait; returns the seconds taken."""
        began = time.monotonic()
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout_s)
            assert not self.thread.is_alive(), f"the server did not stop within {timeout_s} s"
        self.server = None
        return time.monotonic() - began

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.stop()

    # access to the live runtime

    @property
    def runtime(self) -> Runtime:
        assert self.server is not None
        runtime: Runtime = self.server.config.app.state.runtime  # type: ignore[union-attr]
        return runtime

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self.runtime.bridge is not None
        return self.runtime.bridge.loop

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        """Run a coroutine on the server's own loop (where its database lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def token(self, name: str, role: str = "viewer") -> str:
        """A token created through storage (once per name), as ``sitelink token create`` does."""
        if name not in self._tokens:
            self._tokens[name] = self.call(
                token_store.create_token(self.runtime.db, name, role))  # type: ignore[arg-type]
        return self._tokens[name]

    # HTTP clients

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0, **kwargs)
        self._clients.append(client)
        return client

    def admin(self) -> httpx.Client:
        return self.client(ADMIN_TOKEN)

    def viewer(self) -> httpx.Client:
        return self.client(self.token("viewer", "viewer"))

    def events(self, token: str = ADMIN_TOKEN, **kwargs: Any) -> EventStream:
        stream = EventStream(self.base_url, token=token, **kwargs)
        stream.open()
        return stream


# --- Server-Sent Events -----------------------------------------------------------------------


class Sse(msgspec.Struct, frozen=True):
    id: str
    event: str
    data: str
    at: float  # monotonic time of arrival

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """A real SSE client (httpx, line by line, as the EventSource spec parses) on a thread.

    Records events and comments as they arrive; ``wait_for`` blocks on a condition until
    one matches. ``close`` shuts the socket down, which wakes the reading thread at once.
    """

    def __init__(self, base_url: str, *, token: str | None = ADMIN_TOKEN,
                 params: Any = None, last_event_id: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url = base_url + "/api/v1/events"
        self.headers = {"Accept": "text/event-stream", **(headers or {})}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.params = params
        self.events: list[Sse] = []
        self.comments: list[tuple[str, float]] = []
        self.status_code: int | None = None
        self.body = ""
        self.ended = False
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="sse-client", daemon=True)

    def begin(self) -> EventStream:
        """Send the request and return at once (``open`` also waits for the answer)."""
        self._thread.start()
        return self

    def open(self, timeout_s: float = 5.0) -> EventStream:
        self.begin()
        assert self.wait(lambda: self.status_code is not None or self.ended, timeout_s), \
            "no answer to GET /api/v1/events"
        return self

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client, \
                    client.stream("GET", self.url, headers=self.headers,
                                  params=self.params) as response:
                stream = response.extensions.get("network_stream")
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                if response.status_code != 200:
                    response.read()
                    self.body = response.text
                    with self._changed:
                        self.status_code = response.status_code
                        self._changed.notify_all()
                    return
                with self._changed:
                    self.status_code = response.status_code
                    self._changed.notify_all()
                self._parse(response.iter_bytes())
        except (httpx.HTTPError, OSError) as exc:
            self.error = exc
        finally:
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def _parse(self, chunks: Iterator[bytes]) -> None:
        """Line by line as the spec says (CRLF or LF endings), but what one network read
        brings is recorded under one lock with one wake-up: a wake-up of the waiting test per
        event made this thread (and the server sharing its GIL) crawl through a burst."""
        fields: dict[str, list[str]] = {}
        last_id = ""
        decoder = codecs.getincrementaldecoder("utf-8")()
        rest = ""
        for chunk in chunks:
            lines = (rest + decoder.decode(chunk)).split("\n")
            rest = lines.pop()
            events: list[Sse] = []
            comments: list[tuple[str, float]] = []
            now = time.monotonic()
            for raw in lines:
                line = raw.removesuffix("\r")
                if line == "":
                    if "data" in fields or "event" in fields:
                        last_id = fields.get("id", [last_id])[-1]
                        events.append(Sse(last_id, fields.get("event", ["message"])[-1],
                                          "\n".join(fields.get("data", [])), now))
                    elif "id" in fields:
                        last_id = fields["id"][-1]
                    fields = {}
                elif line.startswith(":"):
                    comments.append((line[1:].strip(), now))
                else:
                    name, _, value = line.partition(":")
                    fields.setdefault(name, []).append(
                        value[1:] if value.startswith(" ") else value)
            if events or comments:
                with self._changed:
                    self.events.extend(events)
                    self.comments.extend(comments)
                    self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout_s)

    def of(self, type_: str, **match: Any) -> list[Sse]:
        """Events of one type whose JSON data has every ``match`` item."""
        with self._changed:
            events = list(self.events)
        return [e for e in events if e.event == type_
                and all(e.json.get(k) == v for k, v in match.items())]

    def wait_for(self, type_: str, timeout_s: float = 5.0, *, after: int = 0,
                 where: Callable[[dict[str, Any]], bool] = lambda _: True,
                 **match: Any) -> Sse:
        """The first event of ``type_`` (matching ``match`` and ``where``) at index ≥ ``after``."""
        found: list[Sse] = []

        def seen() -> bool:
            for event in self.events[after:]:
                if event.event == type_ and all(event.json.get(k) == v for k, v in match.items()) \
                        and where(event.json):
                    found.append(event)
                    return True
            return self.ended

        self.wait(seen, timeout_s)
        if not found:
            recent = [(e.event, e.data) for e in self.events[-15:]]
            raise AssertionError(f"no {type_} {match} within {timeout_s} s "
                                 f"(ended={self.ended}); last events: {recent}")
        return found[0]

    def mark(self) -> int:
        """An index for ``wait_for(after=...)``: only events from now on."""
        with self._changed:
            return len(self.events)

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(5.0)


@contextlib.contextmanager
def running_server(engine: str, tmp: Path, *, send_buffer: int | None = None,
                   app_options: dict[str, Any] | None = None,
                   **overrides: Any) -> Iterator[LiveServer]:
    """A started server on a fresh database of ``engine``; stopped (and dropped) after.
    ``app_options`` go to ``create_app`` (e.g. a fake ``auth_clock``)."""
    with contextlib.ExitStack() as stack:
        url = database_url(engine, tmp, stack)
        live = LiveServer(server_settings(url, **overrides), send_buffer=send_buffer,
                          app_options=app_options)
        live.start()
        try:
            yield live
        finally:
            live.close()


def require_postgres() -> None:
    """Skip when PostgreSQL is down — except on CI (``CI=true``), where that is a failure."""
    import os

    import pytest

    reason = pg_available()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


# --- MQTT and HTTP shortcuts --------------------------------------------------------------------


class Publisher:
    """A plain paho client that publishes like a device does, waiting for each PUBACK."""

    def __init__(self, host: str, port: int, client_id: str = "") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  reconnect_on_failure=False)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1,
                retain: bool = False) -> None:
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self.client.publish(topic, body, qos=qos, retain=retain)
        info.wait_for_publish(5.0)
        assert info.is_published(), f"not published: {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def unique_code(prefix: str = "site") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def create_site(client: httpx.Client, host: str, port: int, **fields: Any) -> dict[str, Any]:
    """POST a site (a unique code unless given); the status object it answers."""
    body = {"name": fields.get("code", "test site"), "code": unique_code(),
            "broker_host": host, "broker_port": port, **fields}
    response = client.post("/api/v1/mqtt/sites/", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def v1_heartbeat(*sensors: tuple[str, float], firmware: str = "V.5.53.0") -> dict[str, Any]:
    return {"firmware": firmware, "uptime_s": 100,
            "sensors": [{"id": key, "label": key.upper(), "type": "temperature",
                         "value": value, "unit": "°C"} for key, value in sensors]}


def v2_heartbeat(*sensors: tuple[str, float], firmware: str = "V.6.0.1") -> dict[str, Any]:
    return {"v": 2, "fw": firmware, "up": 100,
            "r": {key: [value, "%", "humidity"] for key, value in sensors}}


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """One sample of ``GET /metrics`` (Prometheus text), by name and labels; 0 when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def site_status(client: httpx.Client, site_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/mqtt/sites/{site_id}/status/")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def wait_status(client: httpx.Client, site_id: int, status: str,
                timeout_s: float = 10.0) -> dict[str, Any]:
    """Poll the status endpoint until the site is in ``status``; its status object."""
    return wait_until(lambda: (s := site_status(client, site_id))["status"] == status and s,
                      timeout_s, message=lambda: f"site {site_id} {status}: "
                                                 f"{site_status(client, site_id)}")

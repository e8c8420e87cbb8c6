"""The runtime: builds every part of sitelink in order and tears it down in reverse.

One object, created on the asyncio loop by the HTTP app's lifespan (or by a test):

    start:  storage (migrate) → clock → read model, hub, bridge, writer → supervisor
            → desired state applied → reconcile every SITELINK_RECONCILE_S
    stop:   reconcile → sites say goodbye in parallel (MQTT_SHUTDOWN_TIMEOUT) → actors
            → bridge drained → writer flushed → storage closed → clock

It is also the edge between HTTP and the actors: handlers call its methods, which tell
the supervisor and, where an answer is needed, wait for it on the loop through a callback
(never by blocking on a pykka future, which would block the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, cast

import pykka
import structlog

from sitelink.actors import lifecycle as lc
from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import BaseClock, Clock, Target
from sitelink.actors.device import DeviceState
from sitelink.actors.mqtt_port import MqttPort
from sitelink.actors.site_messages import Discover, Publish, PublishResult, Shutdown, SiteSpec
from sitelink.actors.supervisor import (
    Apply,
    Describe,
    Forward,
    Remove,
    Supervisor,
    SupervisorInfo,
    Upsert,
)
from sitelink.bridge import Bridge
from sitelink.desired import site_spec
from sitelink.events import DeviceKey
from sitelink.fanout import Hub
from sitelink.readmodel import ReadModel
from sitelink.settings import Settings
from sitelink.storage import devices as device_store
from sitelink.storage import sites as site_store
from sitelink.storage.availability import mark_all_unknown
from sitelink.storage.database import Database, open_database
from sitelink.storage.migrations import migrate
from sitelink.storage.tokens import ensure_bootstrap
from sitelink.storage.writer_process import RemoteWriter

log = structlog.get_logger(__name__)

PortFactory = Callable[[Target, Callable[[], float]], MqttPort]


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: BaseClock | None = None,
        port_factory: PortFactory | None = None,
    ) -> None:
        self.settings = settings
        self._own_clock = clock is None
        self.clock: BaseClock = clock or Clock()
        self.port_factory = port_factory
        self.read_model = ReadModel(settings.instance_id, self._device_id)
        self.hub = Hub(max_clients=settings.sse_max_clients)
        self.shutting_down = asyncio.Event()
        self.started_at = time.time()
        self._db: Database | None = None
        self.writer: RemoteWriter | None = None
        self.bridge: Bridge | None = None
        self.supervisor: pykka.ActorRef[Supervisor] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._db is not None

    @property
    def db(self) -> Database:
        """The open database (between ``start`` and ``stop``)."""
        if self._db is None:
            raise RuntimeError("the runtime is not started")
        return self._db

    def _device_id(self, key: DeviceKey) -> int | None:
        return self.writer.device_id(key) if self.writer is not None else None

    # --- start and stop -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self._db = await open_database(s)
        await migrate(self.db)
        if s.admin_token:
            await ensure_bootstrap(self.db, s.admin_token)
        loop = asyncio.get_running_loop()
        # Nothing is known about any device until it is heard from in this process; this
        # also closes the previous run's open availability intervals.
        await mark_all_unknown(self.db, datetime.now(UTC))
        self.writer = RemoteWriter(s)
        await self.writer.start()
        self.bridge = Bridge(loop, self.read_model, self.hub, self.writer)
        self.bridge.start()
        self.hub.start_sweeping()
        self.read_model.load(await site_store.list_sites(self.db))
        self.supervisor = Supervisor.start(
            clock=self.clock,
            sink=self.bridge,
            policy=RetryPolicy(
                base_s=s.retry_base_s,
                max_s=s.retry_max_s,
                jitter=s.retry_jitter,
                reset_s=s.retry_reset_s,
                connect_timeout_s=s.connect_timeout_s,
            ),
            limiter=ConnectRateLimiter(s.connect_rate),
            max_payload=s.max_payload,
            max_devices=s.max_devices_per_site,
            port_factory=self.port_factory,
        )
        configs = await site_store.load_desired_state(self.db)
        specs = tuple(site_spec(c, s) for c in configs)
        known = _device_states(await device_store.load_devices(self.db), specs)
        self.supervisor.tell(Apply(specs, known))
        self._reconcile_task = loop.create_task(self._reconcile_forever(), name="reconcile")
        log.info("sitelink started", sites=len(specs), engine=self.db.engine_name,
                 instance_id=s.instance_id)

    async def stop(self) -> None:
        self.shutting_down.set()
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconcile_task
        if self.supervisor is not None:
            await asyncio.to_thread(self._stop_actors)
        self.hub.stop_sweeping()
        if self.bridge is not None:
            await self.bridge.stop()
        if self.writer is not None:
            await self.writer.close()
        if self._db is not None:
            await self._db.close()
        if self._own_clock:
            self.clock.stop()
        log.info("sitelink stopped")

    def _stop_actors(self) -> None:
        """Every site says goodbye in parallel, within the shutdown timeout (worker thread)."""
        assert self.supervisor is not None
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        try:
            info = cast(SupervisorInfo, self.supervisor.ask(
                Describe(), timeout=self.settings.shutdown_timeout_s
            ))
            futures = [ref.ask(Shutdown(), block=False) for ref in info.children.values()]
            for future in futures:
                with contextlib.suppress(Exception):
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
        except (FutureTimeout, pykka.Timeout, pykka.ActorDeadError):
            log.warning("some sites did not stop within the shutdown timeout")
        pykka.ActorRegistry.stop_all(block=True, timeout=max(1.0, deadline - time.monotonic()))

    # --- desired state ----------------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_s)
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed")

    async def reconcile(self) -> None:
        """Converge the live connections to what storage says (changes made elsewhere)."""
        assert self.supervisor is not None
        configs = await site_store.load_desired_state(self.db)
        for record in await site_store.list_sites(self.db):
            if record.id not in self.read_model.sites:
                self.hub.publish(*self.read_model.upsert_site(record, "created"))
            else:
                self.read_model.sites[record.id].record = record
        for site_id in [i for i in self.read_model.sites if i not in {c.id for c in configs}]:
            self.hub.publish(*self.read_model.remove_site(site_id))
        self.supervisor.tell(Apply(tuple(site_spec(c, self.settings) for c in configs)))

    async def site_changed(self, site_id: int, change: str) -> None:
        """Storage has just changed this site: tell its actor at once."""
        assert self.supervisor is not None
        record = await site_store.get_site(self.db, site_id)
        self.hub.publish(*self.read_model.upsert_site(record, change))
        config = await site_store.get_site_config(self.db, site_id)
        self.supervisor.tell(Upsert(site_spec(config, self.settings)))

    def site_removed(self, site_id: int) -> None:
        assert self.supervisor is not None
        self.supervisor.tell(Remove(site_id))
        self.hub.publish(*self.read_model.remove_site(site_id))

    # --- commands to actors ------------------------------------------------------------------

    def tell_site(self, site_id: int, message: Any) -> None:
        assert self.supervisor is not None
        self.supervisor.tell(Forward(site_id, message))

    def forget_device(self, key: DeviceKey) -> None:
        """The device was deleted: it is new again if it speaks (ids, counts)."""
        self.read_model.forget_device(key)
        if self.writer is not None:
            self.writer.forget_device(key)

    def reconnect(self, site_id: int) -> None:
        self.tell_site(site_id, lc.Reconnect())

    def discover(self, site_id: int, seconds: float) -> None:
        self.read_model.discovery_started(site_id, time.time(), seconds)
        self.tell_site(site_id, Discover(seconds=seconds))

    async def publish(
        self, site_id: int, command_id: str, topic: str, payload: bytes, qos: int, retain: bool,
        timeout_s: float,
    ) -> PublishResult | None:
        """Publish through the site's actor; None when no answer came within ``timeout_s``."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[PublishResult] = loop.create_future()

        def reply(result: PublishResult) -> None:  # runs on the SiteActor's thread
            loop.call_soon_threadsafe(_settle, answer, result)

        self.tell_site(site_id, Publish(command_id=command_id, topic=topic, payload=payload,
                                        qos=qos, retain=retain, reply=reply))
        try:
            return await asyncio.wait_for(answer, timeout_s)
        except TimeoutError:
            return None

    async def describe(self) -> Any:
        """The supervisor's own view, asked from a worker thread so the loop never blocks."""
        assert self.supervisor is not None
        supervisor = self.supervisor
        return await asyncio.to_thread(supervisor.ask, Describe(), timeout=2.0)


def _device_states(
    stored: list[device_store.StoredDevice], specs: tuple[SiteSpec, ...]
) -> dict[int, tuple[DeviceState, ...]]:
    """Devices from storage, as the states their actors start from, grouped by site."""
    default = {spec.site_id: spec.offline_after_s for spec in specs}
    grouped: dict[int, list[DeviceState]] = {}
    for d in stored:
        site_id = d.key.site_id
        if site_id not in default:
            continue
        grouped.setdefault(site_id, []).append(
            DeviceState(
                key=d.key,
                model=d.model,
                gateway=d.gateway,
                availability=d.availability,  # type: ignore[arg-type]
                last_seen_at=d.last_seen_at,
                offline_after_s=default[site_id],
                override_s=None if d.offline_after_s is None else float(d.offline_after_s),
            )
        )
    return {site_id: tuple(states) for site_id, states in grouped.items()}


def _settle(future: asyncio.Future[PublishResult], result: PublishResult) -> None:
    if not future.done():
        future.set_result(result)

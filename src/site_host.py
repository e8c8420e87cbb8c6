"""The host of this instance's sites: the supervisor actor, watched and replaced when it dies.

The runtime decides *which* sites should run (storage, and later the cluster's leases) and
tells the host; the host decides *where* they run: in ``workers`` site worker processes
(``sitelink.workers``: the pool does what is said below, per worker), or — with
``workers=0`` — in a ``Supervisor`` on this process's threads. It is the one place that
talks to the supervisor:

- ``tell`` hands it ``Apply``/``Upsert``/``Remove``/``Forward``. While the supervisor is dead
  (and being replaced) a message is dropped — the new one is given the whole desired state
  by ``on_revived`` — and a publish is answered as not running at once.
- ``watch`` (a loop task) starts a new supervisor after a short backoff when the old one
  died, then awaits ``on_revived`` so the runtime applies the desired state to it.
- ``stop_sites`` (on a worker thread) lets every site say goodbye in parallel within the
  shutdown timeout, then stops every actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, cast

import pykka
import structlog

from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import BaseClock, Target
from sitelink.actors.commands import refuse
from sitelink.actors.mqtt_port import MqttPort
from sitelink.actors.site_messages import Publish, Shutdown
from sitelink.actors.supervisor import Describe, Forward, Supervisor, SupervisorInfo
from sitelink.api.cluster_answers import WorkerAnswer
from sitelink.events import EventSink
from sitelink.settings import Settings
from sitelink.workers.link import BatchSink
from sitelink.workers.pool import WorkerPool

log = structlog.get_logger(__name__)

WATCH_INTERVAL_S = 1.0  # how often the supervisor's life is checked, beside its death notice
RESTART_MAX_S = 30.0
STABLE_S = 60.0  # a supervisor that lived this long starts the backoff afresh when it dies

PortFactory = Callable[[Target, Callable[[], float]], MqttPort]


class SiteHost:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: BaseClock,
        sink: BatchSink,  # the bridge: events one by one, or a site worker's batches
        port_factory: PortFactory | None,
        on_revived: Callable[[], Awaitable[object]],
        workers: int = 0,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sink = sink
        self.port_factory = port_factory
        self.on_revived = on_revived
        self.supervisor: pykka.ActorRef[Supervisor] | None = None
        self.restarts = 0
        self._died = asyncio.Event()
        self.pool = WorkerPool(settings, workers, sink=sink) if workers else None

    @property
    def running(self) -> bool:
        if self.pool is not None:
            return self.pool.running
        return self.supervisor is not None and self.supervisor.is_alive()

    def workers(self) -> list[WorkerAnswer]:
        """This instance's site workers (none when the sites run in this process)."""
        return self.pool.workers() if self.pool is not None else []

    def worker_of(self, site_id: int) -> int | None:
        """The worker that hosts ``site_id``; None when it runs in this process or not here."""
        return self.pool.worker_of(site_id) if self.pool is not None else None

    def start(self) -> None:
        """A new supervisor, or every worker (on the loop; a death is noticed by ``watch``)."""
        if self.pool is not None:
            self.pool.start()
            return
        s = self.settings
        loop, died = asyncio.get_running_loop(), self._died

        def on_death(error: str) -> None:  # runs on the dying supervisor's thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: we are stopping
                loop.call_soon_threadsafe(died.set)

        self.supervisor = start_supervisor(s, clock=self.clock, sink=self.sink,
                                           port_factory=self.port_factory, on_death=on_death)

    async def ready(self) -> None:
        """Until the sites can run: every worker started (nothing to wait for in-process)."""
        if self.pool is not None:
            await self.pool.ready()

    def tell(self, message: Any) -> None:
        if self.pool is not None:
            self.pool.tell(message)
            return
        assert self.supervisor is not None
        try:
            self.supervisor.tell(message)
        except pykka.ActorDeadError:
            if isinstance(message, Forward) and isinstance(message.message, Publish):
                refuse(self.sink, message.site_id, message.message, "site is not running",
                       self.clock.now(), connected=False)

    async def watch(self, shutting_down: asyncio.Event) -> None:
        """Starts a new supervisor (or worker) when the old one has died (loop task)."""
        if self.pool is not None:
            await self.pool.watch(shutting_down)
            return
        failures, restarted_at = 0, time.monotonic()
        while not shutting_down.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._died.wait(), WATCH_INTERVAL_S)
            self._died.clear()
            if shutting_down.is_set() or self.supervisor is None:
                return
            if self.supervisor.is_alive():
                continue
            if time.monotonic() - restarted_at > STABLE_S:
                failures = 0  # it ran for a while: this is a new failure, not a crash loop
            failures += 1
            delay = min(2.0 ** (failures - 1) - 1.0, RESTART_MAX_S)  # 0 s, 1 s, 3 s, 7 s, ...
            log.error("the supervisor has died; starting a new one", restart_in_s=delay,
                      restarts=self.restarts)
            await asyncio.sleep(delay)  # a backoff of our own, not a wait for a timer
            if shutting_down.is_set():
                return
            try:
                self.start()
                self.restarts += 1
                restarted_at = time.monotonic()
                await self.on_revived()
                log.warning("a new supervisor is running", restarts=self.restarts)
            except Exception:
                log.exception("could not start a new supervisor")

    def stop_sites(self) -> None:
        """Every site says goodbye in parallel, within the shutdown timeout (worker thread)."""
        if self.pool is not None:
            self.pool.stop_sites()
            return
        if self.supervisor is None:
            return
        stop_supervisor(self.supervisor, self.settings.shutdown_timeout_s)


def start_supervisor(
    s: Settings, *, clock: BaseClock, sink: EventSink, port_factory: PortFactory | None,
    on_death: Callable[[str], None], share: int = 1,
) -> pykka.ActorRef[Supervisor]:
    """A supervisor with the settings' policy and limits; ``share``: how many processes split
    the instance's connect rate (each worker takes its part)."""
    return Supervisor.start(
        clock=clock,
        sink=sink,
        policy=RetryPolicy(base_s=s.retry_base_s, max_s=s.retry_max_s, jitter=s.retry_jitter,
                           reset_s=s.retry_reset_s, connect_timeout_s=s.connect_timeout_s),
        limiter=ConnectRateLimiter(s.connect_rate / share),
        max_payload=s.max_payload,
        max_devices=s.max_devices_per_site,
        max_sensors=s.max_sensors_per_device,
        port_factory=port_factory,
        on_death=on_death,
    )


def stop_supervisor(supervisor: pykka.ActorRef[Supervisor], timeout: float) -> None:
    """Every site of ``supervisor`` says goodbye in parallel within ``timeout``, then every
    actor of this process stops (blocking)."""
    deadline = time.monotonic() + timeout
    if not supervisor.is_alive():
        pykka.ActorRegistry.stop_all(block=True, timeout=timeout)
        return
    try:
        info = cast(SupervisorInfo, supervisor.ask(Describe(), timeout=timeout))
        futures = [ref.ask(Shutdown(), block=False) for ref in info.children.values()]
        for future in futures:
            with contextlib.suppress(Exception):
                future.get(timeout=max(0.0, deadline - time.monotonic()))
    except (FutureTimeout, pykka.Timeout, pykka.ActorDeadError):
        log.warning("some sites did not stop within the shutdown timeout")
    pykka.ActorRegistry.stop_all(block=True, timeout=max(1.0, deadline - time.monotonic()))

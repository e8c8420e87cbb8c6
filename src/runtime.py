"""The runtime: builds every part of sitelink in order and tears it down in reverse.

One object, created on the asyncio loop by the HTTP app's lifespan (or by a test). The
constructor makes the clock, the read model and the hub; ``start`` and ``stop`` then go,
in this order:

    start:  instance lock → storage (wait for it, migrate, bootstrap token) → event ids
            → the owned sites' devices' availability unknown → writer → bridge → hub's sweep
            → read model loaded with the sites → alerts (then told by the bridge)
            → supervisor (or site workers) → lease keeper (PostgreSQL: claims its share,
            ``sitelink.cluster``) → desired state applied (the owned sites)
            → reconcile every SITELINK_RECONCILE_S → supervisor watch
    stop:   watch, reconcile → sites say goodbye in parallel (MQTT_SHUTDOWN_TIMEOUT)
            → actors → leases released → hub's sweep → bridge drained
            → alerts recorded, senders stopped → writer flushed → storage closed
            → clock (if the runtime made it) → lock

Stored rows are loaded defensively (``sitelink.desired``): a site that cannot run is
shown as ``error`` naming the problem, logged and audited once (``sitelink.rejected_sites``),
and never reaches the supervisor. If the supervisor dies, the watch logs it, health says
so (``running``: false) and a new supervisor is started from storage after a short backoff.

It is also the edge between HTTP and the actors: handlers call its methods, which tell
the supervisor and, where an answer is needed, wait for it on the loop through a callback
(never by blocking on a pykka future, which would block the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import pykka
import structlog

from sitelink import instance_lock
from sitelink.actors import lifecycle as lc
from sitelink.actors.clock import BaseClock, Clock
from sitelink.actors.site_messages import Discover, PublishResult, SiteSpec
from sitelink.actors.supervisor import Apply, Forward, Remove, Supervisor, Upsert
from sitelink.alerts.outbox import Sender
from sitelink.alerts.service import AlertService
from sitelink.alerts.timers import ClockScheduler, LoopScheduler, Scheduler
from sitelink.bridge import Bridge
from sitelink.cluster import lease_store
from sitelink.cluster import link as cluster_link
from sitelink.cluster.commands import OwnerCommands, publish_here
from sitelink.cluster.keeper import LeaseKeeper
from sitelink.cluster.logged import SiteChangeLogged
from sitelink.cluster.readings import ReadingsFollower
from sitelink.cluster.replication import Replication
from sitelink.desired import RejectedSite, desired_sites, device_states, site_spec
from sitelink.errors import InvalidRow
from sitelink.events import DeviceKey
from sitelink.fanout import Hub
from sitelink.ownership import Ownership, OwnsNothing, SoleInstance
from sitelink.readmodel import ReadModel
from sitelink.rejected_sites import RejectedSites
from sitelink.settings import Settings
from sitelink.site_host import PortFactory, SiteHost
from sitelink.storage import devices as device_store
from sitelink.storage import event_ids
from sitelink.storage import sites as site_store
from sitelink.storage.availability import mark_unknown
from sitelink.storage.database import Database, wait_for_database
from sitelink.storage.migrations import migrate
from sitelink.storage.remote_writer import RemoteWriter
from sitelink.storage.tokens import ensure_bootstrap

log = structlog.get_logger(__name__)



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
        self._lock: instance_lock.InstanceLock | None = None
        self.writer: RemoteWriter | None = None
        self.bridge: Bridge | None = None
        self.sites: SiteHost | None = None
        # SITELINK_TEST_OWN_NO_SITES: a second instance that runs nothing, for the cluster's
        # tests until leases decide (never set in production).
        self.ownership: Ownership = OwnsNothing() if settings.test_own_no_sites else SoleInstance()
        self.replication: Replication | None = None  # PostgreSQL: the cluster's event log
        self.commands: OwnerCommands | None = None
        self.readings: ReadingsFollower | None = None  # PostgreSQL: others' live readings
        self.cluster: LeaseKeeper | None = None  # PostgreSQL: the lease keeper
        self.rejections = RejectedSites(self.read_model)
        self._reconcile_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.alerts: AlertService | None = None
        self.listen_url = "http://127.0.0.1:8000"  # set by the server to its host and port

    @property
    def public_url(self) -> str:
        """Where notifications link to: SITELINK_PUBLIC_URL, else http://HOST:PORT."""
        return self.settings.public_url or self.listen_url

    @property
    def instance_id(self) -> str:
        """This instance's name in the cluster: MQTT_INSTANCE_ID, or the suffixed one the
        lease keeper registered under when a live instance held it (client ids keep
        MQTT_INSTANCE_ID)."""
        return self.cluster.me if self.cluster is not None else self.settings.instance_id

    @property
    def supervisor(self) -> pykka.ActorRef[Supervisor] | None:
        return self.sites.supervisor if self.sites is not None else None

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
        # before anything connects: one instance per SQLite file (shared with serve's own hold)
        self._lock = instance_lock.hold(s)
        loop = asyncio.get_running_loop()
        writer = RemoteWriter(s)
        bridge = Bridge(loop, self.read_model, self.hub, writer)
        # An injected clock or port factory cannot cross a process: such sites run here.
        in_process = not self._own_clock or self.port_factory is not None
        self.read_model.workers = 0 if in_process else s.workers
        self.sites = SiteHost(s, clock=self.clock, sink=bridge,
                              port_factory=self.port_factory, on_revived=self._apply_everything,
                              workers=self.read_model.workers)
        self.sites.start()  # the workers import while the database opens; nothing runs yet
        self._db = await wait_for_database(
            s, until=self.shutting_down, query_timeout_s=s.db_timeout_s,
            on_failure=lambda reason: log.error(f"{reason}; retrying every 2 s until it answers"))
        if self._db is None:  # told to stop while it waited: nothing more to start
            log.info("sitelink stopped before the database answered")
            return
        await migrate(self.db)
        if s.admin_token:
            await ensure_bootstrap(self.db, s.admin_token)
        if self.db.engine_name == "postgres":  # event ids: the cluster's log numbers them
            self.replication = Replication(getattr(self.db.engine, "pool", None),
                                           s.database_url, self.hub,
                                           retention_s=s.event_log_retention_s)
            self.hub.log = self.replication
            self.commands = OwnerCommands(self, self.replication)
        else:
            self.hub.start_run(*await event_ids.start_run(self.db))
            self.hub.on_reserve_due = self._reserve_event_ids
        # Nothing is known about a device of ours until it is heard from in this process;
        # this also closes the previous run's open intervals. Alone (SQLite): every device.
        # In a cluster only the sites this instance owns: the others' devices are live.
        await mark_unknown(self.db, await self._owned_site_ids(), datetime.now(UTC))
        self.writer = writer
        await self.writer.start()
        self.bridge = bridge
        self.bridge.log = self.replication
        self.bridge.start()
        self.hub.start_sweeping()
        self.read_model.load(await site_store.list_sites(self.db))
        if self.replication is not None and self.commands is not None:
            await self.replication.start(self.commands.rebuild)
            self.readings = ReadingsFollower(self.replication.pool, self.hub, self.ownership)
            self.readings.start()
        scheduler: Scheduler = (LoopScheduler(loop) if self._own_clock
                                else ClockScheduler(self.clock, loop))
        self.alerts = AlertService(self.db, self.read_model, self.hub, scheduler,
                                   Sender(self.db, public_url=self.public_url),
                                   owns=lambda site_id: self.ownership.owns(site_id))
        if self.replication is not None:  # alert configuration changed here: to the others
            self.alerts.share = self.replication.send
        await self.alerts.start()
        self.bridge.alerts = self.alerts
        await self.sites.ready()
        if s.engine == "postgres" and not s.test_own_no_sites:  # run only the leased sites
            await cluster_link.start_keeper(self)
        sites = await self._apply_everything()
        self._reconcile_task = loop.create_task(self._reconcile_forever(), name="reconcile")
        self._watch_task = loop.create_task(self.sites.watch(self.shutting_down),
                                            name="supervisor-watch")
        log.info("sitelink started", sites=sites, engine=self.db.engine_name,
                 instance_id=self.instance_id)

    async def _apply_everything(self) -> int:
        """The whole desired state, with the stored devices, to a new supervisor."""
        specs, rejected = desired_sites(await site_store.load_desired_state(self.db),
                                        self.settings, self.instance_id)
        specs = self._owned(specs)
        known = device_states(await device_store.load_devices(self.db), specs)
        self._tell(Apply(specs, known))
        await self.rejections.show_all(self.db, self.bridge, rejected)
        return len(specs)

    async def stop(self) -> None:
        self.shutting_down.set()
        for task in (self._watch_task, self._reconcile_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.cluster is not None:  # to the others in chunks; nothing claimed meanwhile
            await self.cluster.hand_over()
        if self.sites is not None:
            await asyncio.to_thread(self.sites.stop_sites)
        if self.cluster is not None:  # after the goodbyes: the others take over at once
            await self.cluster.close()
        self.hub.stop_sweeping()
        if self.bridge is not None:
            await self.bridge.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        if self.readings is not None:
            await self.readings.stop()
        if self.replication is not None:
            await self.replication.stop()
        if self.writer is not None:
            await self.writer.close()
        if self._db is not None:
            await self._db.close()
        if self._own_clock:
            self.clock.stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        log.info("sitelink stopped")

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
        configs = await self._refresh_records()
        specs, rejected = desired_sites(configs, self.settings, self.instance_id)
        self._tell(Apply(self._owned(specs)))
        await self.rejections.show_all(self.db, self.bridge, rejected)

    async def _refresh_records(self) -> list[site_store.SiteConfig]:
        """The read model's sites as storage has them now, each created, updated (its settings)
        or deleted elsewhere announced; the stored configurations. A site the API added while
        this ran is not in what was read, and stays."""
        known = set(self.read_model.sites)
        configs = await site_store.load_desired_state(self.db)
        for record in await site_store.list_sites(self.db):
            view = self.read_model.sites.get(record.id)
            if view is None:
                self.hub.publish(*self.read_model.upsert_site(record, "created"))
            elif view.record.updated_at != record.updated_at:  # its settings changed elsewhere
                self.hub.publish(*self.read_model.upsert_site(record, "updated"))
            else:
                view.record = record
        stored = {c.id for c in configs}
        for site_id in [i for i in self.read_model.sites if i in known and i not in stored]:
            self.hub.publish(*self.read_model.remove_site(site_id))
        return configs

    async def site_changed(self, site_id: int, change: str, *, announce: bool = True) -> None:
        """Storage has just changed this site: tell its actor at once. ``announce``: this
        instance made the change (else another one did, and announced it in the log)."""
        record = await site_store.get_site(self.db, site_id)
        announcement = self.read_model.upsert_site(record, change)
        if announce:
            self.hub.publish(*announcement, state=SiteChangeLogged(site_id=site_id,
                                                                   change=change))
        if self.alerts is not None:
            self.alerts.site_changed()
        config = await site_store.get_site_config(self.db, site_id)
        try:
            spec = site_spec(config, self.settings, self.instance_id)
        except InvalidRow as exc:
            self._tell(Remove(site_id))
            await self.rejections.reject(self.db, self.bridge, RejectedSite(
                site_id=site_id, code=config.code, is_enabled=config.is_enabled,
                problem=str(exc)))
            return
        self.rejections.accept(site_id)
        self._tell(Upsert(spec) if self.ownership.owns(site_id) else Remove(site_id))
        if announce and config.is_enabled and self.cluster is not None:
            await cluster_link.site_enabled(self.cluster, self.db, site_id)

    async def _owned_site_ids(self) -> list[int] | None:
        """The stored sites no live instance runs now (their devices are not ours to call
        unknown); None alone on SQLite (all of them)."""
        if self.db.engine_name != "postgres":
            return None
        leased = set(await lease_store.leased_sites(self.db))
        return [r.id for r in await site_store.list_sites(self.db)
                if r.id not in leased and self.ownership.owns(r.id)]

    async def ownership_changed(self, lost: frozenset[int],
                                gained: frozenset[int] = frozenset()) -> None:
        """The lease keeper moved sites (``cluster.link.change_ownership``)."""
        await cluster_link.change_ownership(self, lost, gained)

    def _owned(self, specs: tuple[SiteSpec, ...]) -> tuple[SiteSpec, ...]:
        return tuple(spec for spec in specs if self.ownership.owns(spec.site_id))

    def site_removed(self, site_id: int, *, announce: bool = True) -> None:
        self._tell(Remove(site_id))
        self.rejections.by_id.pop(site_id, None)
        announcement = self.read_model.remove_site(site_id)
        if announce:
            self.hub.publish(*announcement, state=SiteChangeLogged(site_id=site_id,
                                                                   change="deleted"))
        if self.alerts is not None:
            self.alerts.site_removed(site_id)

    def _reserve_event_ids(self, last_id: int) -> None:
        """Half of the reserved event ids are used: reserve more (on the loop, in the
        background; millions of ids of margin remain while it is written)."""
        async def extend() -> None:
            try:
                self.hub.reserved(await event_ids.extend(self.db, last_id))
            except Exception:
                log.exception("could not reserve more event ids; will try again")
                self.hub.reserved(last_id + 2 * event_ids.BLOCK // 16)

        self._background.add(task := asyncio.get_running_loop().create_task(extend()))
        task.add_done_callback(self._background.discard)

    # --- commands to actors ------------------------------------------------------------------

    def _tell(self, message: Any) -> None:
        assert self.sites is not None
        self.sites.tell(message)

    tell_here = _tell  # what the cluster's commands tell this instance's actors

    def tell_site(self, site_id: int, message: Any) -> None:
        """A message for a site's actor, carried out by the site's owner (``commands``)."""
        if self.commands is not None:
            self.commands.tell_site(site_id, message)
        else:
            self._tell(Forward(site_id, message))

    def forget_device(self, key: DeviceKey) -> None:
        """The device was deleted: it is new again if it speaks (ids, counts)."""
        self.read_model.forget_device(key)
        if self.writer is not None:
            self.writer.forget_device(key)
        if self.alerts is not None:
            self.alerts.device_removed(key)

    def reconnect(self, site_id: int) -> None:
        self.tell_site(site_id, lc.Reconnect())

    def discover(self, site_id: int, seconds: float) -> None:
        self.read_model.discovery_started(site_id, time.time(), seconds)
        self.tell_site(site_id, Discover(seconds=seconds))

    async def publish(
        self, site_id: int, command_id: str, topic: str, payload: bytes, qos: int, retain: bool,
        timeout_s: float,
    ) -> PublishResult | None:
        """Publish through the site's actor (its owner's); None when no answer came within
        ``timeout_s``."""
        if self.commands is not None:
            return await self.commands.publish(site_id, command_id, topic, payload, qos, retain,
                                               timeout_s)
        return await publish_here(self._tell, site_id, command_id, topic, payload, qos, retain,
                                  timeout_s)

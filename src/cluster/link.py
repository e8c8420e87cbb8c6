"""Plugging the lease keeper into a runtime (PostgreSQL): what it tells and reads there.

- the storage writer gets a ``LeaseFence`` in its stream at every change of the held
  sites and at every renewal (``storage.fencing``);
- ``cluster.changed`` events go to the hub (``change``: ``joined``, ``left`` or
  ``sites_moved``, with ``instance_id`` and the sites ``gained`` or ``released``);
- the status object's ``owner`` comes from the keeper's last view of the leases;
- ``wait_until_down`` is how a graceful release knows its sites have said goodbye: their
  status in the read model is no longer ``connected`` or ``connecting``;
  ``wait_until_taken`` how a handover knows the others have connected a chunk (or tried);
- ``site_enabled`` wakes every keeper when a site nobody holds is enabled here.

Loop thread only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from sitelink.actors.site_messages import Shutdown
from sitelink.actors.supervisor import Forward, Remove, Upsert
from sitelink.cluster.keeper import LeaseKeeper
from sitelink.cluster.wakeup import Wakeup, notify
from sitelink.desired import desired_sites, device_states
from sitelink.events import LeaseFence
from sitelink.readmodel import ReadModel
from sitelink.status_object import Owner
from sitelink.storage import devices as device_store
from sitelink.storage import sites as site_store
from sitelink.storage.availability import mark_unknown
from sitelink.storage.database import Database
from sitelink.storage.sites import SiteRecord
from sitelink.times import iso
from sitelink.workers.assign import hosting_worker

if TYPE_CHECKING:
    from sitelink.runtime import Runtime

log = structlog.get_logger(__name__)

DOWN_POLL_S = 0.02
UP_STATES = ("connected", "connecting")
TAKEN = ("connected", "error")  # a handed-over site whose new owner's attempt is over


async def start_keeper(runtime: Runtime) -> None:
    """Make a keeper the runtime's ownership and start it (its first share claimed)."""
    s = runtime.settings

    def fence(epochs: dict[int, int]) -> None:
        if runtime.writer is not None:
            runtime.writer.submit([LeaseFence(owner=runtime.instance_id, epochs=epochs)])

    def announce(data: dict[str, Any]) -> None:
        runtime.hub.publish("cluster.changed", None, {**data, "at": iso(time.time())})

    def workers() -> list[dict[str, Any]]:
        return [] if runtime.sites is None else msgspec.to_builtins(runtime.sites.workers())

    keeper = LeaseKeeper(runtime.db, instance_id=s.instance_id, ttl_s=s.lease_ttl_s,
                         runner=runtime, fence=fence, announce=announce, workers=workers,
                         api_address=lambda: runtime.listen_url,
                         wakeup=Wakeup(s.database_url), connect_rate=s.connect_rate,
                         picked_up=lambda sites, timeout_s: wait_until_taken(
                             runtime.read_model, sites, timeout_s))
    runtime.read_model.owner_of = lambda record: _owner(keeper, runtime.read_model, record)
    runtime.ownership = runtime.cluster = keeper  # before the first claim applies the sites
    await keeper.start()


def _owner(keeper: LeaseKeeper, read_model: ReadModel, record: SiteRecord) -> Owner | None:
    """Who runs the site, and on which of its workers: the rule is the same on every
    instance (``workers.assign``), so any instance that knows the owner's number of workers
    (its row in the cluster's table) answers what the owner would."""
    owner = keeper.owner_of(record.id) if record.is_enabled else None
    if owner is None:
        return None
    workers = read_model.workers if owner == keeper.me else keeper.worker_counts.get(owner, 0)
    return Owner(instance_id=owner, worker=hosting_worker(record.id, workers))


async def change_ownership(runtime: Runtime, lost: frozenset[int],
                           gained: frozenset[int]) -> None:
    """The lease keeper moved sites. Lost ones say goodbye and go (no database needed: it
    may be what is away); returns once they are down, or after the shutdown timeout.
    Gained ones: their devices are unknown until heard from here, their open alerts are this
    instance's, and they start with their stored devices — only their rows are read, so a
    handover costs the same with 20 sites or 2,000. A site the read model does not know yet
    (created elsewhere a moment ago) makes it a whole reconcile."""
    if runtime.alerts is not None and lost:
        runtime.alerts.sites_released(lost)
    for site_id in lost:  # straight to our actor: the log would carry it to the owner
        runtime.tell_here(Forward(site_id, Shutdown()))
        runtime.tell_here(Remove(site_id))
    if lost:
        await wait_until_down(runtime.read_model, lost, runtime.settings.shutdown_timeout_s)
        return
    await mark_unknown(runtime.db, sorted(gained), datetime.now(UTC))
    if any(site_id not in runtime.read_model.sites for site_id in gained):
        await runtime.reconcile()
    else:
        configs = await site_store.load_desired_state(runtime.db, gained)
        specs, rejected = desired_sites(configs, runtime.settings, runtime.instance_id)
        known = device_states(await device_store.load_devices(runtime.db, gained), specs)
        for spec in specs:
            if runtime.ownership.owns(spec.site_id):
                runtime.tell_here(Upsert(spec, known.get(spec.site_id, ())))
        for site in rejected:
            await runtime.rejections.reject(runtime.db, runtime.bridge, site)
    if runtime.alerts is not None:
        await runtime.alerts.sites_claimed(gained)


async def site_enabled(keeper: LeaseKeeper, db: Database, site_id: int) -> None:
    """A site was enabled (or created enabled) through this instance: when nobody holds
    it, every keeper ticks at once (``wakeup``), so it is claimed within a round trip
    instead of at the next tick. Only a shortcut, like every wake-up: a tick finds it."""
    if keeper.owner_of(site_id) is not None:
        return
    try:
        await notify(db)
    except Exception as exc:
        log.debug("could not wake the lease keepers", error=str(exc)[:300])


async def wait_until_down(read_model: ReadModel, site_ids: Collection[int],
                          timeout_s: float) -> bool:
    """True once none of ``site_ids`` is connected or connecting; False at the timeout."""
    return await _wait_for(read_model, site_ids, timeout_s, lambda status: status not in UP_STATES)


async def wait_until_taken(read_model: ReadModel, site_ids: Collection[int],
                           timeout_s: float) -> bool:
    """True once every one of ``site_ids`` (handed over) is connected by its new owner, as
    the event log tells, or in ``error`` there: its connect attempt is over either way, so a
    site whose broker is down does not hold the next chunk up. False at the timeout."""
    return await _wait_for(read_model, site_ids, timeout_s, lambda status: status in TAKEN)


async def _wait_for(read_model: ReadModel, site_ids: Collection[int], timeout_s: float,
                    done: Callable[[str], bool]) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if all(done(view.status) for i in site_ids
               if (view := read_model.sites.get(i)) is not None):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(DOWN_POLL_S)

"""Plugging the lease keeper into a runtime (PostgreSQL): what it tells and reads there.

- the storage writer gets a ``LeaseFence`` in its stream at every change of the held
  sites and at every renewal (``storage.fencing``);
- ``cluster.changed`` events go to the hub (``change``: ``joined``, ``left`` or
  ``sites_moved``, with ``instance_id`` and the sites ``gained`` or ``released``);
- the status object's ``owner`` comes from the keeper's last view of the leases;
- ``wait_until_down`` is how a graceful release knows its sites have said goodbye: their
  status in the read model is no longer ``connected`` or ``connecting``; ``wait_until_up``
  how a handover knows a chunk is connected by the others.

Loop thread only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import msgspec

from sitelink.cluster.keeper import LeaseKeeper
from sitelink.cluster.wakeup import Wakeup
from sitelink.events import LeaseFence
from sitelink.readmodel import ReadModel
from sitelink.status_object import Owner
from sitelink.storage.sites import SiteRecord
from sitelink.times import iso

if TYPE_CHECKING:
    from sitelink.runtime import Runtime

DOWN_POLL_S = 0.02
UP_STATES = ("connected", "connecting")


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
                         picked_up=lambda sites, timeout_s: wait_until_up(
                             runtime.read_model, sites, timeout_s))
    runtime.read_model.owner_of = lambda record: _owner(keeper, record)
    runtime.ownership = runtime.cluster = keeper  # before the first claim applies the sites
    await keeper.start()


def _owner(keeper: LeaseKeeper, record: SiteRecord) -> Owner | None:
    """Who runs the site. ``worker`` stays null: only the owner knows it, and every instance
    must answer the same (the lease row could carry it; not yet)."""
    owner = keeper.owner_of(record.id) if record.is_enabled else None
    return None if owner is None else Owner(instance_id=owner, worker=None)


async def wait_until_down(read_model: ReadModel, site_ids: Collection[int],
                          timeout_s: float) -> bool:
    """True once none of ``site_ids`` is connected or connecting; False at the timeout."""
    return await _wait_for(read_model, site_ids, timeout_s, lambda status: status not in UP_STATES)


async def wait_until_up(read_model: ReadModel, site_ids: Collection[int],
                        timeout_s: float) -> bool:
    """True once every one of ``site_ids`` is connected (after a handover: by its new owner,
    as the event log tells); False at the timeout."""
    return await _wait_for(read_model, site_ids, timeout_s, lambda status: status == "connected")


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

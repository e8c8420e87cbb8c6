"""What a lease keeper (on a real PostgreSQL, ticked by hand) does with a site that leaves
the enabled set: it releases the lease, and when the site is enabled again it claims it
back at its next tick. Only sites handed to another instance wait a few ticks before this
instance may take them again (so the others get them)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest

from cluster.conftest import make_sites, running
from sitelink.cluster import lease_store as store
from sitelink.cluster import tenure as ten
from sitelink.cluster.keeper import COOLDOWN_TICKS, LeaseKeeper
from sitelink.storage.database import Database
from sitelink.storage.sites import SitePatch, update_site

pytestmark = pytest.mark.postgres


async def test_a_site_disabled_and_enabled_again_is_claimed_at_the_next_tick(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """An operator's stop, then start: the start must not wait out a handover's cooldown
    (it did: the site came back only ``COOLDOWN_TICKS`` ticks later)."""
    assert COOLDOWN_TICKS > 1
    [site] = await make_sites(pg, 1)
    keeper = keepers("a")
    await keeper.start()
    assert running(keeper) == {site}
    await update_site(pg, site, SitePatch(is_enabled=False))
    await keeper.tick()
    assert running(keeper) == set()
    assert (await store.snapshot(pg, ttl_s=keeper.ttl_s)).owners == {}
    await update_site(pg, site, SitePatch(is_enabled=True))
    await keeper.tick()
    assert running(keeper) == {site}
    assert (await store.snapshot(pg, ttl_s=keeper.ttl_s)).owners == {site: "a"}


async def test_disabling_one_site_leaves_the_others_running(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """The disabled site left the count of enabled sites and of held leases alike: it did
    not make this instance look above its share, which released (and disconnected) the
    most recently claimed of the others as well."""
    first, *others = sorted(await make_sites(pg, 3))
    keeper = keepers("a")
    await keeper.start()
    assert running(keeper) == {first, *others}
    await update_site(pg, first, SitePatch(is_enabled=False))
    await keeper.tick()
    assert running(keeper) == set(others)
    assert (await store.snapshot(pg, ttl_s=keeper.ttl_s)).owners == {s: "a" for s in others}


async def test_a_claim_after_a_time_with_nothing_held_starts_a_tenure_of_its_own(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """With nothing held, a renewal renews nothing, so the tenure of the leases held before
    must not carry on: a site claimed later kept that old end, lapsed at it (a spurious
    "leases not renewed in time", and in a cluster every site dropped), and an instance
    holding nothing logged that lapse too."""
    [site] = await make_sites(pg, 1)
    keeper = keepers("a")
    await keeper.start()
    await update_site(pg, site, SitePatch(is_enabled=False))
    await keeper.tick()
    await keeper._renew()  # the renewal task's step, with nothing held
    assert keeper.tenure.state is ten.TenureState.NONE
    await update_site(pg, site, SitePatch(is_enabled=True))
    claimed_at = keeper.now()
    await keeper.tick()
    assert running(keeper) == {site}
    assert keeper.tenure.valid_until >= claimed_at + keeper.ttl_s - ten.margin_s(keeper.ttl_s)


async def test_a_disabled_site_released_does_not_hold_up_the_next_handover(
        pg: Database, keepers: Callable[..., LeaseKeeper]) -> None:
    """A chunk released for balance waits for the previous one to be connected elsewhere
    (``picked_up``). A disabled site's release started such a wait too, for a site nobody
    will ever connect: the next chunk waited up to ``HANDOVER_PICKUP_S`` for nothing."""
    async def never_picked_up(sites: Collection[int], timeout_s: float) -> bool:
        return False

    first, *others = sorted(await make_sites(pg, 4))
    a = keepers("a", picked_up=never_picked_up)
    await a.start()
    assert running(a) == {first, *others}
    await update_site(pg, first, SitePatch(is_enabled=False))
    await a.tick()
    assert running(a) == set(others)
    await keepers("b").start()  # three sites over two instances: a must hand one over
    await a.tick()
    assert len(running(a)) == 2

"""Site leases on PostgreSQL (``cluster.lease_store``) and the storage writer's fence
(``storage.fencing``): claims never overlap and raise the epoch, renewals keep only live
leases, an instance id is one process's, and a write with a stale epoch is refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from sitelink.cluster import lease_store as store
from sitelink.events import LeaseFence, SiteStatusChanged, SiteTraffic
from sitelink.storage.availability import mark_unknown
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, SitePatch, create_site, get_site, update_site
from sitelink.storage.writer import StorageWriter

pytestmark = pytest.mark.postgres
TTL_S = 30.0


async def sites(db: Database, count: int) -> list[int]:
    made = [await create_site(db, NewSite(name=f"S{n}", code=f"lease_{n}", broker_host="h",
                                          is_enabled=True)) for n in range(count)]
    await store.ensure_leases(db)
    return [site.id for site in made]


async def test_instances_claiming_at_once_take_different_sites_each_with_a_new_epoch(
        pg: Database) -> None:
    ids = await sites(pg, 10)
    first, second = await asyncio.gather(
        store.claim(pg, me="a", count=6, ttl_s=TTL_S, exclude=()),
        store.claim(pg, me="b", count=6, ttl_s=TTL_S, exclude=()))
    taken = [c.site_id for c in (*first, *second)]
    assert sorted(taken) == ids  # every site once, none twice
    assert {c.epoch for c in (*first, *second)} == {1}
    assert {c.previous for c in (*first, *second)} == {None}
    assert await store.claim(pg, me="c", count=5, ttl_s=TTL_S, exclude=()) == []

    moved = [c.site_id for c in first][:2]
    await store.release(pg, me="a", site_ids=moved)
    again = await store.claim(pg, me="b", count=5, ttl_s=TTL_S, exclude=())
    assert sorted(c.site_id for c in again) == sorted(moved)
    assert {c.epoch for c in again} == {2}  # a change of owner raises the epoch
    assert {c.previous for c in again} == {"a"}  # a move, from a


async def test_a_lease_is_renewed_while_nobody_claimed_it_and_lost_once_someone_did(
        pg: Database) -> None:
    """Renewal needs the same owner and epoch; an expired lease nobody claimed meanwhile
    (a database outage) is renewed, one claimed by another is not."""
    [site] = await sites(pg, 1)
    [claimed] = await store.claim(pg, me="a", count=1, ttl_s=TTL_S, exclude=())
    assert await store.renew(pg, me="a", held={site: 1}, ttl_s=TTL_S) == {site: 1}
    assert await store.renew(pg, me="b", held={site: 1}, ttl_s=TTL_S) == {}  # not b's
    assert await store.renew(pg, me="a", held={site: 0}, ttl_s=TTL_S) == {}  # a stale epoch
    await pg.execute('UPDATE "site_lease" SET "expires_at" = now() - interval \'1 second\'')
    assert await store.renew(pg, me="a", held={site: 1}, ttl_s=TTL_S) == {site: 1}
    await pg.execute('UPDATE "site_lease" SET "expires_at" = now() - interval \'1 second\'')
    [taken] = await store.claim(pg, me="b", count=1, ttl_s=TTL_S, exclude=())
    assert (taken.site_id, taken.epoch, taken.previous) == (site, claimed.epoch + 1, "a")
    assert await store.renew(pg, me="a", held={site: 1}, ttl_s=TTL_S) == {}


async def test_a_disabled_site_is_never_claimed(pg: Database) -> None:
    [site] = await sites(pg, 1)
    await update_site(pg, site, SitePatch(is_enabled=False))
    assert await store.claim(pg, me="a", count=1, ttl_s=TTL_S, exclude=()) == []
    snap = await store.snapshot(pg, ttl_s=TTL_S)
    assert snap.enabled == frozenset() and snap.owners == {}


async def test_an_instance_id_belongs_to_one_live_process(pg: Database) -> None:
    assert await store.register(pg, me="a", incarnation="one", api_address="x", ttl_s=TTL_S)
    assert not await store.register(pg, me="a", incarnation="two", api_address="y",
                                    ttl_s=TTL_S)
    assert await store.heartbeat(pg, me="a", incarnation="one", workers=[])
    await pg.execute('UPDATE "cluster_instance" SET "last_seen_at" = now() - interval \'1 hour\'')
    assert await store.register(pg, me="a", incarnation="two", api_address="y", ttl_s=TTL_S)
    assert not await store.heartbeat(pg, me="a", incarnation="one", workers=[])  # taken over
    [row] = await store.instances(pg, ttl_s=TTL_S)
    assert (row.instance_id, row.api_address) == ("a", "y")


def status(site_id: int, value: str) -> SiteStatusChanged:
    return SiteStatusChanged(
        site_id=site_id, code="lease_0", status=value, is_enabled=True,  # type: ignore[arg-type]
        error_message="", retry_count=0, next_retry_at=None, client_id="c",
        last_connected_at=None, topics=(), handler_running=True, at=time.time())


async def test_the_writer_refuses_rows_about_a_site_under_a_stale_epoch(pg: Database) -> None:
    """Events after a fence are written only while their owner holds the site's lease under
    that epoch; what a former owner says is dropped and counted."""
    [site] = await sites(pg, 1)
    await store.claim(pg, me="a", count=1, ttl_s=TTL_S, exclude=())  # epoch 1
    writer = StorageWriter(pg, flush_interval_s=3600, retention_days=None)
    await writer.start()
    try:
        writer.submit([LeaseFence(owner="a", epochs={site: 1}), status(site, "connected"),
                       SiteTraffic(site_id=site, received=3, rejected=0,
                                   last_message_at=time.time())])
        await writer.flush()
        stored = await get_site(pg, site)
        assert (stored.status, stored.messages_received) == ("connected", 3)

        await store.release(pg, me="a", site_ids=[site])
        await store.claim(pg, me="b", count=1, ttl_s=TTL_S, exclude=())  # epoch 2, b's
        writer.submit([status(site, "error")])  # a, still under its old fence
        await writer.flush()
        assert (await get_site(pg, site)).status == "connected"
        assert writer.rejects["lease_fenced"] == 1

        writer.submit([LeaseFence(owner="a", epochs={}), status(site, "error")])  # a let go
        await writer.flush()
        assert (await get_site(pg, site)).status == "connected"
        assert writer.rejects["lease_fenced"] == 2

        writer.submit([LeaseFence(owner="b", epochs={site: 2}), status(site, "disconnected")])
        await writer.flush()
        assert (await get_site(pg, site)).status == "disconnected"
    finally:
        await writer.close()


async def test_a_starting_instance_leaves_the_devices_of_sites_run_elsewhere_as_they_are(
        pg: Database) -> None:
    """Start-up marks every device unknown — except those whose site another live instance
    runs now, even one under the same MQTT_INSTANCE_ID ("a" here): their availability is
    current, not the previous run's."""
    here, elsewhere = await sites(pg, 2)
    await store.claim(pg, me="a", count=1, ttl_s=TTL_S, exclude=[here])
    for site_id in (here, elsewhere):
        await pg.execute(
            'INSERT INTO "device" ("site", "kind", "serial", "model", "gateway", "label", '
            '"firmware", "availability", "discovered_at") '
            "VALUES ({}, 'datalogger', 'd', '', '', '', '', 'online', now())", site_id)
    running = await store.leased_sites(pg)
    assert running == [elsewhere]
    await mark_unknown(pg, [s for s in (here, elsewhere) if s not in running], datetime.now(UTC))
    rows = await pg.execute('SELECT "site", "availability" FROM "device"')
    assert {row["site"]: row["availability"] for row in rows} == {
        here: "unknown", elsewhere: "online"}

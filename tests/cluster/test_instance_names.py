"""Instance names in a cluster (``LeaseKeeper.start`` on a real PostgreSQL): an instance is
its MQTT_INSTANCE_ID unless a live process has that name, else the first free ``-2``,
``-3``, … at once — so instances on one host, or sharing one MQTT_INSTANCE_ID, form a
cluster; a row whose heartbeat is older than the TTL is free to take, and an instance that
finds its name taken (it was paused past the TTL) takes the first free one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import structlog

from cluster.conftest import TTL_S, make_sites, running
from sitelink.cluster import lease_store as store
from sitelink.cluster import tenure as ten
from sitelink.cluster.keeper import LeaseKeeper
from sitelink.storage.database import Database

pytestmark = pytest.mark.postgres
TICKS = 20  # bound on the ticks a split may take (it takes two or three)


async def test_instances_sharing_an_instance_id_all_run_and_split_the_sites(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """Three instances started at the same moment under one MQTT_INSTANCE_ID (three
    processes on one host, by default): each gets a name of its own, nobody waits or
    refuses, and the sites spread over the three."""
    sites = await make_sites(pg, 6)
    cluster = [keepers("x") for _ in range(3)]
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(*(k.start() for k in cluster))
    assert sorted(k.me for k in cluster) == ["x", "x-2", "x-3"]
    renamed = [e for e in logs if e["event"].startswith("instance id held")]
    assert sorted((e["log_level"], e["configured"], e["instance_id"]) for e in renamed) == [
        ("info", "x", "x-2"), ("info", "x", "x-3")]
    for _ in range(TICKS):
        if all(len(running(k)) == 2 for k in cluster):
            break
        for k in cluster:
            await k.tick()
    assert [len(running(k)) for k in cluster] == [2, 2, 2]
    assert set().union(*(running(k) for k in cluster)) == sites
    snap = await store.snapshot(pg, ttl_s=TTL_S)
    assert snap.instances == ("x", "x-2", "x-3")
    assert {k.me: running(k) for k in cluster} == {
        name: {s for s, owner in snap.owners.items() if owner == name}
        for name in snap.instances}


async def test_a_name_whose_heartbeat_is_older_than_the_ttl_is_taken_without_suffix(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """A dead instance's row (kill -9, no deregistration) frees its name after the TTL:
    the next instance under that MQTT_INSTANCE_ID takes it; with ``x`` live and ``x-2``
    stale, the next one takes ``x-2``."""
    for name in ("x", "x-2"):
        assert await store.register(pg, me=name, incarnation="dead", api_address="",
                                    ttl_s=TTL_S)
    await pg.execute('UPDATE "cluster_instance" SET "last_seen_at" = '
                     'now() - make_interval(secs => {})', TTL_S + 1)
    first, second = keepers("x"), keepers("x")
    await first.start()
    await second.start()
    assert (first.me, second.me) == ("x", "x-2")
    rows = await store.instances(pg, ttl_s=TTL_S)
    assert [r.instance_id for r in rows] == ["x", "x-2"]


async def test_an_instance_whose_name_was_taken_while_it_was_paused_registers_anew(
        pg: Database, keepers: Callable[[str], LeaseKeeper]) -> None:
    """Paused past the TTL, ``x`` finds at its next renewal that a new process registered as
    ``x``: it drops its sites and registers under the first free name, instead of going on
    without a row under a name a live process holds (and dropping everything it claimed
    at every renewal after)."""
    [site] = await make_sites(pg, 1)
    paused = keepers("x")
    await paused.start()
    assert running(paused) == {site}
    await pg.execute('UPDATE "cluster_instance" SET "incarnation" = {} '
                     'WHERE "instance_id" = {}', "the-new-process", "x")
    with structlog.testing.capture_logs() as logs:
        await paused._renew()  # the renewal task's step
    assert running(paused) == set()
    assert paused.tenure.state is ten.TenureState.NONE  # its next claim starts a tenure
    assert [e["log_level"] for e in logs if "took this instance id over" in e["event"]] == [
        "error"]
    assert paused.me == "x-2"
    rows = {r.instance_id for r in await store.instances(pg, ttl_s=TTL_S)}
    assert rows == {"x", "x-2"}

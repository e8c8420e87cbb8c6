"""One instance alone (SQLite, or PostgreSQL without another instance) answers the cluster
contract for itself: ``GET /api/v1/cluster`` lists it with its sites, health says one
instance and nothing unowned, and the status object names it as the owner of every enabled
site (and no owner for a disabled one). On PostgreSQL a start wakes the lease keepers, so the
site is claimed at once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest

from integration.live import LiveServer, create_site, wait_until
from sitelink.cluster import wakeup
from sitelink.embedded_broker import Mosquitto


def test_an_instance_alone_is_a_cluster_of_one(engine_server: LiveServer,
                                              broker: Mosquitto) -> None:
    admin = engine_server.admin()
    me = engine_server.runtime.settings.instance_id
    enabled = create_site(admin, broker.host, broker.port, is_enabled=True)["site_id"]
    disabled = create_site(admin, broker.host, broker.port)["site_id"]

    def status(site_id: int) -> dict[str, Any]:
        answer: dict[str, Any] = admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()
        return answer

    wait_until(lambda: status(enabled)["status"] == "connected", 10,
               message=lambda: str(status(enabled)))
    # the worker that runs it (API.md: owner.worker)
    hosting = engine_server.runtime.sites.worker_of(enabled)  # type: ignore[union-attr]
    assert hosting is not None
    assert status(enabled)["owner"] == {"instance_id": me, "worker": hosting}
    assert status(disabled)["owner"] is None

    cluster = engine_server.viewer().get("/api/v1/cluster").json()
    running = sum(1 for s in admin.get("/api/v1/mqtt/sites/").json()["sites"]
                  if s["is_enabled"])
    assert cluster["instance_id"] == me
    assert cluster["engine"] == engine_server.runtime.settings.engine
    [instance] = cluster["instances"]
    assert (instance["instance_id"], instance["sites"]) == (me, running)
    assert instance["started_at"].endswith("Z") and instance["last_seen_at"].endswith("Z")
    assert cluster["unowned_sites"] == 0
    health = admin.get("/api/v1/mqtt/health/").json()
    assert health["cluster"] == {"instances": 1, "unowned_sites": 0}


@pytest.mark.parametrize("engine_server", [pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)  # leases are PostgreSQL's
def test_a_site_started_wakes_every_lease_keeper_at_once(engine_server: LiveServer,
                                                         broker: Mosquitto) -> None:
    """A start (or a site created enabled) NOTIFYs the lease keepers, so the site is
    claimed within a round trip instead of at the next balance tick."""
    admin = engine_server.admin()
    site_id = create_site(admin, broker.host, broker.port)["site_id"]  # disabled: no lease

    async def start_and_listen() -> bool:
        connection = await asyncpg.connect(engine_server.runtime.settings.database_url)
        heard = asyncio.Event()
        try:
            await connection.add_listener(wakeup.CHANNEL, lambda *_: heard.set())
            answer = await asyncio.to_thread(admin.post, f"/api/v1/mqtt/sites/{site_id}/start/")
            assert answer.status_code == 200, answer.text
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.wait(), 5)
            return heard.is_set()
        finally:
            await connection.close()

    assert asyncio.run(start_and_listen())
    wait_until(lambda: admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()["status"]
               == "connected", 10, message="the started site connects")

"""Only the owner acts on a site's state (issue 14): two real ``sitelink serve`` processes on
one PostgreSQL database of their own and one Mosquitto, as in ``test_any_instance`` (whose
cluster this module starts again for itself): A owns every site, B owns none.

Every instance's read model is complete, so every instance could evaluate every site's
alerts and reset every device's availability at its start. Only the owner may: exactly one
alert and one notification for a rule that fires, and an instance that starts leaves the
devices of sites it does not own as their owner wrote them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from alerts.receivers import WebhookReceiver
from faults.test_any_instance import (  # the cluster's fixtures, shared by import
    Cluster,
    cluster,
    cluster_env,
    site,
    start_instance,
)
from integration.live import Publisher, create_site, metric, v1_heartbeat, wait_until
from sitelink.embedded_broker import free_port

pytestmark = pytest.mark.postgres

__all__ = ["cluster", "site"]  # fixtures used by name


def _firing(instance_admin: Any) -> float:
    return metric(instance_admin, "sitelink_alerts_firing", kind="site_down")


def test_a_rule_that_fires_opens_one_alert_notified_once_by_the_owner_alone(
        cluster: Cluster) -> None:
    """A site A owns is down; a site_down rule fires on A. B, which knows the rule as well
    (changed through B) and sees the site down in its read model, opens nothing: one alert
    row, one notification (both instances run senders for the channel), and the
    ``alert.firing`` of A on B's stream through the event log."""
    a, b = cluster.a, cluster.b
    dead_port = free_port()  # nothing listens there: the site never connects
    down = create_site(a.admin, "127.0.0.1", dead_port, is_enabled=True)
    site_id = down["site_id"]
    wait_until(lambda: b.admin.get(f"/api/v1/mqtt/sites/{site_id}/status/").json()
               .get("status") in ("error", "connecting", "disconnected"), 10,
               message="B shows the site that cannot connect")
    on_a = a.stream(params={"types": "alert.firing"})
    on_b = b.stream(params={"types": "alert.firing"})
    try:
        with WebhookReceiver() as hook:
            channel = a.admin.post("/api/v1/alerts/channels", json={
                "name": "owner-hook", "kind": "webhook", "url": hook.url})
            assert channel.status_code == 201, channel.text
            channel_id = channel.json()["id"]
            # B's sender watches the channel too: both instances could deliver its rows
            assert b.admin.patch(f"/api/v1/alerts/channels/{channel_id}",
                                 json={"name": "owner-hook"}).status_code == 200
            rule = a.admin.post("/api/v1/alerts/rules", json={
                "name": "owner only", "kind": "site_down", "site_id": site_id, "for_s": 0,
                "channel_ids": [channel_id]})
            assert rule.status_code == 201, rule.text
            rule_id = rule.json()["id"]
            # B reloads the rules and looks at its read model, where the site is down
            changed = b.admin.patch(f"/api/v1/alerts/rules/{rule_id}",
                                    json={"name": "owner only (seen by B)"})
            assert changed.status_code == 200, changed.text

            [body] = hook.wait(1)
            assert body["status"] == "firing"
            assert body["alerts"][0]["labels"]["site_code"] == down["code"]
            fired = on_a.wait_for("alert.firing", 10, site_id=site_id)
            seen_on_b = on_b.wait_for("alert.firing", 10, site_id=site_id)
            assert (seen_on_b.id, seen_on_b.data) == (fired.id, fired.data)

            def alerts_of_the_rule() -> list[dict[str, Any]]:
                rows: list[dict[str, Any]] = b.admin.get(
                    "/api/v1/alerts", params={"site_id": site_id}).json()["alerts"]
                return [r for r in rows if r["rule_id"] == rule_id]

            [alert] = wait_until(
                lambda: [r for r in alerts_of_the_rule()
                         if [n["outcome"] for n in r["notifications"]] == ["sent"]] or None,
                10, message="the notification recorded as sent")
            assert alert["state"] == "firing" and alert["id"] == fired.json["id"]
            assert [n["attempts"] for n in alert["notifications"]] == [1]
            assert len(alerts_of_the_rule()) == 1
            assert _firing(a.admin) == 1
            assert _firing(b.admin) == 0  # B's evaluator holds no machine for A's site
            assert len(on_a.of("alert.firing", site_id=site_id)) == 1
            assert len(hook.bodies()) == 1
    finally:
        on_a.close()
        on_b.close()


def test_an_instance_that_starts_keeps_the_owner_s_devices_and_alerts(
        cluster: Cluster, site: dict[str, Any], tmp_path: Path) -> None:
    """A third instance C (owning nothing) starts while A's device is online and A's alert
    fires: the device stays online with its interval open, and C neither restores nor
    resolves A's alert."""
    publisher = Publisher(cluster.broker.host, cluster.broker.port)
    try:
        publisher.publish(f"{site['code']}/datalogger/monstro/OWN-1/heartbeat",
                          v1_heartbeat(("t", 20.0)))
        wait_until(lambda: _availability(cluster.dsn, "OWN-1") == ("online", ["online"]), 10,
                   message="A stored the device online")
    finally:
        publisher.close()
    firing_before = _open_alerts(cluster.dsn)
    c = start_instance("c", tmp_path / "c", cluster_env(cluster.dsn), owns_nothing=True)
    try:
        wait_until(lambda: c.admin.get(f"/api/v1/mqtt/sites/{site['site_id']}/status/")
                   .json().get("status") == "connected", 10, message="C shows A's site")
        assert _availability(cluster.dsn, "OWN-1") == ("online", ["online"])
        assert _open_alerts(cluster.dsn) == firing_before
        assert _firing(c.admin) == 0
    finally:
        c.admin.close()
        c.process.close()


def _availability(dsn: str, serial: str) -> tuple[str, list[str]] | None:
    """The device's stored availability and its open intervals' availability."""
    async def read() -> tuple[str, list[str]] | None:
        connection = await asyncpg.connect(dsn)
        try:
            device = await connection.fetchrow(
                "SELECT id, availability FROM device WHERE serial = $1", serial)
            if device is None:
                return None
            rows = await connection.fetch(
                "SELECT availability FROM availability_interval "
                "WHERE device = $1 AND ended_at IS NULL ORDER BY id", device["id"])
            return device["availability"], [r["availability"] for r in rows]
        finally:
            await connection.close()
    return asyncio.run(read())


def _open_alerts(dsn: str) -> list[tuple[int, str, str]]:
    async def read() -> list[tuple[int, str, str]]:
        connection = await asyncpg.connect(dsn)
        try:
            rows = await connection.fetch(
                "SELECT id, subject, state FROM alert WHERE state <> 'resolved' ORDER BY id")
            return [(r["id"], r["subject"], r["state"]) for r in rows]
        finally:
            await connection.close()
    return asyncio.run(read())

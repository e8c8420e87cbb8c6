"""``sitelink cluster``: a table of the instances, their workers and their sites, read from
the database (like ``sitelink status``), so it works beside running instances and without
an API token. On SQLite there is one instance: the one that holds the database's lock."""

from __future__ import annotations

from collections.abc import Callable

from sitelink.api.cluster_answers import ClusterAnswer, InstanceAnswer
from sitelink.cluster import lease_store as store
from sitelink.cluster.view import cluster_of
from sitelink.settings import Settings
from sitelink.storage import sites as site_store
from sitelink.storage.database import Database

SHOWN_CODES = 12  # per instance; the rest is counted


async def show_cluster(db: Database, settings: Settings,
                       table: Callable[[list[tuple[str, ...]]], None]) -> None:
    """Print the cluster; ``table`` prints rows in aligned columns (the CLI's)."""
    if db.engine_name != "postgres":
        # One instance runs every enabled site; the database does not hold its start or its
        # workers (its API does: GET /api/v1/cluster).
        enabled = sorted(r.code for r in await site_store.list_sites(db) if r.is_enabled)
        me = settings.instance_id
        cluster = ClusterAnswer(instance_id=me, engine="sqlite", unowned_sites=0, instances=[
            InstanceAnswer(instance_id=me, started_at="", last_seen_at="", sites=len(enabled),
                           workers=[])])
        codes = {me: enabled}
        print("SQLite: one instance runs every enabled site (a cluster needs PostgreSQL); "
              "its workers: GET /api/v1/cluster")
    else:
        cluster = await cluster_of(db, ttl_s=settings.lease_ttl_s, me=settings.instance_id)
        codes = await store.codes_by_owner(db)
    if not cluster.instances:
        print("no live instance")
    rows: list[tuple[str, ...]] = [
        ("INSTANCE", "STARTED", "LAST SEEN", "SITES", "WORKER", "PID", "STATE", "RESTARTS")]
    for instance in cluster.instances:
        rows.append((instance.instance_id, instance.started_at or "-",
                     instance.last_seen_at or "-", str(instance.sites), "", "", "", ""))
        for w in instance.workers:
            rows.append(("", "", "", str(w.sites), str(w.worker), str(w.pid), w.state,
                         str(w.restarts)))
    if cluster.instances:
        table(rows)
    for instance in cluster.instances:
        owned = codes.get(instance.instance_id, [])
        more = f" and {len(owned) - SHOWN_CODES} more" if len(owned) > SHOWN_CODES else ""
        print(f"{instance.instance_id}: {', '.join(owned[:SHOWN_CODES]) or '-'}{more}")
    print(f"unowned sites: {cluster.unowned_sites}")

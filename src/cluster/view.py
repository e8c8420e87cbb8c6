"""What the cluster looks like from this instance: ``GET /api/v1/cluster``, health's
``cluster`` and the CLI's ``sitelink cluster`` (API.md "Cluster and workers").

On PostgreSQL the instances come from their rows (any instance answers for all: each one
writes its workers into its row at every heartbeat) and the site counts from the valid
leases. On SQLite the one instance answers for itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from sitelink.api.cluster_answers import ClusterAnswer, InstanceAnswer, WorkerAnswer
from sitelink.api.system_answers import ClusterSummary
from sitelink.cluster import lease_store as store
from sitelink.storage.database import Database
from sitelink.times import iso_time

if TYPE_CHECKING:
    from sitelink.runtime import Runtime


def worker_answers(listed: Any) -> list[WorkerAnswer]:
    """An instance's workers, as its row in ``cluster_instance`` holds them (JSON)."""
    return msgspec.convert(list(listed or []), list[WorkerAnswer])


async def cluster_of(db: Database, *, ttl_s: float, me: str) -> ClusterAnswer:
    """The cluster as its tables say (PostgreSQL)."""
    rows = await store.instances(db, ttl_s=ttl_s)
    snap = await store.snapshot(db, ttl_s=ttl_s)
    counts: dict[str, int] = {}
    for owner in snap.owners.values():
        counts[owner] = counts.get(owner, 0) + 1
    return ClusterAnswer(
        instance_id=me, engine="postgres",
        instances=[InstanceAnswer(instance_id=r.instance_id,
                                  started_at=iso_time(r.started_at) or "",
                                  last_seen_at=iso_time(r.last_seen_at) or "",
                                  sites=counts.get(r.instance_id, 0),
                                  workers=worker_answers(r.workers))
                   for r in rows],
        unowned_sites=sum(1 for s in snap.enabled if s not in snap.owners))


def summary(runtime: Runtime) -> ClusterSummary:
    """Health's ``cluster``, from the keeper's last tick (no query)."""
    keeper = runtime.cluster
    if keeper is None:
        return ClusterSummary(instances=1, unowned_sites=0)
    return ClusterSummary(instances=max(1, len(keeper.instances)),
                          unowned_sites=keeper.unowned_for(keeper.ttl_s))

"""``GET /api/v1/cluster``'s answer, built in one place.

In a cluster (PostgreSQL: leases and instance rows in the database, ``sitelink.cluster``)
the database says; an instance alone (SQLite) answers for itself from memory: one instance,
its site workers as its pool says (none when its sites run in its main process), and the
enabled sites its ``Ownership`` does not hand it counted as unowned.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sitelink.api.cluster_answers import ClusterAnswer, InstanceAnswer
from sitelink.cluster.view import cluster_of
from sitelink.times import iso

if TYPE_CHECKING:
    from sitelink.runtime import Runtime


async def cluster_view(runtime: Runtime) -> ClusterAnswer:
    """The cluster as this instance sees it: on PostgreSQL what the lease and instance
    tables say (``sitelink.cluster.view``), alone what this instance knows."""
    settings = runtime.settings
    if runtime.cluster is not None:
        return await cluster_of(runtime.db, ttl_s=settings.lease_ttl_s, me=runtime.instance_id)
    enabled = [site_id for site_id, view in runtime.read_model.sites.items()
               if view.record.is_enabled]
    mine = sum(1 for site_id in enabled if runtime.ownership.owns(site_id))
    workers = runtime.sites.workers() if runtime.sites is not None else []
    return ClusterAnswer(
        instance_id=runtime.instance_id, engine=settings.engine,
        instances=[InstanceAnswer(instance_id=runtime.instance_id,
                                  started_at=iso(runtime.started_at),
                                  last_seen_at=iso(time.time()), sites=mine,
                                  workers=workers)],
        unowned_sites=len(enabled) - mine,
    )

"""``GET /api/v1/cluster``: the instances of the cluster, their workers and their sites."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from sitelink.api.cluster_answers import ClusterAnswer
from sitelink.cluster_view import cluster_view
from sitelink.runtime import Runtime


@get("/api/v1/cluster", tags=["system"])
async def cluster(runtime: NamedDependency[Runtime]) -> ClusterAnswer:
    """Every live instance with its start, its last heartbeat, how many sites it runs and its
    site workers; and how many enabled sites no instance runs. Any viewer may read it."""
    return await cluster_view(runtime)


__all__ = ["cluster"]

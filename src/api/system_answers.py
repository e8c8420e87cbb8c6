"""The JSON answers of health and the actor tree (msgspec structs, typed in OpenAPI).
``sitelink.cluster.view`` fills health's ``cluster`` (API.md "Cluster and workers").
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

NodeKind = Literal["root", "worker", "site", "device"]


class ServiceHealth(msgspec.Struct, frozen=True, kw_only=True):
    running: bool
    instance_id: str


class ConnectionCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    enabled: int
    healthy: int
    unhealthy: int


class StorageHealth(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    engine: str


class ClusterSummary(msgspec.Struct, frozen=True, kw_only=True):
    instances: int
    unowned_sites: int


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """200 for healthy and degraded, 503 for unhealthy: the same body."""

    status: Literal["healthy", "degraded", "unhealthy"]
    service: ServiceHealth
    connections: ConnectionCounts
    storage: StorageHealth
    cluster: ClusterSummary


class ActorNode(msgspec.Struct, kw_only=True):
    """One actor; ``children`` is left out when the tree is flattened (``?kind=``)."""

    urn: str
    kind: NodeKind
    name: str
    state: str
    mailbox: int
    processed: int
    restarts: int
    started_at: str | None
    pid: int | UnsetType | None = UNSET  # a site worker's process
    children: list[ActorNode] | UnsetType = UNSET


class ActorTree(msgspec.Struct, frozen=True, kw_only=True):
    instance_id: str
    actors: list[ActorNode]

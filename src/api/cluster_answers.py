"""The answer of ``GET /api/v1/cluster`` (API.md "Cluster and workers"), as msgspec structs so
that the OpenAPI document describes it field by field and the dashboard's types are generated
from it. Times are ISO 8601 UTC with ``Z`` (``times.iso``).

The shape is the contract's; how it is filled is ``sitelink.cluster_view``'s business.
``WorkerAnswer`` is also what the worker pool reports of its workers
(``WorkerPool.workers``), and what each instance writes into its row for the others.
"""

from __future__ import annotations

from typing import Literal

import msgspec

WorkerState = Literal["running", "starting", "restarting", "stopped"]


class WorkerAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """One site worker process of an instance."""

    worker: int
    pid: int | None
    """Null while the process is not running (being started again)."""
    sites: int
    state: WorkerState
    restarts: int


class InstanceAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """One live instance (``sitelink serve``) of the cluster."""

    instance_id: str
    started_at: str
    last_seen_at: str
    sites: int
    """How many sites it runs."""
    workers: list[WorkerAnswer]
    """Empty while its sites run in its main process."""


class ClusterAnswer(msgspec.Struct, frozen=True, kw_only=True):
    instance_id: str
    """The instance that answered."""
    engine: str
    """``sqlite`` or ``postgres``."""
    instances: list[InstanceAnswer]
    unowned_sites: int
    """Enabled sites that no instance runs."""

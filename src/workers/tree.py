"""The actor tree's nodes, as ``GET /api/v1/actors`` shows them (API.md, "Actor tree").

A worker answers ``Inspect`` with the site nodes of its supervisor (each with its devices);
the main process puts them under the worker's node, and the workers under the root.
"""

from __future__ import annotations

import time
from typing import Any, cast

import pykka

from sitelink.actors.site_messages import Inspect, SiteInfo
from sitelink.actors.supervisor import Describe, Supervisor, SupervisorInfo
from sitelink.times import iso

Node = dict[str, Any]


def node(kind: str, name: str, state: str, urn: str, *, mailbox: int = 0, processed: int = 0,
         restarts: int = 0, started_at: float | None = None, **extra: Any) -> Node:
    return {"urn": urn, "kind": kind, "name": name, "state": state, "mailbox": mailbox,
            "processed": processed, "restarts": restarts, "started_at": iso(started_at),
            **extra, "children": []}


def supervisor_sites(supervisor: pykka.ActorRef[Supervisor],
                     timeout_s: float) -> tuple[SupervisorInfo, list[Node]]:
    """Asks every site at once and waits for all answers (blocking, ≤ ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    info = cast(SupervisorInfo, supervisor.ask(Describe(), timeout=timeout_s))
    futures = {sid: ref.ask(Inspect(), block=False) for sid, ref in info.children.items()}
    sites: list[Node] = []
    for site_id, future in futures.items():
        ref = info.children[site_id]
        common = {"urn": ref.actor_urn, "mailbox": ref.actor_inbox.qsize(),
                  "restarts": info.restarts.get(site_id, 0)}
        try:
            site = cast(SiteInfo, future.get(timeout=max(0.01, deadline - time.monotonic())))
        except Exception:
            sites.append(node("site", str(site_id), "unresponsive", **common))
            continue
        site_node = node("site", site.name, site.state, processed=site.processed,
                         started_at=site.started_at, **common)
        for dev in site.devices:  # hosted on the site's thread: its answer carries theirs
            site_node["children"].append(node("device", dev.name, dev.state, dev.urn,
                                              processed=dev.processed, restarts=dev.restarts,
                                              started_at=dev.started_at))
        sites.append(site_node)
    return info, sites

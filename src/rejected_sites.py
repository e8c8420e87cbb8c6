"""Stored sites that cannot run: shown as ``error`` naming the problem, logged and audited
once per problem, and forgotten when their row is valid (or gone) again.

Owned by the runtime and called on the asyncio loop only. ``by_id`` is what the API reads
to tell a rejected row from a site that failed to connect.
"""

from __future__ import annotations

import time

import structlog

from sitelink.bridge import Bridge
from sitelink.desired import RejectedSite
from sitelink.events import ConnectionStatus, SiteStatusChanged
from sitelink.readmodel import ReadModel
from sitelink.storage.audit import append_audit
from sitelink.storage.database import Database

log = structlog.get_logger(__name__)


class RejectedSites:
    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.by_id: dict[int, RejectedSite] = {}

    async def show_all(
        self, db: Database, bridge: Bridge | None, rejected: tuple[RejectedSite, ...]
    ) -> None:
        """Show every rejected row; forget the ones that are valid (or gone) again."""
        for site_id in set(self.by_id) - {r.site_id for r in rejected}:
            self.accept(site_id)
        for site in rejected:
            await self.reject(db, bridge, site)

    async def reject(self, db: Database, bridge: Bridge | None, site: RejectedSite) -> None:
        """Log and audit a rejection once per problem; show it in the site's status (again
        at each reconcile if something else has overwritten it)."""
        if self.by_id.get(site.site_id) != site:
            self.by_id[site.site_id] = site
            log.error("stored site cannot run; skipped", site_id=site.site_id, code=site.code,
                      problem=site.problem)
            try:
                await append_audit(db, actor="sitelink", action="site.rejected",
                                   target=site.code, result="error",
                                   detail={"site_id": site.site_id, "problem": site.problem})
            except Exception:
                log.exception("could not audit a rejected site", site_id=site.site_id)
        view = self.read_model.sites.get(site.site_id)
        if bridge is None or (view is not None and view.status == ConnectionStatus.ERROR
                              and view.error_message == site.problem):
            return
        bridge.publish(SiteStatusChanged(
            site_id=site.site_id, code=site.code, status=ConnectionStatus.ERROR,
            is_enabled=site.is_enabled,
            error_message=site.problem, retry_count=0, next_retry_at=None,
            client_id=view.client_id if view is not None else "", last_connected_at=None,
            topics=(), handler_running=False, at=time.time()))

    def accept(self, site_id: int) -> None:
        """The row is valid again: forget its rejection."""
        if self.by_id.pop(site_id, None) is not None:
            log.info("stored site is valid again", site_id=site_id)

"""A site's topic-discovery window: start one, read what it saw.

Handlers run on the event loop. Starting a window hands it to the site's actor, which
listens on ``{code}/#`` on the live connection; the topics it sees are kept in the read model
(``runtime.read_model.discoveries``), which ``GET`` reads without touching the actor.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from sitelink.api import answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.schemas import DiscoveryRequest, PathId
from sitelink.errors import NotConnected
from sitelink.runtime import Runtime
from sitelink.storage import sites as site_store
from sitelink.times import iso


class DiscoveryController(Controller):
    path = "/api/v1/mqtt/sites/{site_id:int}"
    tags = ["topics", "commands"]

    @post("/discovery/", opt=ADMIN, status_code=HTTP_202_ACCEPTED)
    async def start_discovery(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[DiscoveryRequest | None] = None,
    ) -> answer.DiscoveryStarted:
        """Listen on ``{code}/#`` for ``seconds`` and collect the distinct topics seen."""
        seconds = (data or DiscoveryRequest()).seconds
        site = await site_store.get_site(runtime.db, site_id)
        if not site.is_enabled:
            raise NotConnected(f"site {site.code} is not enabled: start it first")
        runtime.discover(site_id, seconds)
        await record(request, "site.discovery", target=site.code,
                     detail={"site_id": site_id, "seconds": seconds})
        view = runtime.read_model.discoveries[site_id]
        return answer.DiscoveryStarted(
            success=True, message=f"Listening on {site.code}/# for {seconds:g} s",
            state=view.state, started_at=iso(view.started_at), ends_at=iso(view.ends_at))

    @get("/discovery/")
    async def discovery(
        self, runtime: NamedDependency[Runtime], site_id: PathId,
    ) -> answer.Discovery:
        """The topics seen in the last window, with counts and last payload size."""
        await site_store.get_site(runtime.db, site_id)
        view = runtime.read_model.discoveries.get(site_id)
        if view is None:
            return answer.Discovery(site_id=site_id, state="idle", started_at=None,
                                    ends_at=None, topics=[])
        return answer.Discovery(site_id=site_id, state=view.state,
                                started_at=iso(view.started_at), ends_at=iso(view.ends_at),
                                topics=list(view.topics))

"""Sites: configuration, control (start, stop, reconnect) and live status.

Every handler runs on the event loop. Writes go to storage first (the durable desired
state), then the runtime tells the site's actor at once: no polling cycle in between.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from sitelink.api import answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.limits import CONFIG_BODY
from sitelink.api.schemas import PathId, SiteCreate, SiteUpdate
from sitelink.errors import NotConnected, NotFound
from sitelink.runtime import Runtime
from sitelink.site_rules import Protocol, Transport, check_certificates
from sitelink.status_object import StatusObject
from sitelink.storage import history as history_store
from sitelink.storage import sites as site_store
from sitelink.storage.sites import NewSite, SitePatch, SiteRecord
from sitelink.times import iso_time


def site_config(record: SiteRecord) -> answer.Site:
    """The site's configuration as the API shows it: never the password."""
    return answer.Site(
        id=record.id, name=record.name, code=record.code,
        broker_host=record.broker_host, broker_port=record.broker_port,
        username=record.username, has_password=record.has_password,
        client_id_prefix=record.client_id_prefix,
        protocol=cast(Protocol, record.protocol),
        keepalive_s=record.keepalive_s, tls=record.tls,
        tls_ca_pem=record.tls_ca_pem, tls_client_cert_pem=record.tls_client_cert_pem,
        has_client_key=record.has_client_key,
        tls_verify_hostname=record.tls_verify_hostname,
        transport=cast(Transport, record.transport),
        ws_path=record.ws_path, offline_after_s=record.offline_after_s,
        labels=record.labels, is_enabled=record.is_enabled,
        created_at=iso_time(record.created_at),
        updated_at=iso_time(record.updated_at),
    )


def status_of(runtime: Runtime, site_id: int) -> StatusObject:
    status = runtime.read_model.status_object(site_id)
    if status is None:
        raise NotFound(f"no site with id {site_id}")
    return status


class SiteController(Controller):
    path = "/api/v1/mqtt/sites"
    tags = ["sites"]

    @get("/")
    async def list_sites(self, runtime: NamedDependency[Runtime]) -> answer.SiteList:
        """Every site's live status object."""
        return answer.SiteList(sites=runtime.read_model.status_objects())

    @post("/", opt=ADMIN, status_code=HTTP_201_CREATED, request_max_body_size=CONFIG_BODY)
    async def create_site(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                          data: JSONBody[SiteCreate]) -> StatusObject:
        """Create a site (with the three default subscriptions); 409 if the code is taken."""
        check_certificates(data)
        fields = msgspec.structs.asdict(data)
        if fields["keepalive_s"] is None:
            fields["keepalive_s"] = runtime.settings.keep_alive_s
        record = await site_store.create_site(runtime.db, NewSite(**fields))
        await runtime.site_changed(record.id, "created")
        await record_change(request, runtime, "site.create", record, data)
        return status_of(runtime, record.id)

    @get("/{site_id:int}/")
    async def get_site(
        self, runtime: NamedDependency[Runtime], site_id: PathId,
    ) -> answer.Site:
        return site_config(await site_store.get_site(runtime.db, site_id))

    @patch("/{site_id:int}/", opt=ADMIN, request_max_body_size=CONFIG_BODY)
    async def update_site(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                          site_id: PathId, data: JSONBody[SiteUpdate]) -> answer.Site:
        """Change the configuration; a live connection reconnects if broker settings changed."""
        check_certificates(data)
        patch_ = SitePatch(**{k: v for k, v in msgspec.structs.asdict(data).items()
                              if v is not msgspec.UNSET})
        record = await site_store.update_site(runtime.db, site_id, patch_)
        await runtime.site_changed(site_id, "updated")
        await record_change(request, runtime, "site.update", record, data)
        return site_config(record)

    @delete("/{site_id:int}/", opt=ADMIN, status_code=HTTP_204_NO_CONTENT)
    async def delete_site(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                          site_id: PathId) -> None:
        """Stop the site and delete it with its devices."""
        site = await site_store.get_site(runtime.db, site_id)
        await site_store.delete_site(runtime.db, site_id)
        runtime.site_removed(site_id)
        await record(request, "site.delete", target=site.code, detail={"site_id": site_id})

    @post("/{site_id:int}/start/", opt=ADMIN, status_code=200)
    async def start(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                    site_id: PathId) -> answer.Done:
        """Enable the site and connect now."""
        return await _set_enabled(request, runtime, site_id, True)

    @post("/{site_id:int}/stop/", opt=ADMIN, status_code=200)
    async def stop(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                   site_id: PathId) -> answer.Done:
        """Disable the site and disconnect now."""
        return await _set_enabled(request, runtime, site_id, False)

    @post("/{site_id:int}/reconnect/", opt=ADMIN, status_code=200)
    async def reconnect(self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
                        site_id: PathId) -> answer.Done:
        """Drop and reconnect now, skipping any backoff wait. 409 if the site is not enabled."""
        site = await site_store.get_site(runtime.db, site_id)
        if not site.is_enabled:
            raise NotConnected(f"site {site.code} is not enabled: start it first")
        runtime.reconnect(site_id)
        await record(request, "site.reconnect", target=site.code, detail={"site_id": site_id})
        return answer.Done(success=True, message=f"Site {site_id} reconnecting now.")

    @get("/{site_id:int}/status/")
    async def status(
        self, runtime: NamedDependency[Runtime], site_id: PathId,
    ) -> StatusObject:
        return status_of(runtime, site_id)

    @get("/{site_id:int}/history/")
    async def history(self, runtime: NamedDependency[Runtime], site_id: PathId,
                      limit: int = Parameter(default=100, ge=1, le=1000)) -> answer.SiteHistory:
        """Connection events, newest first, and the last 24 h: connects, drops, uptime %."""
        await site_store.get_site(runtime.db, site_id)
        events = await history_store.list_connection_events(runtime.db, site_id, limit=limit)
        stats = await history_store.connection_stats(runtime.db, site_id)
        return answer.SiteHistory(
            site_id=site_id,
            events=[answer.ConnectionEventItem(kind=e.kind, reason=e.reason, at=iso_time(e.at))
                    for e in events],
            last_24h=answer.Last24h(connects=stats.connects, drops=stats.drops,
                                    failures=stats.failures,
                                    uptime_percentage=round(stats.uptime_percentage, 2),
                                    window_start=iso_time(stats.window_start),
                                    window_end=iso_time(stats.window_end)),
        )


async def _set_enabled(request: Request[Any, Any, Any], runtime: Runtime, site_id: int,
                       enabled: bool) -> answer.Done:
    record_ = await site_store.update_site(runtime.db, site_id, SitePatch(is_enabled=enabled))
    await runtime.site_changed(site_id, "updated")
    action = "site.start" if enabled else "site.stop"
    await record(request, action, target=record_.code, detail={"site_id": site_id})
    rejected = runtime.rejections.by_id.get(site_id)
    if enabled and rejected is not None:
        message = f"Site {site_id} enabled, but it cannot run: {rejected.problem}"
    elif enabled:
        broker = f"{record_.broker_host}:{record_.broker_port}"
        message = f"Site {site_id} enabled. Connecting to {broker} now."
    else:
        message = f"Site {site_id} disabled. Disconnecting now."
    return answer.Done(success=True, message=message)


async def record_change(request: Request[Any, Any, Any], runtime: Runtime, action: str,
                        site: SiteRecord, data: msgspec.Struct) -> None:
    changed = sorted(k for k, v in msgspec.structs.asdict(data).items()
                     if v is not msgspec.UNSET)
    await record(request, action, target=site.code, detail={"site_id": site.id, "fields": changed})

"""Alerts and silences: ``GET /api/v1/alerts``, ``POST /api/v1/alerts/{id}/ack``,
``GET/POST /api/v1/alerts/silences``, ``DELETE .../{id}``. Handlers run on the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from sitelink.alerts.model import AlertInfo, AlertStateName, Silence
from sitelink.api.alert_rules import service
from sitelink.api.alert_schemas import AlertList, SilenceCreate, SilenceList
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.schemas import ID_MAX, OptionalQueryId, PathId
from sitelink.errors import NotFound, ValidationError
from sitelink.runtime import Runtime
from sitelink.storage import alert_config, alert_state
from sitelink.storage import sites as site_store


class AlertController(Controller):
    path = "/api/v1/alerts"
    tags = ["alerts"]

    @get("/")
    async def list_alerts(
        self, runtime: NamedDependency[Runtime],
        # "state" is a name Litestar reserves for app state: the query is read under an alias
        alert_state_: Annotated[AlertStateName | None, QueryParameter(name="state")] = None,
        site_id: OptionalQueryId = None,
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=ID_MAX),
    ) -> AlertList:
        """Alerts newest first, each with its notifications and their attempts."""
        alerts = await alert_state.list_alerts(runtime.db, state=alert_state_, site_id=site_id,
                                               limit=limit, offset=offset)
        return AlertList(alerts=alerts)

    @post("/{alert_id:int}/ack", opt=ADMIN, status_code=200)
    async def acknowledge(self, request: Request[Any, Any, Any],
                          runtime: NamedDependency[Runtime], alert_id: PathId) -> AlertInfo:
        """Acknowledge: no more repeats; the alert still resolves by itself. Acknowledging
        again keeps the first acknowledgement."""
        by = getattr(request.scope.get("user"), "name", "anonymous")
        info = await service(runtime).acknowledge(alert_id, by)
        await record(request, "alert.ack", target=str(alert_id),
                     detail={"alert_id": alert_id, "rule_id": info.rule_id})
        return info

    @get("/silences")
    async def list_silences(
        self, runtime: NamedDependency[Runtime],
        active: bool = Parameter(default=False),
        limit: int = Parameter(default=100, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=ID_MAX),
    ) -> SilenceList:
        """Silences newest first; ``?active=true`` only those still muting."""
        silences = await alert_config.list_silences(
            runtime.db, active_at=datetime.now(UTC) if active else None, limit=limit,
            offset=offset)
        return SilenceList(silences=silences)

    @post("/silences", opt=ADMIN, status_code=HTTP_201_CREATED)
    async def create_silence(self, request: Request[Any, Any, Any],
                             runtime: NamedDependency[Runtime],
                             data: JSONBody[SilenceCreate]) -> Silence:
        """Mute alerts of a site and/or a rule until ``until``: they are kept and shown,
        not notified."""
        if data.site_id is None and data.rule_id is None:
            raise ValidationError("site_id", "a silence needs site_id and/or rule_id")
        until = data.until if data.until.tzinfo is not None else data.until.replace(tzinfo=UTC)
        if until <= datetime.now(UTC):
            raise ValidationError("until", "must be in the future")
        if data.site_id is not None:
            try:
                await site_store.get_site(runtime.db, data.site_id)
            except NotFound:
                raise ValidationError("site_id", f"no site with id {data.site_id}") from None
        if data.rule_id is not None:
            try:
                await alert_config.get_rule(runtime.db, data.rule_id)
            except NotFound:
                raise ValidationError("rule_id", f"no rule with id {data.rule_id}") from None
        by = getattr(request.scope.get("user"), "name", "anonymous")
        silence = await alert_config.create_silence(
            runtime.db, site_id=data.site_id, rule_id=data.rule_id, until=until,
            reason=data.reason, created_by=by)
        await service(runtime).silences_changed()
        await record(request, "alert.silence.create", target=str(silence.id),
                     detail={"silence_id": silence.id, "site_id": data.site_id,
                             "rule_id": data.rule_id, "until": until.isoformat()})
        return silence

    @delete("/silences/{silence_id:int}", opt=ADMIN, status_code=HTTP_204_NO_CONTENT)
    async def delete_silence(self, request: Request[Any, Any, Any],
                             runtime: NamedDependency[Runtime], silence_id: PathId) -> None:
        silence = await alert_config.delete_silence(runtime.db, silence_id)
        await service(runtime).silences_changed()
        await record(request, "alert.silence.delete", target=str(silence_id),
                     detail={"silence_id": silence_id, "site_id": silence.site_id,
                             "rule_id": silence.rule_id})

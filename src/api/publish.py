"""Commands published to a site, and the list of those published with their outcome.

Handlers run on the event loop. A publish waits for the broker's acknowledgement on the loop
(a callback from the site's actor settles a future), so a slow broker never blocks other
requests. Each command is stored before it is sent and its outcome written when it settles.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from sitelink.api import answers as answer
from sitelink.api.audit import record
from sitelink.api.auth import ADMIN
from sitelink.api.limits import PUBLISH_BODY
from sitelink.api.schemas import PathId, PublishCommand
from sitelink.errors import NotConnected, ValidationError
from sitelink.events import ConnectionStatus
from sitelink.runtime import Runtime
from sitelink.storage import commands as command_store
from sitelink.storage import sites as site_store
from sitelink.storage.sites import SiteRecord
from sitelink.times import iso_time
from sitelink.topic_rules import validate_publish_topic

ACK_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 262_144


class PublishController(Controller):
    path = "/api/v1/mqtt/sites/{site_id:int}"
    tags = ["topics", "commands"]

    @post("/publish/", opt=ADMIN, status_code=200, request_max_body_size=PUBLISH_BODY)
    async def publish(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
        site_id: PathId, data: JSONBody[PublishCommand],
    ) -> Response[answer.PublishResult]:
        """Publish a command. 409 if the site is not connected; for qos 1 and 2 the answer
        waits for the broker's acknowledgement, 504 if none comes within 5 s."""
        site = await site_store.get_site(runtime.db, site_id)
        validate_publish_topic(site.code, data.topic)
        payload = data.message.encode()
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ValidationError("message", f"at most {MAX_MESSAGE_BYTES} bytes")
        status = runtime.read_model.status_object(site_id)
        if status is None or status.status != ConnectionStatus.CONNECTED:
            await _audit_publish(request, site, data, len(payload), "", "refused: not connected")
            raise NotConnected(f"site {site.code} is not connected")
        command_id = uuid.uuid4().hex
        sender = getattr(request.scope.get("user"), "name", "anonymous")
        await command_store.insert_command(
            runtime.db, command_id=command_id, site_id=site_id, topic=data.topic, qos=data.qos,
            retain=data.retain, payload_size=len(payload), sender=sender)
        result = await runtime.publish(site_id, command_id, data.topic, payload, data.qos,
                                       data.retain, ACK_TIMEOUT_S)
        if result is None:
            error = f"no acknowledgement from the broker within {ACK_TIMEOUT_S:g} s"
            await command_store.set_outcome(runtime.db, command_id, "failed", error=error)
            await _audit_publish(request, site, data, len(payload), command_id, "timeout")
            return Response(answer.PublishResult(success=False, message=error,
                                                 command_id=command_id), status_code=504)
        await _audit_publish(request, site, data, len(payload), command_id, result.outcome)
        if result.outcome == "failed":  # kept at once (the actor's event follows, the same)
            await command_store.set_outcome(runtime.db, command_id, "failed", error=result.error)
        if not result.connected:
            raise NotConnected(f"site {site.code} is not connected")
        if result.outcome == "failed":
            return Response(answer.PublishResult(
                success=False, message=f"Publish failed: {result.error}", command_id=command_id),
                status_code=502)
        return Response(answer.PublishResult(
            success=True, message="Message published successfully", command_id=command_id,
            outcome=result.outcome))

    @get("/commands/")
    async def commands(self, runtime: NamedDependency[Runtime], site_id: PathId,
                       limit: int = Parameter(default=100, ge=1, le=1000)
                       ) -> answer.CommandList:
        """Published commands, newest first, with their outcome."""
        await site_store.get_site(runtime.db, site_id)
        rows = await command_store.list_commands(runtime.db, site_id, limit=limit)
        return answer.CommandList(commands=[
            answer.Command(command_id=c.command_id, site_id=c.site_id, topic=c.topic,
                           qos=cast(answer.Qos, c.qos), retain=c.retain,
                           payload_size=c.payload_size, sender=c.sender, outcome=c.outcome,
                           error=c.error, created_at=iso_time(c.created_at),
                           completed_at=iso_time(c.completed_at))
            for c in rows])


async def _audit_publish(request: Request[Any, Any, Any], site: SiteRecord, data: PublishCommand,
                         size: int, command_id: str, result: str) -> None:
    await record(request, "publish", target=site.code, result=result,
                 detail={"site_id": site.id, "topic": data.topic, "qos": data.qos,
                         "retain": data.retain, "payload_size": size, "command_id": command_id})


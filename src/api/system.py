"""Health, login, the actor tree and the audit log.

All handlers run on the event loop; the actor tree is asked from a worker thread with a
timeout, so a busy actor can slow that one answer but never the loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Literal, cast

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.response import Stream

from sitelink.api.answers import AuditEntry, AuditPage, LoggedOut, Me
from sitelink.api.auth import (
    ADMIN,
    COOKIE,
    PUBLIC,
    check_json_body,
    check_not_limited,
    check_same_origin,
    identify,
)
from sitelink.api.clients import ClientView
from sitelink.api.csv_export import attachment, audit_csv
from sitelink.api.schemas import ID_MAX, SessionRequest
from sitelink.api.system_answers import (
    ActorNode,
    ActorTree,
    ConnectionCounts,
    Health,
    NodeKind,
    ServiceHealth,
    StorageHealth,
)
from sitelink.cluster import view as cluster_view
from sitelink.events import ConnectionStatus
from sitelink.runtime import Runtime
from sitelink.storage import audit as audit_store
from sitelink.storage import sessions as session_store
from sitelink.storage.tokens import Identity
from sitelink.times import iso, iso_time


@get("/api/v1/mqtt/health/", tags=["system"], opt=PUBLIC)
async def health(runtime: NamedDependency[Runtime]) -> Response[Health]:
    """healthy: everything enabled is connected; degraded: some is not, or a stored site
    cannot run (it counts as unhealthy even when disabled); unhealthy: 503."""
    views = list(runtime.read_model.sites.values())
    enabled = [v for v in views if v.record.is_enabled]
    healthy = sum(1 for v in enabled if v.status == ConnectionStatus.CONNECTED)
    broken = sum(1 for site_id, v in runtime.read_model.sites.items()
                 if site_id in runtime.rejections.by_id and not v.record.is_enabled)
    # Storage is up when the writer's last write succeeded and the database answers a ping
    # now (≤ 2 s): down within seconds of an outage, up again only once a write went through.
    writing = runtime.writer is not None and runtime.writer.storage_ok
    storage_ok = runtime.started and writing and await runtime.db.ping()
    running = runtime.sites is not None and runtime.sites.running
    status: Literal["healthy", "degraded", "unhealthy"]
    cluster = cluster_view.summary(runtime)  # unowned: enabled, held by nobody for a TTL
    if not (running and storage_ok):
        status, code = "unhealthy", 503
    elif healthy < len(enabled) or broken or cluster.unowned_sites:
        status, code = "degraded", 200
    else:
        status, code = "healthy", 200
    body = Health(
        status=status,
        service=ServiceHealth(running=running, instance_id=runtime.instance_id),
        connections=ConnectionCounts(total=len(views), enabled=len(enabled), healthy=healthy,
                                     unhealthy=len(enabled) - healthy + broken),
        storage=StorageHealth(ok=storage_ok, engine=runtime.settings.engine),
        cluster=cluster,
    )
    return Response(body, status_code=code)


@post("/api/v1/auth/session", tags=["auth"], status_code=200, opt=PUBLIC)
async def login(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime],
    data: JSONBody[SessionRequest],
) -> Response[Me]:
    """Exchange a token for a server-side session: an HttpOnly, SameSite=Strict cookie that
    holds the session's random id (never the token). A failed login counts against the
    caller's address (429 past the limit)."""
    check_same_origin(request, required=False)
    check_json_body(request)
    address = check_not_limited(request)
    identity = await identify(request, data.token)
    if identity is None:
        request.app.state.auth_failures.failed(address)
        raise NotAuthorizedException("invalid or revoked token")
    settings = runtime.settings
    now = datetime.now(UTC)
    await session_store.sweep_sessions(runtime.db, now=now, idle_s=settings.session_idle_s)
    session_id = await session_store.create_session(runtime.db, data.token, now=now,
                                                    max_age_s=settings.session_max_age_s)
    clients: ClientView = request.app.state.clients
    cookie = Cookie(key=COOKIE, value=session_id, httponly=True, samesite="strict",
                    secure=clients.is_secure(request.scope), path="/",
                    max_age=settings.session_max_age_s)
    return Response(Me(name=identity.name, role=identity.role), cookies=[cookie])


@delete("/api/v1/auth/session", tags=["auth"], status_code=200, opt=PUBLIC)
async def logout(request: Request[Any, Any, Any],
                 runtime: NamedDependency[Runtime]) -> Response[LoggedOut]:
    """End the session of the cookie (on the server, at once) and clear the cookie."""
    check_same_origin(request, required=False)
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await session_store.end_session(runtime.db, session_id)
        request.app.state.stream_access.recheck(("session", session_id))  # its streams end
    clients: ClientView = request.app.state.clients
    return Response(LoggedOut(success=True),
                    cookies=[Cookie(key=COOKIE, value="", max_age=0, path="/", httponly=True,
                                    samesite="strict", secure=clients.is_secure(request.scope))])


@get("/api/v1/auth/me", tags=["auth"])
async def me(request: Request[Identity, Any, Any]) -> Me:
    return Me(name=request.user.name, role=request.user.role)


@get("/api/v1/actors", tags=["system"], opt=ADMIN)
async def actors(runtime: NamedDependency[Runtime],
                 kind: Literal["root", "worker", "site", "device"] | None = Parameter(default=None)
                 ) -> ActorTree:
    """The live actor tree: supervisor → (workers →) sites → devices. ``?kind=`` flattens to
    one kind."""
    tree = await asyncio.to_thread(_tree, runtime)
    if kind is not None:
        tree = [n for n in _flatten(tree) if n.kind == kind]
        for node in tree:
            node.children = msgspec.UNSET
    return ActorTree(instance_id=runtime.instance_id, actors=tree)


def _tree(runtime: Runtime) -> list[ActorNode]:
    """Asks every actor at once and waits for all answers (worker thread, ≤ 2 s overall)."""
    from sitelink.actors.site_messages import Inspect as InspectSite
    from sitelink.actors.supervisor import Describe, SupervisorInfo

    if runtime.sites is not None and runtime.sites.pool is not None:
        return msgspec.convert(runtime.sites.pool.tree(runtime.instance_id), list[ActorNode])
    assert runtime.supervisor is not None
    deadline = time.monotonic() + 2.0
    sup = runtime.supervisor
    info = cast(SupervisorInfo, sup.ask(Describe(), timeout=2.0))
    site_futures = {sid: ref.ask(InspectSite(), block=False) for sid, ref in info.children.items()}
    root = _ref_node("root", "supervisor", "running", sup, info.processed,
                 sum(info.restarts.values()), info.started_at)
    for site_id, future in site_futures.items():
        ref = info.children[site_id]
        try:
            site = future.get(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:
            _children(root).append(_ref_node("site", str(site_id), "unresponsive", ref, 0,
                                              info.restarts.get(site_id, 0), None))
            continue
        node = _ref_node("site", site.name, site.state, ref, site.processed,
                         info.restarts.get(site_id, 0), site.started_at)
        for dev in site.devices:  # hosted on the site's thread: its answer carries theirs
            _children(node).append(_node("device", dev.name, dev.state, dev.urn, 0,
                                          dev.processed, dev.restarts, dev.started_at))
        _children(root).append(node)
    return [root]


def _node(kind: NodeKind, name: str, state: str, urn: str, mailbox: int, processed: int,
          restarts: int, started_at: float | None) -> ActorNode:
    return ActorNode(urn=urn, kind=kind, name=name, state=state, mailbox=mailbox,
                     processed=processed, restarts=restarts, started_at=iso(started_at),
                     children=[])


def _children(node: ActorNode) -> list[ActorNode]:
    assert isinstance(node.children, list)  # set by _node; only _flatten's copies lose it
    return node.children


def _ref_node(kind: NodeKind, name: str, state: str, ref: Any, processed: int, restarts: int,
              started_at: float | None) -> ActorNode:
    return _node(kind, name, state, ref.actor_urn, ref.actor_inbox.qsize(), processed,
                 restarts, started_at)


def _flatten(nodes: list[ActorNode]) -> list[ActorNode]:
    out: list[ActorNode] = []
    for node in nodes:
        out.append(node)
        out.extend(_flatten(_children(node)))
    return out


@get("/api/v1/audit", tags=["system"], opt=ADMIN,
     responses={200: ResponseSpec(AuditPage, description="the entries, newest first",
                                  generate_examples=False)})
async def audit(runtime: NamedDependency[Runtime],
                limit: int = Parameter(default=100, ge=1, le=1000),
                offset: int = Parameter(default=0, ge=0, le=ID_MAX),
                format: Literal["json", "csv"] = Parameter(default="json"),
                ) -> Response[Any]:
    """Who did what, newest first. ``?format=csv``: every entry (``limit``/``offset`` do
    not apply), streamed, with ``detail`` as JSON in one column."""
    if format == "csv":
        return Stream(audit_csv(runtime), media_type="text/csv",
                      headers={"Content-Disposition": attachment("audit.csv")})
    entries = await audit_store.list_audit(runtime.db, limit=limit, offset=offset)
    return Response(AuditPage(entries=[
        AuditEntry(id=e.id, at=iso_time(e.at), actor=e.actor, action=e.action,
                   target=e.target, detail=e.detail, result=e.result) for e in entries]))


__all__ = ["actors", "audit", "health", "login", "logout", "me"]

"""The Litestar application: routes, auth, errors, the dashboard, and the runtime's life.

``create_app`` builds the Runtime (not started) and returns the app; the lifespan starts
the runtime on uvicorn's loop and stops it on shutdown, in reverse order of start.
"""

from __future__ import annotations

import contextlib
import mimetypes
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from litestar import Litestar, Response, Router, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

from sitelink.actors.clock import BaseClock
from sitelink.api import (
    alert_channels,
    alert_rules,
    alerts,
    bulk,
    cluster,
    devices,
    discovery,
    metrics,
    publish,
    sites,
    system,
    tokens,
    topics,
)
from sitelink.api.auth import PUBLIC, PUBLIC_OPT, SCHEMA_PATHS, TokenAuthentication, require_role
from sitelink.api.clients import ClientView
from sitelink.api.errors import HANDLERS
from sitelink.api.events import KEEPALIVE_S, events
from sitelink.api.headers import add_security_headers
from sitelink.api.limits import SMALL_BODY, check_json_depth
from sitelink.api.openapi import document_errors
from sitelink.api.ratelimit import FailureLimiter
from sitelink.api.stream_access import RECHECK_S, StreamAccess
from sitelink.runtime import Runtime
from sitelink.settings import Settings
from sitelink.site_host import PortFactory

_NO_DASHBOARD = """<!doctype html><meta charset="utf-8"><title>sitelink</title>
<body>
<h1>sitelink is running</h1>
<p>The dashboard has not been built. Build it with <code>make web</code> (it needs Node.js
and npm), or point <code>SITELINK_WEB_DIR</code> at a built dashboard, then reload.</p>
<p>The API is live: <a href="/api/v1/mqtt/health/">health</a>,
<a href="/schema/swagger">API schema</a>.</p></body>"""


def web_dir(settings: Settings) -> Path | None:
    """SITELINK_WEB_DIR, else the dashboard shipped in the package, else web/dist."""
    candidates = [Path(settings.web_dir)] if settings.web_dir else []
    package = Path(__file__).resolve().parent.parent
    candidates += [package / "web", package.parent / "web" / "dist"]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    return None


def create_app(settings: Settings, *, clock: BaseClock | None = None,
               port_factory: PortFactory | None = None,
               sse_keepalive_s: float = KEEPALIVE_S, sse_recheck_s: float = RECHECK_S,
               auth_clock: Callable[[], float] = time.monotonic) -> Litestar:
    """The app and its (not yet started) runtime. ``sse_keepalive_s``: how often an idle
    event stream gets a comment line (API.md: at least every 15 s; tests use less);
    ``sse_recheck_s``: how often an open stream's credential is checked again.
    ``auth_clock``: monotonic seconds for the failed-authentication window (tests move it)."""
    runtime = Runtime(settings, clock=clock, port_factory=port_factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            await runtime.start()
            yield
        finally:  # after a failed start too: its site workers are already running
            await runtime.stop()

    route_handlers: list[Any] = [
        sites.SiteController, bulk.BulkController, topics.TopicController,
        discovery.DiscoveryController, publish.PublishController,
        devices.DataloggerController,
        devices.GatewayController, devices.SensorController, events, system.health,
        system.login, system.logout, system.me, system.actors, system.audit,
        metrics.metrics,
        tokens.TokenController,
        alerts.AlertController, alert_rules.AlertRuleController,
        alert_channels.AlertChannelController, cluster.cluster,
    ]
    dist = web_dir(settings)
    if dist is not None:
        route_handlers.append(_spa(dist))
    else:
        route_handlers.append(_no_dashboard)

    app = Litestar(
        route_handlers=route_handlers,
        dependencies={"runtime": Provide(lambda: runtime, sync_to_thread=False)},
        middleware=[DefineMiddleware(TokenAuthentication, exclude=SCHEMA_PATHS,
                                     exclude_from_auth_key=PUBLIC_OPT)],
        guards=[require_role],
        exception_handlers=HANDLERS,
        before_request=check_json_depth,
        before_send=[add_security_headers],
        # Routes that take more say so themselves (api/limits.py).
        request_max_body_size=SMALL_BODY,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="sitelink", version="1", path="/schema"),
        debug=False,
        logging_config=None,  # logging is configured once, in sitelink.logs
    )
    app.state.runtime = runtime
    app.state.shutting_down = runtime.shutting_down
    app.state.sse_keepalive_s = sse_keepalive_s
    app.state.stream_access = StreamAccess(sse_recheck_s)
    app.state.clients = ClientView(settings)
    app.state.auth_failures = FailureLimiter(
        limit=settings.auth_failures_max, window_s=settings.auth_failures_window_s,
        now=auth_clock)
    document_errors(app.openapi_schema)
    return app


@get("/", include_in_schema=False, opt=PUBLIC)
async def _no_dashboard() -> Response[str]:
    return Response(_NO_DASHBOARD, media_type="text/html")


def _spa(dist: Path) -> Any:
    """The built dashboard, with deep links (``/sites/3``) answered by index.html.

    index.html is read per request (it is small), so a rebuilt dashboard is served
    without restarting the server; the hashed assets never change under a name.
    """
    index_file = dist / "index.html"
    assets = create_static_files_router(path="/assets", directories=[dist / "assets"],
                                        include_in_schema=False, opt=PUBLIC)

    # Synchronous on purpose: Litestar runs them in its thread pool, off the loop.
    @get("/", include_in_schema=False, opt=PUBLIC, sync_to_thread=True)
    def spa_index() -> Response[bytes]:
        return Response(index_file.read_bytes(), media_type="text/html")

    @get("/{path:path}", include_in_schema=False, opt=PUBLIC, sync_to_thread=True)
    def spa(path: FromPath[str]) -> Response[bytes]:
        if path.startswith(("api/", "/api/")):
            raise NotFoundException(f"no such endpoint: /{path.lstrip('/')}")
        candidate = (dist / path).resolve() if path else None
        if candidate is not None and candidate.is_file() and dist.resolve() in candidate.parents:
            return Response(candidate.read_bytes(), media_type=_media_type(candidate))
        return Response(index_file.read_bytes(), media_type="text/html")

    return Router(path="/", route_handlers=[assets, spa_index, spa])


def _media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"

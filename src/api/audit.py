"""Recording who did what: one call per control action, config change and publish.

``detail`` holds ids and the names of changed fields, never values that could be secret
(passwords, tokens) and never a published payload (only its size).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from sitelink.storage import audit as audit_store


async def record(request: Request[Any, Any, Any], action: str, *, target: str,
                 detail: dict[str, Any], result: str = "ok") -> None:
    user = request.scope.get("user")
    actor = getattr(user, "name", "anonymous")
    runtime = request.app.state.runtime
    await audit_store.append_audit(runtime.db, actor=actor, action=action, target=target,
                             detail=detail, result=result)

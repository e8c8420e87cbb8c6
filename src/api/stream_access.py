"""An event stream lasts while the credential that opened it still works.

A stream is authenticated when it opens, and a dashboard's stream then stays open for hours.
So its credential is checked again every ``recheck_s`` (a session that expired or went idle,
a token revoked on another instance or by ``sitelink token revoke``), and at once when this
process logs that session out or revokes a token. A check does not count as using the
session (an open stream does not keep it from going idle). While storage cannot answer, the
outage rules of ``auth`` hold: an identity verified before stands.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from litestar.connection import ASGIConnection

from sitelink.api.auth import Credential, still_works
from sitelink.storage.tokens import hash_token

log = structlog.get_logger(__name__)

RECHECK_S = 30.0


def _key(credential: Credential) -> str:
    kind, secret = credential
    return f"{kind}:{hash_token(secret)}"


class StreamAccess:
    """The credentials of this process's open streams, to check them again. Loop only."""

    def __init__(self, recheck_s: float = RECHECK_S) -> None:
        self.recheck_s = recheck_s
        self._nudges: dict[str, set[asyncio.Event]] = {}

    def recheck(self, credential: Credential | None = None) -> None:
        """Check again now the streams opened with this credential, or every stream."""
        keys = [_key(credential)] if credential is not None else list(self._nudges)
        for key in keys:
            for nudge in self._nudges.get(key, ()):
                nudge.set()

    async def lasts(self, connection: ASGIConnection[Any, Any, Any, Any],
                    credential: Credential) -> None:
        """Returns when the credential no longer works: run it beside the stream."""
        key = _key(credential)
        nudge = asyncio.Event()
        self._nudges.setdefault(key, set()).add(nudge)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.recheck_s):
                        await nudge.wait()
                nudge.clear()
                if not await _still_works(connection, credential):
                    log.info("event_stream_credential_ended", kind=credential[0])
                    return
        finally:
            group = self._nudges.get(key)
            if group is not None:
                group.discard(nudge)
                if not group:
                    del self._nudges[key]


async def _still_works(connection: ASGIConnection[Any, Any, Any, Any],
                       credential: Credential) -> bool:
    try:
        return await still_works(connection, credential)
    except Exception as exc:  # not a verdict on the credential: the stream goes on
        log.warning("event_stream_recheck_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        return True

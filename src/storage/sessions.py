"""Dashboard sessions, kept on the server: the cookie carries a random session id, never a token.

A session id is 32 random bytes (``secrets.token_urlsafe(32)``); only its SHA-256 is stored,
beside the hash of the token it was made from, an absolute expiry and the time it was last
used. A session is valid while it has not expired, has been used within the idle timeout,
and its token still exists unrevoked with the same hash: revoking the token (or re-keying the
bootstrap token) ends every session made from it in the same query that checks it, with no
cache in between. Logging out deletes the row.

Every function runs on the asyncio event loop. Times come in as arguments (``now``), so
tests move them instead of waiting.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sitelink.storage.database import Database
from sitelink.storage.tables import ApiToken, WebSession
from sitelink.storage.tokens import Identity, hash_token

SESSION_BYTES = 32
# last_seen_at moves the idle deadline; writing it on every request would make each
# dashboard poll a write. A minute of slack on a timeout of hours is not worth a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


async def create_session(db: Database, token: str, *, now: datetime, max_age_s: int) -> str:
    """A new session for ``token`` (already verified by the caller); returns its id, the only
    time it exists outside the caller."""
    session_id = secrets.token_urlsafe(SESSION_BYTES)
    await WebSession.insert(WebSession(
        session_hash=hash_token(session_id), token_hash=hash_token(token), created_at=now,
        expires_at=now + timedelta(seconds=max_age_s), last_seen_at=now))
    return session_id


async def session_identity(db: Database, session_id: str, *, now: datetime,
                           idle_s: int, touch: bool = True) -> Identity | None:
    """Who the session belongs to, or None when it is unknown, expired, idle for longer than
    ``idle_s``, or its token is revoked. A valid session's idle deadline moves to ``now``
    (unless not ``touch``: the question is not a use)."""
    session = await WebSession.select(
        WebSession.id, WebSession.token_hash, WebSession.expires_at, WebSession.last_seen_at,
    ).where(WebSession.session_hash == hash_token(session_id)).first()
    if session is None:
        return None
    if session["expires_at"] <= now or session["last_seen_at"] + timedelta(seconds=idle_s) <= now:
        return None
    token = await ApiToken.select(ApiToken.name, ApiToken.role).where(
        (ApiToken.token_hash == session["token_hash"]) & (ApiToken.revoked == False)  # noqa: E712
    ).first()
    if token is None:
        return None
    if touch and now - session["last_seen_at"] >= LAST_SEEN_RESOLUTION:
        await WebSession.update({WebSession.last_seen_at: now}).where(
            WebSession.id == session["id"])
    return Identity(token["name"], token["role"])


async def end_session(db: Database, session_id: str) -> bool:
    """Log out: the session is gone for good. False when there was no such session."""
    rows = await WebSession.delete().where(
        WebSession.session_hash == hash_token(session_id)).returning(WebSession.id)
    return bool(rows)


async def sweep_sessions(db: Database, *, now: datetime, idle_s: int) -> int:
    """Delete expired and idle sessions; returns how many."""
    rows = await WebSession.delete().where(
        (WebSession.expires_at <= now)
        | (WebSession.last_seen_at <= now - timedelta(seconds=idle_s))
    ).returning(WebSession.id)
    return len(rows)


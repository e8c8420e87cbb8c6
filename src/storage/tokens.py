"""API tokens: random, shown once, stored only as a hash.

A token is 32 random bytes (``secrets.token_urlsafe(32)``). With that much entropy a slow
password hash buys nothing, so the stored value is the SHA-256 hex digest, looked up by
an index on every request. Every function runs on the asyncio event loop.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from sitelink.errors import NotFound
from sitelink.storage.database import Database, conflict_on_duplicate
from sitelink.storage.tables import ApiToken

Role = Literal["admin", "viewer"]
BOOTSTRAP_NAME = "bootstrap-admin"
TOKEN_BYTES = 32
# last_used_at is a hint for operators, not an audit trail: write it at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class Identity(msgspec.Struct, frozen=True):
    """Who a valid token belongs to."""

    name: str
    role: Role


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_token(db: Database, name: str, role: Role) -> str:
    """Create a token and return its plaintext (the only time it exists outside the caller).

    ``Conflict`` if the name is taken, revoked or not.
    """
    plaintext = secrets.token_urlsafe(TOKEN_BYTES)
    with conflict_on_duplicate(f"a token named {name!r} already exists"):
        await ApiToken.insert(
            ApiToken(
                name=name,
                role=role,
                token_hash=hash_token(plaintext),
                created_at=datetime.now(UTC),
                revoked=False,
            )
        )
    return plaintext


async def verify_token(db: Database, plaintext: str) -> Identity | None:
    """The identity of a valid, unrevoked token, else None. Records when it was last used."""
    row = (
        await ApiToken.select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.last_used_at)
        .where((ApiToken.token_hash == hash_token(plaintext)) & (ApiToken.revoked == False))  # noqa: E712
        .first()
    )
    if row is None:
        return None
    now = datetime.now(UTC)
    last_used: datetime | None = row["last_used_at"]
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    return Identity(row["name"], row["role"])


async def list_tokens(db: Database) -> list[TokenInfo]:
    """Every token by name, revoked ones included; never a hash."""
    rows = await ApiToken.select(
        ApiToken.name, ApiToken.role, ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked
    ).order_by(ApiToken.name)
    return [
        TokenInfo(
            name=row["name"],
            role=row["role"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked=bool(row["revoked"]),
        )
        for row in rows
    ]


async def revoke_token(db: Database, name: str) -> None:
    """Revoke a token for good (its name stays taken); ``NotFound`` for an unknown name."""
    rows = (
        await ApiToken.update({ApiToken.revoked: True})
        .where(ApiToken.name == name)
        .returning(ApiToken.id)
    )
    if not rows:
        raise NotFound(f"no token named {name!r}")


async def ensure_bootstrap(db: Database, plaintext: str) -> None:
    """Make ``plaintext`` (``SITELINK_ADMIN_TOKEN``) a valid admin token named
    ``bootstrap-admin``: created if missing, re-keyed and un-revoked if it changed."""
    digest = hash_token(plaintext)
    async with db.transaction():
        existing = await ApiToken.select(ApiToken.id).where(ApiToken.name == BOOTSTRAP_NAME).first()
        if existing is None:
            await ApiToken.insert(
                ApiToken(
                    name=BOOTSTRAP_NAME,
                    role="admin",
                    token_hash=digest,
                    created_at=datetime.now(UTC),
                    revoked=False,
                )
            )
        else:
            await ApiToken.update(
                {ApiToken.token_hash: digest, ApiToken.role: "admin", ApiToken.revoked: False}
            ).where(ApiToken.id == existing["id"])

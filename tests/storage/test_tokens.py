"""API tokens: stored as hashes, verified, revoked, bootstrapped."""

from __future__ import annotations

import hashlib

import pytest

from sitelink.errors import Conflict, NotFound
from sitelink.storage.database import Database
from sitelink.storage.tables import ApiToken
from sitelink.storage.tokens import (
    BOOTSTRAP_NAME,
    Identity,
    create_token,
    ensure_bootstrap,
    list_tokens,
    revoke_token,
    verify_token,
)


async def test_only_the_hash_is_stored(db: Database) -> None:
    """The row holds the SHA-256 of the token, never the token."""
    token = await create_token(db, "ops", "admin")
    rows = await ApiToken.select(ApiToken.token_hash)
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert len(token) >= 43  # 32 random bytes, url-safe base64


async def test_verify_and_revoke(db: Database) -> None:
    """A token verifies to its name and role until revoked; a wrong one never does."""
    token = await create_token(db, "dash", "viewer")
    assert await verify_token(db, token) == Identity("dash", "viewer")
    assert await verify_token(db, token + "x") is None
    [info] = await list_tokens(db)
    assert info.name == "dash" and info.last_used_at is not None and not info.revoked
    await revoke_token(db, "dash")
    assert await verify_token(db, token) is None
    with pytest.raises(NotFound):
        await revoke_token(db, "nobody")


async def test_duplicate_name_is_a_conflict(db: Database) -> None:
    """Token names are unique."""
    await create_token(db, "ops", "admin")
    with pytest.raises(Conflict):
        await create_token(db, "ops", "viewer")


async def test_bootstrap_token(db: Database) -> None:
    """SITELINK_ADMIN_TOKEN becomes an admin token; a new value replaces the old one."""
    await ensure_bootstrap(db, "first-admin-token-value")
    await ensure_bootstrap(db, "first-admin-token-value")
    assert await verify_token(db, "first-admin-token-value") == Identity(BOOTSTRAP_NAME, "admin")
    await revoke_token(db, BOOTSTRAP_NAME)
    await ensure_bootstrap(db, "second-admin-token-value")
    assert await verify_token(db, "first-admin-token-value") is None
    assert await verify_token(db, "second-admin-token-value") == Identity(BOOTSTRAP_NAME, "admin")
    assert [t.name for t in await list_tokens(db)] == [BOOTSTRAP_NAME]

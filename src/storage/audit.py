"""The audit log: who did what, when, with which result. Runs on the asyncio event loop.

Callers redact before appending: ``detail`` must hold no password, token or payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from sitelink.storage.database import Database
from sitelink.storage.tables import AuditEntry


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    result: str


async def append_audit(
    db: Database,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    result: str = "ok",
    at: datetime | None = None,
) -> int:
    """Append one entry (``actor`` is the token name); return its id."""
    rows = await AuditEntry.insert(
        AuditEntry(
            at=at or datetime.now(UTC),
            actor=actor,
            action=action,
            target=target,
            detail=msgspec.json.encode(dict(detail or {}), enc_hook=str, order="sorted").decode(),
            result=result,
        )
    ).returning(AuditEntry.id)
    entry_id: int = rows[0]["id"]
    return entry_id


async def list_audit(db: Database, *, limit: int = 100, offset: int = 0) -> list[AuditRecord]:
    """Entries newest first."""
    rows = (
        await AuditEntry.select()
        .order_by(AuditEntry.at, ascending=False)
        .order_by(AuditEntry.id, ascending=False)
        .limit(max(1, limit))
        .offset(max(0, offset))
    )
    return [
        AuditRecord(
            id=row["id"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            detail=msgspec.json.decode(row["detail"]),
            result=row["result"],
        )
        for row in rows
    ]

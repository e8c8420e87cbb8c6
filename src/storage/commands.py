"""Published commands and their outcomes. Every function runs on the asyncio event loop.

The API inserts the row (outcome ``sent``) *before* it tells the site actor to publish,
so that the ``CommandOutcome`` event the writer applies later always finds it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from sitelink.errors import NotFound
from sitelink.events import CommandOutcomeKind
from sitelink.storage.database import Database, conflict_on_duplicate
from sitelink.storage.tables import Command, Site


class CommandRecord(msgspec.Struct, frozen=True, kw_only=True):
    command_id: str
    site_id: int
    topic: str
    qos: int
    retain: bool
    payload_size: int
    sender: str
    outcome: CommandOutcomeKind
    error: str
    created_at: datetime
    completed_at: datetime | None


def _record(row: dict[str, Any]) -> CommandRecord:
    return CommandRecord(
        command_id=row["command_id"],
        site_id=row["site"],
        topic=row["topic"],
        qos=row["qos"],
        retain=bool(row["retain"]),
        payload_size=row["payload_size"],
        sender=row["sender"],
        outcome=row["outcome"],
        error=row["error"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )


async def insert_command(
    db: Database,
    *,
    command_id: str,
    site_id: int,
    topic: str,
    qos: int,
    retain: bool,
    payload_size: int,
    sender: str,
) -> CommandRecord:
    """Record a command about to be published; ``NotFound`` for an unknown site,
    ``Conflict`` for a reused command id."""
    if not await Site.exists().where(Site.id == site_id):
        raise NotFound(f"site {site_id} does not exist")
    row = Command(
        command_id=command_id,
        site=site_id,
        topic=topic,
        qos=qos,
        retain=retain,
        payload_size=payload_size,
        sender=sender,
        outcome="sent",
        error="",
        created_at=datetime.now(UTC),
    )
    with conflict_on_duplicate(f"command {command_id} already exists"):
        await Command.insert(row)
    return await get_command(db, command_id)


async def get_command(db: Database, command_id: str) -> CommandRecord:
    row = await Command.select().where(Command.command_id == command_id).first()
    if row is None:
        raise NotFound(f"command {command_id} does not exist")
    return _record(row)


async def set_outcome(
    db: Database,
    command_id: str,
    outcome: CommandOutcomeKind,
    *,
    error: str = "",
    at: datetime | None = None,
) -> CommandRecord:
    """Record how a command ended (the writer does the same from ``CommandOutcome``)."""
    rows = (
        await Command.update(
            {
                Command.outcome: outcome,
                Command.error: error,
                Command.completed_at: at or datetime.now(UTC),
            }
        )
        .where(Command.command_id == command_id)
        .returning(Command.id)
    )
    if not rows:
        raise NotFound(f"command {command_id} does not exist")
    return await get_command(db, command_id)


async def list_commands(
    db: Database, site_id: int, *, limit: int = 100, offset: int = 0
) -> list[CommandRecord]:
    """The site's commands, newest first; ``NotFound`` for an unknown site."""
    if not await Site.exists().where(Site.id == site_id):
        raise NotFound(f"site {site_id} does not exist")
    rows = (
        await Command.select()
        .where(Command.site == site_id)
        .order_by(Command.created_at, ascending=False)
        .order_by(Command.id, ascending=False)
        .limit(max(1, limit))
        .offset(max(0, offset))
    )
    return [_record(row) for row in rows]

"""Commands with their outcomes, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitelink.errors import Conflict, NotFound
from sitelink.storage.audit import append_audit, list_audit
from sitelink.storage.commands import insert_command, list_commands, set_outcome
from sitelink.storage.database import Database
from sitelink.storage.sites import NewSite, create_site, delete_site


async def test_commands_newest_first_with_outcomes(db: Database) -> None:
    """A command starts as sent, takes its outcome, and is listed newest first."""
    site = await create_site(db, NewSite(name="S", code="s", broker_host="h"))
    for n in range(3):
        sent = await insert_command(
            db,
            command_id=f"c{n}",
            site_id=site.id,
            topic="s/x/input",
            qos=n,
            retain=False,
            payload_size=5,
            sender="ops",
        )
        assert sent.outcome == "sent" and sent.completed_at is None
    failed = await set_outcome(db, "c1", "failed", error="Timed out waiting for PUBACK")
    assert failed.outcome == "failed" and failed.completed_at is not None
    assert [c.command_id for c in await list_commands(db, site.id)] == ["c2", "c1", "c0"]
    assert [c.command_id for c in await list_commands(db, site.id, limit=1, offset=1)] == ["c1"]
    with pytest.raises(Conflict):
        await insert_command(
            db,
            command_id="c0",
            site_id=site.id,
            topic="t",
            qos=0,
            retain=False,
            payload_size=0,
            sender="ops",
        )
    with pytest.raises(NotFound):
        await set_outcome(db, "nope", "acked")
    await delete_site(db, site.id)
    with pytest.raises(NotFound):
        await list_commands(db, site.id)


async def test_audit_newest_first_with_detail(db: Database) -> None:
    """Entries keep who, what, target, detail and result; newest first with paging."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(5):
        await append_audit(
            db,
            actor="ops",
            action="site.start",
            target=f"site:{n}",
            detail={"n": n, "at": base},
            result="ok",
            at=base + timedelta(minutes=n),
        )
    entries = await list_audit(db, limit=2, offset=1)
    assert [e.target for e in entries] == ["site:3", "site:2"]
    assert entries[0].detail == {"n": 3, "at": "2025-01-01T00:00:00Z"}
    assert entries[0].at == base + timedelta(minutes=3)

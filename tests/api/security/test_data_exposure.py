"""Sensitive data exposure: the SQLite file (token and session hashes, encrypted broker
passwords) and the generated key file are readable by their owner only, whatever the umask."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from sitelink.settings import Settings
from sitelink.storage.database import open_database
from sitelink.storage.migrations import migrate


def test_data_exposure_database_and_key_files_are_owner_only(tmp_path: Path) -> None:
    """A fresh SQLite database, its WAL companions and ``sitelink.key`` are mode 0600 even
    under a permissive umask (022 gave a 0644 database before)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'sitelink.db'}")

    async def open_and_write() -> None:
        db = await open_database(settings)
        try:
            await migrate(db)
        finally:
            await db.close()

    old = os.umask(0o022)
    try:
        asyncio.run(open_and_write())
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "data").iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"sitelink.db", "sitelink.key"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))

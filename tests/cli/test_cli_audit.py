"""What the command line changes is in the audit log (API.md: who did what, every control
action and config change), under the API's action names, by ``cli:<user>``."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

from cli.test_cli_arguments import run
from sitelink.settings import Settings
from sitelink.storage.audit import list_audit
from sitelink.storage.database import open_database


async def _entries(url: str) -> list[tuple[str, str, str]]:
    db = await open_database(Settings(database_url=url))
    try:
        return [(e.actor, e.action, e.target) for e in reversed(await list_audit(db))]
    finally:
        await db.close()


def test_site_and_token_changes_are_audited(tmp_path: Path) -> None:
    steps = [("sites", "add", "site_a", "--broker", "h"), ("sites", "enable", "site_a"),
             ("sites", "disable", "site_a"), ("sites", "remove", "site_a"),
             ("token", "create", "ops", "--role", "viewer"), ("token", "revoke", "ops")]
    for argv in steps:
        done = run(tmp_path, *argv)
        assert done.returncode == 0, done.stderr
    (tmp_path / "sites.yaml").write_text("sites:\n  - {code: site_b, name: B, broker_host: h}\n")
    assert run(tmp_path, "sites", "import", "--dry-run", "sites.yaml").returncode == 0
    assert run(tmp_path, "sites", "import", "sites.yaml").returncode == 0
    assert run(tmp_path, "sites", "list").returncode == 0  # reading is not audited

    me = f"cli:{getpass.getuser()}"
    assert asyncio.run(_entries(f"sqlite:///{tmp_path / 'cli.db'}")) == [
        (me, "site.create", "site_a"), (me, "site.start", "site_a"), (me, "site.stop", "site_a"),
        (me, "site.delete", "site_a"), (me, "token.create", "ops"), (me, "token.revoke", "ops"),
        (me, "site.import", "")]

"""Broker passwords: encrypted at rest, decryptable with a key that outlives restarts."""

from __future__ import annotations

import stat
from pathlib import Path

from sitelink.settings import Settings
from sitelink.storage.database import Database, open_database
from sitelink.storage.secrets import KEY_FILE_NAME, load_cipher
from sitelink.storage.sites import NewSite, create_site, get_site_config
from sitelink.storage.tables import Site


async def test_password_is_encrypted_at_rest(db: Database, db_settings: Settings) -> None:
    """The column holds ciphertext; the same key (after a reopen) decrypts it."""
    site = await create_site(
        db, NewSite(name="S", code="s", broker_host="h", password="hunter2-broker")
    )
    raw = await Site.select(Site.password_encrypted).where(Site.id == site.id).first()
    assert raw is not None
    assert raw["password_encrypted"] and "hunter2" not in raw["password_encrypted"]
    await db.close()
    reopened = await open_database(db_settings)
    try:
        assert (await get_site_config(reopened, site.id)).password == "hunter2-broker"
    finally:
        await reopened.close()


def test_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    """Without SITELINK_SECRET_KEY a key file (0600) is made once beside the database."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    token = load_cipher(settings).encrypt("pw")
    key_file = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_cipher(settings).decrypt(token) == "pw"


def test_secret_key_setting_is_used(tmp_path: Path) -> None:
    """A configured secret (passphrase or Fernet key) is used and no file is written."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    token = load_cipher(Settings(database_url=url, secret_key="a long passphrase")).encrypt("pw")
    again = load_cipher(Settings(database_url=url, secret_key="a long passphrase"))
    assert again.decrypt(token) == "pw"
    assert not (tmp_path / KEY_FILE_NAME).exists()
    generated = load_cipher(Settings(database_url=url))
    key = (tmp_path / KEY_FILE_NAME).read_text().strip()
    from_env = load_cipher(Settings(database_url=url, secret_key=key))
    assert from_env.decrypt(generated.encrypt("pw")) == "pw"

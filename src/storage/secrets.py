"""Broker passwords encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from ``settings.secret_key`` (``SITELINK_SECRET_KEY``) when set: a valid
Fernet key (32 url-safe base64 bytes, e.g. the content of a generated key file) is used as
is; any other string is hashed with SHA-256 into a key, so it must be long and random.
Without it, a key is generated once into ``settings.data_dir / "sitelink.key"`` (mode 0600)
and reused on every later start. Losing the key makes stored passwords unreadable (the
sites then fail to authenticate and must be given their password again); it never loses
anything else.

Plaintext passwords never leave this module except through ``decrypt`` to the code that
connects to brokers; ``PasswordCipher`` has no ``repr`` of its key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from sitelink.errors import ConfigError, StorageError
from sitelink.settings import Settings

KEY_FILE_NAME = "sitelink.key"


class PasswordCipher:
    """Encrypts and decrypts broker passwords. Pure CPU work: safe on any thread or loop."""

    __slots__ = ("_fernet",)

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "PasswordCipher(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Return the token to store; a new random IV every time."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext; ``StorageError`` if the token was made with another key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise StorageError("stored password cannot be decrypted with the current key") from None


def load_cipher(settings: Settings) -> PasswordCipher:
    """Build the cipher from the settings, generating and keeping a key file if needed.

    Blocking file I/O, done once at start-up.
    """
    if settings.secret_key:
        return PasswordCipher(_key_from_secret(settings.secret_key))
    return PasswordCipher(_load_or_create_key_file(settings.data_dir / KEY_FILE_NAME))


def _key_from_secret(secret: str) -> bytes:
    raw = secret.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def _load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        key = path.read_bytes().strip()
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(f"{path}: not a valid key file") from None
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: if another process created the file in between, use its key instead.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_or_create_key_file(path)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key + b"\n")
    return key

"""Sites: the durable desired state of each broker connection, and its last known status.

Every function runs on the asyncio event loop. Input is validated by the API before it
gets here; storage only guarantees its own invariants: ``NotFound`` for an unknown id,
``Conflict`` for a code that is taken. A new site gets the three default subscriptions of
API.md in the same transaction.

Passwords and client keys: stored encrypted (``Database.cipher``); ``SiteRecord`` only says
``has_password`` / ``has_client_key``; the plaintext appears only in ``SiteConfig``, for
the supervisor, whose ``repr`` hides it. Labels are stored as a JSON object.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from sitelink.errors import NotFound, StorageError
from sitelink.storage import recent
from sitelink.storage.database import Database, conflict_on_duplicate
from sitelink.storage.tables import Site
from sitelink.storage.topics import TopicRecord, insert_default_topics, topics_of_sites
from sitelink.topics import DEFAULT_SUBSCRIPTIONS

log = structlog.get_logger(__name__)

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType


class NewSite(msgspec.Struct, frozen=True, kw_only=True):
    """A site to create (validated by the API). ``password`` None or "" means none."""

    name: str
    code: str
    broker_host: str
    broker_port: int = 1883
    username: str = ""
    password: str | None = None
    client_id_prefix: str = ""
    protocol: str = "3.1.1"
    keepalive_s: int = 60
    tls: bool = False
    tls_ca_pem: str | None = None
    tls_client_cert_pem: str | None = None
    tls_client_key_pem: str | None = None
    tls_verify_hostname: bool = True
    transport: str = "tcp"
    ws_path: str = "/mqtt"
    offline_after_s: int = 180
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    is_enabled: bool = False

    def __repr__(self) -> str:
        return f"NewSite(code={self.code!r}, broker_host={self.broker_host!r})"


class SitePatch(msgspec.Struct, frozen=True, kw_only=True):
    """Fields to change; ``UNSET`` leaves one as it is. ``password=None`` (or "") clears it."""

    name: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    broker_host: str | UnsetType = UNSET
    broker_port: int | UnsetType = UNSET
    username: str | UnsetType = UNSET
    password: str | UnsetType | None = UNSET
    client_id_prefix: str | UnsetType = UNSET
    protocol: str | UnsetType = UNSET
    keepalive_s: int | UnsetType = UNSET
    tls: bool | UnsetType = UNSET
    tls_ca_pem: str | UnsetType | None = UNSET
    tls_client_cert_pem: str | UnsetType | None = UNSET
    tls_client_key_pem: str | UnsetType | None = UNSET
    tls_verify_hostname: bool | UnsetType = UNSET
    transport: str | UnsetType = UNSET
    ws_path: str | UnsetType = UNSET
    offline_after_s: int | UnsetType = UNSET
    labels: dict[str, str] | UnsetType = UNSET
    is_enabled: bool | UnsetType = UNSET

    def __repr__(self) -> str:
        changed = [f for f in self.__struct_fields__ if getattr(self, f) is not UNSET]
        return f"SitePatch(fields={changed!r})"


class SiteSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The fields a site's configuration and its runnable form share (never the password)."""

    id: int
    name: str
    code: str
    broker_host: str
    broker_port: int
    username: str
    client_id_prefix: str
    protocol: str
    keepalive_s: int
    tls: bool
    tls_ca_pem: str | None
    tls_client_cert_pem: str | None
    tls_verify_hostname: bool
    transport: str
    ws_path: str
    offline_after_s: int
    labels: dict[str, str]
    is_enabled: bool


class SiteRecord(SiteSettings, frozen=True, kw_only=True):
    """A site as the API shows it: configuration (no password) and last known status."""

    has_password: bool
    has_client_key: bool
    created_at: datetime
    updated_at: datetime
    status: str
    error_message: str
    last_connected_at: datetime | None
    last_heartbeat_at: datetime | None
    connection_errors: int
    messages_received: int


class SiteConfig(SiteSettings, frozen=True, kw_only=True):
    """What the supervisor needs to run one site: broker settings with the plaintext
    password, and the active subscriptions. ``client_id_prefix`` "" means the instance id.
    ``password`` is None when there is none or it cannot be decrypted with the current key."""

    password: str | None
    tls_client_key_pem: str | None
    topics: tuple[TopicRecord, ...]

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return f"SiteConfig(id={self.id}, code={self.code!r}, is_enabled={self.is_enabled})"


def _settings(row: dict[str, Any]) -> dict[str, Any]:
    """The ``SiteSettings`` fields of a row."""
    return {
        "id": row["id"], "name": row["name"], "code": row["code"],
        "broker_host": row["broker_host"], "broker_port": row["broker_port"],
        "username": row["username"], "client_id_prefix": row["client_id_prefix"],
        "protocol": row["protocol"], "keepalive_s": row["keepalive_s"], "tls": bool(row["tls"]),
        "tls_ca_pem": row["tls_ca_pem"], "tls_client_cert_pem": row["tls_client_cert_pem"],
        "tls_verify_hostname": bool(row["tls_verify_hostname"]), "transport": row["transport"],
        "ws_path": row["ws_path"], "offline_after_s": row["offline_after_s"],
        "labels": _labels(row["labels"]), "is_enabled": bool(row["is_enabled"]),
    }


def _labels(text: str | None) -> dict[str, str]:
    try:
        return msgspec.json.decode(text or "{}", type=dict[str, str])
    except msgspec.DecodeError:  # written by hand or by something else: shown as none
        return {}


def _record(row: dict[str, Any]) -> SiteRecord:
    return SiteRecord(
        **_settings(row),
        has_password=row["password_encrypted"] is not None,
        has_client_key=row["tls_client_key_encrypted"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status=row["status"],
        error_message=row["error_message"],
        last_connected_at=row["last_connected_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
        connection_errors=row["connection_errors"],
        messages_received=row["messages_received"],
    )


def _encrypt(db: Database, password: str | None) -> str | None:
    return db.cipher.encrypt(password) if password else None


def _code_taken(code: str) -> str:
    return f"a site with code {code!r} already exists"


async def create_site(db: Database, new: NewSite) -> SiteRecord:
    """Insert a site with the default subscriptions; ``Conflict`` if the code is taken."""
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(new)
    fields["password_encrypted"] = _encrypt(db, fields.pop("password"))
    fields["tls_client_key_encrypted"] = _encrypt(db, fields.pop("tls_client_key_pem"))
    fields["labels"] = msgspec.json.encode(new.labels).decode()
    with conflict_on_duplicate(_code_taken(new.code)):
        async with db.transaction():
            rows = await Site.insert(Site(**fields, created_at=now, updated_at=now)).returning(
                Site.id
            )
            site_id: int = rows[0]["id"]
            await insert_default_topics(site_id, DEFAULT_SUBSCRIPTIONS)
    return await get_site(db, site_id)


async def get_site(db: Database, site_id: int) -> SiteRecord:
    row = await Site.select().where(Site.id == site_id).first()
    if row is None:
        raise NotFound(f"site {site_id} does not exist")
    return _record(row)


async def list_sites(db: Database) -> list[SiteRecord]:
    """Every site, by id."""
    rows = await Site.select().order_by(Site.id)
    return [_record(row) for row in rows]


async def update_site(db: Database, site_id: int, patch: SitePatch) -> SiteRecord:
    """Change the given fields; ``NotFound``, or ``Conflict`` if the new code is taken."""
    values: dict[Any, Any] = {}
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is UNSET:
            continue
        if name == "password":
            values[Site.password_encrypted] = _encrypt(db, value)
        elif name == "tls_client_key_pem":
            values[Site.tls_client_key_encrypted] = _encrypt(db, value)
        elif name == "labels":
            values[Site.labels] = msgspec.json.encode(value).decode()
        else:
            values[Site._meta.get_column_by_name(name)] = value
    values[Site.updated_at] = datetime.now(UTC)
    code = patch.code if isinstance(patch.code, str) else ""
    with conflict_on_duplicate(_code_taken(code)):
        rows = await Site.update(values).where(Site.id == site_id).returning(Site.id)
    if not rows:
        raise NotFound(f"site {site_id} does not exist")
    return await get_site(db, site_id)


async def delete_site(db: Database, site_id: int) -> None:
    """Delete a site with its topics, history, commands, devices and readings."""
    async with db.transaction():
        await recent.delete_of(db, 'd."site" = {}', site_id)
        rows = await Site.delete().where(Site.id == site_id).returning(Site.id)
    if not rows:
        raise NotFound(f"site {site_id} does not exist")


async def get_site_config(db: Database, site_id: int) -> SiteConfig:
    """The supervisor's view of one site (e.g. to hand over after a change)."""
    configs = await _configs(db, await Site.select().where(Site.id == site_id))
    if not configs:
        raise NotFound(f"site {site_id} does not exist")
    return configs[0]


async def load_desired_state(db: Database,
                             site_ids: Collection[int] | None = None) -> list[SiteConfig]:
    """Every site (of ``site_ids``, when given; enabled or not) with its password and
    active subscriptions, by id."""
    query = Site.select()
    if site_ids is not None:
        query = query.where(Site.id.is_in(list(site_ids) or [0]))
    return await _configs(db, await query.order_by(Site.id))


async def _configs(db: Database, rows: list[dict[str, Any]]) -> list[SiteConfig]:
    topics = await topics_of_sites([row["id"] for row in rows], active_only=True)
    return [
        SiteConfig(
            **_settings(row),
            password=_decrypt(db, row, "password_encrypted"),
            tls_client_key_pem=_decrypt(db, row, "tls_client_key_encrypted"),
            topics=tuple(topics.get(row["id"], ())),
        )
        for row in rows
    ]


def _decrypt(db: Database, row: dict[str, Any], column: str) -> str | None:
    token: str | None = row[column]
    if token is None:
        return None
    try:
        return db.cipher.decrypt(token)
    except StorageError:
        event = ("site_password_undecryptable" if column == "password_encrypted"
                 else "site_client_key_undecryptable")
        log.error(event, site_id=row["id"], code=row["code"])
        return None

"""Alert rules, channels and silences: what the operator configures. On the event loop.

Input is validated by the API; storage keeps its own invariants (``NotFound``, ``Conflict``
for a channel name that is taken). A channel's URL and secret are encrypted with the
database's cipher (like broker passwords) and only ``ChannelTarget`` — for the sender —
carries them in plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from sitelink.alerts.model import Channel, ChannelKind, ChannelTarget, Rule, RuleKind, Silence
from sitelink.errors import NotFound
from sitelink.storage.database import Database, conflict_on_duplicate
from sitelink.storage.tables import AlertChannel, AlertRule, AlertSilence

_json = msgspec.json.encode

# API field -> column
_RULE_COLUMNS = {"site_id": "site", "min": "min_value", "max": "max_value"}


def _rule(row: dict[str, Any]) -> Rule:
    return Rule(
        id=row["id"], name=row["name"], kind=RuleKind(row["kind"]), site_id=row["site"],
        labels=msgspec.json.decode(row["labels"]), for_s=row["for_s"],
        repeat_s=row["repeat_s"], notify_resolved=bool(row["notify_resolved"]),
        channel_ids=msgspec.json.decode(row["channel_ids"]), is_enabled=bool(row["is_enabled"]),
        sensor_key=row["sensor_key"], model=row["model"], min=row["min_value"],
        max=row["max_value"], created_at=row["created_at"], updated_at=row["updated_at"])


def _rule_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in fields.items():
        column = _RULE_COLUMNS.get(name, name)
        if name in ("labels", "channel_ids"):
            value = _json(value).decode()
        elif name == "kind":
            value = str(value)
        values[column] = value
    return values


async def create_rule(db: Database, fields: Mapping[str, Any]) -> Rule:
    now = datetime.now(UTC)
    row = AlertRule(**_rule_values(fields), created_at=now, updated_at=now)
    rows = await AlertRule.insert(row).returning(AlertRule.id)
    return await get_rule(db, rows[0]["id"])


async def get_rule(db: Database, rule_id: int) -> Rule:
    row = await AlertRule.select().where(AlertRule.id == rule_id).first()
    if row is None:
        raise NotFound(f"alert rule {rule_id} does not exist")
    return _rule(row)


async def list_rules(db: Database) -> list[Rule]:
    return [_rule(row) for row in await AlertRule.select().order_by(AlertRule.id)]


async def update_rule(db: Database, rule_id: int, fields: Mapping[str, Any]) -> Rule:
    values: dict[Any, Any] = {
        AlertRule._meta.get_column_by_name(k): v for k, v in _rule_values(fields).items()}
    values[AlertRule.updated_at] = datetime.now(UTC)
    rows = await AlertRule.update(values).where(AlertRule.id == rule_id).returning(AlertRule.id)
    if not rows:
        raise NotFound(f"alert rule {rule_id} does not exist")
    return await get_rule(db, rule_id)


async def delete_rule(db: Database, rule_id: int) -> None:
    rows = await AlertRule.delete().where(AlertRule.id == rule_id).returning(AlertRule.id)
    if not rows:
        raise NotFound(f"alert rule {rule_id} does not exist")


# --- channels ------------------------------------------------------------------------------------


def shown_url(kind: ChannelKind, url: str) -> str:
    """What the API shows of a channel's URL: a webhook's without credentials or query; of
    an Apprise URL only its scheme (its path is often a token)."""
    parts = urlsplit(url)
    if kind is ChannelKind.APPRISE:
        return f"{parts.scheme}://…"
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.username or parts.password or parts.query)


def _channel(row: dict[str, Any]) -> Channel:
    return Channel(id=row["id"], name=row["name"], kind=ChannelKind(row["kind"]),
                   url=row["url_shown"], has_secret=bool(row["has_secret"]),
                   is_enabled=bool(row["is_enabled"]), created_at=row["created_at"],
                   updated_at=row["updated_at"])


def _channel_values(db: Database, fields: Mapping[str, Any], kind: ChannelKind) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "url":
            values["url_encrypted"] = db.cipher.encrypt(value)
            values["url_shown"] = shown_url(kind, value)
        elif name == "secret":
            values["secret_encrypted"] = db.cipher.encrypt(value) if value else None
        elif name == "kind":
            values["kind"] = str(value)
        else:
            values[name] = value
    return values


async def create_channel(db: Database, fields: Mapping[str, Any]) -> Channel:
    now = datetime.now(UTC)
    values = _channel_values(db, fields, ChannelKind(fields["kind"]))
    values["has_secret"] = bool(fields.get("secret")) or has_credentials(fields["url"])
    with conflict_on_duplicate(f"a channel named {fields['name']!r} already exists"):
        rows = await AlertChannel.insert(
            AlertChannel(**values, created_at=now, updated_at=now)).returning(AlertChannel.id)
    return await get_channel(db, rows[0]["id"])


async def _channel_row(channel_id: int) -> dict[str, Any]:
    row = await AlertChannel.select().where(AlertChannel.id == channel_id).first()
    if row is None:
        raise NotFound(f"alert channel {channel_id} does not exist")
    return row


async def get_channel(db: Database, channel_id: int) -> Channel:
    return _channel(await _channel_row(channel_id))


async def list_channels(db: Database) -> list[Channel]:
    return [_channel(row) for row in await AlertChannel.select().order_by(AlertChannel.id)]


async def update_channel(db: Database, channel_id: int, fields: Mapping[str, Any]) -> Channel:
    current = await _channel_row(channel_id)
    kind = ChannelKind(fields.get("kind", current["kind"]))
    values = _channel_values(db, fields, kind)
    columns: dict[Any, Any] = {
        AlertChannel._meta.get_column_by_name(k): v for k, v in values.items()}
    columns[AlertChannel.updated_at] = datetime.now(UTC)
    with conflict_on_duplicate(f"a channel named {fields.get('name')!r} already exists"):
        async with db.transaction():
            await AlertChannel.update(columns).where(AlertChannel.id == channel_id)
            target = await get_target(db, channel_id)
            has_secret = bool(target.secret) or has_credentials(target.url)
            await AlertChannel.update({AlertChannel.has_secret: has_secret,
                                       AlertChannel.url_shown: shown_url(kind, target.url)}
                                      ).where(AlertChannel.id == channel_id)
    return await get_channel(db, channel_id)


async def delete_channel(db: Database, channel_id: int) -> None:
    rows = await AlertChannel.delete().where(AlertChannel.id == channel_id).returning(
        AlertChannel.id)
    if not rows:
        raise NotFound(f"alert channel {channel_id} does not exist")


def _target(db: Database, row: dict[str, Any]) -> ChannelTarget:
    secret = row["secret_encrypted"]
    return ChannelTarget(id=row["id"], name=row["name"], kind=ChannelKind(row["kind"]),
                         url=db.cipher.decrypt(row["url_encrypted"]),
                         secret=db.cipher.decrypt(secret) if secret else None,
                         is_enabled=bool(row["is_enabled"]))


async def get_target(db: Database, channel_id: int) -> ChannelTarget:
    """The channel with its plaintext URL and secret, for delivery."""
    return _target(db, await _channel_row(channel_id))


async def list_targets(db: Database) -> list[ChannelTarget]:
    return [_target(db, row) for row in await AlertChannel.select().order_by(AlertChannel.id)]


# --- silences ------------------------------------------------------------------------------------


def _silence(row: dict[str, Any]) -> Silence:
    return Silence(id=row["id"], site_id=row["site"], rule_id=row["rule"], until=row["until"],
                   reason=row["reason"], created_by=row["created_by"],
                   created_at=row["created_at"])


async def create_silence(db: Database, *, site_id: int | None, rule_id: int | None,
                         until: datetime, reason: str, created_by: str) -> Silence:
    rows = await AlertSilence.insert(AlertSilence(
        site=site_id, rule=rule_id, until=until, reason=reason, created_by=created_by,
        created_at=datetime.now(UTC))).returning(AlertSilence.id)
    row = await AlertSilence.select().where(AlertSilence.id == rows[0]["id"]).first()
    assert row is not None
    return _silence(row)


async def list_silences(db: Database, *, active_at: datetime | None = None, limit: int = 100,
                        offset: int = 0) -> list[Silence]:
    """Newest first; with ``active_at`` only those that still mute at that time."""
    query = AlertSilence.select()
    if active_at is not None:
        query = query.where(AlertSilence.until > active_at)
    rows = await query.order_by(AlertSilence.id, ascending=False).limit(limit).offset(offset)
    return [_silence(row) for row in rows]


async def delete_silence(db: Database, silence_id: int) -> Silence:
    row = await AlertSilence.select().where(AlertSilence.id == silence_id).first()
    if row is None:
        raise NotFound(f"silence {silence_id} does not exist")
    await AlertSilence.delete().where(AlertSilence.id == silence_id)
    return _silence(row)

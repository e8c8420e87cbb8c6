"""The piccolo tables of sitelink: the schema in one place.

Tables are declared without an engine; ``sitelink.storage.database.open_database`` binds
every table in ``ALL_TABLES`` to the engine chosen by ``DATABASE_URL`` at run time, so no
``piccolo_conf.py`` is needed.

Conventions:
- Every time is a ``Timestamptz`` holding an aware UTC ``datetime`` (on SQLite piccolo
  stores it as UTC text, which orders correctly).
- Children reference their parent with ``ON DELETE CASCADE``: deleting a site deletes
  its topics, history, commands and devices; deleting a device deletes its sensors,
  readings and availability intervals.
- Unique constraints over several columns, and indexes over several columns, are not
  declared here: piccolo's ``Unique`` constraint is added with ``ALTER TABLE ... ADD
  CONSTRAINT``, which SQLite does not support. They are created by
  ``sitelink.storage.migrations`` as ``CREATE [UNIQUE] INDEX IF NOT EXISTS``, which both
  engines accept; ``COMPOSITE_INDEXES`` lists them.
"""

from __future__ import annotations

from typing import NamedTuple

from piccolo.columns import (
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Site(Table, tablename="site"):
    """One place with one MQTT broker: desired configuration plus last known status."""

    id = Serial(primary_key=True)

    name = Varchar(length=200)
    code = Varchar(length=64, unique=True)
    broker_host = Varchar(length=255)
    broker_port = Integer(default=1883)
    username = Varchar(length=255, default="")
    password_encrypted = Text(null=True, default=None)
    # Empty means "use MQTT_INSTANCE_ID"; the client id is f"{prefix}-{code}".
    client_id_prefix = Varchar(length=255, default="")
    protocol = Varchar(length=8, default="3.1.1")
    keepalive_s = Integer(default=60)
    tls = Boolean(default=False)
    tls_ca_pem = Text(null=True, default=None)
    tls_client_cert_pem = Text(null=True, default=None)
    tls_client_key_encrypted = Text(null=True, default=None)  # like password_encrypted
    tls_verify_hostname = Boolean(default=True)
    transport = Varchar(length=16, default="tcp")
    ws_path = Varchar(length=255, default="/mqtt")
    labels = Text(default="{}")  # a JSON object of string -> string
    offline_after_s = Integer(default=180)
    is_enabled = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    # Last known status, written by the storage writer.
    status = Varchar(length=16, default="disconnected")
    error_message = Text(default="")
    last_connected_at = Timestamptz(null=True, default=None)
    last_heartbeat_at = Timestamptz(null=True, default=None)
    connection_errors = Integer(default=0)
    messages_received = BigInt(default=0)


class Topic(Table, tablename="topic"):
    """A subscription template of a site, relative to its code (unique per site)."""

    id = Serial(primary_key=True)

    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=False)
    pattern = Varchar(length=1024)
    device_kind = Varchar(length=16, default="datalogger")
    message_kind = Varchar(length=16, default="heartbeat")
    payload_version = Varchar(length=16, default="v1")
    qos = Integer(default=1)
    is_active = Boolean(default=True)
    # The JMESPath map of a ``mapped`` subscription, as JSON text (null for other versions).
    payload_map = Text(null=True, default=None)


class ConnectionEvent(Table, tablename="connection_event"):
    """One row of a site's connection history: connected, lost, failed or stopped."""

    id = Serial(primary_key=True)

    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=False)
    kind = Varchar(length=16)
    reason = Text(default="")
    at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table, tablename="api_token"):
    """An API token, stored only as the SHA-256 hex digest of its 32 random bytes."""

    id = Serial(primary_key=True)

    name = Varchar(length=100, unique=True)
    role = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)


class WebSession(Table, tablename="web_session"):
    """A dashboard login: the SHA-256 of its random id (the cookie holds the id itself), the
    hash of the token it was made from, and its two deadlines."""

    id = Serial(primary_key=True)

    session_hash = Varchar(length=64, unique=True)
    token_hash = Varchar(length=64, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    last_seen_at = Timestamptz()


class Device(Table, tablename="device"):
    """A gateway or a datalogger of a site; unique by (site, kind, serial)."""

    id = Serial(primary_key=True)

    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=False)
    kind = Varchar(length=16)
    serial = Varchar(length=255)
    model = Varchar(length=255, default="")
    gateway = Varchar(length=255, default="")
    label = Varchar(length=255, default="")
    firmware = Varchar(length=255, default="")
    uptime_s = BigInt(null=True, default=None)
    # None means "the site's offline_after_s".
    offline_after_s = Integer(null=True, default=None)
    availability = Varchar(length=16, default="unknown")
    last_seen_at = Timestamptz(null=True, default=None)
    discovered_at = Timestamptz(default=TimestamptzNow())


class Sensor(Table, tablename="sensor"):
    """One measured quantity of a device; unique by (device, key)."""

    id = Serial(primary_key=True)

    device = ForeignKey(references=Device, on_delete=OnDelete.cascade, null=False)
    key = Varchar(length=255)
    label = Varchar(length=255, default="")
    sensor_type = Varchar(length=64, default="")
    unit = Varchar(length=32, default="")
    current_value = DoublePrecision(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


class Reading(Table, tablename="reading"):
    """One value of a sensor at a time. The big table: appended in bulk (on SQLite by way of
    ``reading_recent``, see ``storage.recent``), pruned by age."""

    id = BigSerial(primary_key=True)
    sensor = ForeignKey(references=Sensor, on_delete=OnDelete.cascade, null=False)
    at = Timestamptz(index=True)  # pruning by age
    value = DoublePrecision()


class AvailabilityInterval(Table, tablename="availability_interval"):
    """A stretch of time with one availability of a device; open while ``ended_at`` is None."""

    id = Serial(primary_key=True)

    device = ForeignKey(references=Device, on_delete=OnDelete.cascade, null=False)
    availability = Varchar(length=16)
    started_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)


class Command(Table, tablename="command"):
    """A message published to a site on an operator's behalf, with its outcome."""

    id = Serial(primary_key=True)

    command_id = Varchar(length=36, unique=True)
    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=False)
    topic = Varchar(length=1024)
    qos = Integer(default=0)
    retain = Boolean(default=False)
    payload_size = Integer(default=0)
    sender = Varchar(length=100, default="")
    outcome = Varchar(length=8, default="sent")
    error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    completed_at = Timestamptz(null=True, default=None)


class AuditEntry(Table, tablename="audit_entry"):
    """Who did what: one control action, configuration change or publish."""

    id = Serial(primary_key=True)

    at = Timestamptz(default=TimestamptzNow(), index=True)
    actor = Varchar(length=100)
    action = Varchar(length=64)
    target = Varchar(length=255, default="")
    detail = Text(default="{}")  # JSON object as text, secrets already redacted
    result = Varchar(length=64, default="ok")


class AlertRule(Table, tablename="alert_rule"):
    """When to alert: a kind of condition, a scope of sites, a debounce and where to send."""

    id = Serial(primary_key=True)

    name = Varchar(length=200)
    kind = Varchar(length=32)
    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=True)
    labels = Text(default="{}")  # JSON object: sites whose labels include all of these
    for_s = Integer(default=60)
    repeat_s = Integer(default=0)
    notify_resolved = Boolean(default=True)
    channel_ids = Text(default="[]")  # JSON list of alert_channel ids
    is_enabled = Boolean(default=True)
    sensor_key = Varchar(length=255, default="")
    model = Varchar(length=255, default="")
    min_value = DoublePrecision(null=True, default=None)
    max_value = DoublePrecision(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AlertChannel(Table, tablename="alert_channel"):
    """Where notifications go. The URL and the secret are stored encrypted (Fernet);
    ``url_shown`` is the URL without credentials, query or (for Apprise) anything but its
    scheme, for display."""

    id = Serial(primary_key=True)

    name = Varchar(length=200, unique=True)
    kind = Varchar(length=16)
    url_encrypted = Text()
    url_shown = Varchar(length=1024, default="")
    secret_encrypted = Text(null=True, default=None)
    has_secret = Boolean(default=False)
    is_enabled = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Alert(Table, tablename="alert"):
    """One alert of one rule about one subject, from pending to resolved. At most one row
    per (rule, subject) is open (not resolved): a partial unique index in the migration."""

    id = Serial(primary_key=True)

    rule = ForeignKey(references=AlertRule, on_delete=OnDelete.set_null, null=True)
    kind = Varchar(length=32)
    subject = Varchar(length=600)  # "site:3", "device:3:datalogger:SN1", "sensor:...:t_ext"
    state = Varchar(length=16, default="pending")
    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=True)
    device_id = Integer(null=True, default=None)
    sensor_id = Integer(null=True, default=None)
    message = Text(default="")
    started_at = Timestamptz()
    fired_at = Timestamptz(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    acknowledged_by = Varchar(length=100, null=True, default=None)
    acknowledged_at = Timestamptz(null=True, default=None)
    silenced = Boolean(default=False)


class AlertNotification(Table, tablename="alert_notification"):
    """The outbox: one notification of one alert transition to one channel, kept until
    sent or given up (24 h). ``dedupe_key`` (alert, channel, transition) is unique, so a
    transition is never queued twice. Rows with the same ``group_key`` go out as one."""

    id = Serial(primary_key=True)

    alert = ForeignKey(references=Alert, on_delete=OnDelete.cascade, null=False)
    channel = ForeignKey(references=AlertChannel, on_delete=OnDelete.cascade, null=False)
    rule_id = Integer(null=True, default=None)
    transition = Varchar(length=32)  # firing, resolved, repeat-N
    dedupe_key = Varchar(length=100, unique=True)
    state = Varchar(length=16, default="queued")  # queued, sending, sent, failed
    group_key = Varchar(length=200, default="")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    claimed_until = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class NotificationAttempt(Table, tablename="alert_notification_attempt"):
    """One delivery attempt of a notification, with its outcome."""

    id = Serial(primary_key=True)

    notification = ForeignKey(references=AlertNotification, on_delete=OnDelete.cascade,
                              null=False)
    at = Timestamptz()
    outcome = Varchar(length=16)  # sent, failed
    error = Text(default="")
    duration_ms = Integer(default=0)


class AlertSilence(Table, tablename="alert_silence"):
    """Mutes alerts of a site and/or a rule until a time; they are kept, not notified."""

    id = Serial(primary_key=True)

    site = ForeignKey(references=Site, on_delete=OnDelete.cascade, null=True)
    rule = ForeignKey(references=AlertRule, on_delete=OnDelete.cascade, null=True)
    until = Timestamptz()
    reason = Text(default="")
    created_by = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class MigrationRecord(Table, tablename="sitelink_migrations"):
    """One applied migration of ``sitelink.storage.migrations.MIGRATIONS``."""

    id = Serial(primary_key=True)

    name = Varchar(length=100, unique=True)
    applied_at = Timestamptz(default=TimestamptzNow())


# Parents before children: the order to create tables in (and the reverse to drop them).
ALL_TABLES: tuple[type[Table], ...] = (
    Site,
    Topic,
    ConnectionEvent,
    ApiToken,
    WebSession,
    Device,
    Sensor,
    Reading,
    AvailabilityInterval,
    Command,
    AuditEntry,
    AlertRule,
    AlertChannel,
    Alert,
    AlertNotification,
    NotificationAttempt,
    AlertSilence,
    MigrationRecord,
)
# The alert tables, created by the 0006_alerts migration (and by the first on a new database).
ALERT_TABLES: tuple[type[Table], ...] = (
    AlertRule, AlertChannel, Alert, AlertNotification, NotificationAttempt, AlertSilence)


class CompositeIndex(NamedTuple):
    name: str
    table: type[Table]
    columns: tuple[str, ...]
    unique: bool


COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    CompositeIndex("topic_site_pattern_uq", Topic, ("site", "pattern"), unique=True),
    CompositeIndex("connection_event_site_at_ix", ConnectionEvent, ("site", "at"), unique=False),
    CompositeIndex("device_site_kind_serial_uq", Device, ("site", "kind", "serial"), unique=True),
    CompositeIndex("sensor_device_key_uq", Sensor, ("device", "key"), unique=True),
    CompositeIndex("reading_sensor_at_ix", Reading, ("sensor", "at"), unique=False),
    CompositeIndex(
        "availability_interval_device_started_ix",
        AvailabilityInterval,
        ("device", "started_at"),
        unique=False,
    ),
    CompositeIndex("command_site_created_ix", Command, ("site", "created_at"), unique=False),
)

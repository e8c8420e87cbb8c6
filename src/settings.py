"""Settings: one frozen struct, built once from the environment and passed down.

This is the only module that reads ``os.environ``. Every other module receives a
``Settings`` (or the few fields it needs) as an argument, so tests never patch
constants: they build a ``Settings`` with the values they want.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import msgspec

from sitelink.errors import ConfigError


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of API.md's settings table, with its default."""

    database_url: str = "sqlite:///./sitelink.db"
    secret_key: str | None = None
    admin_token: str | None = None
    instance_id: str = "sitelink"
    clean_session: bool = True
    lwt_enabled: bool = True
    keep_alive_s: int = 60
    shutdown_timeout_s: float = 5.0
    retry_base_s: float = 5.0
    retry_max_s: float = 300.0
    retry_jitter: float = 0.2
    retry_reset_s: float = 20.0
    connect_rate: float = 50.0
    reconcile_s: float = 30.0
    max_payload: int = 262_144
    max_devices_per_site: int = 10_000
    readings_retention_days: int = 30
    # Connection events, closed availability intervals, commands, resolved alerts (0: kept).
    history_retention_days: int = 90
    connect_timeout_s: float = 10.0
    log_format: str = "console"
    web_dir: str | None = None
    sse_max_clients: int = 1000
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host are believed:
    # addresses or networks, comma-separated in the environment. Nobody else's are.
    trusted_proxies: tuple[str, ...] = ()
    # The origin browsers reach the dashboard at (https://sitelink.example.com); when unset,
    # the request's own scheme and host are the server's origin.
    public_url: str | None = None
    session_max_age_s: int = 7 * 86_400
    session_idle_s: int = 12 * 3_600
    # Failed logins and failed bearer tokens per client address, per window.
    auth_failures_max: int = 10
    auth_failures_window_s: float = 60.0
    max_sensors_per_device: int = 256
    storage_buffer_mb: int = 256
    db_timeout_s: float = 5.0
    # PostgreSQL: the cluster's event log keeps rows this long (and the last 10,000 always).
    event_log_retention_s: float = 3_600.0
    # Tests of the cluster only: this instance runs no site (others own them all).
    test_own_no_sites: bool = False
    # Site worker processes (``sitelink.workers``); 0: the sites run in the main process.
    workers: int = os.cpu_count() or 1
    # PostgreSQL: how long a site's lease lasts unless renewed (every third of it).
    lease_ttl_s: float = 15.0

    @property
    def data_dir(self) -> Path:
        """Where generated files (the secret key) live: beside the SQLite file, else cwd."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///")).expanduser().resolve().parent
        return Path.cwd()

    @property
    def engine(self) -> str:
        postgres = self.database_url.startswith(("postgres://", "postgresql://"))
        return "postgres" if postgres else "sqlite"


# environment variable -> (field, converter)
_ENV: dict[str, tuple[str, type]] = {
    "DATABASE_URL": ("database_url", str),
    "SITELINK_SECRET_KEY": ("secret_key", str),
    "SITELINK_ADMIN_TOKEN": ("admin_token", str),
    "MQTT_INSTANCE_ID": ("instance_id", str),
    "MQTT_CLEAN_SESSION": ("clean_session", bool),
    "MQTT_LWT_ENABLED": ("lwt_enabled", bool),
    "MQTT_KEEP_ALIVE": ("keep_alive_s", int),
    "MQTT_SHUTDOWN_TIMEOUT": ("shutdown_timeout_s", float),
    "SITELINK_RETRY_BASE_S": ("retry_base_s", float),
    "SITELINK_RETRY_MAX_S": ("retry_max_s", float),
    "SITELINK_RETRY_JITTER": ("retry_jitter", float),
    "SITELINK_RETRY_RESET_S": ("retry_reset_s", float),
    "SITELINK_CONNECT_RATE": ("connect_rate", float),
    "SITELINK_RECONCILE_S": ("reconcile_s", float),
    "SITELINK_MAX_PAYLOAD": ("max_payload", int),
    "SITELINK_MAX_DEVICES_PER_SITE": ("max_devices_per_site", int),
    "SITELINK_READINGS_RETENTION_DAYS": ("readings_retention_days", int),
    "SITELINK_HISTORY_RETENTION_DAYS": ("history_retention_days", int),
    "SITELINK_CONNECT_TIMEOUT_S": ("connect_timeout_s", float),
    "SITELINK_LOG_FORMAT": ("log_format", str),
    "SITELINK_WEB_DIR": ("web_dir", str),
    "SITELINK_SSE_MAX_CLIENTS": ("sse_max_clients", int),
    "SITELINK_TRUSTED_PROXIES": ("trusted_proxies", tuple),
    "SITELINK_PUBLIC_URL": ("public_url", str),
    "SITELINK_SESSION_MAX_AGE_S": ("session_max_age_s", int),
    "SITELINK_SESSION_IDLE_S": ("session_idle_s", int),
    "SITELINK_AUTH_FAILURES_MAX": ("auth_failures_max", int),
    "SITELINK_AUTH_FAILURES_WINDOW_S": ("auth_failures_window_s", float),
    "SITELINK_MAX_SENSORS_PER_DEVICE": ("max_sensors_per_device", int),
    "SITELINK_STORAGE_BUFFER_MB": ("storage_buffer_mb", int),
    "SITELINK_DB_TIMEOUT_S": ("db_timeout_s", float),
    "SITELINK_EVENT_LOG_RETENTION_S": ("event_log_retention_s", float),
    "SITELINK_TEST_OWN_NO_SITES": ("test_own_no_sites", bool),
    "SITELINK_WORKERS": ("workers", int),
    "SITELINK_LEASE_TTL_S": ("lease_ttl_s", float),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    if kind is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        "instance_id": socket.gethostname() or "sitelink",
        "log_format": "console" if sys.stderr.isatty() else "json",
    }
    for name, (field, kind) in _ENV.items():
        raw = env.get(name)
        if raw is not None and raw != "":
            values[field] = _convert(name, raw, kind)
    settings = Settings(**values)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.log_format not in ("console", "json"):
        raise ConfigError(f"SITELINK_LOG_FORMAT: expected console or json, got {s.log_format!r}")
    if not s.database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ConfigError("DATABASE_URL: expected sqlite:///PATH or postgresql://...")
    positive = ("retry_base_s", "retry_max_s", "connect_rate", "reconcile_s", "connect_timeout_s",
                "max_sensors_per_device", "storage_buffer_mb", "db_timeout_s",
                "event_log_retention_s")
    if s.lease_ttl_s < 1:
        raise ConfigError("SITELINK_LEASE_TTL_S: must be at least 1 (seconds)")
    for field in positive:
        if getattr(s, field) <= 0:
            raise ConfigError(f"{field}: must be positive")
    if not 0 <= s.workers <= 256:
        raise ConfigError(f"SITELINK_WORKERS: expected 0 to 256, got {s.workers}")
    for name, days in (("SITELINK_READINGS_RETENTION_DAYS", s.readings_retention_days),
                       ("SITELINK_HISTORY_RETENTION_DAYS", s.history_retention_days)):
        if days < 0:
            raise ConfigError(f"{name}: expected 0 (kept for ever) or more days, got {days}")
    if not 0 <= s.retry_jitter < 1:
        raise ConfigError("SITELINK_RETRY_JITTER: must be in [0, 1)")
    for proxy in s.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"SITELINK_TRUSTED_PROXIES: {proxy!r} is not an address or a network") from None
    if s.public_url is not None and not s.public_url.startswith(("http://", "https://")):
        raise ConfigError("SITELINK_PUBLIC_URL: expected http://HOST[:PORT] or https://...")
    for field in ("session_max_age_s", "session_idle_s", "auth_failures_max",
                  "auth_failures_window_s"):
        if getattr(s, field) <= 0:
            raise ConfigError(f"{field}: must be positive")

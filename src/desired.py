"""Desired state: what storage says a site should be, as the value its SiteActor runs on.

Runs on the asyncio loop (it is fed by storage queries); the result crosses to the
actors inside ``Apply`` / ``Upsert`` messages.
"""

from __future__ import annotations

from sitelink.actors.mqtt_port import BrokerConfig
from sitelink.actors.site_messages import SiteSpec
from sitelink.settings import Settings
from sitelink.storage.sites import SiteConfig
from sitelink.topics import Subscription


def client_id(prefix: str, instance_id: str, code: str) -> str:
    """``{client_id_prefix}-{code}``, the prefix defaulting to the instance id: stable
    across restarts and the same on every instance, so the broker itself never holds two
    live connections for one site."""
    return f"{prefix or instance_id}-{code}"


def manager_topic(code: str, instance_id: str) -> str:
    return f"{code}/manager/{instance_id}/status"


def site_spec(config: SiteConfig, settings: Settings) -> SiteSpec:
    will = manager_topic(config.code, settings.instance_id) if settings.lwt_enabled else None
    broker = BrokerConfig(
        host=config.broker_host,
        port=config.broker_port,
        client_id=client_id(config.client_id_prefix, settings.instance_id, config.code),
        username=config.username or None,
        password=config.password,
        protocol=config.protocol,
        keepalive_s=config.keepalive_s,
        clean_session=settings.clean_session,
        tls=config.tls,
        tls_ca_pem=config.tls_ca_pem,
        tls_client_cert_pem=config.tls_client_cert_pem,
        tls_client_key_pem=config.tls_client_key_pem,
        tls_verify_hostname=config.tls_verify_hostname,
        transport="websockets" if config.transport == "websockets" else "tcp",
        ws_path=config.ws_path,
        will_topic=will,
        connect_timeout_s=settings.connect_timeout_s,
    )
    subscriptions = tuple(
        Subscription(
            id=t.id,
            pattern=t.pattern,
            device_kind=t.device_kind,  # type: ignore[arg-type]
            message_kind=t.message_kind,  # type: ignore[arg-type]
            payload_version=t.payload_version,
            qos=t.qos,
            is_active=t.is_active,
            payload_map=t.payload_map,
        )
        for t in config.topics
    )
    return SiteSpec(
        site_id=config.id,
        code=config.code,
        name=config.name,
        broker=broker,
        subscriptions=subscriptions,
        is_enabled=config.is_enabled,
        offline_after_s=float(config.offline_after_s),
    )

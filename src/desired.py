"""Desired state: what storage says a site should be, as the value its SiteActor runs on.

Runs on the asyncio loop (it is fed by storage queries); the result crosses to the
actors inside ``Apply`` / ``Upsert`` messages.

Rows are loaded defensively: a stored site or topic that breaks the rules of
``sitelink.site_rules`` / ``sitelink.topics`` (written by an older version, by hand, by a
restore) becomes a ``RejectedSite`` naming the problem instead of a ``SiteSpec``, so it is
shown as an error and never reaches an actor, while every other site goes on.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import structlog

from sitelink.actors.device import DeviceState
from sitelink.actors.mqtt_port import BrokerConfig
from sitelink.actors.site_messages import SiteSpec
from sitelink.errors import InvalidRow, ValidationError
from sitelink.settings import Settings
from sitelink.site_rules import stored_site_problem
from sitelink.storage.devices import StoredDevice
from sitelink.storage.sites import SiteConfig
from sitelink.storage.topics import TopicRecord
from sitelink.topics import Subscription

log = structlog.get_logger(__name__)

AVAILABILITIES = frozenset({"online", "offline", "unreachable", "unknown"})


class RejectedSite(msgspec.Struct, frozen=True, kw_only=True):
    """A stored site that cannot run; ``problem`` is one line naming field and value."""

    site_id: int
    code: str
    is_enabled: bool
    problem: str


def client_id(prefix: str, mqtt_instance_id: str, code: str) -> str:
    """``{client_id_prefix}-{code}``, the prefix defaulting to MQTT_INSTANCE_ID (never the
    suffixed name a cluster may give an instance): stable across restarts and the same on
    every instance, so the broker itself never holds two live connections for one site."""
    return f"{prefix or mqtt_instance_id}-{code}"


def manager_topic(code: str, instance_id: str) -> str:
    return f"{code}/manager/{instance_id}/status"


def desired_sites(
    configs: Iterable[SiteConfig], settings: Settings, instance_id: str
) -> tuple[tuple[SiteSpec, ...], tuple[RejectedSite, ...]]:
    """Every stored site as a spec to run, or as a rejection to show (``site_spec``)."""
    specs: list[SiteSpec] = []
    rejected: list[RejectedSite] = []
    for config in configs:
        try:
            specs.append(site_spec(config, settings, instance_id))
        except InvalidRow as exc:
            rejected.append(RejectedSite(site_id=config.id, code=str(config.code),
                                         is_enabled=config.is_enabled is True,
                                         problem=str(exc)))
    return tuple(specs), tuple(rejected)


def site_spec(config: SiteConfig, settings: Settings, instance_id: str) -> SiteSpec:
    """The spec of one stored site; ``InvalidRow`` if the row or one of its topics breaks
    a rule. ``instance_id`` is this instance's name in the cluster (its manager status
    topic); the client id's default prefix is MQTT_INSTANCE_ID."""
    row = {name: getattr(config, name) for name in config.__struct_fields__}
    problem = stored_site_problem(row)
    if problem is not None:
        raise InvalidRow(problem)
    will = manager_topic(config.code, instance_id) if settings.lwt_enabled else None
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
    return SiteSpec(
        site_id=config.id,
        code=config.code,
        name=config.name,
        broker=broker,
        subscriptions=tuple(_subscription(t) for t in config.topics),
        is_enabled=config.is_enabled,
        offline_after_s=float(config.offline_after_s),
    )


def _subscription(topic: TopicRecord) -> Subscription:
    try:
        return Subscription(
            id=topic.id,
            pattern=topic.pattern,
            device_kind=topic.device_kind,  # type: ignore[arg-type]
            message_kind=topic.message_kind,  # type: ignore[arg-type]
            payload_version=topic.payload_version,
            qos=topic.qos,
            is_active=topic.is_active,
            payload_map=topic.payload_map,
        )
    except ValidationError as exc:
        value = getattr(topic, exc.field, None)
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        reason = str(exc).removeprefix(f"{exc.field}: ")
        raise InvalidRow(f"invalid topic {topic.id} {exc.field} {shown}: {reason}") from None


def device_states(
    stored: list[StoredDevice], specs: tuple[SiteSpec, ...]
) -> dict[int, tuple[DeviceState, ...]]:
    """Devices from storage, as the states their actors start from, grouped by site. A row
    with an availability this version does not know starts as ``unknown``; a row that
    cannot become a state at all is skipped (logged): it never stops its site."""
    default = {spec.site_id: spec.offline_after_s for spec in specs}
    grouped: dict[int, list[DeviceState]] = {}
    for d in stored:
        site_id = d.key.site_id
        if site_id not in default:
            continue
        try:
            override = None if d.offline_after_s is None else float(d.offline_after_s)
            if override is not None and not override > 0:
                raise ValueError(f"offline_after_s must be positive, got {override}")
            availability = d.availability if d.availability in AVAILABILITIES else "unknown"
            grouped.setdefault(site_id, []).append(
                DeviceState(
                    key=d.key,
                    model=d.model,
                    gateway=d.gateway,
                    availability=availability,  # type: ignore[arg-type]
                    last_seen_at=d.last_seen_at,
                    offline_after_s=default[site_id],
                    override_s=override,
                )
            )
        except (TypeError, ValueError) as exc:
            log.error("stored device cannot run; skipped", site_id=site_id,
                      serial=str(d.key.serial), problem=str(exc))
    return {site_id: tuple(states) for site_id, states in grouped.items()}

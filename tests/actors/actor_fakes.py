"""Hand-written fakes for the actor tests: a synchronous inbox, an MQTT port played by the
test, a fixed random source, a sink that can be waited on, and a site spec builder.

Nothing here mocks paho: ``FakePort`` implements the ``MqttPort`` protocol at the boundary
where the SiteActor meets paho, and the test plays the broker by feeding the port events
(``PortConnected``, ``PortSubscribed``, …) that ``PahoPort`` would tell.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pykka

from sitelink.actors.mqtt_port import (
    BrokerConfig,
    InboundMessage,
    Owner,
    PortConnected,
    PortDisconnected,
    PortSubscribed,
)
from sitelink.actors.site_messages import SiteSpec
from sitelink.events import Event, SiteStatusChanged
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription


class SyncInbox:
    """Stands in for an unstarted actor's ref: ``tell`` runs ``on_receive`` at once, on the
    caller's thread. The FakeClock swallows exceptions of its targets (a dead actor must not
    stop the clock), so this keeps them in ``errors`` for the test to check.

    Built before its actor (which takes it as ``inbox=``) and bound to it afterwards."""

    def __init__(self) -> None:
        self.actor: Any = None
        self.errors: list[BaseException] = []
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)
        try:
            self.actor.on_receive(message)
        except Exception as exc:
            self.errors.append(exc)
            raise


class FixedRandom(random.Random):
    """``random()`` always answers ``value``: 0.5 puts a retry delay right on its nominal value."""

    def __init__(self, value: float = 0.5) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class Subscribe(msgspec.Struct, frozen=True):
    filters: tuple[tuple[str, int], ...]
    request: int


class Published(msgspec.Struct, frozen=True):
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


class FakePort:
    """``MqttPort`` by hand: records every call of its owner and keeps an inbound buffer that
    behaves like ``PahoPort``'s (``deliver`` says whether the port would now tell the owner
    ``MessagesReady``: only when the buffer was empty).

    With ``auto=True`` it also answers like a healthy broker, by telling its owner: CONNACK on
    connect, every SUBACK granted, and a clean disconnect notice on disconnect.
    """

    def __init__(self, owner: Owner, now: Callable[[], float], *, auto: bool = False) -> None:
        self.owner = owner
        self.now = now
        self.auto = auto
        self.lock = threading.Lock()
        self.connects: list[tuple[BrokerConfig, int, float]] = []  # (config, attempt, at)
        self.disconnects: list[tuple[str, bytes] | None] = []
        self.subscribes: list[Subscribe] = []
        self.unsubscribes: list[tuple[str, ...]] = []
        self.published: list[Published] = []
        self.buffer: list[InboundMessage] = []
        self.refuse_publish = False
        self._mid = 0

    def _answer(self, message: Any) -> None:
        # Like PahoPort, forget what its owner can no longer hear: it may have just died.
        with contextlib.suppress(pykka.ActorDeadError):
            self.owner.tell(message)

    @property
    def attempt(self) -> int:
        return self.connects[-1][1] if self.connects else 0

    @property
    def connect_times(self) -> list[float]:
        return [at for _, _, at in self.connects]

    # --- MqttPort -------------------------------------------------------------------------

    def connect(self, config: BrokerConfig, attempt: int) -> None:
        with self.lock:
            self.connects.append((config, attempt, self.now()))
        if self.auto:
            self._answer(PortConnected(attempt=attempt))

    def disconnect(self, goodbye: tuple[str, bytes] | None = None) -> None:
        with self.lock:
            self.disconnects.append(goodbye)
        if self.auto and self.connects:
            self._answer(PortDisconnected(attempt=self.attempt, reason="Connection lost",
                                          takeover_confirmed=False))

    def subscribe(self, filters: Sequence[tuple[str, int]], request: int) -> None:
        with self.lock:
            self.subscribes.append(Subscribe(tuple(filters), request))
        if self.auto:
            self._answer(PortSubscribed(attempt=self.attempt, request=request, refused=""))

    def unsubscribe(self, filters: Sequence[str]) -> None:
        with self.lock:
            self.unsubscribes.append(tuple(filters))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        if self.refuse_publish:
            return -1
        with self.lock:
            self._mid += 1
            self.published.append(Published(topic, payload, qos, retain, self._mid))
            return self._mid

    def drain(self) -> list[InboundMessage]:
        with self.lock:
            batch, self.buffer = self.buffer, []
        return batch

    # --- the test plays the broker ------------------------------------------------------------

    def deliver(self, topic: bytes | str, payload: bytes, *, retain: bool = False) -> bool:
        """Buffer one incoming message; True when the owner must now be told MessagesReady."""
        raw = topic.encode() if isinstance(topic, str) else topic
        with self.lock:
            self.buffer.append(InboundMessage(raw, payload, retain, self.now()))
            return len(self.buffer) == 1


class WaitingSink:
    """An ``EventSink`` that keeps every event and lets a test thread wait, with a deadline,
    for one that matches (actors publish from their own threads)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = threading.Condition()

    def publish(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def snapshot(self) -> list[Event]:
        with self._changed:
            return list(self.events)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.snapshot() if isinstance(e, kind)]

    def mark(self) -> int:
        """A position to wait from: only events published after it count."""
        with self._changed:
            return len(self.events)

    def wait_for(
        self,
        predicate: Callable[[Any], bool],
        *,
        kind: type[Event] = Event,
        since: int = 0,
        timeout_s: float = 5.0,
    ) -> Any:
        """The first event of ``kind`` after ``since`` that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for event in self.events[since:]:
                    if isinstance(event, kind) and predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e for e in self.events[since:] if isinstance(e, kind)]
                    raise AssertionError(
                        f"no matching {kind.__name__} within {timeout_s} s; saw {seen[-5:]}"
                    )
                self._changed.wait(left)

    def wait_status(
        self,
        site_id: int,
        status: str,
        *,
        since: int = 0,
        timeout_s: float = 5.0,
        where: Callable[[SiteStatusChanged], bool] = lambda _: True,
    ) -> SiteStatusChanged:
        event: SiteStatusChanged = self.wait_for(
            lambda e: e.site_id == site_id and e.status == status and where(e),
            kind=SiteStatusChanged,
            since=since,
            timeout_s=timeout_s,
        )
        return event


MANAGER_TOPIC = "site_001/manager/test/status"


def make_spec(
    *,
    site_id: int = 1,
    code: str = "site_001",
    host: str = "broker.invalid",
    port: int = 1883,
    protocol: str = "3.1.1",
    username: str | None = None,
    password: str | None = None,
    subscriptions: tuple[Subscription, ...] = DEFAULT_SUBSCRIPTIONS,
    is_enabled: bool = True,
    offline_after_s: float = 180.0,
    manager_topic: str | None = None,
    connect_timeout_s: float = 10.0,
) -> SiteSpec:
    """A site spec with our defaults: enabled, the three default subscriptions."""
    return SiteSpec(
        site_id=site_id,
        code=code,
        name=f"Site {site_id}",
        broker=BrokerConfig(
            host=host,
            port=port,
            client_id=f"sitelink-test-{code}",
            username=username,
            password=password,
            protocol=protocol,
            keepalive_s=10,
            will_topic=manager_topic,
            connect_timeout_s=connect_timeout_s,
        ),
        subscriptions=subscriptions,
        is_enabled=is_enabled,
        offline_after_s=offline_after_s,
    )

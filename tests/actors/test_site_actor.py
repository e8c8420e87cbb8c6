"""SiteActor, unstarted and driven synchronously, with a FakeClock and a hand-written port.

The actor is built without ``start()``: its timer inbox is a ``SyncInbox`` and the test calls
``on_start``/``on_receive`` itself, so every step is deterministic and no test sleeps for a
timer. The DeviceActors it spawns on discovery are hosted on it, so they run synchronously
too, and their timers come back through the site's inbox like the site's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pykka
import pytest
import structlog
from actor_fakes import MANAGER_TOPIC, FakePort, FixedRandom, SyncInbox, WaitingSink, make_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_clock import FakeClock
from sitelink.actors import lifecycle as lc
from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.mqtt_port import (
    MessagesReady,
    PortConnected,
    PortConnectFailed,
    PortDisconnected,
    PortPublished,
    PortSubscribed,
)
from sitelink.actors.site import SiteActor
from sitelink.actors.site_messages import (
    Configure,
    Inspect,
    Publish,
    PublishResult,
    SiteSpec,
    ToDevice,
)
from sitelink.events import (
    CommandOutcome,
    ConnectionEventOccurred,
    DeviceAvailabilityChanged,
    DeviceDiscovered,
    DeviceHeartbeat,
    DeviceKey,
    SiteStatusChanged,
    SiteTraffic,
)
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription

POLICY = RetryPolicy(base_s=1.0, max_s=8.0, jitter=0.2, reset_s=20.0, connect_timeout_s=10.0)
EPS = 2.0**-8  # exact in binary, so fake times add up without rounding
RATE = 1024.0  # connects per second of the default limiter: slots 2**-10 s apart
SLOT = 1.0 / RATE
HEARTBEAT_FILTER = "site_001/datalogger/+/+/heartbeat"


BUILT: list[Site] = []


class Site:
    """One unstarted SiteActor and the fakes around it; the test plays broker and clock."""

    def __init__(
        self,
        spec: SiteSpec | None = None,
        *,
        clock: FakeClock | None = None,
        limiter: ConnectRateLimiter | None = None,
        policy: RetryPolicy = POLICY,
        max_devices: int = 10_000,
        max_payload: int = 262_144,
        sink: WaitingSink | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.sink = sink or WaitingSink()
        self.inbox = SyncInbox()
        self.actor = SiteActor(
            spec or make_spec(manager_topic=MANAGER_TOPIC),
            clock=self.clock,
            sink=self.sink,
            policy=policy,
            limiter=limiter or ConnectRateLimiter(RATE),
            max_devices=max_devices,
            max_payload=max_payload,
            port_factory=FakePort,
            rng=FixedRandom(0.5),
            inbox=self.inbox,
        )
        self.inbox.actor = self.actor
        BUILT.append(self)
        port = self.actor.port
        assert isinstance(port, FakePort)
        self.port = port

    def start(self) -> Site:
        self.actor.on_start()
        return self

    def tell(self, message: Any) -> Any:
        return self.actor.on_receive(message)

    @property
    def state(self) -> str:
        return self.actor.conn.state.value

    @property
    def status(self) -> SiteStatusChanged:
        statuses: list[SiteStatusChanged] = self.sink.of(SiteStatusChanged)
        return statuses[-1]

    def connack(self) -> None:
        self.tell(PortConnected(attempt=self.port.attempt))

    def suback(self, refused: str = "") -> None:
        request = self.port.subscribes[-1].request
        self.tell(PortSubscribed(attempt=self.port.attempt, request=request, refused=refused))

    def come_up(self) -> None:
        self.connack()
        self.suback()
        assert self.state == "connected"

    def fail(self, reason: str = "Network error: boom") -> None:
        self.tell(PortConnectFailed(attempt=self.port.attempt, reason=reason))

    def lose(self, reason: str = "Connection lost", *, takeover: bool = False) -> None:
        self.tell(PortDisconnected(attempt=self.port.attempt, reason=reason,
                                   takeover_confirmed=takeover))

    def receive(self, topic: bytes | str, payload: bytes, *, retain: bool = False) -> None:
        """One message from the broker, handed over the way PahoPort hands it over."""
        if self.port.deliver(topic, payload, retain=retain):
            self.tell(MessagesReady(attempt=self.port.attempt))

    def traffic(self) -> tuple[int, int]:
        batches: list[SiteTraffic] = self.sink.of(SiteTraffic)
        return sum(b.received for b in batches), sum(b.rejected for b in batches)


@pytest.fixture(autouse=True)
def no_timer_errors_and_no_actors_left() -> Iterator[None]:
    """Timer deliveries raised nowhere (the fake clock would swallow it); device actors end."""
    BUILT.clear()
    yield
    pykka.ActorRegistry.stop_all()
    assert [e for site in BUILT for e in site.inbox.errors] == []


def test_start_connects_with_the_spec_and_arms_the_connack_timeout() -> None:
    """An enabled site connects on start, says connecting, and has one CONNACK timeout armed."""
    site = Site().start()
    assert site.state == "connecting"
    assert [c.client_id for c, _, _ in site.port.connects] == ["sitelink-test-site_001"]
    assert site.status.status == "connecting"
    assert lc.CONNECT_TIMEOUT in site.actor.timers


def test_disabled_site_does_not_connect_on_start() -> None:
    """A site whose spec is disabled stays disconnected and never calls connect."""
    site = Site(make_spec(is_enabled=False)).start()
    assert site.state == "disconnected" and site.port.connects == []


def test_connack_then_suback_is_connected_with_our_availability_published() -> None:
    """After CONNACK the active filters are subscribed; after SUBACK the site is connected and
    publishes a retained ``online`` on its manager topic."""
    site = Site().start()
    site.connack()
    assert site.state == "connecting"
    (sub,) = site.port.subscribes
    assert sorted(f for f, _ in sub.filters) == sorted(
        s.mqtt_filter("site_001") for s in DEFAULT_SUBSCRIPTIONS
    )
    site.suback()
    assert site.state == "connected"
    assert site.port.published[-1].topic == MANAGER_TOPIC
    assert (site.port.published[-1].payload, site.port.published[-1].retain) == (b"online", True)
    assert site.status.status == "connected" and site.status.error_message == ""
    kinds = [e.kind for e in site.sink.of(ConnectionEventOccurred)]
    assert kinds == ["connected"]


def test_retries_come_at_base_then_doubling_up_to_max() -> None:
    """Each failure schedules the next attempt exactly base·2ⁿ later (capped at max), no sooner."""
    site = Site().start()
    t0 = site.clock.now()
    expected = [1.0, 2.0, 4.0, 8.0, 8.0]
    for n, delay in enumerate(expected):
        site.fail("Network error: boom")
        failed_at = site.clock.now()
        assert site.state == "error"
        assert site.status.next_retry_at == failed_at + delay
        assert site.status.retry_count == n + 1
        attempts = len(site.port.connects)
        site.clock.advance(delay - EPS)
        assert len(site.port.connects) == attempts, f"retry {n} came early"
        site.clock.advance(EPS)
        assert len(site.port.connects) == attempts + 1
        assert site.port.connect_times[-1] == failed_at + delay
        assert site.state == "connecting"
    assert site.clock.now() == t0 + sum(expected)


def test_connack_timeout_fails_the_attempt() -> None:
    """No CONNACK within connect_timeout_s: error 'Timed out waiting for CONNACK', port dropped."""
    site = Site().start()
    site.clock.advance(POLICY.connect_timeout_s - EPS)
    assert site.state == "connecting"
    site.clock.advance(EPS)
    assert site.state == "error"
    assert site.status.error_message == "Timed out waiting for CONNACK"
    assert len(site.port.disconnects) == 1
    assert site.status.next_retry_at == site.clock.now() + POLICY.base_s


def test_suback_timeout_fails_the_attempt() -> None:
    """A CONNACK without SUBACK within the same timeout fails as 'Timed out waiting for SUBACK'."""
    site = Site().start()
    site.connack()
    site.clock.advance(POLICY.connect_timeout_s)
    assert site.status.error_message == "Timed out waiting for SUBACK"


def test_a_connected_link_is_not_timed_out() -> None:
    """Once connected, the CONNACK timeout never fires."""
    site = Site().start()
    site.come_up()
    site.clock.advance(POLICY.connect_timeout_s * 3)
    assert site.state == "connected"


def test_retry_count_resets_only_after_reset_s_connected() -> None:
    """The backoff keeps growing while the link drops before reset_s, and resets after it."""
    site = Site().start()
    site.fail()
    site.clock.advance(1.0)
    site.fail()
    site.clock.advance(2.0)
    site.come_up()
    assert site.status.retry_count == 2
    site.clock.advance(POLICY.reset_s - EPS)
    assert site.actor.conn.retry_count == 2
    site.lose()  # a flapping link: the next delay keeps doubling
    assert site.status.next_retry_at == site.clock.now() + 4.0
    site.clock.advance(4.0)
    site.come_up()
    site.clock.advance(POLICY.reset_s)
    assert site.actor.conn.retry_count == 0
    assert site.status.retry_count == 0
    site.lose()
    assert site.status.next_retry_at == site.clock.now() + POLICY.base_s


def test_shared_rate_limiter_spaces_connects_of_many_sites() -> None:
    """Sites sharing a 2/s limiter connect 0.5 s of fake time apart, each with its own
    CONNACK timeout counted from its real connect, not from its request."""
    clock, limiter = FakeClock(), ConnectRateLimiter(2.0)
    sites = [
        Site(make_spec(site_id=i, code=f"site_{i:03}"), clock=clock, limiter=limiter)
        for i in range(1, 5)
    ]
    t0 = clock.now()
    for site in sites:
        site.start()
    assert [len(s.port.connects) for s in sites] == [1, 0, 0, 0]
    assert all(s.state == "connecting" for s in sites)
    clock.advance(1.5)
    times = [s.port.connect_times[0] - t0 for s in sites]
    assert times == [0.0, 0.5, 1.0, 1.5]
    clock.advance(POLICY.connect_timeout_s - 1.5)
    assert [s.state for s in sites] == ["error", "connecting", "connecting", "connecting"]


def test_stop_while_waiting_for_a_connect_slot_never_connects() -> None:
    """A site stopped while queued behind the rate cap ends disconnected without connecting."""
    clock, limiter = FakeClock(), ConnectRateLimiter(2.0)
    first = Site(clock=clock, limiter=limiter).start()
    second = Site(make_spec(site_id=2, code="site_002"), clock=clock, limiter=limiter).start()
    second.tell(lc.Stop())
    clock.advance(1.0)
    assert len(first.port.connects) == 1 and second.port.connects == []
    assert second.state == "disconnected"


def test_a_reconnect_waiting_for_a_connect_slot_ignores_the_old_clients_goodbye() -> None:
    """Reconnect right after a connect waits for the next slot; what the dropped client says
    meanwhile ("disconnected", once paho has sent the DISCONNECT) is stale, not a loss of
    the new connection: no error, no backoff."""
    clock, limiter = FakeClock(), ConnectRateLimiter(2.0)
    site = Site(clock=clock, limiter=limiter).start()
    site.come_up()
    site.tell(lc.Reconnect())
    assert site.state == "connecting" and len(site.port.connects) == 1  # waiting for a slot
    site.tell(PortDisconnected(attempt=1, reason="Connection lost", takeover_confirmed=False))
    assert site.state == "connecting" and site.status.retry_count == 0
    clock.advance(0.5)
    assert len(site.port.connects) == 2
    site.come_up()
    assert site.status.retry_count == 0 and site.status.error_message == ""


def test_three_takeovers_report_a_client_id_conflict() -> None:
    """A connection taken over three times within a minute errors naming the client id."""
    site = Site().start()
    messages = []
    for delay in (1.0, 2.0, 4.0):
        site.come_up()
        site.lose("Connection lost: session taken over by another client", takeover=True)
        messages.append(site.status.error_message)
        site.clock.advance(delay)
    assert "client id" not in messages[0].lower() and "client id" not in messages[1].lower()
    assert messages[2].startswith("Client id conflict")
    assert "3 times within a minute" in messages[2]


def test_refused_suback_is_an_error_naming_the_filter() -> None:
    """A SUBACK refusing a filter fails the attempt with the filter in the message."""
    site = Site().start()
    site.connack()
    site.suback(refused=f"{HEARTBEAT_FILTER} (not authorized)")
    assert site.state == "error"
    assert site.status.error_message == f"Subscription refused: {HEARTBEAT_FILTER} (not authorized)"


def with_topics(spec: SiteSpec, *subscriptions: Subscription) -> SiteSpec:
    return msgspec.structs.replace(spec, subscriptions=subscriptions)


def test_topics_added_and_removed_live_without_reconnecting() -> None:
    """Changing the topic list of a connected site unsubscribes the removed filter and
    subscribes only the new one, on the same connection."""
    spec = make_spec()
    site = Site(spec).start()
    site.come_up()
    extra = Subscription(id=9, pattern="logger/{serial}/heartbeat", qos=0)
    kept = DEFAULT_SUBSCRIPTIONS[:2]
    site.tell(Configure(spec=with_topics(spec, *kept, extra)))
    assert site.port.unsubscribes == [("site_001/datalogger/+/+/status",)]
    assert site.port.subscribes[-1].filters == (("site_001/logger/+/heartbeat", 0),)
    site.suback()
    assert site.state == "connected"
    assert len(site.port.connects) == 1 and site.port.disconnects == []
    assert "site_001/logger/+/heartbeat" in site.status.topics
    assert "site_001/datalogger/+/+/status" not in site.status.topics


def test_a_live_subscription_refused_is_an_error() -> None:
    """A topic added live that the broker refuses takes the connected site to error."""
    spec = make_spec()
    site = Site(spec).start()
    site.come_up()
    extra = Subscription(id=9, pattern="logger/{serial}/heartbeat")
    site.tell(Configure(spec=with_topics(spec, *DEFAULT_SUBSCRIPTIONS, extra)))
    site.suback(refused="site_001/logger/+/heartbeat (not authorized)")
    assert site.state == "error"
    assert "site_001/logger/+/heartbeat" in site.status.error_message


def test_changed_broker_settings_reconnect() -> None:
    """A Configure that changes broker settings drops the link and connects with the new ones."""
    spec = make_spec()
    site = Site(spec).start()
    site.come_up()
    site.tell(Configure(spec=make_spec(password="new")))
    assert len(site.port.disconnects) == 1
    site.clock.advance(SLOT)  # the new attempt waits its turn under the rate cap
    assert site.port.connects[-1][0].password == "new"
    assert site.state == "connecting"


def test_stale_port_events_of_an_older_attempt_are_ignored() -> None:
    """CONNACK, SUBACK, failures and drops that an earlier attempt reports late change nothing."""
    site = Site().start()
    site.fail()
    site.clock.advance(1.0)
    assert site.port.attempt > 1  # the retry is a new client under a new number
    before = site.actor.conn
    site.tell(PortConnected(attempt=1))
    site.tell(PortSubscribed(attempt=1, request=1, refused=""))
    site.tell(PortConnectFailed(attempt=1, reason="late"))
    site.tell(PortDisconnected(attempt=1, reason="late", takeover_confirmed=True))
    assert site.actor.conn == before
    site.come_up()
    site.tell(PortDisconnected(attempt=1, reason="late", takeover_confirmed=False))
    assert site.state == "connected"


def test_an_unknown_message_is_logged_not_dropped_silently() -> None:
    """A message the site has no case for is logged by its type, as pykka does; a port
    message of an older attempt is stale by design and is not."""
    site = Site().start()
    with structlog.testing.capture_logs() as logs:
        site.tell({"not": "a message"})
        site.tell(PortConnected(attempt=site.port.attempt + 99))
    warnings = [(e["event"], e["message"]) for e in logs if e["log_level"] == "warning"]
    assert warnings == [("unknown message dropped", "dict")]


def test_messages_of_an_older_attempt_are_still_drained() -> None:
    """A MessagesReady that arrives after a reconnect still empties the port's buffer, so the
    site never goes deaf (the port tells again only when its buffer was empty)."""
    site = Site().start()
    site.come_up()
    heartbeat = b'{"firmware": "V.1"}'
    assert site.port.deliver("site_001/datalogger/m/S1/heartbeat", heartbeat)
    site.tell(lc.Reconnect())  # attempt 2 starts while MessagesReady(1) is still in flight
    site.clock.advance(SLOT)
    assert site.port.attempt > 1  # the retry is a new client under a new number
    site.tell(MessagesReady(attempt=1))
    assert site.port.buffer == []
    site.come_up()
    site.receive("site_001/datalogger/m/S2/heartbeat", heartbeat)
    assert site.traffic() == (2, 0)


def publish(site: Site, qos: int, results: list[PublishResult]) -> None:
    site.tell(
        Publish(
            command_id=f"c{qos}",
            topic="site_001/gateway/1/datalogger/m/1/input",
            payload=b"start",
            qos=qos,
            retain=False,
            reply=results.append,
        )
    )


def test_publish_outcomes_sent_acked_and_failed() -> None:
    """QoS 0 is 'sent' and QoS 1 'acked' on the port's confirmation; a broker error is 'failed'."""
    site = Site().start()
    site.come_up()
    results: list[PublishResult] = []
    publish(site, 0, results)
    publish(site, 1, results)
    publish(site, 2, results)
    assert results == []
    zero, one, two = site.port.published[-3:]
    site.tell(PortPublished(attempt=site.port.attempt, mid=zero.mid, error=""))
    site.tell(PortPublished(attempt=site.port.attempt, mid=one.mid, error=""))
    site.tell(PortPublished(attempt=site.port.attempt, mid=two.mid, error="Quota exceeded"))
    assert [(r.command_id, r.outcome) for r in results] == [
        ("c0", "sent"),
        ("c1", "acked"),
        ("c2", "failed"),
    ]
    assert [e.outcome for e in site.sink.of(CommandOutcome)] == ["sent", "acked", "failed"]


def test_publish_when_not_connected_fails_at_once() -> None:
    """A publish to a site that is not connected is answered failed at once, port untouched,
    and its outcome recorded (the API wrote the command's row before it asked)."""
    site = Site().start()
    results: list[PublishResult] = []
    publish(site, 1, results)
    assert [(r.outcome, r.connected) for r in results] == [("failed", False)]
    assert site.port.published == []
    assert [(e.command_id, e.outcome, e.error) for e in site.sink.of(CommandOutcome)] == [
        ("c1", "failed", "not connected")]


def test_publish_pending_when_the_link_drops_fails() -> None:
    """A QoS 1 publish still waiting for its acknowledgement fails when the connection is lost."""
    site = Site().start()
    site.come_up()
    results: list[PublishResult] = []
    publish(site, 1, results)
    site.lose()
    assert [(r.outcome, r.error) for r in results] == [("failed", "Connection lost")]


def test_publish_refused_by_the_client_fails() -> None:
    """A publish the client refuses to queue is answered failed at once."""
    site = Site().start()
    site.come_up()
    site.port.refuse_publish = True
    results: list[PublishResult] = []
    publish(site, 1, results)
    assert [(r.outcome, r.connected) for r in results] == [("failed", True)]
    assert [(e.outcome, e.error) for e in site.sink.of(CommandOutcome)] == [
        ("failed", "publish refused by the client")]


def test_stop_says_goodbye_and_ends_disconnected() -> None:
    """Stop while connected publishes our ``offline`` on disconnect, passes through disabled,
    and is disconnected when the port reports the link gone."""
    site = Site().start()
    site.come_up()
    site.tell(lc.Stop())
    assert site.state == "disabled"
    assert site.port.disconnects == [(MANAGER_TOPIC, b"offline")]
    site.lose("Connection lost")
    assert site.state == "disconnected"
    assert site.status.status == "disconnected"
    assert site.actor.timers.names() <= {"stop_fallback"}


def test_stop_without_word_from_the_port_still_ends_disconnected() -> None:
    """If the port never reports the disconnect, the site is disconnected after the timeout."""
    site = Site().start()
    site.come_up()
    site.tell(lc.Stop())
    site.clock.advance(POLICY.connect_timeout_s - EPS)
    assert site.state == "disabled"
    site.clock.advance(EPS)
    assert site.state == "disconnected"


def test_reconnect_in_error_skips_the_backoff() -> None:
    """Reconnect while waiting for a retry connects at once and cancels the retry."""
    site = Site().start()
    site.fail()
    site.tell(lc.Reconnect())
    site.clock.advance(SLOT)  # the rate cap's spacing, not the 1 s backoff
    assert len(site.port.connects) == 2
    site.clock.advance(1.0)
    assert len(site.port.connects) == 2


def test_reconnect_on_a_stopped_site_is_refused_without_crashing() -> None:
    """Reconnect on a disconnected site is refused: the actor answers its state and lives on."""
    site = Site(make_spec(is_enabled=False)).start()
    assert site.tell(lc.Reconnect()) == lc.State.DISCONNECTED
    assert site.port.connects == []


# --- incoming messages ---------------------------------------------------------------------


def test_bad_payloads_are_counted_and_still_discover_the_device() -> None:
    """Undecodable payloads count as rejected, and the device is still discovered."""
    site = Site(max_payload=1024).start()
    site.come_up()
    site.receive("site_001/datalogger/m/S1/heartbeat", b"not json")
    site.receive("site_001/datalogger/m/S2/heartbeat", b"\xff\xfe{")
    site.receive("site_001/datalogger/m/S3/heartbeat", b"{" + b" " * 2000 + b"}")
    site.receive("site_001/datalogger/m/S4/status", b"maybe")
    site.receive(b"site_001/datalogger/m/\xff/heartbeat", b"{}")
    assert site.traffic() == (5, 5)
    serials = sorted(e.device.serial for e in site.sink.of(DeviceDiscovered))
    assert serials == ["S1", "S2", "S3", "S4"]


def test_good_payloads_are_not_rejected() -> None:
    """A valid v1 heartbeat and a status word are received, not rejected."""
    site = Site().start()
    site.come_up()
    site.receive("site_001/datalogger/m/S1/heartbeat", b'{"firmware": "V.5.53.0"}')
    site.receive("site_001/datalogger/m/S1/status", b"online")
    site.receive("site_001/elsewhere/x", b"ignored")
    assert site.traffic() == (3, 0)


topics = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda kind, serial: f"site_001/datalogger/m/{serial}/{kind}".encode(),
        st.sampled_from(["heartbeat", "status"]),
        st.sampled_from(["A", "B"]),
    ),
    st.builds(
        lambda junk: b"site_001/gateway/" + junk + b"/heartbeat",
        st.binary(min_size=1, max_size=6),
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(topics, st.binary(max_size=600), st.booleans()), max_size=8))
def test_any_bytes_in_are_counted_never_raised(messages: list[tuple[bytes, bytes, bool]]) -> None:
    """Any topic and payload bytes are received and counted; bad ones are rejected; the
    actor never raises and keeps working."""
    site = Site(max_payload=512).start()
    site.come_up()
    for topic, payload, retain in messages:
        site.receive(topic, payload, retain=retain)
    received, rejected = site.traffic()
    assert received == len(messages)
    assert rejected <= received
    bad_topics = 0
    for topic, _, _ in messages:
        try:
            topic.decode()
        except UnicodeDecodeError:
            bad_topics += 1
    assert rejected >= bad_topics
    site.receive("site_001/datalogger/m/OK/heartbeat", b"{}")
    assert site.traffic() == (received + 1, rejected)
    assert site.state == "connected"


def test_device_cap_stops_discovery() -> None:
    """With max_devices reached, messages from new devices are not discovered."""
    site = Site(max_devices=2).start()
    site.come_up()
    for serial in ("S1", "S2", "S3", "S4"):
        site.receive(f"site_001/datalogger/m/{serial}/heartbeat", b"{}")
    assert sorted(e.device.serial for e in site.sink.of(DeviceDiscovered)) == ["S1", "S2"]
    assert len(site.actor.devices) == 2
    site.receive("site_001/datalogger/m/S1/heartbeat", b"{}")  # known devices still heard
    assert site.traffic() == (5, 0)


def test_a_device_timer_comes_back_through_the_site_mailbox() -> None:
    """A hosted device's offline check is a message to its site actor: it arrives through the
    site's inbox at last_seen + offline_after_s and declares the device offline then."""
    site = Site(make_spec(offline_after_s=60.0)).start()
    site.come_up()
    site.receive("site_001/datalogger/m/S1/heartbeat", b"{}")
    heard_at = site.clock.now()
    site.clock.advance(60.0 - EPS)
    assert site.actor.devices.infos()[0].state == "online"
    site.clock.advance(EPS)
    offline = site.sink.of(DeviceAvailabilityChanged)[-1]
    assert (offline.availability, offline.at) == ("offline", heard_at + 60.0)
    via_site = [m for m in site.inbox.told if isinstance(m, ToDevice)]
    assert [(m.device.serial, m.message.timer) for m in via_site] == [("S1", "offline_check")]


class FailsOnce(WaitingSink):
    """A sink that raises while the second heartbeat of ``serial`` is being announced, as a
    bug inside a device actor would."""

    def __init__(self, serial: str) -> None:
        super().__init__()
        self.serial = serial
        self.heartbeats = 0

    def publish(self, event: Any) -> None:
        if isinstance(event, DeviceHeartbeat) and event.device.serial == self.serial:
            self.heartbeats += 1
            if self.heartbeats == 2:
                raise RuntimeError("boom")
        super().publish(event)


def test_a_failing_device_is_restarted_and_the_site_goes_on() -> None:
    """A device actor that raises is contained like a crashed actor: the site and the other
    devices of the same drain carry on, and a fresh actor takes its place (restarts counted)."""
    site = Site(sink=FailsOnce("BAD")).start()
    site.come_up()
    site.receive("site_001/datalogger/m/BAD/heartbeat", b"{}")
    mark = site.sink.mark()
    site.port.deliver("site_001/datalogger/m/BAD/heartbeat", b"{}")
    site.port.deliver("site_001/datalogger/m/OK/heartbeat", b"{}")
    site.tell(MessagesReady(attempt=site.port.attempt))
    assert site.actor.devices.failures == 1
    changes = [(e.device.serial, e.availability, e.reason)
               for e in site.sink.of(DeviceAvailabilityChanged)[-2:]]
    assert changes == [("BAD", "unknown", "restarted after a failure"),
                       ("OK", "online", "heard from")]
    assert site.sink.mark() > mark
    states = {d.name: (d.state, d.restarts) for d in site.tell(Inspect()).devices}
    assert states == {"m/BAD": ("unknown", 1), "m/OK": ("online", 0)}
    site.receive("site_001/datalogger/m/BAD/heartbeat", b"{}")
    bad = site.actor.devices.get(DeviceKey(1, "datalogger", "BAD"))
    assert bad is not None and bad.availability == "online"
    assert site.state == "connected" and site.traffic() == (4, 0)


def test_devices_are_unreachable_while_the_link_is_down() -> None:
    """When the link drops, the site's devices become unreachable (not offline), and when it
    is back they return to online with a fresh grace period."""
    site = Site().start()
    site.come_up()
    site.receive("site_001/datalogger/m/S1/heartbeat", b"{}")
    online = site.sink.wait_for(
        lambda e: e.availability == "online", kind=DeviceAvailabilityChanged
    )
    assert online.device.serial == "S1"
    mark = site.sink.mark()
    site.lose()
    site.sink.wait_for(
        lambda e: e.availability == "unreachable", kind=DeviceAvailabilityChanged, since=mark
    )
    site.clock.advance(POLICY.base_s)
    site.come_up()
    back = site.sink.wait_for(
        lambda e: e.availability == "online", kind=DeviceAvailabilityChanged, since=mark
    )
    assert back.reason == "site connection is back"

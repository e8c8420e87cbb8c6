"""A started SiteActor with the real Clock and PahoPort against a real mosquitto: connect,
ingest, broker crash and return, bad credentials and their fix, takeover, our availability.

Every test waits for events with deadlines (the actors and paho run on their own threads);
the retry policy is short so that a retry comes within a fraction of a second.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pykka
import pytest
from actor_fakes import MANAGER_TOPIC, WaitingSink, make_spec
from paho.mqtt.enums import CallbackAPIVersion

from sitelink.actors import lifecycle as lc
from sitelink.actors.backoff import ConnectRateLimiter, RetryPolicy
from sitelink.actors.clock import Clock
from sitelink.actors.site import SiteActor
from sitelink.actors.site_messages import Configure, SiteSpec
from sitelink.embedded_broker import Mosquitto
from sitelink.events import DeviceAvailabilityChanged, DeviceDiscovered, DeviceHeartbeat
from sitelink.topics import DEFAULT_SUBSCRIPTIONS, Subscription

POLICY = RetryPolicy(base_s=0.2, max_s=1.0, jitter=0.1, reset_s=30.0, connect_timeout_s=2.0)
PROTOCOLS = ["3.1.1", "5"]
V2_SUBSCRIPTION = Subscription(
    id=4, pattern="compact/{model}/{serial}/heartbeat", payload_version="v2"
)

MakeSubscriber = Callable[..., Any]


@pytest.fixture
def clock() -> Iterator[Clock]:
    real = Clock()
    yield real
    real.stop()


@pytest.fixture(autouse=True)
def stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True)


class Running:
    """A started SiteActor on a real broker, and the sink its events land in."""

    def __init__(self, spec: SiteSpec, clock: Clock) -> None:
        self.spec = spec
        self.sink = WaitingSink()
        self.ref = SiteActor.start(
            spec, clock=clock, sink=self.sink, policy=POLICY, limiter=ConnectRateLimiter(50.0)
        )

    def wait(
        self, status: str, *, since: int = 0, contains: str = "", timeout_s: float = 5.0
    ) -> Any:
        return self.sink.wait_status(
            self.spec.site_id,
            status,
            since=since,
            timeout_s=timeout_s,
            where=lambda e: contains.lower() in e.error_message.lower(),
        )


def spec_for(broker: Mosquitto, protocol: str, **fields: Any) -> SiteSpec:
    return make_spec(
        host=broker.host,
        port=broker.port,
        protocol=protocol,
        manager_topic=MANAGER_TOPIC,
        subscriptions=(*DEFAULT_SUBSCRIPTIONS, V2_SUBSCRIPTION),
        connect_timeout_s=POLICY.connect_timeout_s,
        **fields,
    )


def v1(value: float) -> bytes:
    sensor = {"id": "t_ext", "type": "temperature", "value": value, "unit": "°C"}
    return json.dumps({"firmware": "V.5.53.0", "sensors": [sensor]}).encode()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connects_and_ingests_v1_and_v2_heartbeats(
    protocol: str, mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """A started site connects and subscribes; heartbeats published with paho come out as
    DeviceHeartbeat events with their decoded values, and the devices go online."""
    site = Running(spec_for(mosquitto, protocol), clock)
    up = site.wait("connected")
    assert "site_001/compact/+/+/heartbeat" in up.topics
    publisher = subscriber(mosquitto)
    publisher.client.publish("site_001/datalogger/monstro/S1/heartbeat", v1(22.5), qos=1)
    compact = {"v": 2, "fw": "V.6.0.1", "r": {"t_ext": [19.0, "°C", "temperature"]}}
    publisher.client.publish("site_001/compact/monstro/S2/heartbeat", json.dumps(compact), qos=1)
    beats = {
        serial: site.sink.wait_for(lambda e, s=serial: e.device.serial == s, kind=DeviceHeartbeat)
        for serial in ("S1", "S2")
    }
    assert [(v.key, v.value) for v in beats["S1"].sensors] == [("t_ext", 22.5)]
    assert (beats["S2"].firmware, beats["S2"].sensors[0].value) == ("V.6.0.1", 19.0)
    site.sink.wait_for(
        lambda e: e.device.serial == "S2" and e.availability == "online",
        kind=DeviceAvailabilityChanged,
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_qos_arrives_and_a_retained_heartbeat_is_no_sign_of_life(
    protocol: str, mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """Messages of QoS 0, 1 and 2 come out with their values (3.1.1's QoS 0 and 1 take the
    port's raw path, the rest paho's own); a heartbeat retained before the site subscribed
    discovers its device but is no heartbeat: the retain flag made it through."""
    publisher = subscriber(mosquitto)
    topic = "site_001/datalogger/m/{}/heartbeat"
    publisher.client.publish(topic.format("S0"), v1(0.5), qos=1, retain=True).wait_for_publish(5)
    site = Running(spec_for(mosquitto, protocol), clock)
    site.wait("connected")
    for qos in (0, 1, 2):
        publisher.client.publish(topic.format(f"S{qos + 1}"), v1(qos + 0.25), qos=qos)
    for qos in (0, 1, 2):
        beat = site.sink.wait_for(lambda e, s=f"S{qos + 1}": e.device.serial == s,
                                  kind=DeviceHeartbeat)
        assert [v.value for v in beat.sensors] == [qos + 0.25]
    assert "S0" in {e.device.serial for e in site.sink.of(DeviceDiscovered)}
    assert "S0" not in {e.device.serial for e in site.sink.of(DeviceHeartbeat)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_broker_killed_is_an_error_then_connected_again(
    protocol: str, mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """Killing the broker gives error 'Connection lost' with next_retry_at and makes devices
    unreachable (not offline); when the broker is back the site reconnects by itself."""
    site = Running(spec_for(mosquitto, protocol), clock)
    site.wait("connected")
    publisher = subscriber(mosquitto)
    publisher.client.publish("site_001/datalogger/monstro/S1/heartbeat", v1(1.0), qos=1)
    site.sink.wait_for(lambda e: e.availability == "online", kind=DeviceAvailabilityChanged)

    mark = site.sink.mark()
    mosquitto.kill()
    lost = site.wait("error", since=mark)
    assert lost.error_message == "Connection lost"
    assert lost.next_retry_at is not None and lost.next_retry_at > lost.at
    site.sink.wait_for(
        lambda e: e.availability == "unreachable", kind=DeviceAvailabilityChanged, since=mark
    )
    refused = site.wait("error", since=mark, contains="refused")  # a retry met a closed port
    assert refused.retry_count >= 2

    mark = site.sink.mark()
    mosquitto.restart()
    site.wait("connected", since=mark)
    back = site.sink.wait_for(
        lambda e: e.availability == "online", kind=DeviceAvailabilityChanged, since=mark
    )
    assert back.reason == "site connection is back"
    availability = [e.availability for e in site.sink.of(DeviceAvailabilityChanged)]
    assert "offline" not in availability


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_credentials_then_the_right_password_connects(protocol: str, clock: Clock) -> None:
    """A wrong password is error 'Connection refused: not authorised', retried without
    success; a Configure with the right password connects."""
    with Mosquitto(users={"alice": "right"}) as broker:
        spec = spec_for(broker, protocol, username="alice", password="wrong")
        site = Running(spec, clock)
        refused = site.wait("error")
        assert refused.error_message == "Connection refused: not authorised"
        again = site.sink.mark()
        site.wait("error", since=again, contains="not authorised")  # retried, refused again

        mark = site.sink.mark()
        right = spec_for(broker, protocol, username="alice", password="right")
        site.ref.tell(Configure(spec=right))
        up = site.wait("connected", since=mark)
        assert up.error_message == ""


class Intruders:
    """Other paho clients that connect with our client id, one after another."""

    def __init__(self, broker: Mosquitto, client_id: str, protocol: str) -> None:
        self.broker, self.client_id = broker, client_id
        self.protocol = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        self.clients: list[mqtt.Client] = []

    def connect(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=self.protocol,
            reconnect_on_failure=False,
        )
        self.clients.append(client)
        client.connect(self.broker.host, self.broker.port)
        client.loop_start()
        return client

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def broker_announces_takeover(broker: Mosquitto) -> bool:
    """Whether the broker tells a taken-over MQTT 5 client why (DISCONNECT 0x8E) instead of
    just closing its socket, which is all mosquitto 2.0.11 does."""
    reasons: list[int] = []
    gone = threading.Event()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        reasons.append(reason.value)
        gone.set()

    probes = Intruders(broker, "sitelink-takeover-probe", "5")
    try:
        probes.connect().on_disconnect = on_disconnect
        probes.connect()
        gone.wait(5)
    finally:
        probes.close()
    return reasons[:1] == [142]


def test_mqtt5_takeover_three_times_names_the_client_id_conflict(
    mosquitto: Mosquitto, clock: Clock
) -> None:
    """Another MQTT 5 client connecting with our client id three times within a minute makes
    the error message name the client id conflict."""
    if not broker_announces_takeover(mosquitto):
        pytest.skip("this mosquitto closes a taken-over session without DISCONNECT 0x8E")
    site = Running(spec_for(mosquitto, "5"), clock)
    site.wait("connected")
    intruders = Intruders(mosquitto, site.spec.broker.client_id, "5")
    try:
        for round_ in range(3):
            mark = site.sink.mark()
            intruders.connect()
            lost = site.wait("error", since=mark, contains="taken over")
            assert lost.error_message.startswith("Client id conflict") == (round_ == 2)
            if round_ < 2:
                site.wait("connected", since=mark)  # our retry takes the id back
    finally:
        intruders.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_repeated_takeovers_back_off_and_then_name_the_client_id_conflict(
    protocol: str, mosquitto: Mosquitto, clock: Clock
) -> None:
    """Each time another client takes our client id the site errors and waits longer before
    taking it back (the stable period never passes), so two clients never hammer the broker;
    the third time within a minute the error names the client id conflict, even from a
    broker that does not say "session taken over"."""
    site = Running(spec_for(mosquitto, protocol), clock)
    site.wait("connected")
    intruders = Intruders(mosquitto, site.spec.broker.client_id, protocol)
    waits = []
    try:
        for round_ in range(3):
            mark = site.sink.mark()
            intruders.connect()
            lost = site.wait("error", since=mark)
            assert lost.retry_count == round_ + 1
            if round_ < 2:
                assert lost.error_message.startswith("Connection lost")
            else:
                assert lost.error_message.startswith("Client id conflict")
                assert site.spec.broker.client_id in lost.error_message
            waits.append(lost.next_retry_at - lost.at)
            site.wait("connected", since=mark)
    finally:
        intruders.close()
    assert [round(w / POLICY.base_s) for w in waits] == [1, 2, 4]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_our_availability_is_online_retained_then_offline_after_stop(
    protocol: str, mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """Connected, the manager topic holds a retained ``online``; after Stop, ``offline``."""
    site = Running(spec_for(mosquitto, protocol), clock)
    site.wait("connected")
    late = subscriber(mosquitto, MANAGER_TOPIC)
    assert late.wait_for(lambda: late.count() >= 1, 5), "no retained online"
    assert (late.messages[0].payload, late.messages[0].retain) == (b"online", True)

    mark = site.sink.mark()
    site.ref.tell(lc.Stop())
    site.wait("disconnected", since=mark)
    assert late.wait_for(lambda: late.count(lambda m: m.payload == b"offline") >= 1, 5)
    fresh = subscriber(mosquitto, MANAGER_TOPIC)
    assert fresh.wait_for(lambda: fresh.count() >= 1, 5), "no retained offline"
    assert (fresh.messages[0].payload, fresh.messages[0].retain) == (b"offline", True)


def test_a_bad_tls_ca_is_an_error_not_a_crash(mosquitto: Mosquitto, clock: Clock) -> None:
    """A CA certificate that is not one fails the attempt with a TLS error; the actor lives."""
    spec = spec_for(mosquitto, "3.1.1")
    broker = msgspec.structs.replace(spec.broker, tls=True, tls_ca_pem="not a certificate")
    site = Running(msgspec.structs.replace(spec, broker=broker), clock)
    failed = site.wait("error")
    assert failed.error_message.startswith("TLS error")
    assert site.ref.is_alive()


def test_a_burst_arrives_whole_and_in_order_across_read_chunks(
    mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """The port reads the socket in 64 KiB chunks: a burst of small heartbeats with one
    larger than a chunk in the middle comes out whole, every value, in order per device."""
    site = Running(spec_for(mosquitto, "3.1.1"), clock)
    site.wait("connected")
    publisher = subscriber(mosquitto)
    sent: dict[str, list[float]] = {}
    for n in range(800):
        serial = f"S{n % 8}"
        payload = v1(float(n))
        if n == 400:  # ~70 KB: more than one chunk, cut at arbitrary places (and within the
            # sensor cap and the label length: long labels, not many sensors, make it big)
            sensors = [{"id": f"k{i:04d}", "value": float(i), "label": "x" * 250}
                       for i in range(250)]
            payload = json.dumps({"firmware": "big", "sensors": sensors}).encode()
        sent.setdefault(serial, []).append(-1.0 if n == 400 else float(n))
        publisher.client.publish(f"site_001/datalogger/m/{serial}/heartbeat", payload, qos=1)
    beats = site.sink.wait_for(lambda _: len(site.sink.of(DeviceHeartbeat)) >= 800,
                               kind=DeviceHeartbeat, timeout_s=20)
    assert beats is not None
    got: dict[str, list[float]] = {}
    for beat in site.sink.of(DeviceHeartbeat):
        if beat.firmware == "big":
            assert [s.value for s in beat.sensors] == [float(i) for i in range(250)]
            got.setdefault(beat.device.serial, []).append(-1.0)
        else:
            got.setdefault(beat.device.serial, []).append(beat.sensors[0].value)
    assert got == sent


def test_connected_sites_share_the_network_thread_and_keep_no_thread_of_their_own(
    mosquitto: Mosquitto, clock: Clock, subscriber: MakeSubscriber
) -> None:
    """Once connected, a site's client is run by the process's network thread
    (``mqtt_network``): the attempt's connect thread ends, and every site still hears its
    heartbeats."""
    sites = [Running(spec_for(mosquitto, "3.1.1", site_id=n, code=f"site_00{n}"), clock)
             for n in (1, 2, 3)]
    for site in sites:
        site.wait("connected")
    connect_threads = [t for t in threading.enumerate() if t.name.startswith("paho-")]
    for thread in connect_threads:
        thread.join(5)
    assert not any(t.is_alive() for t in connect_threads)
    publisher = subscriber(mosquitto)
    for n in (1, 2, 3):
        publisher.client.publish(f"site_00{n}/datalogger/m/S{n}/heartbeat", v1(float(n)), qos=1)
    for n, site in zip((1, 2, 3), sites, strict=True):
        beat = site.sink.wait_for(lambda _: True, kind=DeviceHeartbeat, timeout_s=5)
        assert beat is not None
        assert beat.sensors[0].value == float(n)

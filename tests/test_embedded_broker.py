"""The test broker: a real mosquitto that starts, serves, crashes and comes back on its port."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mqtt_support import Subscriber
from sitelink import embedded_broker
from sitelink.embedded_broker import (
    BrokerError,
    EmbeddedBroker,
    Mosquitto,
    free_port,
    port_accepts,
    port_is_free,
    use_port_block,
)
from sitelink.errors import ConfigError

MakeSubscriber = Callable[..., Subscriber]


def test_started_broker_round_trips_a_message(
    mosquitto: Mosquitto, subscriber: MakeSubscriber
) -> None:
    """A paho client connects to the started broker and gets back what it published."""
    assert mosquitto.running
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    sub = subscriber(mosquitto, "t/round-trip")
    sub.client.publish("t/round-trip", b"hello", qos=1)
    assert sub.wait_for(lambda: sub.count() == 1, 5)
    assert sub.messages[0].topic == "t/round-trip"
    assert sub.messages[0].payload == b"hello"


def test_a_port_block_is_handed_out_in_turn_skipping_taken_ports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With a block set, free_port gives each of its ports once before any again, never one
    that is bound; without one, the OS picks from its ephemeral range."""
    monkeypatch.setattr(embedded_broker, "_port_block", [])
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= free_port() <= high
    first = next(port for port in range(low, high - 5, 5) if all(
        port_is_free(port + n) for n in range(5)))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", first + 2))
        taken.listen()
        use_port_block(first, 5)
        given = [free_port() for _ in range(8)]
    block = {first, first + 1, first + 3, first + 4}
    assert set(given[:4]) == block
    assert given[4:] == given[:4]


def test_kill_refuses_then_restart_accepts_on_the_same_port(
    mosquitto: Mosquitto, subscriber: MakeSubscriber
) -> None:
    """kill() drops clients and closes the port; restart() serves again on the same port."""
    port = mosquitto.port
    sub = subscriber(mosquitto)
    mosquitto.kill()
    assert not mosquitto.running
    assert not port_accepts(mosquitto.host, port)
    assert sub.wait_for(lambda: sub.disconnects >= 1, 5), "client did not see the crash"

    mosquitto.restart()
    assert mosquitto.port == port
    assert port_accepts(mosquitto.host, port)
    again = subscriber(mosquitto, "t/again")
    again.client.publish("t/again", b"back", qos=1)
    assert again.wait_for(lambda: again.count() == 1, 5)


def test_stop_is_graceful_and_idempotent(mosquitto: Mosquitto) -> None:
    """stop() ends the process, closes the port, and may be called twice."""
    mosquitto.stop()
    mosquitto.stop()
    assert not mosquitto.running
    assert not port_accepts(mosquitto.host, mosquitto.port)


def test_password_file_rejects_bad_credentials(subscriber: MakeSubscriber) -> None:
    """With users configured, a wrong password gets CONNACK 'not authorised'; the right one in."""
    with Mosquitto(users={"alice": "s3cret"}) as broker:
        bad = subscriber(broker, username="alice", password="wrong")
        assert bad.connect_reason is not None and bad.connect_reason.is_failure
        assert bad.connect_reason.value == 135  # v3 CONNACK 5 "not authorised"
        anonymous = subscriber(broker)
        assert anonymous.connect_reason is not None and anonymous.connect_reason.is_failure
        good = subscriber(broker, "t/auth", username="alice", password="s3cret")
        assert good.connect_reason is not None and not good.connect_reason.is_failure
        assert "not authorised" in broker.log()


def test_given_port_is_used_and_a_busy_one_fails_clearly(mosquitto: Mosquitto) -> None:
    """A broker asked for a port that is taken fails with the log's reason, never hangs."""
    clash = Mosquitto(port=mosquitto.port, start_timeout_s=5)
    try:
        with pytest.raises(BrokerError, match="in use"):
            clash.start()
    finally:
        clash.close()


def test_embedded_broker_prefers_mosquitto_on_localhost(subscriber: MakeSubscriber) -> None:
    """The demo's broker is mosquitto when installed, on 127.0.0.1, and serves clients."""
    with EmbeddedBroker() as broker:
        assert broker.kind == "mosquitto"
        assert broker.host == "127.0.0.1"
        sub = subscriber(broker, "t/demo")
        sub.client.publish("t/demo", b"x", qos=1)
        assert sub.wait_for(lambda: sub.count() == 1, 5)
    assert not port_accepts("127.0.0.1", broker.port)


def test_embedded_broker_falls_back_to_amqtt_or_says_how_to_get_it(
    subscriber: MakeSubscriber,
) -> None:
    """Without mosquitto, amqtt serves; without amqtt either, the error says to install it."""
    broker = EmbeddedBroker(use_mosquitto=False)
    assert broker.kind == "amqtt"
    if importlib.util.find_spec("amqtt") is None:
        with pytest.raises(ConfigError, match="pip install amqtt"):
            broker.start()
        return
    with broker:
        sub = subscriber(broker, "t/amqtt")
        sub.client.publish("t/amqtt", b"x", qos=1)
        assert sub.wait_for(lambda: sub.count() == 1, 5)
        sub.close()  # as the demo does: clients first, then the broker
    assert not port_accepts("127.0.0.1", broker.port)

"""The fleet simulator against a real mosquitto, seen by a real subscriber."""

from __future__ import annotations

import argparse
import io
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Literal

import msgspec
import paho.mqtt.client as mqtt
import pytest

from mqtt_support import Subscriber
from sitelink.embedded_broker import Mosquitto, free_port
from sitelink.errors import ValidationError
from sitelink.payloads import Reading, decode
from sitelink.simulate import (
    SENSORS,
    SimulateOptions,
    Simulator,
    SimulatorError,
    handle_simulate,
    register,
)

MakeSubscriber = Callable[..., Subscriber]
HEARTBEATS = ("+/datalogger/+/+/heartbeat", "+/gateway/+/heartbeat")
STATUSES = "+/datalogger/+/+/status"
DATALOGGER_TOPIC = re.compile(r"^site_\d{3}/datalogger/(monstro|pluvio|meteo)/[A-Z]+-\d{3}/")
GATEWAY_TOPIC = re.compile(r"^site_\d{3}/gateway/\d+/heartbeat$")
BOUNDS = {key: bounds for key, _label, _type, _unit, bounds, _step, _start in SENSORS}


# API.md's payloads, strictly: every field the simulator sends, with its type.
class V1Sensor(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    label: str
    type: str
    value: float
    unit: str


class V1(msgspec.Struct, forbid_unknown_fields=True):
    firmware: str
    uptime_s: int
    gateway: str | None = None
    sensors: list[V1Sensor] | None = None


class V2(msgspec.Struct, forbid_unknown_fields=True):
    v: Literal[2]
    fw: str
    up: int
    r: dict[str, tuple[float, str, str]]


def is_heartbeat(message: mqtt.MQTTMessage) -> bool:
    return message.topic.endswith("/heartbeat")


@pytest.fixture
def simulators() -> Iterator[Callable[..., Simulator]]:
    """Simulators started in a test, stopped at its end even if it fails."""
    running: list[Simulator] = []

    def start(broker: Mosquitto, **options: object) -> Simulator:
        options.setdefault("progress", False)
        simulator = Simulator(SimulateOptions(host=broker.host, port=broker.port, **options))  # type: ignore[arg-type]
        simulator.start()
        running.append(simulator)
        return simulator

    yield start
    for simulator in running:
        simulator.stop()


@pytest.mark.parametrize(
    ("sites", "dataloggers", "interval_s"), [(2, 10, 0.2), (4, 24, 0.1)], ids=["110/s", "1000/s"]
)
def test_never_publishes_ahead_of_its_schedule(
    mosquitto: Mosquitto,
    subscriber: MakeSubscriber,
    sites: int,
    dataloggers: int,
    interval_s: float,
) -> None:
    """Pacing: at no moment have more heartbeats arrived than the schedule allows
    (sites x (dataloggers + gateways) / interval per second). How close a loaded machine
    comes to that rate is measured by the benchmarks (bench/), not asserted here."""
    options = SimulateOptions(
        host=mosquitto.host,
        port=mosquitto.port,
        sites=sites,
        dataloggers=dataloggers,
        interval_s=interval_s,
    )
    sub = subscriber(mosquitto, *HEARTBEATS)
    out = io.StringIO()
    simulator = Simulator(options, out=out)
    began = time.monotonic()  # paho stamps arrivals with time.monotonic() too
    simulator.start()
    try:
        wanted = int(options.rate * 2.5)  # two and a half seconds' worth
        assert sub.wait_for(lambda: sub.count(is_heartbeat) >= wanted, 60)
    finally:
        stats = simulator.stop()
    arrivals = sorted(m.timestamp for m in sub.messages if is_heartbeat(m))
    for count, at in enumerate(arrivals, start=1):
        allowed = options.devices + options.rate * (at - began) * 1.05
        assert count <= allowed, f"{count} heartbeats {at - began:.3f} s after the start"
    assert stats.unsent == 0
    assert "msg/s" in out.getvalue()  # the progress line, every ~2 s


def test_spreads_heartbeats_over_the_interval(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulators: Callable[..., Simulator]
) -> None:
    """The first heartbeats of N devices span most of one interval: no thundering herd."""
    sub = subscriber(mosquitto, *HEARTBEATS)
    simulator = simulators(mosquitto, sites=2, dataloggers=9, gateways=1, interval_s=1.0)
    devices = len(simulator.devices)
    first: dict[str, float] = {}

    def all_heard() -> bool:
        for message in sub.messages:
            first.setdefault(message.topic, message.timestamp)
        return len(first) == devices

    assert sub.wait_for(all_heard, 5)
    span = max(first.values()) - min(first.values())
    assert span >= 0.8 * (devices - 1) / devices


def test_payloads_decode_as_v1_and_v2(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulators: Callable[..., Simulator]
) -> None:
    """Mixed fleets send API.md's v1 and v2; values drift within bounds; uptimes grow."""
    sub = subscriber(mosquitto, *HEARTBEATS)
    simulator = simulators(
        mosquitto, dataloggers=4, gateways=2, interval_s=0.05, payload_version="mixed", seed=7
    )
    versions = {d.heartbeat_topic: d.payload_version for d in simulator.devices}
    assert set(versions.values()) == {"v1", "v2"}
    assert sub.wait_for(lambda: sub.count() >= 10 * len(versions), 10)

    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    uptimes: dict[str, list[int]] = defaultdict(list)
    for message in sub.messages:
        version = versions[message.topic]
        reading = decode(version, bytes(message.payload), 262_144)
        assert isinstance(reading, Reading), (message.topic, reading)
        is_datalogger = "/datalogger/" in message.topic
        if version == "v1":
            v1 = msgspec.json.decode(message.payload, type=V1)
            assert (v1.sensors is not None) == is_datalogger
            assert (v1.gateway is not None) == is_datalogger
            sensors = {s.id: s.value for s in v1.sensors or []}
            assert all(s.unit and s.label and s.type for s in v1.sensors or [])
            uptimes[message.topic].append(v1.uptime_s)
        else:
            v2 = msgspec.json.decode(message.payload, type=V2)
            sensors = {key: value for key, (value, _unit, _type) in v2.r.items()}
            uptimes[message.topic].append(v2.up)
        assert len(reading.sensors) == len(sensors) == (len(SENSORS) if is_datalogger else 0)
        for key, value in sensors.items():
            low, high = BOUNDS[key]
            assert low <= value <= high
            values[(message.topic, key)].append(value)

    assert all(times == sorted(times) for times in uptimes.values())
    assert all(len(set(series)) > 1 for series in values.values()), "values do not drift"


def test_topics_and_retained_online_statuses(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulators: Callable[..., Simulator]
) -> None:
    """Heartbeats go to API.md's topics, and every datalogger says `online`, retained."""
    sub = subscriber(mosquitto, *HEARTBEATS)
    simulator = simulators(mosquitto, sites=3, dataloggers=4, gateways=2, interval_s=0.05)
    expected = {d.heartbeat_topic for d in simulator.devices}
    assert len(expected) == 3 * 6
    assert sub.wait_for(lambda: {m.topic for m in sub.messages} >= expected, 5)
    assert {m.topic for m in sub.messages} == expected
    for topic in expected:
        assert DATALOGGER_TOPIC.match(topic) or GATEWAY_TOPIC.match(topic), topic

    dataloggers = [d for d in simulator.devices if d.kind == "datalogger"]
    late = subscriber(mosquitto, STATUSES)  # subscribes after start: gets retained statuses
    assert late.wait_for(lambda: late.count() >= len(dataloggers), 5)
    retained = {m.topic: m.payload for m in late.messages if m.retain}
    assert retained == {d.status_topic: b"online" for d in dataloggers}
    for topic in retained:
        assert DATALOGGER_TOPIC.match(topic) and topic.endswith("/status")


def test_flaky_devices_go_offline_and_come_back(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulators: Callable[..., Simulator]
) -> None:
    """A flaky datalogger says `offline`, sends no heartbeat while silent, then says `online`."""
    sub = subscriber(mosquitto, STATUSES, *HEARTBEATS)
    # QoS 1 for heartbeats too, so that one topic order holds across them and the statuses.
    simulator = simulators(
        mosquitto, dataloggers=6, gateways=0, interval_s=0.05, flaky=0.3, qos=1, seed=3
    )

    def silence_of(status_topic: str) -> list[bytes] | None:
        """What the device sent from its first `offline` to the next `online`, if both came."""
        base = status_topic.removesuffix("/status")
        seen = [m for m in sub.messages if m.topic.startswith(base + "/")]
        payloads = [bytes(m.payload) if m.topic == status_topic else b"heartbeat" for m in seen]
        if b"offline" in payloads and b"online" in payloads[payloads.index(b"offline") :]:
            start = payloads.index(b"offline")
            return payloads[start : payloads.index(b"online", start) + 1]
        return None

    statuses = [d.status_topic for d in simulator.devices if d.status_topic]

    def some_came_back() -> bool:
        return any(silence_of(topic) for topic in statuses)

    assert sub.wait_for(some_came_back, 10)
    for topic in statuses:
        silence = silence_of(topic)
        if silence is not None:
            assert silence == [b"offline", b"online"], "heartbeats while silent"
    stats = simulator.stop()
    assert stats.went_silent >= 1 and stats.came_back >= 1


def test_stop_leaves_every_datalogger_offline(
    mosquitto: Mosquitto, subscriber: MakeSubscriber
) -> None:
    """After stop, the retained status of every datalogger is `offline`, as its will would say."""
    simulator = Simulator(
        SimulateOptions(
            host=mosquitto.host,
            port=mosquitto.port,
            sites=2,
            dataloggers=3,
            interval_s=0.05,
            progress=False,
        )
    )
    simulator.start()
    simulator.stop()
    late = subscriber(mosquitto, STATUSES)
    dataloggers = [d for d in simulator.devices if d.kind == "datalogger"]
    assert late.wait_for(lambda: late.count() >= len(dataloggers), 5)
    assert {m.topic: m.payload for m in late.messages} == {
        d.status_topic: b"offline" for d in dataloggers
    }


def test_burst_delivers_every_message(subscriber: MakeSubscriber) -> None:
    """burst(N) at QoS 1 gets all N heartbeats to a subscriber and reports a rate."""
    with Mosquitto(max_queued_messages=0) as broker:
        sub = subscriber(broker, *HEARTBEATS)
        simulator = Simulator(
            SimulateOptions(
                host=broker.host, port=broker.port, sites=2, dataloggers=5, progress=False
            )
        )
        stats = simulator.burst(3000, qos=1)
        assert stats.count == 3000 and stats.rate > 0
        assert sub.wait_for(lambda: sub.count() >= 3000, 10)
        assert sub.count() == 3000


def test_max_messages_ends_a_run(mosquitto: Mosquitto) -> None:
    """run() returns by itself after max_messages heartbeats."""
    simulator = Simulator(
        SimulateOptions(
            host=mosquitto.host,
            port=mosquitto.port,
            dataloggers=5,
            interval_s=0.01,
            max_messages=50,
            progress=False,
        )
    )
    stats = simulator.run(threading.Event())
    assert stats.heartbeats == 50


def test_unreachable_broker_fails_clearly_and_at_once() -> None:
    """With nothing listening, start() raises SimulatorError naming the broker, without
    waiting out the connect timeout."""
    port = free_port()
    simulator = Simulator(SimulateOptions(port=port, sites=3, progress=False))
    started = time.monotonic()
    with pytest.raises(SimulatorError, match=f"127.0.0.1:{port}.*unreachable"):
        simulator.start()
    assert time.monotonic() - started < 5


def test_refused_credentials_fail_clearly() -> None:
    """A broker that wants a password refuses the simulator: the error gives the reason."""
    with Mosquitto(users={"alice": "s3cret"}) as broker:
        simulator = Simulator(SimulateOptions(host=broker.host, port=broker.port, progress=False))
        with pytest.raises(SimulatorError, match="Not authorized"):
            simulator.start()


@pytest.mark.parametrize(
    ("field", "value"),
    [("sites", -1), ("dataloggers", 0), ("interval_s", 0), ("flaky", 1.5), ("qos", 3)],
)
def test_options_validate_themselves(field: str, value: float) -> None:
    """Impossible options fail at construction and name the field."""
    kwargs: dict[str, object] = {"dataloggers": 1, "gateways": 0, field: value}
    with pytest.raises(ValidationError) as raised:
        SimulateOptions(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sitelink")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["simulate", *argv])


def test_command_line_runs_a_fleet(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sitelink simulate --broker H:P ... --duration S` publishes, then prints a summary."""
    sub = subscriber(mosquitto, *HEARTBEATS)
    args = parse(
        "--broker",
        f"{mosquitto.host}:{mosquitto.port}",
        "--sites",
        "2",
        "--dataloggers",
        "3",
        "--gateways",
        "1",
        "--interval",
        "0.1",
        "--duration",
        "0.5",
        "--no-progress",
    )
    assert args.handler is handle_simulate
    assert args.handler(args) == 0
    assert {m.topic.split("/")[0] for m in sub.messages} == {"site_001", "site_002"}
    out = capsys.readouterr().out
    assert "80.0 heartbeats/s" in out.splitlines()[0]
    assert "heartbeats" in out.splitlines()[-1]


def test_command_line_rejects_a_bad_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """A --broker that is not HOST:PORT is a usage error (exit 2) naming the option."""
    args = parse("--broker", "localhost:notaport")
    assert handle_simulate(args) == 2
    assert "broker" in capsys.readouterr().err


def test_reconnects_after_a_broker_restart_and_resends_statuses(
    mosquitto: Mosquitto, subscriber: MakeSubscriber, simulators: Callable[..., Simulator]
) -> None:
    """After the broker restarts (retained statuses gone), the fleet reconnects by itself,
    says `online` again and goes on with its heartbeats."""
    simulator = simulators(mosquitto, sites=2, dataloggers=2, gateways=1, interval_s=0.05)
    mosquitto.kill()
    mosquitto.restart()
    sub = subscriber(mosquitto, STATUSES, *HEARTBEATS)
    dataloggers = {d.status_topic for d in simulator.devices if d.kind == "datalogger"}

    def back() -> bool:
        online = {m.topic for m in sub.messages if m.payload == b"online"}
        return online == dataloggers and sub.count(is_heartbeat) >= len(simulator.devices)

    assert sub.wait_for(back, 15)

"""A simulated fleet of dataloggers and gateways publishing to a real broker.

Used by ``sitelink simulate``, the demo, the benchmarks and the tests. Each site gets one paho
client (client id ``sim-{code}``) that speaks for all its devices:

- ``{code}/datalogger/{model}/{serial}/heartbeat`` and ``{code}/gateway/{gw}/heartbeat``, one
  per device per interval, in API.md's v1 or v2 shape, with sensor values that drift (a random
  walk within bounds), a firmware and an uptime that grows;
- ``{code}/datalogger/{model}/{serial}/status``, retained: ``online`` at start. Real devices
  set ``offline`` as their MQTT will, but one client hosts many devices here, so a flaky device
  that goes silent publishes ``offline`` itself, and ``online`` when it comes back (rebooted,
  uptime from zero). On stop every datalogger says ``offline``, as its will would.

Publishes are spread evenly over the interval: with N devices, one every ``interval_s / N``
seconds on an absolute schedule, so a late publisher catches up instead of drifting. One
publishing thread drives all sites and owns the fleet's state; paho's threads do the I/O.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TextIO

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sitelink.errors import SitelinkError, ValidationError

MODELS = ("monstro", "pluvio", "meteo")
SILENCE_INTERVALS = (2, 5)  # a flaky device stays silent this many intervals (inclusive)
# key, label, type, unit, bounds, step of the walk, range of the starting value
SENSORS = (
    ("t_ext", "Temperatura Esterna", "temperature", "°C", (-20.0, 45.0), 0.15, (12.0, 26.0)),
    ("rh", "Umidità Relativa", "humidity", "%", (5.0, 100.0), 0.6, (40.0, 80.0)),
    ("p_atm", "Pressione Atmosferica", "pressure", "hPa", (950.0, 1050.0), 0.2, (1000.0, 1025.0)),
    ("v_batt", "Tensione Batteria", "battery_voltage", "V", (11.0, 14.4), 0.02, (12.2, 13.6)),
)
_CONNECT_TIMEOUT_S = 10.0
_PROGRESS_EVERY_S = 2.0
# Publishes due within this much are sent at once: each wake-up costs a GIL hand-over (up to
# the 5 ms switch interval with paho's threads busy), so sub-millisecond waits cap the rate.
_MIN_WAIT_S = 0.001


class SimulatorError(SitelinkError):
    """The simulator could not reach its broker."""


class SimulateOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What to simulate. ``max_messages`` counts heartbeats; ``seed`` makes a run repeatable.

    ``payload_version="mixed"``: even-numbered devices of a site speak v1, odd ones v2.
    ``flaky``: at each of its heartbeats a device goes silent with this probability.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    sites: int = 1
    dataloggers: int = 10
    gateways: int = 1
    interval_s: float = 5.0
    payload_version: Literal["v1", "v2", "mixed"] = "v1"
    flaky: float = 0.0
    qos: int = 0
    seed: int | None = None
    duration_s: float | None = None
    max_messages: int | None = None
    code_prefix: str = "site_"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, ok, why in (
            ("sites", self.sites >= 1, "must be at least 1"),
            ("dataloggers", self.dataloggers >= 0, "must not be negative"),
            ("gateways", self.gateways >= 0, "must not be negative"),
            ("dataloggers", self.dataloggers + self.gateways > 0, "no devices to simulate"),
            ("interval_s", self.interval_s > 0, "must be positive"),
            ("flaky", 0 <= self.flaky <= 1, "must be between 0 and 1"),
            ("qos", self.qos in (0, 1, 2), "must be 0, 1 or 2"),
            ("payload_version", self.payload_version in ("v1", "v2", "mixed"), "v1|v2|mixed"),
        ):
            if not ok:
                raise ValidationError(name, why)

    @property
    def devices(self) -> int:
        return self.sites * (self.dataloggers + self.gateways)

    @property
    def rate(self) -> float:
        """Heartbeats per second that this fleet publishes (statuses not counted)."""
        return self.devices / self.interval_s


class SimulateStats(msgspec.Struct, frozen=True, kw_only=True):
    heartbeats: int
    statuses: int
    unsent: int  # paho refused the publish (no connection): lost for QoS 0
    went_silent: int
    came_back: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Messages (heartbeats and statuses) per second over the run."""
        return (self.heartbeats + self.statuses) / self.elapsed_s if self.elapsed_s else 0.0


class BurstStats(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    qos: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0


class DeviceSpec(msgspec.Struct, frozen=True):
    """One simulated device, as a subscriber sees it. Gateways have no model, no status."""

    code: str
    kind: Literal["datalogger", "gateway"]
    serial: str
    model: str | None
    gateway: str
    payload_version: Literal["v1", "v2"]

    @property
    def heartbeat_topic(self) -> str:
        if self.kind == "gateway":
            return f"{self.code}/gateway/{self.serial}/heartbeat"
        return f"{self.code}/datalogger/{self.model}/{self.serial}/heartbeat"

    @property
    def status_topic(self) -> str | None:
        if self.kind == "gateway":
            return None
        return f"{self.code}/datalogger/{self.model}/{self.serial}/status"


@dataclass
class _Sensor:
    key: str
    label: str
    type: str
    unit: str
    low: float
    high: float
    step: float
    value: float

    def drift(self, rng: random.Random) -> float:
        """One step of a random walk that bounces off the bounds."""
        value = self.value + rng.gauss(0.0, self.step)
        if not self.low <= value <= self.high:
            value = 2 * self.value - value
        self.value = min(max(value, self.low), self.high)
        return round(self.value, 2)


@dataclass
class _Device:
    spec: DeviceSpec
    client: mqtt.Client
    firmware: str
    booted_at: float
    sensors: list[_Sensor] = field(default_factory=list)
    silent_for: int = 0  # intervals left before a silent device comes back

    def payload(self, rng: random.Random) -> bytes:
        uptime_s = int(time.monotonic() - self.booted_at)
        values = [(s, s.drift(rng)) for s in self.sensors]
        if self.spec.payload_version == "v2":
            readings = {s.key: [v, s.unit, s.type] for s, v in values}
            return msgspec.json.encode({"v": 2, "fw": self.firmware, "up": uptime_s, "r": readings})
        doc: dict[str, object] = {"firmware": self.firmware, "uptime_s": uptime_s}
        if self.spec.kind == "datalogger":
            doc["gateway"] = self.spec.gateway
            doc["sensors"] = [
                {"id": s.key, "label": s.label, "type": s.type, "value": v, "unit": s.unit}
                for s, v in values
            ]
        return msgspec.json.encode(doc)


class _Site:
    """One site's paho client, run without a paho thread: the publishing thread writes each
    publish straight to the socket and, between publishes, reads acks, pings and reconnects
    (``Simulator._pump``). One thread per site would cost a GIL hand-over per message, which
    capped ten sites at ~8k msg/s; this way they share one thread and reach the single-site rate.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        self.answered = False  # the first CONNACK (or refusal) arrived
        self.failure: str | None = None
        self.reconnected = False  # set on a later CONNACK: statuses must be re-sent
        self.retry_at: float | None = None  # when to reconnect after losing the connection
        self.retry_delay_s = 1.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{code}")
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if self.answered:
            self.reconnected = not rc.is_failure
        else:
            self.answered, self.failure = True, str(rc) if rc.is_failure else None
        if not rc.is_failure:
            self.retry_delay_s = 1.0

    def lost(self, now: float) -> None:
        """The connection dropped: try again after a delay that doubles up to 5 s."""
        if self.retry_at is None:
            self.retry_at = now + self.retry_delay_s
            self.retry_delay_s = min(2 * self.retry_delay_s, 5.0)

    def io(self, readable: bool, writable: bool, now: float) -> None:
        rc = self.client.loop_read() if readable else mqtt.MQTT_ERR_SUCCESS
        if rc == mqtt.MQTT_ERR_SUCCESS and writable:
            rc = self.client.loop_write()
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self.lost(now)

    def housekeeping(self, now: float) -> None:
        """Keepalive pings, and the reconnect when it is due."""
        if self.retry_at is None:
            if self.client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                self.lost(now)
        elif now >= self.retry_at:
            self.retry_at = None
            try:
                self.client.reconnect()
            except OSError:
                self.lost(now)


class Simulator:
    """A fleet on one broker. ``run`` blocks; ``start``/``stop`` run it on a thread of its own.

    ``devices`` lists what it simulates. Not reentrant: one run or burst at a time.
    """

    def __init__(self, options: SimulateOptions, *, out: TextIO | None = None) -> None:
        self.options = options
        self._out = out if out is not None else sys.stderr
        self._rng = random.Random(options.seed)
        self._sites = [_Site(f"{options.code_prefix}{n:03d}") for n in range(1, options.sites + 1)]
        fleets = [list(self._fleet(site)) for site in self._sites]
        # Interleaved across sites, so that each site's traffic is spread over the interval too.
        self._devices = [device for turn in zip(*fleets, strict=True) for device in turn]
        self._counts = dict.fromkeys(("heartbeats", "statuses", "unsent", "went_silent"), 0)
        self._counts["came_back"] = 0
        self._housekeeping_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats: SimulateStats | None = None
        self._error: BaseException | None = None

    @property
    def devices(self) -> list[DeviceSpec]:
        return [device.spec for device in self._devices]

    def _fleet(self, site: _Site) -> Iterator[_Device]:
        options, rng, now = self.options, self._rng, time.monotonic()
        for index in range(options.dataloggers + options.gateways):
            version: Literal["v1", "v2"] = "v1" if options.payload_version != "v2" else "v2"
            if options.payload_version == "mixed" and index % 2:
                version = "v2"
            firmware = "V.6.0.1" if version == "v2" else rng.choice(("V.5.53.0", "V.5.54.1"))
            booted_at = now - rng.uniform(60, 30 * 86_400)
            if index < options.dataloggers:
                model = MODELS[index % len(MODELS)]
                serial = f"{model[:6].upper()}-{index + 1:03d}"
                gateway = str(index % max(options.gateways, 1) + 1)
                spec = DeviceSpec(site.code, "datalogger", serial, model, gateway, version)
                sensors = [
                    _Sensor(key, label, kind, unit, low, high, step, rng.uniform(*start))
                    for key, label, kind, unit, (low, high), step, start in SENSORS
                ]
                yield _Device(spec, site.client, firmware, booted_at, sensors)
            else:
                gw = str(index - options.dataloggers + 1)
                spec = DeviceSpec(site.code, "gateway", gw, None, gw, version)
                yield _Device(spec, site.client, firmware, booted_at)

    def _connect(self) -> None:
        """Connect every site and wait for its CONNACK; then every datalogger says online."""
        deadline = time.monotonic() + _CONNECT_TIMEOUT_S
        for site in self._sites:
            site.answered, site.failure, site.retry_at = False, None, None
            site.client.connect_timeout = _CONNECT_TIMEOUT_S
            try:
                site.client.connect(self.options.host, self.options.port, keepalive=30)
            except OSError as exc:
                site.answered, site.failure = True, f"broker unreachable ({exc})"
                break

        def answered() -> bool:
            sites = self._sites
            return all(s.answered for s in sites) or any(s.failure is not None for s in sites)

        self._pump_until(answered, deadline - time.monotonic())
        for site in self._sites:
            if not site.answered or site.failure is not None:
                self._disconnect(say_offline=False)
                where = f"{self.options.host}:{self.options.port} as sim-{site.code}"
                raise SimulatorError(f"cannot connect to {where}: {site.failure or 'no CONNACK'}")
        for device in self._devices:
            self._publish_status(device, "online")

    def _disconnect(self, *, say_offline: bool = True) -> None:
        """Every datalogger still up says offline (as its will would); then disconnect."""
        last: list[mqtt.MQTTMessageInfo] = []
        for device in self._devices:
            if say_offline and not device.silent_for:
                info = self._publish_status(device, "offline")
                last += [info] if info is not None and info.rc == mqtt.MQTT_ERR_SUCCESS else []
        self._pump_until(lambda: all(info.is_published() for info in last), timeout_s=2)
        for site in self._sites:
            site.client.disconnect()
        self._pump_until(lambda: all(s.client.socket() is None for s in self._sites), 2)

    def _pump(self, timeout_s: float) -> None:
        """Network I/O of all sites, waiting at most ``timeout_s`` for some: acks in, pending
        bytes out, keepalive and reconnects once a second. Runs on the publishing thread."""
        now = time.monotonic()
        sockets = {}
        for site in self._sites:
            sock = site.client.socket()
            if sock is not None:
                sockets[sock] = site
        writers = [sock for sock, site in sockets.items() if site.client.want_write()]
        if sockets:
            readable, writable, _ = select.select(list(sockets), writers, [], timeout_s)
            for sock in {*readable, *writable}:
                site = sockets[sock]
                site.io(sock in readable, sock in writable, now)
                if site.reconnected:
                    site.reconnected = False
                    self._resend_statuses(site)
        else:
            time.sleep(timeout_s)  # nothing connected: only the reconnects below can happen
        if now >= self._housekeeping_at:
            self._housekeeping_at = now + 1.0
            for site in self._sites:
                site.housekeeping(now)

    def _pump_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() >= deadline:
                return False
            self._pump(0.05)
        return True

    def _publish_status(self, device: _Device, status: str) -> mqtt.MQTTMessageInfo | None:
        """Publish a datalogger's retained availability (gateways have no status topic)."""
        if device.spec.status_topic is None:
            return None
        info = device.client.publish(device.spec.status_topic, status, qos=1, retain=True)
        self._counts["statuses" if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1
        return info

    def _publish_heartbeat(self, device: _Device, qos: int) -> mqtt.MQTTMessageInfo:
        payload = device.payload(self._rng)
        info = device.client.publish(device.spec.heartbeat_topic, payload, qos=qos)
        self._counts["heartbeats" if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1
        return info

    def _turn(self, device: _Device) -> None:
        """The device's turn in this interval: heartbeat, fall silent, or count down."""
        if device.silent_for:
            device.silent_for -= 1
            if device.silent_for:
                return
            device.booted_at = time.monotonic()
            self._counts["came_back"] += 1
            self._publish_status(device, "online")
        elif self.options.flaky and self._rng.random() < self.options.flaky:
            device.silent_for = self._rng.randint(*SILENCE_INTERVALS)
            self._counts["went_silent"] += 1
            self._publish_status(device, "offline")
            return
        self._publish_heartbeat(device, self.options.qos)

    def _resend_statuses(self, site: _Site) -> None:
        """After a reconnect: the broker may have lost the retained statuses (a restart)."""
        for device in self._devices:
            if device.client is site.client:
                self._publish_status(device, "offline" if device.silent_for else "online")

    def run(self, stop: threading.Event) -> SimulateStats:
        """Connect, publish until ``stop`` is set (or duration or max_messages), disconnect.

        Blocks; the calling thread does all the publishing. Raises ``SimulatorError`` if a
        site's client cannot connect within 10 s.
        """
        self._connect()
        try:
            return self._publish_until(stop)
        finally:
            self._disconnect()

    def _publish_until(self, stop: threading.Event) -> SimulateStats:
        options, never = self.options, float("inf")
        slot_s = options.interval_s / len(self._devices)
        started = time.monotonic()
        end = started + options.duration_s if options.duration_s is not None else never
        progress_at = started + _PROGRESS_EVERY_S if options.progress else never
        last_progress, turn, pumped_at = (started, 0), 0, started
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if now >= progress_at:
                last_progress = self._progress(now, *last_progress)
                progress_at = now + _PROGRESS_EVERY_S
            due = started + turn * slot_s
            if due - now > _MIN_WAIT_S:
                # The pacing wait does the network I/O; stop is seen within 0.1 s.
                self._pump(min(due, end, progress_at, now + 0.1) - now)
                pumped_at = time.monotonic()
                continue
            if now - pumped_at > _MIN_WAIT_S:  # behind schedule: still read acks now and then
                self._pump(0)
                pumped_at = now
            self._turn(self._devices[turn % len(self._devices)])
            turn += 1
            if options.max_messages is not None and (
                self._counts["heartbeats"] >= options.max_messages
            ):
                break
        return SimulateStats(elapsed_s=time.monotonic() - started, **self._counts)

    def _progress(self, now: float, since: float, count_then: int) -> tuple[float, int]:
        count = self._counts["heartbeats"] + self._counts["statuses"]
        silent = sum(1 for device in self._devices if device.silent_for)
        print(
            f"simulate: {(count - count_then) / (now - since):8.1f} msg/s  heartbeats "
            f"{self._counts['heartbeats']}  silent {silent}/{len(self._devices)}",
            file=self._out,
            flush=True,
        )
        return now, count

    def start(self) -> None:
        """Connect (raising ``SimulatorError`` here if the broker is not there), then
        publish on a background thread until ``stop``."""
        self._stop.clear()
        self._connect()

        def publish() -> None:
            try:
                self._stats = self._publish_until(self._stop)
            except BaseException as exc:  # handed to stop()
                self._error = exc
            finally:
                self._disconnect()

        self._thread = threading.Thread(target=publish, name="simulator", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for a background run to end by itself (duration or max_messages)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    def stop(self) -> SimulateStats:
        """Stop the background run, wait until it has disconnected, return what it did."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._stats or SimulateStats(elapsed_s=0.0, **self._counts)

    def burst(self, count: int, *, qos: int | None = None) -> BurstStats:
        """Publish ``count`` heartbeats as fast as possible, round-robin over the devices,
        and wait until the last one is written (QoS 0) or acknowledged (QoS 1, 2)."""
        qos = self.options.qos if qos is None else qos
        self._connect()
        try:
            started = time.monotonic()
            last: dict[str, mqtt.MQTTMessageInfo] = {}
            for n in range(count):
                device = self._devices[n % len(self._devices)]
                last[device.spec.code] = self._publish_heartbeat(device, qos)
                if n % 64 == 0:
                    self._pump(0)
            # Each client sends in order: once its last message is out (or acked), all are.
            if not self._pump_until(lambda: all(i.is_published() for i in last.values()), 60):
                raise SimulatorError(f"burst: the broker did not take {count} messages in 60 s")
            return BurstStats(count=count, qos=qos, elapsed_s=time.monotonic() - started)
        finally:
            self._disconnect()


# (flag, option field, type, default, metavar, help)
_ARGUMENTS: tuple[tuple[str, str, type, object, str | None, str], ...] = (
    ("--sites", "sites", int, 1, "N", "sites, with codes site_001, site_002, ..."),
    ("--dataloggers", "dataloggers", int, 10, "M", "dataloggers per site"),
    ("--gateways", "gateways", int, 1, "G", "gateways per site"),
    ("--interval", "interval_s", float, 5.0, "S", "seconds between two heartbeats of a device"),
    ("--flaky", "flaky", float, 0.0, "P", "chance that a device goes silent at each heartbeat"),
    ("--payload-version", "payload_version", str, "v1", "v1|v2|mixed", "mixed: v1 and v2"),
    ("--qos", "qos", int, 0, "0|1|2", "QoS of heartbeats (statuses use 1)"),
    ("--duration", "duration_s", float, None, "S", "stop after S seconds"),
    ("--max-messages", "max_messages", int, None, "N", "stop after N heartbeats"),
    ("--seed", "seed", int, None, None, "seed of the random values, for repeatable runs"),
    ("--code-prefix", "code_prefix", str, "site_", "PREFIX", "site codes: PREFIX001, ..."),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sitelink simulate`` to the CLI, with ``handle_simulate`` as ``args.handler``."""
    parser = subparsers.add_parser(
        "simulate",
        help="publish a simulated fleet of dataloggers to an MQTT broker",
        description="Publish the heartbeats and statuses of simulated sites (see API.md).",
    )
    parser.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT", help="broker")
    for flag, dest, kind, default, metavar, help_text in _ARGUMENTS:
        parser.add_argument(flag, dest=dest, type=kind, default=default, metavar=metavar,
                            help=help_text)  # fmt: skip
    parser.add_argument("--burst", type=int, metavar="N", help="publish N heartbeats at once")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(handler=handle_simulate)


def options_from_args(args: argparse.Namespace) -> SimulateOptions:
    """The options of a parsed ``sitelink simulate`` command line."""
    host, _, port = str(args.broker).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError("broker", f"expected HOST:PORT, got {args.broker!r}")
    values = {dest: getattr(args, dest) for _flag, dest, *_rest in _ARGUMENTS}
    return SimulateOptions(host=host, port=int(port), progress=not args.no_progress, **values)


def handle_simulate(args: argparse.Namespace) -> int:
    """Run ``sitelink simulate`` until Ctrl-C (or its end); returns the exit code."""
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        print(f"sitelink simulate: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(options)
    try:
        if args.burst is not None:
            burst = simulator.burst(args.burst)
            print(f"burst: {burst.count} heartbeats, QoS {burst.qos}, {burst.rate:.0f} msg/s")
            return 0
        print(
            f"simulate: {options.sites} sites x ({options.dataloggers} dataloggers + "
            f"{options.gateways} gateways) every {options.interval_s:g} s = "
            f"{options.rate:.1f} heartbeats/s to {options.host}:{options.port}",
            flush=True,
        )
        simulator.start()
    except SimulatorError as exc:
        print(f"sitelink simulate: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C interrupts the join's lock wait
        simulator.join()
    stats = simulator.stop()
    print(
        f"simulate: {stats.heartbeats} heartbeats, {stats.statuses} statuses, "
        f"{stats.unsent} unsent in {stats.elapsed_s:.1f} s ({stats.rate:.1f} msg/s)"
    )
    return 0

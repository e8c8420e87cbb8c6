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
seconds on an absolute schedule, so a late publisher catches up instead of drifting.
One publishing thread drives all sites; paho's own threads do the network I/O.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TextIO

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sitelink.errors import SitelinkError, ValidationError

PayloadVersion = Literal["v1", "v2", "mixed"]

MODELS = ("monstro", "pluvio", "meteo")
SILENCE_INTERVALS = (2, 5)  # a flaky device stays silent this many intervals (inclusive)
_CONNECT_TIMEOUT_S = 10.0
_PROGRESS_EVERY_S = 2.0


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
    payload_version: PayloadVersion = "v1"
    flaky: float = 0.0
    qos: int = 0
    seed: int | None = None
    duration_s: float | None = None
    max_messages: int | None = None
    code_prefix: str = "site_"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("sites", "dataloggers", "gateways"):
            if getattr(self, name) < 0:
                raise ValidationError(name, "must not be negative")
        if self.sites == 0:
            raise ValidationError("sites", "must be at least 1")
        if self.dataloggers + self.gateways == 0:
            raise ValidationError("dataloggers", "no devices: give dataloggers or gateways")
        if not self.interval_s > 0:
            raise ValidationError("interval_s", "must be positive")
        if not 0 <= self.flaky <= 1:
            raise ValidationError("flaky", "must be between 0 and 1")
        if self.qos not in (0, 1, 2):
            raise ValidationError("qos", "must be 0, 1 or 2")
        if self.payload_version not in ("v1", "v2", "mixed"):
            raise ValidationError("payload_version", "must be v1, v2 or mixed")

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


class DeviceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One simulated device, as a subscriber sees it."""

    code: str
    kind: Literal["datalogger", "gateway"]
    serial: str
    model: str | None
    gateway: str
    payload_version: Literal["v1", "v2"]
    heartbeat_topic: str
    status_topic: str | None


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
        if value < self.low or value > self.high:
            value = self.value - (value - self.value)
        self.value = min(max(value, self.low), self.high)
        return round(self.value, 2)


# key, label, type, unit, bounds, step of the walk, range of the starting value
SENSORS = (
    ("t_ext", "Temperatura Esterna", "temperature", "°C", (-20.0, 45.0), 0.15, (12.0, 26.0)),
    ("rh", "Umidità Relativa", "humidity", "%", (5.0, 100.0), 0.6, (40.0, 80.0)),
    ("p_atm", "Pressione Atmosferica", "pressure", "hPa", (950.0, 1050.0), 0.2, (1000.0, 1025.0)),
    ("v_batt", "Tensione Batteria", "battery_voltage", "V", (11.0, 14.4), 0.02, (12.2, 13.6)),
)


def _sensors(rng: random.Random) -> list[_Sensor]:
    return [
        _Sensor(key, label, kind, unit, low, high, step, rng.uniform(*start))
        for key, label, kind, unit, (low, high), step, start in SENSORS
    ]


@dataclass
class _Device:
    spec: DeviceSpec
    firmware: str
    booted_at: float
    sensors: list[_Sensor] = field(default_factory=list)
    silent_for: int = 0  # intervals left before a silent device comes back

    def payload(self, now: float, rng: random.Random) -> bytes:
        uptime_s = int(now - self.booted_at)
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
    """One site's paho client. Its callbacks run on paho's thread and only set flags.

    After the first CONNACK paho reconnects by itself (a broker restart during a long run);
    ``reconnected`` then asks the publishing thread to send the statuses again.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        self.answered = threading.Event()  # first CONNACK, or first failure to connect
        self.failure: str | None = None
        self.reconnected = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{code}")
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 5)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if self.answered.is_set():
            self.reconnected = not reason.is_failure
        else:
            self.failure = str(reason) if reason.is_failure else None
            self.answered.set()

    def _on_connect_fail(self, _c: object, _u: object) -> None:
        if not self.answered.is_set():
            self.failure = "broker unreachable"
            self.answered.set()


class Simulator:
    """A fleet on one broker. ``run`` blocks; ``start``/``stop`` run it on a thread.

    All publishing happens on the thread that runs ``run`` (or ``burst``); the fleet's state
    (sensor values, silences) belongs to that thread.
    """

    def __init__(self, options: SimulateOptions, *, out: TextIO | None = None) -> None:
        self.options = options
        self._out = out if out is not None else sys.stderr
        self._rng = random.Random(options.seed)
        self._sites = [_Site(f"{options.code_prefix}{n:03d}") for n in range(1, options.sites + 1)]
        fleets = [list(self._fleet(site.code)) for site in self._sites]
        # Interleaved across sites, so that each site's traffic is spread over the interval too.
        self._devices = [device for turn in zip(*fleets, strict=True) for device in turn]
        self._by_code = {site.code: site for site in self._sites}
        self._counts = {
            "heartbeats": 0,
            "statuses": 0,
            "unsent": 0,
            "went_silent": 0,
            "came_back": 0,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats: SimulateStats | None = None
        self._error: BaseException | None = None

    @property
    def devices(self) -> list[DeviceSpec]:
        return [device.spec for device in self._devices]

    def _fleet(self, code: str) -> Iterator[_Device]:
        options, rng, now = self.options, self._rng, time.monotonic()
        gateways = [str(g) for g in range(1, options.gateways + 1)] or ["1"]
        for index in range(options.dataloggers + options.gateways):
            version = options.payload_version
            if version == "mixed":
                version = "v1" if index % 2 == 0 else "v2"
            booted_at = now - rng.uniform(60, 30 * 86_400)
            firmware = "V.6.0.1" if version == "v2" else rng.choice(("V.5.53.0", "V.5.54.1"))
            if index < options.dataloggers:
                model = MODELS[index % len(MODELS)]
                serial = f"{model[:6].upper()}-{index + 1:03d}"
                base = f"{code}/datalogger/{model}/{serial}"
                spec = DeviceSpec(
                    code=code,
                    kind="datalogger",
                    serial=serial,
                    model=model,
                    gateway=gateways[index % len(gateways)],
                    payload_version=version,
                    heartbeat_topic=f"{base}/heartbeat",
                    status_topic=f"{base}/status",
                )
                yield _Device(spec, firmware, booted_at, _sensors(rng))
            else:
                gw = str(index - options.dataloggers + 1)
                spec = DeviceSpec(
                    code=code,
                    kind="gateway",
                    serial=gw,
                    model=None,
                    gateway=gw,
                    payload_version=version,
                    heartbeat_topic=f"{code}/gateway/{gw}/heartbeat",
                    status_topic=None,
                )
                yield _Device(spec, firmware, booted_at)

    # ------------------------------------------------------------------ connection

    def _connect(self) -> None:
        for site in self._sites:
            site.answered.clear()
            site.client.connect_async(self.options.host, self.options.port, keepalive=30)
            site.client.loop_start()
        deadline = time.monotonic() + _CONNECT_TIMEOUT_S
        for site in self._sites:
            answered = site.answered.wait(max(0.0, deadline - time.monotonic()))
            if not answered or site.failure is not None:
                self._disconnect(say_offline=False)
                reason = site.failure or "no CONNACK"
                raise SimulatorError(
                    f"cannot connect to {self.options.host}:"
                    f"{self.options.port} as sim-{site.code}: {reason}"
                )
        for device in self._devices:
            self._publish_status(device, "online")

    def _disconnect(self, *, say_offline: bool = True) -> None:
        last: dict[str, mqtt.MQTTMessageInfo | None] = {}
        for device in self._devices:
            if say_offline and device.silent_for == 0:
                last[device.spec.code] = self._publish_status(device, "offline") or last.get(
                    device.spec.code
                )
        for info in last.values():
            # Messages go out in order on each client: the last one sent means all were.
            if info is not None and info.rc == mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout=2)
        for site in self._sites:
            site.client.disconnect()
            site.client.loop_stop()

    # ------------------------------------------------------------------ publishing

    def _publish_status(self, device: _Device, status: str) -> mqtt.MQTTMessageInfo | None:
        """Publish a datalogger's retained availability (gateways have no status topic)."""
        if device.spec.status_topic is None:
            return None
        site = self._by_code[device.spec.code]
        info = site.client.publish(device.spec.status_topic, status, qos=1, retain=True)
        self._count(info, "statuses")
        return info

    def _publish_heartbeat(self, device: _Device, qos: int) -> mqtt.MQTTMessageInfo:
        site = self._by_code[device.spec.code]
        payload = device.payload(time.monotonic(), self._rng)
        info = site.client.publish(device.spec.heartbeat_topic, payload, qos=qos)
        self._count(info, "heartbeats")
        return info

    def _count(self, info: mqtt.MQTTMessageInfo, kind: str) -> None:
        self._counts[kind if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1

    def _tick(self, device: _Device) -> None:
        """The device's turn in this interval: heartbeat, fall silent, or count down."""
        if device.silent_for > 0:
            device.silent_for -= 1
            if device.silent_for > 0:
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

    def _resend_statuses_after_reconnect(self) -> None:
        for site in self._sites:
            if site.reconnected:
                site.reconnected = False
                for device in self._devices:
                    if device.spec.code == site.code:
                        self._publish_status(device, "offline" if device.silent_for else "online")

    def run(self, stop: threading.Event) -> SimulateStats:
        """Connect, publish until ``stop`` is set (or duration/max_messages), disconnect.

        Blocks the calling thread, which does all the publishing. Raises ``SimulatorError``
        if a site's client cannot connect within 10 s.
        """
        self._connect()
        try:
            return self._publish_until(stop)
        finally:
            self._disconnect()

    def _publish_until(self, stop: threading.Event) -> SimulateStats:
        options = self.options
        slot_s = options.interval_s / len(self._devices)
        started = time.monotonic()
        end = started + options.duration_s if options.duration_s is not None else float("inf")
        progress_at, last_progress = started + _PROGRESS_EVERY_S, (started, 0)
        turn = 0
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if options.progress and now >= progress_at:
                total = self._counts["heartbeats"] + self._counts["statuses"]
                self._progress((total - last_progress[1]) / (now - last_progress[0]))
                progress_at, last_progress = now + _PROGRESS_EVERY_S, (now, total)
            due = started + turn * slot_s
            if due > now:
                # Waiting on the stop event doubles as the pacing sleep.
                stop.wait(min(due, end, progress_at) - now)
                continue
            self._resend_statuses_after_reconnect()
            self._tick(self._devices[turn % len(self._devices)])
            turn += 1
            if options.max_messages is not None and (
                self._counts["heartbeats"] >= options.max_messages
            ):
                break
        return self._snapshot(time.monotonic() - started)

    def _progress(self, rate: float) -> None:
        silent = sum(1 for device in self._devices if device.silent_for)
        print(
            f"simulate: {rate:8.1f} msg/s  heartbeats {self._counts['heartbeats']}  "
            f"statuses {self._counts['statuses']}  silent {silent}/{len(self._devices)}",
            file=self._out,
            flush=True,
        )

    def _snapshot(self, elapsed_s: float) -> SimulateStats:
        return SimulateStats(elapsed_s=elapsed_s, **self._counts)

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

    def stop(self) -> SimulateStats:
        """Stop the background run, wait for it to disconnect, return what it did."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._stats if self._stats is not None else self._snapshot(0.0)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for a background run to end by itself (duration or max_messages)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

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
            for info in last.values():
                info.wait_for_publish(timeout=60)
            return BurstStats(count=count, qos=qos, elapsed_s=time.monotonic() - started)
        finally:
            self._disconnect()


# ---------------------------------------------------------------------- command line


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sitelink simulate`` to the CLI; its handler is set as ``handler``."""
    parser = subparsers.add_parser(
        "simulate",
        help="publish a simulated fleet of dataloggers to an MQTT broker",
        description="Publish heartbeats and statuses of simulated sites as API.md describes.",
    )
    parser.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT")
    parser.add_argument("--sites", type=int, default=1, metavar="N")
    parser.add_argument(
        "--dataloggers", type=int, default=10, metavar="M", help="dataloggers per site"
    )
    parser.add_argument("--gateways", type=int, default=1, metavar="G", help="gateways per site")
    parser.add_argument(
        "--interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between two heartbeats of one device",
    )
    parser.add_argument(
        "--flaky",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a device goes silent at each heartbeat",
    )
    parser.add_argument("--payload-version", choices=("v1", "v2", "mixed"), default="v1")
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=0)
    parser.add_argument("--duration", type=float, default=None, metavar="S")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--code-prefix", default="site_")
    parser.add_argument(
        "--burst",
        type=int,
        default=None,
        metavar="N",
        help="publish N heartbeats as fast as possible, print the rate, exit",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(handler=handle_simulate)


def options_from_args(args: argparse.Namespace) -> SimulateOptions:
    host, _, port = str(args.broker).rpartition(":")
    if not host:
        host, port = port, "1883"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError("broker", f"expected HOST:PORT, got {args.broker!r}")
    return SimulateOptions(
        host=host,
        port=int(port),
        sites=args.sites,
        dataloggers=args.dataloggers,
        gateways=args.gateways,
        interval_s=args.interval,
        payload_version=args.payload_version,
        flaky=args.flaky,
        qos=args.qos,
        seed=args.seed,
        duration_s=args.duration,
        max_messages=args.max_messages,
        code_prefix=args.code_prefix,
        progress=not args.no_progress,
    )


def handle_simulate(args: argparse.Namespace) -> int:
    """Run ``sitelink simulate`` until Ctrl-C (or its duration); returns the exit code."""
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        print(f"sitelink simulate: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(options)
    try:
        if args.burst is not None:
            burst = simulator.burst(args.burst)
            print(
                f"burst: {burst.count} heartbeats at QoS {burst.qos} in {burst.elapsed_s:.3f} s"
                f" = {burst.rate:.0f} msg/s"
            )
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

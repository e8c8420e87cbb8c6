"""The publisher: ``Simulator`` connects every site, paces the heartbeats of the fleet over the
interval, makes flaky devices fall silent and come back, and says ``offline`` on the way out.

One publishing thread (the caller of ``run`` or ``burst``, or the thread ``start`` makes) owns
the fleet's state and does the network I/O of all sites.
"""

from __future__ import annotations

import random
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

import msgspec
import paho.mqtt.client as mqtt

from sitelink.errors import SitelinkError
from sitelink.simulate.fleet import SILENCE_INTERVALS, DeviceSpec, SimulatedDevice, site_fleet
from sitelink.simulate.options import SimulateOptions
from sitelink.simulate.site_connection import SiteConnection

_CONNECT_TIMEOUT_S = 10.0
_PROGRESS_EVERY_S = 2.0
# Publishes due within this much are sent at once: each wake-up costs a GIL hand-over (up to
# the 5 ms switch interval with paho's threads busy), so sub-millisecond waits cap the rate.
_MIN_WAIT_S = 0.001


class SimulatorError(SitelinkError):
    """The simulator could not reach its broker."""


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


class Simulator:
    """A fleet on one broker. ``run`` blocks; ``start``/``stop`` run it on a thread of its own.

    ``devices`` lists what it simulates. Not reentrant: one run or burst at a time.
    """

    def __init__(self, options: SimulateOptions, *, out: TextIO | None = None) -> None:
        self.options = options
        self._out = out if out is not None else sys.stderr
        self._rng = random.Random(options.seed)
        codes = [f"{options.code_prefix}{n:03d}" for n in range(1, options.sites + 1)]
        self._sites = [SiteConnection(code) for code in codes]
        fleets = [
            list(site_fleet(s.code, s.client, options, self._rng, number))
            for number, s in enumerate(self._sites, start=1)
        ]
        # Interleaved across sites, so that each site's traffic is spread over the interval too.
        self._devices = [device for turn in zip(*fleets, strict=True) for device in turn]
        # Sparkplug: each site's client hears the commands to its edge nodes (rebirths).
        self._edges = {d.edge.command_filter: d.edge for d in self._devices
                       if d.edge is not None and d.spec.kind == "gateway"}
        for site in self._sites if self._edges else ():
            site.client.on_message = self._on_command
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
        self._subscribe_commands(self._sites)
        for device in reversed(self._devices):  # gateways first: NBIRTH before DBIRTH
            self._publish_status(device, "online")

    def _subscribe_commands(self, sites: list[SiteConnection]) -> None:
        for site in sites if self._edges else ():
            site.client.subscribe(f"spBv1.0/{site.code}/NCMD/+", qos=0)

    def _on_command(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        """paho's on_message, run inside ``loop_read`` on the publishing thread."""
        edge = self._edges.get(message.topic)
        if edge is not None:
            edge.command(message.payload)

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
        by_fd = {}
        for site in self._sites:
            sock = site.client.socket()
            if sock is not None:
                by_fd[sock.fileno()] = site
        if by_fd:
            poller = select.poll()  # not select(): it stops at descriptor 1024, fleets do not
            for fd, site in by_fd.items():
                poller.register(fd, select.POLLIN | (select.POLLOUT if site.client.want_write()
                                                     else 0))
            for fd, mask in poller.poll(timeout_s * 1000):
                site = by_fd[fd]
                site.io(bool(mask & (select.POLLIN | select.POLLERR | select.POLLHUP)),
                        bool(mask & select.POLLOUT), now)
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

    def _publish_status(self, device: SimulatedDevice, status: str) -> mqtt.MQTTMessageInfo | None:
        """Publish a datalogger's retained availability (gateways have no status topic); for
        Sparkplug, the births and deaths that say the same."""
        if device.edge is not None:
            return self._sparkplug_status(device, status)
        if device.spec.status_topic is None:
            return None
        info = device.client.publish(device.spec.status_topic, status, qos=1, retain=True)
        self._counts["statuses" if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1
        return info

    def _sparkplug_status(
        self, device: SimulatedDevice, status: str
    ) -> mqtt.MQTTMessageInfo | None:
        edge, serial = device.edge, device.spec.serial
        assert edge is not None
        messages: list[tuple[str, bytes]] = []
        if device.spec.kind == "gateway" and status == "online":
            messages.append(edge.node_birth(device.uptime_s))
            messages += [edge.device_birth(d.spec.serial, d.current()) for d in self._devices
                         if d.edge is edge and d.spec.kind == "datalogger" and not d.silent_for]
        elif device.spec.kind == "gateway":
            messages.append(edge.node_death())
        elif edge.born:
            messages.append(edge.device_birth(serial, device.current()) if status == "online"
                            else edge.device_death(serial))
        info = None
        for topic, payload in messages:
            info = device.client.publish(topic, payload, qos=1)
            self._counts["statuses" if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1
        return info

    def _publish_heartbeat(self, device: SimulatedDevice, qos: int) -> mqtt.MQTTMessageInfo:
        if device.edge is not None and device.edge.rebirth_asked:
            gateway = next(d for d in self._devices
                           if d.edge is device.edge and d.spec.kind == "gateway")
            self._publish_status(gateway, "online")
        topic, payload = device.heartbeat(self._rng)
        info = device.client.publish(topic, payload, qos=qos)
        self._counts["heartbeats" if info.rc == mqtt.MQTT_ERR_SUCCESS else "unsent"] += 1
        return info

    def _turn(self, device: SimulatedDevice) -> None:
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
        if device.edge is not None and not device.edge.born and not device.edge.rebirth_asked:
            return  # its edge node is dead (a silent gateway): its devices are silent too
        self._publish_heartbeat(device, self.options.qos)

    def _resend_statuses(self, site: SiteConnection) -> None:
        """After a reconnect: the broker may have lost the retained statuses (a restart);
        a Sparkplug node is born again (gateways first)."""
        self._subscribe_commands([site])
        for device in reversed(self._devices):
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

"""The simulated fleet of a site: its devices, their sensors that drift, their payloads.

All of it is state of the publishing thread (``Simulator``), which alone reads and changes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import paho.mqtt.client as mqtt

from sitelink.simulate.formats import SparkplugEdge, csi_payload
from sitelink.simulate.options import SimulateOptions

Version = Literal["v1", "v2", "csi", "sparkplug_b"]

MODELS = ("monstro", "pluvio", "meteo")
SILENCE_INTERVALS = (2, 5)  # a flaky device stays silent this many intervals (inclusive)
# key, label, type, unit, bounds, step of the walk, range of the starting value
SENSORS = (
    ("t_ext", "Temperatura Esterna", "temperature", "°C", (-20.0, 45.0), 0.15, (12.0, 26.0)),
    ("rh", "Umidità Relativa", "humidity", "%", (5.0, 100.0), 0.6, (40.0, 80.0)),
    ("p_atm", "Pressione Atmosferica", "pressure", "hPa", (950.0, 1050.0), 0.2, (1000.0, 1025.0)),
    ("v_batt", "Tensione Batteria", "battery_voltage", "V", (11.0, 14.4), 0.02, (12.2, 13.6)),
)


class DeviceSpec(msgspec.Struct, frozen=True):
    """One simulated device, as a subscriber sees it. Gateways have no model, no status."""

    code: str
    kind: Literal["datalogger", "gateway"]
    serial: str
    model: str | None
    gateway: str
    payload_version: Version

    @property
    def heartbeat_topic(self) -> str:
        """Where its heartbeats go (for Sparkplug: its NDATA or DDATA topic)."""
        if self.payload_version == "sparkplug_b":
            if self.kind == "gateway":
                return f"spBv1.0/{self.code}/NDATA/{self.serial}"
            return f"spBv1.0/{self.code}/DDATA/{self.gateway}/{self.serial}"
        if self.kind == "gateway":
            return f"{self.code}/gateway/{self.serial}/heartbeat"
        return f"{self.code}/datalogger/{self.model}/{self.serial}/heartbeat"

    @property
    def status_topic(self) -> str | None:
        """Its retained status topic; None for gateways and Sparkplug (births and deaths)."""
        if self.kind == "gateway" or self.payload_version == "sparkplug_b":
            return None
        return f"{self.code}/datalogger/{self.model}/{self.serial}/status"


@dataclass
class DriftingSensor:
    """A sensor whose value takes a random walk within ``low``..``high``."""

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
class SimulatedDevice:
    """A device's state between its heartbeats: its sensors, uptime and silence."""

    spec: DeviceSpec
    client: mqtt.Client
    firmware: str
    booted_at: float
    sensors: list[DriftingSensor] = field(default_factory=list)
    silent_for: int = 0  # intervals left before a silent device comes back
    edge: SparkplugEdge | None = None  # sparkplug_b: its edge node (a gateway's own)
    records: int = 0

    @property
    def uptime_s(self) -> int:
        return int(time.monotonic() - self.booted_at)

    def current(self) -> list[tuple[DriftingSensor, float]]:
        """Its sensors and their values now, without a step (for a birth)."""
        return [(s, round(s.value, 2)) for s in self.sensors]

    def heartbeat(self, rng: random.Random) -> tuple[str, bytes]:
        """The next heartbeat's topic and payload; its sensors drift one step."""
        if self.edge is None:
            return self.spec.heartbeat_topic, self.payload(rng)
        if self.spec.kind == "gateway":
            return self.edge.node_data(self.uptime_s)
        return self.edge.device_data(self.spec.serial, [(s, s.drift(rng)) for s in self.sensors])

    def payload(self, rng: random.Random) -> bytes:
        """The next heartbeat, in API.md's v1 or v2 shape or CSI-JSON; its sensors drift one
        step. (Sparkplug devices publish through ``heartbeat``.)"""
        uptime_s = self.uptime_s
        values = [(s, s.drift(rng)) for s in self.sensors]
        if self.spec.payload_version == "csi":
            self.records += 1
            return csi_payload(self.spec.serial, self.firmware, self.records, values)
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


def site_fleet(
    code: str, client: mqtt.Client, options: SimulateOptions, rng: random.Random,
    site_number: int = 1,
) -> Iterator[SimulatedDevice]:
    """The devices of site ``code`` (the ``site_number``-th, from 1), dataloggers first, all
    publishing through ``client``.

    Draws firmwares, boot times and starting values from ``rng``, in device order.
    """
    now = time.monotonic()
    sparkplug = options.payload_version == "sparkplug_b"
    edges = {str(n): SparkplugEdge(code, str(n)) for n in range(1, options.gateways + 1)
             if sparkplug}
    for index in range(options.dataloggers + options.gateways):
        version: Version = "v1" if options.payload_version != "v2" else "v2"
        if options.payload_version == "mixed" and index % 2:
            version = "v2"
        if options.payload_version == "by-site" and site_number % 2 == 0:
            version = "v2"
        if options.payload_version == "csi" and index < options.dataloggers:
            version = "csi"
        if sparkplug:
            version = "sparkplug_b"
        firmware = "V.6.0.1" if version == "v2" else rng.choice(("V.5.53.0", "V.5.54.1"))
        booted_at = now - rng.uniform(60, 30 * 86_400)
        if index < options.dataloggers:
            model = MODELS[index % len(MODELS)]
            serial = f"{model[:6].upper()}-{index + 1:03d}"
            gateway = str(index % max(options.gateways, 1) + 1)
            spec = DeviceSpec(code, "datalogger", serial, model, gateway, version)
            sensors = [
                DriftingSensor(key, label, kind, unit, low, high, step, rng.uniform(*start))
                for key, label, kind, unit, (low, high), step, start in SENSORS
            ]
            yield SimulatedDevice(spec, client, firmware, booted_at, sensors,
                                  edge=edges.get(gateway))
        else:
            gw = str(index - options.dataloggers + 1)
            spec = DeviceSpec(code, "gateway", gw, None, gw, version)
            yield SimulatedDevice(spec, client, firmware, booted_at, edge=edges.get(gw))

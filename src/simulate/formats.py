"""The simulator's other formats: Campbell Scientific CSI-JSON, and Sparkplug B edge nodes.

All of it is state of the publishing thread (``Simulator``), which alone reads and changes it.

- ``csi``: dataloggers publish CSI-JSON (a ``head`` naming the fields and their units, a
  ``data`` record of values) on their usual heartbeat topic; a site reads it with a
  ``mapped`` subscription and the README's CSI map.
- ``sparkplug_b``: each gateway is an edge node ``spBv1.0/{code}/…/{gateway}`` (the group is
  the site code) and each datalogger a device of its gateway. Births declare every metric
  with an alias, a datatype and a unit; DDATA carries aliases and values only, as real edge
  nodes do; a silent device says DDEATH, a silent gateway NDEATH; a rebirth request (NCMD
  ``Node Control/Rebirth``) makes the node born again with all its devices.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from sitelink.payloads import Rejected
from sitelink.payloads.sparkplug import (
    BOOLEAN,
    DOUBLE,
    INT64,
    REBIRTH,
    MetricOut,
    encode_payload,
    parse_payload,
)
from sitelink.sparkplug_topics import NAMESPACE

if TYPE_CHECKING:
    from sitelink.simulate.fleet import DriftingSensor

Message = tuple[str, bytes]


def csi_payload(station: str, os_version: str, record: int,
                values: Sequence[tuple[DriftingSensor, float]]) -> bytes:
    """One CSI-JSON document with one record (Campbell's ``head``/``data`` layout)."""
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    return msgspec.json.encode({
        "head": {
            "transaction": 0, "signature": record % 65_536,
            "environment": {"station_name": station, "table_name": "Hourly", "model": "CR1000X",
                            "serial_no": station, "os_version": os_version,
                            "prog_name": "CPU:sitelink-sim.CR1X"},
            "fields": [{"name": s.key, "type": "xsd:float", "units": s.unit, "process": "Smp"}
                       for s, _ in values],
        },
        "data": [{"time": now.isoformat(), "no": record, "vals": [v for _, v in values]}],
    })


class SparkplugEdge:
    """One simulated edge node (a gateway) and the devices (dataloggers) behind it."""

    def __init__(self, group: str, edge: str) -> None:
        self.group = group
        self.edge = edge
        self.bd_seq = 0
        self.seq = 0
        self.born = False
        self.rebirth_asked = False

    def _topic(self, kind: str, device: str = "") -> str:
        suffix = f"/{device}" if device else ""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.edge}{suffix}"

    @property
    def command_filter(self) -> str:
        return self._topic("NCMD")

    def _next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def _payload(self, metrics: Sequence[MetricOut], seq: int | None) -> bytes:
        return encode_payload(timestamp_ms=int(time.time() * 1000), seq=seq, metrics=metrics)

    def node_birth(self, uptime_s: int) -> Message:
        """NBIRTH: a new session (next bdSeq), seq from 0."""
        self.bd_seq = (self.bd_seq + 1) % 256
        self.seq = 0
        self.born = True
        self.rebirth_asked = False
        return self._topic("NBIRTH"), self._payload([
            MetricOut(name="bdSeq", datatype=INT64, value=self.bd_seq),
            MetricOut(name=REBIRTH, datatype=BOOLEAN, value=False),
            MetricOut(name="uptime_s", alias=1, datatype=INT64, value=uptime_s, unit="s"),
        ], self._next_seq())

    def node_data(self, uptime_s: int) -> Message:
        return self._topic("NDATA"), self._payload(
            [MetricOut(alias=1, datatype=INT64, send_datatype=False, value=uptime_s)],
            self._next_seq())

    def node_death(self) -> Message:
        """NDEATH with the bdSeq of the current session (what the will would say)."""
        self.born = False
        return self._topic("NDEATH"), self._payload(
            [MetricOut(name="bdSeq", datatype=INT64, value=self.bd_seq)], None)

    def device_birth(self, device: str, values: Sequence[tuple[DriftingSensor, float]]) -> Message:
        return self._topic("DBIRTH", device), self._payload([
            MetricOut(name=s.key, alias=100 + n, datatype=DOUBLE, value=v, unit=s.unit)
            for n, (s, v) in enumerate(values)], self._next_seq())

    def device_data(self, device: str, values: Sequence[tuple[DriftingSensor, float]]) -> Message:
        """DDATA by alias only, without datatypes: the BIRTH said them."""
        return self._topic("DDATA", device), self._payload([
            MetricOut(alias=100 + n, datatype=DOUBLE, send_datatype=False, value=v)
            for n, (_s, v) in enumerate(values)], self._next_seq())

    def device_death(self, device: str) -> Message:
        return self._topic("DDEATH", device), self._payload([], self._next_seq())

    def command(self, payload: bytes) -> None:
        """An NCMD arrived: remember a rebirth request for the publishing thread."""
        message = parse_payload(payload)
        if isinstance(message, Rejected):
            return
        for metric in message.metrics:
            if metric.name == REBIRTH and metric.boolean_value:
                self.rebirth_asked = True

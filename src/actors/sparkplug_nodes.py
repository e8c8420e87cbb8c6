"""The Sparkplug B edge nodes one site hears, and what each of their messages means.

Owned by a site's ``Ingest`` and run on its site actor's thread; no I/O, no clock (times come
in with the messages), so every rule here is tested without a broker.

Sparkplug is stateful, and the state is ours to keep: DATA messages may name a metric only by
the alias its BIRTH gave it, with no datatype (that is valid Sparkplug), so each edge node's
NBIRTH and each device's DBIRTH are remembered until the next birth or death. Mapping:
edge node = gateway (serial = edge node id), device = datalogger (serial = device id,
model = group id, gateway = edge node id), metric = sensor.

An edge node's lifecycle (``NodeState``, ``node_transition``)::

    UNBORN ──NBIRTH──► ONLINE ──NDEATH (bdSeq of its birth)──► OFFLINE ──NBIRTH──► ONLINE
       ▲                 └──NBIRTH (a new session)──► ONLINE
       └── where a node starts: we have not seen its birth, so its aliases are unknown

- NDEATH is the edge node's MQTT will: it carries the ``bdSeq`` of the NBIRTH of the session
  that died, so a late death of an older session (another bdSeq) is ignored and counted.
  A death makes the node and every device it declared offline at once; DDEATH one device.
- A DATA or DBIRTH from a node that is not ONLINE is counted (``before_birth``) and answered
  with a rebirth request (``NCMD`` with ``Node Control/Rebirth`` = true), at most once per
  ``rebirth_interval_s`` per node; whatever it carries by name is still read.
- ``seq`` runs 0..255 over every message of a node session but NDEATH; a jump is counted in
  ``seq_gaps`` (a lost message: a value may be stale until the next one).
- NCMD/DCMD (commands to the node, our own rebirth request among them) and STATE are not
  signs of life of anything and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

import msgspec

from sitelink.actors.device import Heard
from sitelink.events import DeviceKind, SensorValue
from sitelink.payloads import Rejected
from sitelink.payloads.sparkplug import (
    BD_SEQ,
    BOOLEAN,
    REBIRTH,
    MetricDef,
    MetricOut,
    Payload,
    birth_defs,
    encode_payload,
    metric_int,
    parse_payload,
    sensors_of,
)
from sitelink.sparkplug_topics import NAMESPACE, MessageType, SparkplugTopic

REBIRTH_INTERVAL_S = 30.0
_SEQ_MODULO = 256
_CARRIES_SEQ = frozenset((MessageType.NBIRTH, MessageType.NDATA, MessageType.DBIRTH,
                          MessageType.DDATA, MessageType.DDEATH))


class NodeState(Enum):
    UNBORN = "unborn"
    ONLINE = "online"
    OFFLINE = "offline"


# The members used once per message, bound once: an attribute of an Enum class is looked up
# in Python on 3.11 (a fifth of a microsecond each, seven per DATA message).
_NBIRTH, _NDEATH, _NDATA = MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA
_NCMD, _DBIRTH, _DDEATH, _DCMD = (MessageType.NCMD, MessageType.DBIRTH, MessageType.DDEATH,
                                  MessageType.DCMD)
_ONLINE = NodeState.ONLINE


def node_transition(state: NodeState, message_type: MessageType, bd_seq_matches: bool) -> NodeState:
    """Where an edge node goes on a message (pure). Only births and a matching death move it."""
    if message_type is MessageType.NBIRTH:
        return NodeState.ONLINE
    if message_type is MessageType.NDEATH and (bd_seq_matches or state is not NodeState.ONLINE):
        return NodeState.OFFLINE
    return state


class _Definitions:
    """The metrics one BIRTH declared."""

    __slots__ = ("by_alias", "by_name")

    def __init__(self, metrics: Iterable[Payload.Metric] = ()) -> None:
        self.by_alias: dict[int, MetricDef]
        self.by_name: dict[str, MetricDef]
        self.by_alias, self.by_name = birth_defs(metrics)


_NONE_DEFINED = _Definitions()  # what DATA of a device without a DBIRTH resolves against


class EdgeNode:
    """What we know of one edge node (one per group and edge node id)."""

    __slots__ = ("bd_seq", "devices", "last_rebirth_at", "metrics", "seq", "state")

    def __init__(self) -> None:
        self.state = NodeState.UNBORN
        self.bd_seq: int | None = None
        self.seq: int | None = None
        self.metrics = _Definitions()
        self.devices: dict[str, _Definitions] = {}
        self.last_rebirth_at: float | None = None


class DeviceHeard(msgspec.Struct, frozen=True, gc=False):
    """One device that a Sparkplug message is about, and what it says of it."""

    kind: DeviceKind
    serial: str
    heard: Heard


class Outcome(msgspec.Struct, kw_only=True):
    """What one message meant: devices heard, at most one rebirth request, counters."""

    heard: list[DeviceHeard] = msgspec.field(default_factory=list)
    rebirth: tuple[str, bytes] | None = None
    rejected: str | None = None
    before_birth: bool = False
    seq_gap: bool = False
    stale_death: bool = False


class EdgeNodes:
    """Every edge node of a site, by (group, edge node id)."""

    def __init__(self, rebirth_interval_s: float = REBIRTH_INTERVAL_S) -> None:
        self.rebirth_interval_s = rebirth_interval_s
        self.nodes: dict[tuple[str, str], EdgeNode] = {}

    def receive(self, topic: SparkplugTopic, payload: bytes, at: float, retained: bool) -> Outcome:
        """What the message on ``topic`` means. Never raises for any bytes."""
        kind = topic.message_type
        out = Outcome()
        if kind is _NCMD or kind is _DCMD:
            return out
        node = self.nodes.get((topic.group, topic.edge))
        if node is None:
            node = self.nodes[(topic.group, topic.edge)] = EdgeNode()
        message = parse_payload(payload)
        if isinstance(message, Rejected):
            out.rejected = message.reason
            out.heard.append(self._heard(topic, at, retained))  # still a sign of life
            return out
        if kind in _CARRIES_SEQ:
            self._check_seq(node, kind, message, out)
        if kind is _NBIRTH:
            self._node_birth(node, topic, message, at, retained, out)
        elif kind is _NDEATH:
            self._node_death(node, topic, message, at, retained, out)
        else:
            if node.state is not _ONLINE:
                out.before_birth = True
                out.rebirth = self._rebirth(node, topic, at)
            if kind is _DBIRTH:
                node.devices[topic.device] = _Definitions(message.metrics)
                self._data(node.devices[topic.device], topic, message, at, retained, out)
            elif kind is _DDEATH:
                node.devices.pop(topic.device, None)
                out.heard.append(self._heard(topic, at, retained, status="offline",
                                             reason="Sparkplug DDEATH"))
            elif kind is _NDATA:
                self._data(node.metrics, topic, message, at, retained, out)
            else:  # DDATA
                known = node.devices.get(topic.device)
                self._data(known or _NONE_DEFINED, topic, message, at, retained, out)
        return out

    # --- one kind of message each ------------------------------------------------------------

    def _node_birth(self, node: EdgeNode, topic: SparkplugTopic, message: Payload, at: float,
                    retained: bool, out: Outcome) -> None:
        node.state = node_transition(node.state, MessageType.NBIRTH, True)
        node.bd_seq = metric_int(message.metrics, BD_SEQ)
        node.metrics = _Definitions(message.metrics)
        node.devices = {}  # devices are declared again by their DBIRTHs after each NBIRTH
        self._data(node.metrics, topic, message, at, retained, out)

    def _node_death(self, node: EdgeNode, topic: SparkplugTopic, message: Payload, at: float,
                    retained: bool, out: Outcome) -> None:
        bd_seq = metric_int(message.metrics, BD_SEQ)
        matches = node.bd_seq is None or bd_seq is None or bd_seq == node.bd_seq
        new_state = node_transition(node.state, MessageType.NDEATH, matches)
        if new_state is not NodeState.OFFLINE:
            out.stale_death = True
            return
        node.state = new_state
        reason = "Sparkplug NDEATH of its edge node"
        for device in sorted(node.devices):
            device_topic = SparkplugTopic(topic.group, MessageType.DDEATH, topic.edge, device)
            out.heard.append(self._heard(device_topic, at, retained, status="offline",
                                         reason=reason))
        node.devices = {}
        node.seq = None
        out.heard.append(self._heard(topic, at, retained, status="offline",
                                     reason="Sparkplug NDEATH"))

    def _data(self, known: _Definitions, topic: SparkplugTopic, message: Payload, at: float,
              retained: bool, out: Outcome) -> None:
        sensors, _skipped = sensors_of(message.metrics, known.by_alias, known.by_name)
        out.heard.append(self._heard(topic, at, retained, sensors=sensors))

    def _check_seq(self, node: EdgeNode, kind: MessageType, message: Payload,
                   out: Outcome) -> None:
        seq = message.seq
        if not seq and not message.HasField("seq"):  # an unset seq reads 0: ask only then
            return
        seq %= _SEQ_MODULO
        online = node.state is _ONLINE
        if kind is not _NBIRTH and node.seq is not None and online:
            out.seq_gap = seq != (node.seq + 1) % _SEQ_MODULO
        node.seq = seq

    def _rebirth(
        self, node: EdgeNode, topic: SparkplugTopic, at: float
    ) -> tuple[str, bytes] | None:
        last = node.last_rebirth_at
        if last is not None and at - last < self.rebirth_interval_s:
            return None
        node.last_rebirth_at = at
        payload = encode_payload(
            timestamp_ms=int(at * 1000), seq=None,
            metrics=(MetricOut(name=REBIRTH, datatype=BOOLEAN, value=True),))
        return f"{NAMESPACE}/{topic.group}/{MessageType.NCMD}/{topic.edge}", payload

    @staticmethod
    def _heard(topic: SparkplugTopic, at: float, retained: bool, *,
               sensors: tuple[SensorValue, ...] = (), status: str | None = None,
               reason: str | None = None) -> DeviceHeard:
        if topic.device:
            heard = Heard(at, retained, topic.group, topic.edge, sensors=sensors, status=status,
                          reason=reason)
            return DeviceHeard("datalogger", topic.device, heard)
        heard = Heard(at, retained, "", "", sensors=sensors, status=status, reason=reason)
        return DeviceHeard("gateway", topic.edge, heard)

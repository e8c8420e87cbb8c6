"""A load generator that costs (almost) nothing: MQTT 3.1.1 QoS 0 PUBLISH packets built in
advance and written to a raw socket in large chunks.

A Python MQTT client spends ~10 µs per publish, which on a 2-core machine would take CPU from
the subscriber under test and cap the rate it can show. Here the packets are bytes prepared
before the clock starts; the broker (``max_queued_messages 0``) keeps whatever a slow
subscriber has not taken yet, so each subscriber drains the same backlog at its own pace.

Heartbeats are API.md's v1 JSON with four sensors (the simulator's sensor set) and values that
differ per message, for ``devices`` dataloggers of one site.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import time
from collections.abc import Iterable, Sequence

MODELS = ("monstro", "pluvio", "meteo")
SENSORS = (
    ("t_ext", "Temperatura Esterna", "temperature", "°C", 12.0, 26.0),
    ("rh", "Umidità Relativa", "humidity", "%", 40.0, 80.0),
    ("p_atm", "Pressione Atmosferica", "pressure", "hPa", 1000.0, 1025.0),
    ("v_batt", "Tensione Batteria", "battery_voltage", "V", 12.2, 13.6),
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    body = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive)
    body += _string(client_id.encode())
    return bytes([0x10]) + _varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, retain: bool = False) -> bytes:
    body = _string(topic.encode()) + payload
    return bytes([0x30 | (1 if retain else 0)]) + _varint(len(body)) + body


def device(code: str, index: int) -> tuple[str, str]:
    """(model, serial) of datalogger ``index`` of a site."""
    model = MODELS[index % len(MODELS)]
    return model, f"{model[:6].upper()}-{index + 1:04d}"


def heartbeat_topic(code: str, index: int) -> str:
    model, serial = device(code, index)
    return f"{code}/datalogger/{model}/{serial}/heartbeat"


def status_topic(code: str, index: int) -> str:
    model, serial = device(code, index)
    return f"{code}/datalogger/{model}/{serial}/status"


def heartbeat_payload(rng: random.Random, uptime_s: int) -> bytes:
    doc = {
        "firmware": "V.5.53.0",
        "uptime_s": uptime_s,
        "gateway": "1",
        "sensors": [
            {"id": key, "label": label, "type": kind, "unit": unit,
             "value": round(rng.uniform(low, high), 2)}
            for key, label, kind, unit, low, high in SENSORS
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def heartbeats(code: str, devices: int, count: int, seed: int = 7) -> list[bytes]:
    """``count`` PUBLISH packets, round-robin over the site's devices."""
    rng = random.Random(seed)
    topics = [heartbeat_topic(code, i) for i in range(devices)]
    return [publish_packet(topics[n % devices], heartbeat_payload(rng, 86_400 + n))
            for n in range(count)]


class RawPublisher:
    """One MQTT connection that writes prepared packets. Not a general client."""

    def __init__(self, host: str, port: int, client_id: str = "bench-load") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self._read(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"CONNACK refused: {connack!r}")

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("broker closed the connection")
            data += chunk
        return data

    def send(self, packets: Sequence[bytes], chunk_bytes: int = 1 << 20) -> float:
        """Write every packet; returns the monotonic time the first byte went out."""
        started = time.monotonic()
        for chunk in _chunks(packets, chunk_bytes):
            self.sock.sendall(chunk)
        return started

    def ping(self) -> None:
        """PINGREQ → PINGRESP: everything sent before it has been read by the broker."""
        self.sock.sendall(b"\xc0\x00")
        self._read(2)

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()


def _chunks(packets: Iterable[bytes], size: int) -> Iterable[bytes]:
    buffer: list[bytes] = []
    held = 0
    for packet in packets:
        buffer.append(packet)
        held += len(packet)
        if held >= size:
            yield b"".join(buffer)
            buffer, held = [], 0
    if buffer:
        yield b"".join(buffer)


def publish(host: str, port: int, packets: Sequence[bytes], client_id: str = "bench-load"
            ) -> float:
    """Connect, write every packet, wait until the broker has read them all; returns the
    monotonic time the first packet went out."""
    publisher = RawPublisher(host, port, client_id)
    try:
        started = publisher.send(packets)
        publisher.ping()
        return started
    finally:
        publisher.close()

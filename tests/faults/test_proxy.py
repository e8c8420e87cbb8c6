"""The fault proxy itself: it forwards, swallows (a half-open link) and resets, as the
fault tests and the storage outage tests rely on."""

from __future__ import annotations

import socket

import pytest

from sitelink.embedded_broker import Mosquitto

from .proxy import FaultProxy

CONNECT = bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 2]) + b"px"


def connack(port: int, timeout_s: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(CONNECT)
        return sock.recv(4)


def test_the_proxy_passes_swallows_and_resets(mosquitto: Mosquitto) -> None:
    with FaultProxy(mosquitto.host, mosquitto.port) as proxy:
        assert connack(proxy.port, 10) == bytes([0x20, 2, 0, 0])
        proxy.swallow()
        with pytest.raises(TimeoutError):
            connack(proxy.port, 1.0)  # bounded: proves silence, waits for nothing else
        proxy.reset()
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            data = connack(proxy.port, 10)
            if data == b"":
                raise ConnectionResetError("closed")
        proxy.passing()
        assert connack(proxy.port, 10) == bytes([0x20, 2, 0, 0])

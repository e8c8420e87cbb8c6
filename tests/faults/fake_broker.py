"""A broker that misbehaves on purpose: just enough MQTT 3.1.1 to fail in one chosen way.

``FakeBroker(behaviour)`` listens on a free port of 127.0.0.1 with an asyncio loop on a
thread of its own. Behaviours:

- ``NO_CONNACK``: accepts TCP, reads the CONNECT and never answers.
- ``CLOSE_AFTER_CONNACK``: answers CONNACK (accepted), then closes the connection.
- ``SLOW_SUBACK``: a working broker (CONNACK, PINGRESP, PUBACK) whose SUBACKs come
  ``suback_delay_s`` late.

It counts connections and SUBSCRIBE packets, and nothing here waits on a timer except
the SUBACK delay, which is the fault itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from concurrent.futures import Future
from typing import Self


class Behaviour(enum.Enum):
    NO_CONNACK = "no_connack"
    CLOSE_AFTER_CONNACK = "close_after_connack"
    SLOW_SUBACK = "slow_suback"


CONNACK_ACCEPTED = bytes([0x20, 0x02, 0x00, 0x00])
PINGRESP = bytes([0xD0, 0x00])


class FakeBroker:
    def __init__(self, behaviour: Behaviour, *, suback_delay_s: float = 0.0) -> None:
        self.behaviour = behaviour
        self.suback_delay_s = suback_delay_s
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0
        self.subscribes = 0
        self.subacks = 0
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-broker",
                                        daemon=True)

    def start(self) -> Self:
        self._thread.start()
        future: Future[asyncio.Server] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, self.host, 0), self._loop)
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, what: str, at_least: int, timeout_s: float) -> bool:
        """Until counter ``what`` (connections, subscribes, subacks) reaches ``at_least``."""
        with self._changed:
            return self._changed.wait_for(lambda: getattr(self, what) >= at_least, timeout_s)

    def _count(self, what: str) -> None:
        with self._changed:
            setattr(self, what, getattr(self, what) + 1)
            self._changed.notify_all()

    # --- one client (broker loop) ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count("connections")
        self._writers.add(writer)
        try:
            while True:
                packet = await _read_packet(reader)
                if packet is None:
                    return
                kind, body = packet
                if not await self._answer(kind, body, writer):
                    return
        except (OSError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _answer(self, kind: int, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one packet (``kind`` is the whole first byte); False to end the connection."""
        kind, flags = kind >> 4, kind
        if kind == 1:  # CONNECT
            if self.behaviour is Behaviour.NO_CONNACK:
                return True  # keep reading, never answer
            writer.write(CONNACK_ACCEPTED)
            await writer.drain()
            return self.behaviour is not Behaviour.CLOSE_AFTER_CONNACK
        if kind == 8:  # SUBSCRIBE: packet id, then (filter, qos) pairs
            self._count("subscribes")
            granted = _granted(body[2:])
            suback = bytes([0x90, 2 + len(granted)]) + body[:2] + bytes(granted)
            asyncio.get_running_loop().call_later(self.suback_delay_s, self._send_suback,
                                                  writer, suback)
        elif kind == 12:  # PINGREQ
            writer.write(PINGRESP)
        elif kind == 3 and (flags >> 1) & 3 == 1:  # PUBLISH at qos 1: PUBACK
            at = 2 + int.from_bytes(body[:2], "big")
            writer.write(bytes([0x40, 0x02]) + body[at:at + 2])
        elif kind == 14:  # DISCONNECT
            return False
        await writer.drain()
        return True

    def _send_suback(self, writer: asyncio.StreamWriter, suback: bytes) -> None:
        if not writer.transport.is_closing():
            writer.write(suback)
            self._count("subacks")


def _granted(payload: bytes) -> list[int]:
    granted: list[int] = []
    at = 0
    while at + 2 <= len(payload):
        length = int.from_bytes(payload[at:at + 2], "big")
        at += 2 + length
        granted.append(min(payload[at], 1) if at < len(payload) else 0)
        at += 1
    return granted


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """(first byte: type and flags, variable header + payload), or None at the end."""
    first = await reader.read(1)
    if not first:
        return None
    length, multiplier = 0, 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    body = await reader.readexactly(length) if length else b""
    return first[0], body
